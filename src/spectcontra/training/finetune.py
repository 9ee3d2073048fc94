"""Supervised fine-tuning of a detector on a pretrained encoder, with epochs selected by dev EER."""

from __future__ import annotations

import copy
from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from torch import Tensor
from tqdm import tqdm

from spectcontra.augment.spectrogram import augment, check_augment
from spectcontra.config import VIEWS, FinetuneConfig
from spectcontra.evaluation.metrics import compute_eer
from spectcontra.models.detector import ArrayLike, SpoofDetector, embeddings, score
from spectcontra.models.encoder import SpectralEncoder
from spectcontra.seeding import seed_everything, torch_generator
from spectcontra.training.batching import check_views, shuffled_batches, take
from spectcontra.training.optim import cosine_lr, param_groups

LOGREG_C_GRID = (0.01, 0.1, 1.0, 10.0)  # inverse L2 strength, chosen on dev
SCORE_BATCH = 256


def balanced_pos_weight(targets: np.ndarray) -> float:
    """n_spoof / n_bona fide: weights the bona fide (positive) term so both classes count equally."""
    n_pos = int((targets == 1).sum())
    n_neg = int((targets == 0).sum())
    if n_pos == 0 or n_neg == 0 or n_pos + n_neg != targets.size:
        raise ValueError(f"targets must be 0/1 with both classes, got {n_pos} bona fide, "
                         f"{n_neg} spoof of {targets.size}")
    return n_neg / n_pos


def bce(logits: np.ndarray | Tensor, targets: np.ndarray | Tensor, pos_weight: float) -> Tensor:
    """Mean binary cross-entropy on bona fide logits, the positive class weighted by ``pos_weight``."""
    logits = torch.as_tensor(logits, dtype=torch.float32)
    return F.binary_cross_entropy_with_logits(
        logits, torch.as_tensor(targets, dtype=torch.float32),
        pos_weight=torch.tensor(pos_weight, dtype=torch.float32))


def dev_eer(logits: np.ndarray, targets: np.ndarray) -> float:
    return compute_eer(logits[targets == 1], logits[targets == 0])[0]


def _views_of(views: Mapping[str, ArrayLike]) -> tuple[str, ...]:
    names = tuple(v for v in VIEWS if v in views)
    if not names or len(names) != len(views):
        raise ValueError(f"view names must come from {VIEWS}, got {sorted(views)}")
    return names


