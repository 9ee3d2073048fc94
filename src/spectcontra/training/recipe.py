"""The method end to end on a feature store: pretrain, fine-tune, calibrate on dev, score.

The finetune stage, the supervised-only baseline and every ablation run call these
functions, so they differ only in their config, never in their code path.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spectcontra.config import FinetuneConfig, PretrainConfig
from spectcontra.evaluation.calibration import Calibration, fit_calibration
from spectcontra.evaluation.metrics import compute_eer
from spectcontra.evaluation.scores import score_table
from spectcontra.features.store import AUG, Split, load_settings, load_split
from spectcontra.models.detector import SpoofDetector, score
from spectcontra.models.encoder import SpectralEncoder
from spectcontra.training.finetune import finetune
from spectcontra.training.pretrain import pretrain


@dataclass(frozen=True)
class Features:
    """The splits one run needs, restricted to the views it uses."""

    train: Split
    train_aug: Split | None
    dev: Split
    eval: Split
    settings: dict[str, Any]

    def bin_std(self, views: tuple[str, ...]) -> dict[str, list[float]]:
        return {v: self.settings["stats"][v]["std"] for v in views}


def load_features(root: str | Path, views: tuple[str, ...], with_aug: bool) -> Features:
    """The store's splits, left on disk: training and scoring read the rows of each batch
    (:class:`~spectcontra.features.store.StoredArray`), so memory does not grow with the
    corpus. The values, and so every result, are those of the arrays loaded whole."""
    settings = load_settings(root)
    aug = (load_split(root, AUG, views, on_demand=True)
           if with_aug and settings.get("signal_augment") else None)
    return Features(
        train=load_split(root, "train", views, on_demand=True), train_aug=aug,
        dev=load_split(root, "dev", views, on_demand=True),
        eval=load_split(root, "eval", views, on_demand=True),
        settings=settings,
    )


def run_pretrain(feats: Features, cfg: PretrainConfig, seed: int,
                 progress: bool = False) -> tuple[SpectralEncoder, list[dict]]:
    aug = feats.train_aug.views if feats.train_aug is not None else None
    return pretrain(feats.train.views, aug, feats.train.targets, cfg, seed, progress,
                    bin_std=feats.bin_std(cfg.views))


def run_finetune(encoder: SpectralEncoder, feats: Features, cfg: FinetuneConfig, seed: int,
                 progress: bool = False) -> tuple[SpoofDetector, list[dict]]:
    aug = feats.train_aug.views if feats.train_aug is not None else None
    return finetune(encoder, feats.train.views, feats.train.targets, feats.dev.views,
                    feats.dev.targets, cfg, seed, progress, train_aug_views=aug,
                    bin_std=feats.bin_std(tuple(feats.train.views)))


@dataclass(frozen=True)
class Scored:
    dev: pd.DataFrame
    eval: pd.DataFrame
    calibration: Calibration
    dev_threshold: float  # the dev EER threshold on calibrated scores
    dev_eer: float


def calibrate_logits(dev_logits: np.ndarray, eval_logits: np.ndarray, feats: Features,
                     method: str) -> Scored:
    """Fit the calibration and the EER threshold on dev logits only, then apply both splits."""
    cal = fit_calibration(method, dev_logits, feats.dev.targets)
    dev_scores = cal.apply(dev_logits)
    eval_scores = cal.apply(eval_logits)
    t = feats.dev.targets
    eer, thr = compute_eer(dev_scores[t == 1], dev_scores[t == 0])
    return Scored(score_table(feats.dev.index, dev_scores), score_table(feats.eval.index, eval_scores),
                  cal, float(thr), float(eer))


def calibrate_and_score(detector: SpoofDetector, feats: Features, method: str) -> Scored:
    """Calibrated scores of the stored feature crops (one crop per utterance), for runs that have
    no audio folder (tests on tiny feature stores). Published dev/eval scores, and the ablation's,
    score whole files instead (``experiments.seeds.whole_file_scored``)."""
    return calibrate_logits(score(detector, feats.dev.views), score(detector, feats.eval.views),
                            feats, method)


def checkpoint_extra(feats: Features, scored: Scored, pretrain_cfg: PretrainConfig,
                     finetune_cfg: FinetuneConfig) -> dict[str, Any]:
    """Everything inference needs besides the weights, as plain types."""
    return {
        "features": feats.settings,
        "calibration": scored.calibration.as_dict(),
        "threshold": scored.dev_threshold,
        "dev_eer": scored.dev_eer,
        "pretrain": _plain(dataclasses.asdict(pretrain_cfg)),
        "finetune": _plain(dataclasses.asdict(finetune_cfg)),
    }


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, tuple | list):
        return [_plain(v) for v in obj]
    return obj
