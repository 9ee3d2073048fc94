"""Ablation study: every params variant over paired seeds, scored on whole files at full scale,
with t-intervals across seeds and speaker x seed bootstrap intervals of each difference."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from spectcontra.config import Config, PretrainConfig, with_overrides
from spectcontra.conventions import BONAFIDE
from spectcontra.errors import InputError
from spectcontra.evaluation.metrics import cllr, compute_eer, min_dcf, roc_auc
from spectcontra.experiments.label_efficiency import cluster_bootstrap_eer
from spectcontra.experiments.seeds import seed_dir, whole_file_scored
from spectcontra.experiments.stats import CI_LEVEL, REFERENCE, summarise
from spectcontra.features.store import FeatureStoreError, load_split
from spectcontra.models.checkpoint import load_encoder
from spectcontra.models.detector import SpoofDetector
from spectcontra.models.encoder import SpectralEncoder
from spectcontra.models.pretrainer import ContrastivePretrainer
from spectcontra.training.recipe import (
    Features,
    Scored,
    calibrate_and_score,
    load_features,
    run_finetune,
    run_pretrain,
)

# --------------------------------------------------------------------------- configs


def variant_configs(cfg: Config) -> dict[str, Config]:
    """Every variant's config: its overrides, then at scale "small" the epoch caps.

    All are built before any training, so a bad override fails at once, naming its key.
    """
    return {name: variant_config(cfg, name) for name in cfg.ablate.variants}


def variant_config(cfg: Config, name: str) -> Config:
    """One variant's config (see :func:`variant_configs`); reads no other variant."""
    if name not in cfg.ablate.variants:
        raise InputError(f"ablate.variants has no variant {name!r} "
                         f"(it has {', '.join(cfg.ablate.variants)})")
    v = with_overrides(cfg, cfg.ablate.variants[name])
    if cfg.ablate.scale == "small":
        small = cfg.ablate.small_epochs
        v = with_overrides(v, {"pretrain.epochs": min(v.pretrain.epochs, small),
                               "finetune.epochs": min(v.finetune.epochs, small)})
    return v


def pretrains(cfg: Config) -> bool:
    """Whether the config trains a contrastive network at all."""
    return cfg.pretrain.contrastive_weight > 0 and cfg.pretrain.epochs > 0