def finetune(encoder: SpectralEncoder, train_views: Mapping[str, ArrayLike], train_targets: ArrayLike,
             dev_views: Mapping[str, ArrayLike], dev_targets: ArrayLike, cfg: FinetuneConfig,
             seed: int, progress: bool = False, *,
             train_aug_views: Mapping[str, ArrayLike] | None = None,
             bin_std: Mapping[str, ArrayLike] | None = None, dev_every: int = 1,
             ) -> tuple[SpoofDetector, list[dict]]:
    """Fine-tune a :class:`SpoofDetector` on a copy of ``encoder``; return it and its history.

    The detector uses the views present in ``train_views`` (in ``VIEWS`` order; the dev dict
    must match). Gradient strategies train with class-balanced BCE-with-logits, AdamW and a
    cosine schedule on batches augmented afresh every step (``cfg.augment``: spectrogram
    gain/noise/masks, and with ``signal_effects`` each example drawn clean or from
    ``train_aug_views``, the signal-augmented copy). They keep the epoch of lowest dev EER
    (ties: lower dev loss) and stop early after ``cfg.patience`` epochs without a lower dev
    EER. The dev check runs every ``dev_every`` epochs and after the last (a study with tiny
    labelled sets and many short epochs checks less often; patience counts checks).
    History has one dict per check: epoch, train_loss, dev_loss, dev_eer, lr, selected.
    'logreg' fits logistic regression on frozen mean-pooled embeddings instead (history: one
    dict per C). ``encoder`` itself is never modified.
    """
    views = _views_of(train_views)
    if _views_of(dev_views) != views:
        raise ValueError(f"dev views {sorted(dev_views)} differ from train views {views}")
    y_train = np.asarray(train_targets).astype(np.int64)
    y_dev = np.asarray(dev_targets).astype(np.int64)
    check_views(train_views, views, len(y_train), "train_views")
    check_views(dev_views, views, len(y_dev), "dev_views")
    pos_weight = balanced_pos_weight(y_train)
    balanced_pos_weight(y_dev)

    seed_everything(seed)
    generator = torch_generator(seed)
    head = "linear" if cfg.strategy == "logreg" else cfg.head
    detector = SpoofDetector(encoder.cfg, views, encoder.n_bins, head=head,
                             head_hidden=cfg.head_hidden)
    detector.encoder.load_state_dict(encoder.state_dict())
    detector.set_strategy(cfg.strategy)
    if cfg.strategy == "logreg":
        return _fit_logreg(detector, train_views, y_train, dev_views, y_dev, pos_weight)
    if dev_every < 1:
        raise ValueError(f"dev_every must be >= 1, got {dev_every}")

    check_augment(cfg.augment)
    use_aug = train_aug_views if cfg.augment.signal_effects else None
    stds = {v: (torch.as_tensor(bin_std[v], dtype=torch.float32) if bin_std is not None else None)
            for v in views}

    def batch_views(idx: Tensor) -> dict[str, Tensor]:
        # Both views of an example share one clean/augmented draw: they are one recording.
        use = torch.rand(len(idx), generator=generator) < 0.5 if use_aug is not None else None
        out = {}
        for v in views:
            x = take(train_views[v], idx)  # (B, F, T)
            if use is not None:
                x = torch.where(use[:, None, None], take(use_aug[v], idx), x)
            out[v] = augment(x, cfg.augment, generator, stds[v])
        return out

    optimizer = torch.optim.AdamW(param_groups(detector, cfg.weight_decay), lr=cfg.lr)
    n = len(y_train)
    batch_size = min(cfg.batch_size, n)
    total = -(-n // batch_size) * cfg.epochs
    targets = torch.from_numpy(y_train).float()
    best_key, best_state, history, step = None, None, [], 0
    bar = tqdm(range(cfg.epochs), desc=f"finetune ({cfg.strategy})", disable=not progress)
    for epoch in bar:
        detector.train()
        loss_sum = 0.0
        for idx in shuffled_batches(n, batch_size, generator):
            lr = cosine_lr(step, total, cfg.lr)
            for group in optimizer.param_groups:
                group["lr"] = lr
            logits = detector(batch_views(idx))  # (B,)
            loss = bce(logits, targets[idx], pos_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            loss_sum += loss.item() * len(idx)
        if (epoch + 1) % dev_every and epoch + 1 < cfg.epochs:
            continue
        dev_logits = score(detector, dev_views, SCORE_BATCH)
        record = {"epoch": epoch + 1, "train_loss": loss_sum / n,
                  "dev_loss": float(bce(dev_logits, y_dev, pos_weight)),
                  "dev_eer": dev_eer(dev_logits, y_dev), "lr": lr, "selected": False}
        history.append(record)
        key = (record["dev_eer"], record["dev_loss"])
        if best_key is None or key < best_key:
            best_key, best_state, best_check = key, copy.deepcopy(detector.state_dict()), len(history) - 1
        bar.set_postfix(dev_eer=f"{record['dev_eer']:.4f}")
        if cfg.patience and len(history) - 1 - best_check >= cfg.patience:
            break
    history[best_check]["selected"] = True
    detector.load_state_dict(best_state)
    return detector.eval(), history


def _fit_logreg(detector: SpoofDetector, train_views: Mapping[str, ArrayLike], y_train: np.ndarray,
                dev_views: Mapping[str, ArrayLike], y_dev: np.ndarray,
                pos_weight: float) -> tuple[SpoofDetector, list[dict]]:
    """Green-AI-style probe: standardise frozen embeddings, fit class-balanced logistic regression
    for each C, keep the lowest dev EER, and fold scaler and classifier into the linear head."""
    e_train = embeddings(detector, train_views, SCORE_BATCH)  # (N, V*D)
    e_dev = embeddings(detector, dev_views, SCORE_BATCH)  # (M, V*D)
    mean, std = e_train.mean(axis=0), np.maximum(e_train.std(axis=0), 1e-8)
    history, best = [], None
    for c in LOGREG_C_GRID:
        clf = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
        clf.fit((e_train - mean) / std, y_train)
        train_logits = clf.decision_function((e_train - mean) / std)
        dev_logits = clf.decision_function((e_dev - mean) / std)
        record = {"C": c, "train_loss": float(bce(train_logits, y_train, pos_weight)),
                  "dev_loss": float(bce(dev_logits, y_dev, pos_weight)),
                  "dev_eer": dev_eer(dev_logits, y_dev), "selected": False}
        history.append(record)
        if best is None or (record["dev_eer"], record["dev_loss"]) < best[0]:
            best = ((record["dev_eer"], record["dev_loss"]), clf, len(history) - 1)
    _, clf, best_idx = best
    history[best_idx]["selected"] = True
    weight = clf.coef_[0] / std  # (V*D,): w.(x - mean)/std + b == (w/std).x + b - (w/std).mean
    bias = clf.intercept_[0] - float(weight @ mean)
    with torch.no_grad():
        detector.head.fc.weight.copy_(torch.from_numpy(weight).float()[None, :])
        detector.head.fc.bias.fill_(bias)
    return detector.eval(), history
