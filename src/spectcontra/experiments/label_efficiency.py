"""Label-efficiency study: eval EER against the fraction of labelled training data, per arm.

The standard evidence for self-supervision (REFERENCES.md): the same deployed detector trained
(a) supervised from random init, (b) fine-tuned after contrastive pretraining on *all* train
audio without labels, (c) a linear probe of (b)'s encoder, (d) a linear probe of a random-init
encoder (the floor), and LFCC + logistic regression on the same labels. Fractions are nested
(every labelled set contains the smaller ones) and stratified by class, attack and speaker;
(a) and (b) get the same optimiser-step budget and the same dev early stopping; every seed
pairs all arms. (b) - (a) is reported per fraction with a speaker-clustered bootstrap x seed
interval; a gain is claimed only where that interval excludes 0.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from spectcontra.config import Config, ConfigError, FinetuneConfig
from spectcontra.evaluation.metrics import compute_eer
from spectcontra.features.store import Split
from spectcontra.models.checkpoint import load_encoder
from spectcontra.models.detector import score
from spectcontra.models.encoder import SpectralEncoder
from spectcontra.training.finetune import finetune
from spectcontra.training.pretrain import pretrain
from spectcontra.training.recipe import Features, load_features

ARMS = ("supervised", "pretrained_finetune", "pretrained_probe", "random_probe", "lfcc_lr")
DEV_CHECKS = 10  # dev evaluations per fine-tuning run, whatever its number of epochs
STRATA = ("label", "attack", "speaker")


def nested_fractions(index: pd.DataFrame, fractions: Sequence[float],
                     seed: int) -> dict[float, np.ndarray]:
    """{fraction: sorted row positions}: nested, stratified labelled subsets of ``index``.

    Rows of each stratum (label x attack x speaker) get a seeded random order; a row's key is
    (rank + u) / stratum size with u ~ U(0, 1), so sorting by key interleaves the strata in
    proportion. A fraction f takes the first round(f * N) rows by key (at least one row of
    each class), so every smaller labelled set is a prefix, hence a subset, of every larger one.
    """
    if not fractions or any(not 0 < f <= 1 for f in fractions):
        raise ValueError(f"fractions must lie in (0, 1], got {list(fractions)}")
    rng = np.random.default_rng(seed)
    keys = np.empty(len(index))
    for _, rows in index.groupby(list(STRATA), sort=True).indices.items():
        order = rng.permutation(len(rows))
        keys[rows] = (order + rng.random(len(rows))) / len(rows)
    ranked = np.argsort(keys, kind="stable")
    labels = index["label"].to_numpy()[ranked]
    out = {}
    for f in sorted(fractions):
        k = max(1, int(round(f * len(index))))
        take = list(ranked[:k])
        for label in np.unique(labels):  # both classes, even at 1% of a small corpus
            if label not in set(labels[:k]):
                take.append(ranked[int(np.flatnonzero(labels == label)[0])])
        out[f] = np.sort(np.asarray(take, dtype=np.int64))
    return out


def epochs_for_steps(n_labelled: int, batch_size: int, steps: int) -> int:
    """Epochs giving at least ``steps`` optimiser steps on ``n_labelled`` utterances."""
    per_epoch = math.ceil(n_labelled / min(batch_size, n_labelled))
    return max(1, math.ceil(steps / per_epoch))


@dataclass(frozen=True)
class StudyData:
    """What every run reads: features (train, dev subset, eval) and pooled LFCC vectors."""

    feats: Features
    lfcc: dict[str, np.ndarray]  # split -> (N, 2 * n_lfcc), rows aligned with feats


def _eer(scores: np.ndarray, targets: np.ndarray) -> float:
    return float(compute_eer(scores[targets == 1], scores[targets == 0])[0])


def _lfcc_scores(lfcc: dict[str, np.ndarray], rows: np.ndarray, y: np.ndarray,
                 seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(dev, eval) scores of LFCC + logistic regression fitted on the labelled rows."""
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    clf.fit(lfcc["train"][rows], y[rows])
    return clf.decision_function(lfcc["dev"]), clf.decision_function(lfcc["eval"])