def _count(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def parameter_counts(cfg: Config, n_bins: int) -> dict[str, int]:
    """Parameters a run trains, built from its config alone (no data, no training).

    params_pretrain: the contrastive network (encoder + projections + cross-attention), 0 when
    nothing is pretrained; params_trainable: what fine-tuning updates; params_total: the detector.
    """
    p = cfg.pretrain
    encoder = SpectralEncoder(p.encoder, n_bins)
    pretrain = (_count(ContrastivePretrainer(encoder, p.projection_dim, p.cross_attention,
                                             p.temperature)) if pretrains(cfg) else 0)
    # 'logreg' folds its classifier into a linear head, as training.finetune does.
    head = "linear" if cfg.finetune.strategy == "logreg" else cfg.finetune.head
    detector = SpoofDetector(p.encoder, p.views, n_bins, head=head,
                             head_hidden=cfg.finetune.head_hidden)
    detector.set_strategy(cfg.finetune.strategy)
    return {"params_pretrain": pretrain, "params_trainable": _count(detector, True),
            "params_total": _count(detector)}


# --------------------------------------------------------------------------- statistics


def eval_metrics(scored: Scored) -> dict[str, float]:
    """Eval EER, ROC-AUC, minDCF and Cllr of calibrated scores, and the dev EER."""
    table = scored.eval
    bona = table.loc[table["label"] == BONAFIDE, "score"].to_numpy()
    spoof = table.loc[table["label"] != BONAFIDE, "score"].to_numpy()
    return {"eer": compute_eer(bona, spoof)[0], "roc_auc": roc_auc(bona, spoof),
            "min_dcf": min_dcf(bona, spoof), "cllr": cllr(bona, spoof),
            "dev_eer": scored.dev_eer}


# --------------------------------------------------------------------------- runs


@dataclasses.dataclass(frozen=True)
class Audio:
    """Where whole files are read for scoring: the corpus's audio folder and its protocol."""

    raw_dir: Path
    protocol: Path


def _sizes(cfg: Config) -> dict[str, int] | None:
    ab = cfg.ablate
    if ab.scale != "small":
        return None
    return {"train": ab.small_train_utterances, "dev": ab.small_dev_utterances,
            "eval": ab.small_eval_utterances}


def _subsets(feats: Features, sizes: dict[str, int], seed: int) -> Features:
    """Seeded class-stratified subsets of train (with its augmented copy), dev and eval."""
    train = feats.train.stratified(sizes["train"], seed)
    aug = None if feats.train_aug is None else feats.train_aug.stratified(sizes["train"], seed)
    # stratified() picks rows from the index alone, so the augmented copy keeps its pairing
    if aug is not None and not aug.index["utt_id"].equals(train.index["utt_id"]):
        raise FeatureStoreError("train and train_aug subsets differ: the feature store is "
                                "inconsistent")
    return dataclasses.replace(feats, train=train, train_aug=aug,
                               dev=feats.dev.stratified(sizes["dev"], seed),
                               eval=feats.eval.stratified(sizes["eval"], seed))


def tasks(configs: dict[str, Config], seeds: Sequence[int]) -> list[tuple[int, tuple[str, ...]]]:
    """(seed, variants sharing one pretrain config) units of work, the largest first.

    A unit pretrains once and fine-tunes each of its variants on that encoder, so variants
    that change only fine-tuning cost no extra pretraining.
    """
    groups: dict[PretrainConfig, list[str]] = {}
    for name, c in configs.items():
        groups.setdefault(c.pretrain, []).append(name)
    units = [(seed, tuple(names)) for seed in seeds for names in groups.values()]
    return sorted(units, key=lambda u: -len(u[1]))  # big units first balance the workers


def reusable_encoder(cfg: Config, pretrain_cfg: PretrainConfig, seed: int,
                     encoders: Path | None) -> Path | None:
    """The pretrain stage's encoder for this run, if it is the one the run would train.

    At scale "full", a variant group with the headline's pretrain config and a seed of
    ``pretrain.seeds`` would repeat that stage's run exactly (same code, data, config and
    seed, single-threaded in both), so its encoder is read instead of retrained.
    """
    if encoders is None or cfg.ablate.scale != "full" or pretrain_cfg != cfg.pretrain:
        return None
    path = seed_dir(encoders, seed) / "encoder.pt"
    return path if seed in cfg.pretrain.seeds and path.exists() else None


def run_group(cfg: Config, features_dir: Path, seed: int, names: tuple[str, ...],
              encoders: Path | None = None, audio: Audio | None = None) -> list[dict[str, Any]]:
    """One row per variant in ``names``: pretrain once (or reuse the pretrain stage's encoder,
    see :func:`reusable_encoder`), then fine-tune, calibrate and score each.

    With ``audio`` (the corpus's raw audio folder and protocol), dev and eval files are scored
    whole, the way the shipped detector scores them (the stage does this); without it, the
    stored crop of each file is scored (a faster path for tests).

    Every run is seeded from ``seed`` alone, so its result does not depend on what ran before
    it or in which process. ``seconds`` (wall clock, which :func:`run_ablation` moves to its
    timings) of the first row includes the pretraining.
    """
    configs = {name: variant_config(cfg, name) for name in names}
    pretrain_cfg = configs[names[0]].pretrain
    if any(configs[n].pretrain != pretrain_cfg for n in names):
        raise ValueError(f"variants {names} do not share one pretrain config")
    feats = load_features(features_dir, pretrain_cfg.views, with_aug=True)
    sizes = _sizes(cfg)
    if sizes is not None:
        feats = _subsets(feats, sizes, seed)
    n_bins = feats.train.views[pretrain_cfg.views[0]].shape[1]
    counts = {f"n_{s}": len(getattr(feats, s).index) for s in ("train", "dev", "eval")}
    start = time.perf_counter()
    cached = reusable_encoder(cfg, pretrain_cfg, seed, encoders)
    encoder = load_encoder(cached) if cached else run_pretrain(feats, pretrain_cfg, seed)[0]
    rows = []
    for i, name in enumerate(names):
        detector, _ = run_finetune(encoder, feats, configs[name].finetune, seed)
        method = configs[name].finetune.calibration
        scored = (calibrate_and_score(detector, feats, method) if audio is None
                  else whole_file_scored(detector, feats, audio.raw_dir, audio.protocol, method))
        rows.append({"variant": name, "seed": seed, **eval_metrics(scored),
                     "scores": scored.eval["score"].to_numpy(dtype=np.float64),
                     "params_pretrain": parameter_counts(configs[name], n_bins)["params_pretrain"],
                     "params_trainable": _count(detector, True), "params_total": _count(detector),
                     **counts, "pretrain_cached": i > 0,
                     "seconds": round(time.perf_counter() - start, 2)})
        start = time.perf_counter()
    return rows


def run_units(cfg: Config, features_dir: Path, units: list[tuple[int, tuple[str, ...]]],
              progress: bool = False, encoders: Path | None = None,
              audio: Audio | None = None) -> list[dict[str, Any]]:
    """The rows of :func:`run_group` for every (seed, variants) unit, in no fixed order.

    With ``common.threads`` > 1 the units run in that many single-threaded processes: scoring
    is memory-bound and gains nothing from intra-op threads, while independent runs use both
    cores. Results are the same either way.
    """
    workers = min(cfg.common.threads, len(units))
    rows: list[dict[str, Any]] = []
    total = sum(len(names) for _, names in units)
    bar = tqdm(total=total, desc="ablate", disable=not progress)
    if workers == 1:
        for seed, names in units:
            rows += run_group(cfg, features_dir, seed, names, encoders, audio)
            bar.update(len(names))
    else:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=torch.set_num_threads, initargs=(1,)) as pool:
            futures = [pool.submit(run_group, cfg, features_dir, seed, names, encoders, audio)
                       for seed, names in units]
            for future in as_completed(futures):
                rows += future.result()
                bar.update(len(rows) - bar.n)
    bar.close()
    return rows


