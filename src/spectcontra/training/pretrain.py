"""Contrastive pretraining of the spectral encoder on two views of each training utterance."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import torch
from tqdm import tqdm

from spectcontra.augment.spectrogram import augment, check_augment, pick_sources, random_time_crop
from spectcontra.config import VIEWS, PretrainConfig
from spectcontra.models.detector import ArrayLike
from spectcontra.models.encoder import SpectralEncoder
from spectcontra.models.pretrainer import ContrastivePretrainer
from spectcontra.seeding import seed_everything, torch_generator
from spectcontra.training.batching import check_views, shuffled_batches, take
from spectcontra.training.optim import cosine_lr, param_groups

WARMUP_FRACTION = 0.05  # a short warm-up keeps the attention layer's early updates stable


def view_sources(train_views: Mapping[str, ArrayLike],
                 train_aug_views: Mapping[str, ArrayLike] | None, cfg: PretrainConfig,
                 ) -> tuple[str, str, ArrayLike | None]:
    """(view a, view b, whether a signal-augmented copy is used).

    Two views: a = mel, b = linear. One view: a and b are both that view, made different by
    independent crops and augmentation. With ``augment.signal_effects`` each example of each
    view draws the clean or the signal-augmented features afresh at every step.
    """
    name_a, name_b = (("mel", "linear") if len(cfg.views) == 2 else (cfg.views[0], cfg.views[0]))
    if cfg.augment.signal_effects and train_aug_views is None:
        warnings.warn("augment.signal_effects is on but no signal-augmented copy was given; "
                      "both views use the clean features", stacklevel=3)
    use_aug = train_aug_views if cfg.augment.signal_effects else None
    return name_a, name_b, use_aug


def crop_frames(total_frames: int, fraction: float) -> int:
    """Frames of one view's random span: ``fraction`` of the stored crop, at least one."""
    return max(1, int(round(fraction * total_frames)))


class ViewSampler:
    """Draws one augmented view of a batch: clean/augmented source, random span, augmentation."""

    def __init__(self, clean: ArrayLike, augmented: ArrayLike | None, frames: int,
                 cfg: PretrainConfig, generator: torch.Generator, bin_std: torch.Tensor | None):
        if augmented is not None and tuple(augmented.shape) != tuple(clean.shape):
            raise ValueError(f"signal-augmented features have shape {tuple(augmented.shape)}, "
                             f"expected {tuple(clean.shape)}")
        self.clean, self.augmented, self.frames = clean, augmented, frames
        self.cfg, self.generator, self.bin_std = cfg, generator, bin_std

    def __call__(self, idx: torch.Tensor) -> torch.Tensor:
        aug = take(self.augmented, idx) if self.augmented is not None else None
        x = pick_sources(take(self.clean, idx), aug, self.generator)  # (B, F, T)
        x = random_time_crop(x, self.frames, self.generator)  # (B, F, frames)
        return augment(x, self.cfg.augment, self.generator, self.bin_std)


def pretrain(train_views: Mapping[str, ArrayLike], train_aug_views: Mapping[str, ArrayLike] | None,
             targets: ArrayLike, cfg: PretrainConfig, seed: int, progress: bool = False, *,
             bin_std: Mapping[str, ArrayLike] | None = None) -> tuple[SpectralEncoder, list[dict]]:
    """Train a :class:`SpectralEncoder` with L = w * (L_SA + alpha * L_CA); return it and its history.

    ``train_views`` maps view names to (N, F, T) arrays, ``train_aug_views`` the same for the
    signal-augmented copy (same utterance order) or None, ``targets`` (N,) is 1 = bona fide
    and is used only by the supervised contrastive loss. ``bin_std`` (per view, (F,)) is the
    feature normalisation's per-bin std, which makes ``augment.gain_db`` exact in dB. Every
    step draws each view afresh (source, span and augmentation; see :class:`ViewSampler`);
    with cross-attention a second independent draw gives L_CA its leak-free positives. With
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

    name_a, name_b, aug_views = view_sources(train_views, train_aug_views, cfg)
    frames = crop_frames(train_views[name_a].shape[2], cfg.view_crop_fraction)
    samplers = [
        ViewSampler(train_views[name], aug_views[name] if aug_views is not None else None, frames,
                    cfg, generator,
                    torch.as_tensor(bin_std[name], dtype=torch.float32) if bin_std is not None else None)
        for name in (name_a, name_b)
    ]
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
            x_a, x_b = samplers[0](idx), samplers[1](idx)  # (B, F, frames) each
            second = (samplers[0](idx), samplers[1](idx)) if model.needs_second_draw else None
            labels = targets[idx] if cfg.supervised_contrastive else None
            l_sa, l_ca = model(x_a, x_b, VIEWS.index(name_a), VIEWS.index(name_b), labels, second)
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