def run_seed(data: StudyData, cfg: Config, seed: int, fractions: Sequence[float], steps: int,
             pretrained: SpectralEncoder,
             log: Callable[[str], None] = lambda _: None) -> list[dict[str, Any]]:
    """Every arm at every fraction for one seed: rows of (seed, fraction, arm, n_labelled,
    dev_eer, eer, scores), ``scores`` the eval scores aligned with ``data.feats.eval``.

    ``pretrained`` is this seed's encoder from the pretrain stage, pretrained contrastively on
    all train audio without labels (the caller checks ``supervised_contrastive`` is off).
    """
    feats = data.feats
    train, dev = feats.train, feats.dev
    y_train = train.targets
    aug = feats.train_aug.views if feats.train_aug is not None else None
    bin_std = feats.bin_std(tuple(train.views))
    random_init, _ = pretrain(train.views, None, y_train,
                              dataclasses.replace(cfg.pretrain, contrastive_weight=0.0), seed)
    subsets = nested_fractions(train.index, fractions, seed)
    rows: list[dict[str, Any]] = []
    for fraction, picked in subsets.items():
        labelled = Split(index=train.index.iloc[picked].reset_index(drop=True),
                         views={v: np.asarray(a[picked]) for v, a in train.views.items()})
        lab_aug = ({v: np.asarray(a[picked]) for v, a in aug.items()} if aug is not None else None)
        ft: FinetuneConfig = dataclasses.replace(
            cfg.finetune, epochs=epochs_for_steps(len(picked), cfg.finetune.batch_size, steps))
        dev_every = max(1, ft.epochs // DEV_CHECKS)
        runs = {
            "supervised": (random_init, dataclasses.replace(ft, strategy="full")),
            "pretrained_finetune": (pretrained, ft),
            "pretrained_probe": (pretrained, dataclasses.replace(ft, strategy="logreg")),
            "random_probe": (random_init, dataclasses.replace(ft, strategy="logreg")),
        }
        for arm, (encoder, arm_cfg) in runs.items():
            det, history = finetune(encoder, labelled.views, labelled.targets, dev.views,
                                    dev.targets, arm_cfg, seed, train_aug_views=lab_aug,
                                    bin_std=bin_std, dev_every=dev_every)
            eval_scores = score(det, feats.eval.views)
            dev_eer = next(h["dev_eer"] for h in history if h["selected"])
            rows.append(_row(seed, fraction, arm, len(picked), dev_eer, eval_scores,
                             feats.eval.targets))
        lfcc_dev, lfcc_eval = _lfcc_scores(data.lfcc, picked, y_train, seed)
        rows.append(_row(seed, fraction, "lfcc_lr", len(picked), _eer(lfcc_dev, dev.targets),
                         lfcc_eval, feats.eval.targets))
        log(f"seed {seed}: fraction {fraction:g} done ({len(picked)} labelled)")
    return rows


def _run_seed_job(cfg: Config, features_dir: Path, encoders: Path, lfcc: dict[str, np.ndarray],
                  seed: int) -> list[dict[str, Any]]:
    """One seed in a worker process: load the features and the seed's pretrained encoder, run
    every fraction and arm."""
    feats = load_features(features_dir, cfg.pretrain.views, with_aug=True)
    study = cfg.label_efficiency
    encoder = load_encoder(Path(encoders) / f"seed_{seed}" / "encoder.pt")
    return run_seed(StudyData(feats, lfcc), cfg, seed, study.fractions, study.steps, encoder)


def check_study_seeds(cfg: Config) -> None:
    """The study reuses the pretrain stage's encoders: its seeds must be among those, and they
    must have been pretrained without labels."""
    missing = sorted(set(cfg.label_efficiency.seeds) - set(cfg.pretrain.seeds))
    if missing:
        raise ConfigError(f"label_efficiency.seeds {missing} are not in pretrain.seeds "
                         f"{list(cfg.pretrain.seeds)}: the study fine-tunes the pretrain stage's "
                         "encoders, so every study seed needs one")
    if cfg.pretrain.supervised_contrastive:
        raise ConfigError("label_efficiency needs encoders pretrained without labels: set "
                         "pretrain.supervised_contrastive: false")


def run_study(cfg: Config, features_dir: Path, encoders: Path, lfcc: dict[str, np.ndarray],
              progress: bool = False) -> pd.DataFrame:
    """Every seed of ``label_efficiency.seeds``, in ``common.threads`` single-threaded worker
    processes (independent runs use the cores better than intra-op threads); one row per
    (seed, fraction, arm), in seed, fraction, arm order, whatever the scheduling."""
    seeds = cfg.label_efficiency.seeds
    workers = min(cfg.common.threads, len(seeds))
    rows: list[dict[str, Any]] = []
    bar = tqdm(total=len(seeds), desc="label efficiency", disable=not progress)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=torch.set_num_threads, initargs=(1,)) as pool:
        futures = [pool.submit(_run_seed_job, cfg, features_dir, encoders, lfcc, s)
                   for s in seeds]
        for future in as_completed(futures):
            rows += future.result()
            bar.update(1)
    bar.close()
    rows.sort(key=lambda r: (seeds.index(r["seed"]), r["fraction"], ARMS.index(r["arm"])))
    return pd.DataFrame(rows)