def run_ablation(cfg: Config, features_dir: Path, progress: bool = False,
                 encoders: Path | None = None, audio: Audio | None = None, n_boot: int = 1000,
                 ) -> tuple[pd.DataFrame, dict[str, dict[str, Any]], dict[str, Any]]:
    """Train, calibrate and score every (variant, seed) in one call; return the runs table,
    its summary and the runs' wall-clock seconds (:func:`collect`).

    The pipeline runs the same work one variant per stage (:func:`run_variant`, then
    :func:`collect` over the variants' records), so that adding a variant trains only that
    variant; this one-call form shares pretraining between variants that differ only in
    fine-tuning, which matters at scale "small", where no pretrain stage encoder is reused.

    At scale "small" each seed draws class-stratified subsets of train, dev and eval
    (``ablate.small_*_utterances``) that every variant shares, so variants are paired and
    the interval across seeds includes the sampling of the subsets.
    """
    configs = variant_configs(cfg)  # a bad override fails here, before any training
    rows = run_units(cfg, features_dir, tasks(configs, cfg.ablate.seeds), progress, encoders,
                     audio)
    return collect(cfg, rows, features_dir, n_boot)


def run_variant(cfg: Config, name: str, features_dir: Path, progress: bool = False,
                encoders: Path | None = None, audio: Audio | None = None,
                ) -> list[dict[str, Any]]:
    """Every seed of one variant (:func:`run_group`), in ``ablate.seeds`` order."""
    variant_config(cfg, name)  # an unknown name or a bad override fails before any training
    rows = run_units(cfg, features_dir, [(seed, (name,)) for seed in cfg.ablate.seeds],
                     progress, encoders, audio)
    return sorted(rows, key=lambda r: cfg.ablate.seeds.index(r["seed"]))


def collect(cfg: Config, rows: list[dict[str, Any]], features_dir: Path, n_boot: int = 1000,
            ) -> tuple[pd.DataFrame, dict[str, dict[str, Any]], dict[str, Any]]:
    """The runs table, its summary and the runs' wall-clock seconds (:func:`run_seconds`)
    from the rows of every (variant, seed).

    The runs table and the summary hold only what a rerun reproduces exactly; the seconds
    are for the stage's timing record. At scale "full" every run scored the same eval files,
    so each difference to the reference also gets speaker x seed intervals.
    """
    order = {name: i for i, name in enumerate(cfg.ablate.variants)}  # params.yaml order
    rows = sorted(rows, key=lambda r: (order[r["variant"]], cfg.ablate.seeds.index(r["seed"])))
    runs = pd.DataFrame(rows)
    seconds = run_seconds(runs.pop("seconds"), runs)
    scores = runs.pop("scores")
    summary = summarise(runs)
    if cfg.ablate.scale == "full":  # every run scored the same eval files: pair them
        ev = load_split(features_dir, "eval", ())  # the index alone, in the scores' row order
        speaker_seed_intervals(summary, runs, scores, ev.targets,
                               ev.index["speaker"].to_numpy(), n_boot, cfg.common.seed)
    return runs, summary, seconds


# --------------------------------------------------------------------------- variant records


