"""Contrastive pretraining of the spectral encoder on two views of each training utterance."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import torch
from tqdm import tqdm

from spectcontra.augment.spectrogram import augment, check_augment
from spectcontra.config import VIEWS, PretrainConfig
from spectcontra.models.detector import ArrayLike
from spectcontra.models.encoder import SpectralEncoder
from spectcontra.models.pretrainer import ContrastivePretrainer
from spectcontra.seeding import seed_everything, torch_generator
from spectcontra.training.batching import check_views, shuffled_batches, take
from spectcontra.training.optim import cosine_lr, param_groups

WARMUP_FRACTION = 0.05  # a short warm-up keeps the attention layer's early updates stable


def view_pair(train_views: Mapping[str, ArrayLike], train_aug_views: Mapping[str, ArrayLike] | None,
              cfg: PretrainConfig) -> tuple[tuple[str, ArrayLike], tuple[str, ArrayLike]]:
    """The (name, array) sources of views a and b.

    Two views: a = mel, b = linear. One view: a and b are both that view, made different by
    independent augmentation. Either way b comes from the signal-augmented copy when
    ``augment.signal_effects`` is on and the copy is given.
    """
    name_a, name_b = (("mel", "linear") if len(cfg.views) == 2 else (cfg.views[0], cfg.views[0]))
    source_b = train_views[name_b]
    if cfg.augment.signal_effects:
        if train_aug_views is None:
            warnings.warn("augment.signal_effects is on but no signal-augmented copy was given; "
                          "view b uses the clean features", stacklevel=3)
        else:
            source_b = train_aug_views[name_b]
    return (name_a, train_views[name_a]), (name_b, source_b)


def pretrain(train_views: Mapping[str, ArrayLike], train_aug_views: Mapping[str, ArrayLike] | None,
             targets: ArrayLike, cfg: PretrainConfig, seed: int, progress: bool = False, *,
             bin_std: Mapping[str, ArrayLike] | None = None) -> tuple[SpectralEncoder, list[dict]]:
    """Train a :class:`SpectralEncoder` with L = w * (L_SA + alpha * L_CA); return it and its history.

    ``train_views`` maps view names to (N, F, T) arrays, ``train_aug_views`` the same for the
    signal-augmented copy (same utterance order) or None, ``targets`` (N,) is 1 = bona fide
    and is used only by the supervised contrastive loss. ``bin_std`` (per view, (F,)) is the
    feature normalisation's per-bin std, which makes ``augment.gain_db`` exact in dB. With
    ``contrastive_weight`` 0 or no epochs the seeded initial encoder is returned with an empty
    history. History: one dict per epoch with epoch, loss, l_sa, l_ca (0 without
    cross-attention) and lr. The encoder comes back in eval mode.
    """
    check_augment(cfg.augment)
    n = len(targets)
    check_views(train_views, cfg.views, n, "train_views")
    seed_everything(seed)
    generator = torch_generator(seed)
    encoder = SpectralEncoder(cfg.encoder, n_bins=train_views[cfg.views[0]].shape[1])
    if cfg.contrastive_weight == 0 or cfg.epochs == 0:
        return encoder.eval(), []

    (name_a, source_a), (name_b, source_b) = view_pair(train_views, train_aug_views, cfg)
    if tuple(source_b.shape) != tuple(train_views[name_b].shape):
        raise ValueError(f"signal-augmented {name_b!r} has shape {tuple(source_b.shape)}, "
                         f"expected {tuple(train_views[name_b].shape)}")
    std_a, std_b = ((torch.as_tensor(bin_std[name_a], dtype=torch.float32),
                     torch.as_tensor(bin_std[name_b], dtype=torch.float32))
                    if bin_std is not None else (None, None))
    model = ContrastivePretrainer(encoder, cfg.projection_dim, cfg.cross_attention, cfg.temperature)
    optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr)
    batch_size = min(cfg.batch_size, n)
    steps_per_epoch = n // batch_size + int(n % batch_size >= 2)  # as shuffled_batches(min_size=2)
    if steps_per_epoch == 0:
        raise ValueError(f"need >= 2 training utterances for a contrastive batch, got {n}")
    total = steps_per_epoch * cfg.epochs
    warmup = min(int(WARMUP_FRACTION * total), total - 1)
    targets = torch.tensor(np.asarray(targets))  # a copy: callers may pass read-only memmaps

    history: list[dict] = []
    step = 0
    bar = tqdm(range(cfg.epochs), desc="pretrain", disable=not progress)
    for epoch in bar:
        model.train()
        sums = {"loss": 0.0, "l_sa": 0.0, "l_ca": 0.0}
        batches = shuffled_batches(n, batch_size, generator, min_size=2)
        for idx in batches:
            lr = cosine_lr(step, total, cfg.lr, warmup)
            for group in optimizer.param_groups:
                group["lr"] = lr
            x_a = augment(take(source_a, idx), cfg.augment, generator, std_a)  # (B, F, T)
            x_b = augment(take(source_b, idx), cfg.augment, generator, std_b)  # (B, F, T)
            labels = targets[idx] if cfg.supervised_contrastive else None
            l_sa, l_ca = model(x_a, x_b, VIEWS.index(name_a), VIEWS.index(name_b), labels)
            loss = cfg.contrastive_weight * (l_sa + cfg.alpha * l_ca)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            for key, value in (("loss", loss), ("l_sa", l_sa), ("l_ca", l_ca)):
                sums[key] += value.item()
        record = {"epoch": epoch + 1, **{k: v / len(batches) for k, v in sums.items()}, "lr": lr}
        history.append(record)
        bar.set_postfix(loss=f"{record['loss']:.4f}")
    return encoder.eval(), history