def _row(seed: int, fraction: float, arm: str, n: int, dev_eer: float, scores: np.ndarray,
         targets: np.ndarray) -> dict[str, Any]:
    return {"seed": seed, "fraction": fraction, "arm": arm, "n_labelled": n, "dev_eer": dev_eer,
            "eer": _eer(scores, targets), "scores": np.asarray(scores, dtype=np.float64)}


def cluster_bootstrap_eer(runs: Sequence[np.ndarray], targets: np.ndarray, speakers: np.ndarray,
                          n_boot: int, level: float, seed: int,
                          reference: Sequence[np.ndarray] | None = None) -> tuple[float, float, float]:
    """(mean, low, high): mean over seeds of EER(run), or of EER(run) - EER(reference) when
    ``reference`` (the same seeds' scores of another arm, paired by position) is given.

    Each replicate resamples eval speakers with replacement (every utterance of a drawn speaker
    comes along; a replicate missing a class is redrawn) and the seeds with replacement, so
    the percentile interval carries both the speaker and the training-seed variance.
    """
    if not runs or (reference is not None and len(reference) != len(runs)):
        raise ValueError("need a non-zero number of seeds, the same for both arms")
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(speakers == s) for s in np.unique(speakers)]

    def stat(i: int, rows: np.ndarray | slice, y: np.ndarray) -> float:
        value = _eer(runs[i][rows], y)
        return value - _eer(reference[i][rows], y) if reference is not None else value

    point = float(np.mean([stat(i, slice(None), targets) for i in range(len(runs))]))
    reps: list[float] = []
    while len(reps) < n_boot:
        drawn = np.concatenate([groups[g] for g in rng.integers(0, len(groups), len(groups))])
        y = targets[drawn]
        if y.min() == y.max():
            continue
        reps.append(float(np.mean([stat(i, drawn, y)
                                   for i in rng.integers(0, len(runs), len(runs))])))
    low, high = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
    return point, float(low), float(high)


def summarise(runs: pd.DataFrame, targets: np.ndarray, speakers: np.ndarray, n_boot: int,
              level: float, seed: int) -> dict[str, Any]:
    """Per fraction and arm: mean eval EER and its speaker x seed interval; for every arm but
    (a), the paired difference to (a) supervised and whether its interval excludes 0."""
    out: dict[str, Any] = {}
    for fraction, group in runs.groupby("fraction", sort=True):
        by_arm = {arm: g.sort_values("seed") for arm, g in group.groupby("arm")}
        ref = list(by_arm["supervised"]["scores"])
        entry: dict[str, Any] = {"n_labelled": int(group["n_labelled"].iloc[0])}
        for arm in ARMS:
            g = by_arm[arm]
            scores = list(g["scores"])
            mean, low, high = cluster_bootstrap_eer(scores, targets, speakers, n_boot, level, seed)
            row = {"eer_mean": mean, "eer_ci_low": low, "eer_ci_high": high,
                   "dev_eer_mean": float(g["dev_eer"].mean()), "n_seeds": int(len(g))}
            if arm != "supervised":
                d, d_low, d_high = cluster_bootstrap_eer(scores, targets, speakers, n_boot, level,
                                                         seed, reference=ref)
                row.update(diff_vs_supervised=d, diff_ci_low=d_low, diff_ci_high=d_high,
                           diff_excludes_0=bool(d_high < 0 or d_low > 0))
            entry[arm] = row
        out[f"{fraction:g}"] = entry
    return out