def fingerprint(cfg: Config, name: str) -> str:
    """SHA-256 of everything a variant's runs depend on in the params: its whole config after
    its overrides (pretrain, fine-tuning, calibration), the seeds, the scale and its caps.
    ``common.threads`` is left out: results do not depend on it."""
    v = variant_config(cfg, name)
    ab = v.ablate
    basis = {"pretrain": dataclasses.asdict(v.pretrain), "finetune": dataclasses.asdict(v.finetune),
             "common": {k: val for k, val in dataclasses.asdict(v.common).items()
                        if k != "threads"},
             "seeds": list(ab.seeds), "scale": ab.scale,
             "small": [ab.small_train_utterances, ab.small_dev_utterances,
                       ab.small_eval_utterances, ab.small_epochs]}
    text = json.dumps(basis, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def variant_record(cfg: Config, name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What the per-variant stage writes: the variant's rows, its eval scores as plain floats
    (JSON keeps every bit of a float64) and the fingerprint of the params they came from.
    Wall-clock seconds stay out: they go to the stage's timing record."""
    runs = [{**{k: v for k, v in r.items() if k not in ("scores", "seconds")},
             "scores": [float(x) for x in r["scores"]]} for r in rows]
    return {"variant": name, "overrides": cfg.ablate.variants[name],
            "fingerprint": fingerprint(cfg, name), "runs": runs}


def read_variant_records(cfg: Config, runs_dir: Path) -> list[dict[str, Any]]:
    """Every variant's rows from ``<runs_dir>/<variant>.json``, checked against the params:
    a missing record, or one written under other params, is an error naming the file.
    Records of variants no longer in the params are ignored."""
    rows: list[dict[str, Any]] = []
    for name in cfg.ablate.variants:
        path = Path(runs_dir) / f"{name}.json"
        if not path.exists():
            raise InputError(f"{path} is missing: variant {name!r} has not run "
                             f"(dvc repro ablate_variant@{name})")
        try:
            record = json.loads(path.read_text())
            stale = record["fingerprint"] != fingerprint(cfg, name)
            runs = record["runs"]
            if any(len(r["scores"]) != r["n_eval"] for r in runs):
                raise ValueError("a run holds another number of eval scores than its n_eval")
        except (ValueError, KeyError, TypeError) as err:
            raise InputError(f"{path} is not a variant record: {err}") from err
        if stale:
            raise InputError(f"{path} was written under other params than variant {name!r} "
                             f"has now: rerun it (dvc repro ablate_variant@{name})")
        rows += [{**r, "scores": np.asarray(r["scores"], dtype=np.float64), "seconds": 0.0}
                 for r in runs]
    return rows


SIMULTANEOUS_BOOT = 5  # replicates of a Bonferroni-level interval, per replicate at 95%


def speaker_seed_intervals(summary: dict[str, dict[str, Any]], runs: pd.DataFrame,
                           scores: pd.Series, targets: np.ndarray, speakers: np.ndarray,
                           n_boot: int, seed: int, level: float = CI_LEVEL) -> None:
    """Add to each compared variant the paired interval of its seed-mean eval EER minus the
    reference's that resamples eval speakers and training seeds together
    (:func:`~spectcontra.experiments.label_efficiency.cluster_bootstrap_eer`): at ``level``
    from ``n_boot`` replicates (``eer_diff_boot_ci_*``), and at the Bonferroni level over the
    m comparisons from ``SIMULTANEOUS_BOOT`` times as many, so that its far percentiles rest
    on enough replicates (``eer_diff_boot_simultaneous_ci_*``, the interval a claim needs).
    ``scores`` holds each run's eval scores (rows of ``runs``), all in the order of
    ``targets``."""
    table = runs[["variant", "seed"]].assign(scores=scores.to_numpy())
    by_variant = {name: g.sort_values("seed") for name, g in table.groupby("variant", sort=False)}
    if REFERENCE not in by_variant:
        return
    ref = by_variant[REFERENCE]
    compared = [n for n, g in by_variant.items()
                if n != REFERENCE and list(g["seed"]) == list(ref["seed"])]
    wide = 1.0 - (1.0 - level) / max(len(compared), 1)
    for name in compared:
        args = (list(by_variant[name]["scores"]), targets, speakers, n_boot)
        reference = list(ref["scores"])
        mean, low, high = cluster_bootstrap_eer(*args, level, seed, reference=reference)
        _, s_low, s_high = cluster_bootstrap_eer(*args[:3], n_boot * SIMULTANEOUS_BOOT, wide,
                                                 seed, reference=reference)
        summary[name].update(eer_diff_boot_mean=mean, eer_diff_boot_ci_low=low,
                             eer_diff_boot_ci_high=high, eer_diff_boot_simultaneous_ci_low=s_low,
                             eer_diff_boot_simultaneous_ci_high=s_high)


def rows_seconds(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """:func:`run_seconds` of the rows of :func:`run_group`."""
    table = pd.DataFrame([{k: r[k] for k in ("variant", "seed", "seconds")} for r in rows])
    return run_seconds(table.pop("seconds"), table)


def run_seconds(seconds: pd.Series, runs: pd.DataFrame) -> dict[str, Any]:
    """``{"run_seconds": {variant: {seed: s}}, "seconds_mean": {variant: s}}``, wall clock.

    A unit's first variant carries its pretraining (see :func:`run_group`).
    """
    table = runs[["variant", "seed"]].assign(seconds=seconds.to_numpy())
    per_run: dict[str, dict[str, float]] = {}
    for row in table.itertuples(index=False):
        per_run.setdefault(str(row.variant), {})[str(row.seed)] = float(row.seconds)
    means = {name: round(sum(s.values()) / len(s), 2) for name, s in per_run.items()}
    return {"run_seconds": per_run, "seconds_mean": means}
