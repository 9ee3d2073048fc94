"""Evaluation of dev/eval score tables: flat metrics with bootstrap CIs, and curve tables."""

from __future__ import annotations

import re
from functools import partial
from typing import NamedTuple

import numpy as np
import pandas as pd

from spectcontra.config import EvaluateConfig
from spectcontra.conventions import BONAFIDE, LABELS, SPOOF
from spectcontra.evaluation.bootstrap import MetricFn, bootstrap_cis
from spectcontra.evaluation.metrics import (
    MetricError,
    accuracy_at_threshold,
    act_dcf,
    average_precision,
    cllr,
    compute_eer,
    expected_calibration_error,
    far_frr_at_threshold,
    min_cllr,
    min_dcf,
    per_attack_eer,
    pr_curve,
    probit,
    reliability_curve,
    roc_auc,
    roc_curve,
)
from spectcontra.evaluation.scores import SCORE_COLUMNS

HIST_BINS = 50


class ScoreSet(NamedTuple):
    """One split's scores by class; ``attacks`` is aligned with ``spoof``."""

    bonafide: np.ndarray
    spoof: np.ndarray
    attacks: np.ndarray


def split_scores(table: pd.DataFrame, name: str) -> ScoreSet:
    """Check a score table (columns utt_id, score, label, attack) and split it by class."""
    missing = [c for c in SCORE_COLUMNS if c not in table.columns]
    if missing:
        raise MetricError(f"{name} scores: missing column(s) {missing}")
    bad = sorted(set(table["label"].astype(str)) - set(LABELS))
    if bad:
        raise MetricError(f"{name} scores: unknown label(s) {bad}; expected {LABELS}")
    dup = table["utt_id"][table["utt_id"].duplicated()]
    if len(dup):
        raise MetricError(f"{name} scores: duplicate utt_id(s), e.g. {dup.iloc[0]!r}")
    scores = pd.to_numeric(table["score"], errors="coerce").to_numpy(dtype=np.float64)
    not_finite = ~np.isfinite(scores)
    if not_finite.any():
        first = table["utt_id"].iloc[int(np.argmax(not_finite))]
        raise MetricError(
            f"{name} scores: {int(not_finite.sum())} missing or non-finite score(s), "
            f"e.g. utt_id {first!r}"
        )
    is_bona = (table["label"] == BONAFIDE).to_numpy()
    if is_bona.all() or not is_bona.any():
        raise MetricError(
            f"{name} scores: need both classes, got {int(is_bona.sum())} {BONAFIDE} and "
            f"{int((~is_bona).sum())} {SPOOF}"
        )
    attacks = table["attack"].astype(str).to_numpy()[~is_bona]
    return ScoreSet(scores[is_bona], scores[~is_bona], attacks)


def metric_functions(dev_threshold: float, ece_bins: int) -> dict[str, MetricFn]:
    """Every bootstrapped metric, keyed by its flat name; thresholded ones use the dev threshold."""
    return {
        "eer": lambda b, s: compute_eer(b, s)[0],
        "roc_auc": roc_auc,
        "ap_bonafide": partial(average_precision, positive="bonafide"),
        "ap_spoof": partial(average_precision, positive="spoof"),
        "min_dcf": min_dcf,
        "act_dcf": act_dcf,
        "cllr": cllr,
        "min_cllr": min_cllr,
        "ece": partial(expected_calibration_error, n_bins=ece_bins),
        "accuracy_at_dev_thr": partial(accuracy_at_threshold, threshold=dev_threshold),
        "far_at_dev_thr": lambda b, s: far_frr_at_threshold(b, s, dev_threshold)[0],
        "frr_at_dev_thr": lambda b, s: far_frr_at_threshold(b, s, dev_threshold)[1],
    }


def evaluate_scores(
    dev: pd.DataFrame, eval_: pd.DataFrame, cfg: EvaluateConfig, seed: int
) -> tuple[dict[str, float], dict[str, pd.DataFrame]]:
    """Flat metrics (with ``_ci_low``/``_ci_high`` bootstrap bounds) and curve tables for eval.

    Scores are used as given: actDCF, Cllr and ECE treat them as calibrated LLRs, so they
    measure the calibration the ``finetune`` stage fitted on dev. The only threshold, the dev
    EER threshold, is chosen on dev and never on eval; the intervals of the thresholded rates
    resample eval only and hold that threshold fixed.
    """
    dev_set, ev = split_scores(dev, "dev"), split_scores(eval_, "eval")
    shared = set(dev["utt_id"]) & set(eval_["utt_id"])
    if shared:
        raise MetricError(f"dev and eval share {len(shared)} utt_id(s), e.g. {min(shared)!r}")
    dev_eer, dev_threshold = compute_eer(dev_set.bonafide, dev_set.spoof)
    intervals = bootstrap_cis(
        metric_functions(dev_threshold, cfg.ece_bins), ev.bonafide, ev.spoof,
        cfg.n_bootstrap, cfg.ci_level, seed,
    )
    flat: dict[str, float] = {}
    for key, (point, low, high) in intervals.items():
        flat.update({key: point, f"{key}_ci_low": low, f"{key}_ci_high": high})
    flat.update(dev_eer=dev_eer, dev_eer_threshold=dev_threshold)
    for attack, value in per_attack_eer(ev.bonafide, ev.spoof, ev.attacks).items():
        flat[f"eer_attack_{_key_safe(attack)}"] = value
    flat.update(n_bonafide=float(ev.bonafide.size), n_spoof=float(ev.spoof.size))
    return flat, curve_tables(ev, cfg.ece_bins)


def curve_tables(
    scores: ScoreSet, ece_bins: int, hist_bins: int = HIST_BINS
) -> dict[str, pd.DataFrame]:
    """Tables for ``dvc plots``: roc, det (plus probit columns), pr, reliability, histograms.

    ROC and DET hold realisable operating points only (see ``metrics.roc_curve``); the
    histograms share one set of bin edges so classes and attacks line up.
    """
    bona, spf = scores.bonafide, scores.spoof
    fpr, tpr, _ = roc_curve(bona, spf)
    frr = 1.0 - tpr
    precision, recall, _ = pr_curve(bona, spf, positive="bonafide")
    rel = reliability_curve(bona, spf, ece_bins)
    edges = np.histogram_bin_edges(np.concatenate([bona, spf]), bins=hist_bins)
    bins = pd.DataFrame(
        {"bin_low": edges[:-1], "bin_high": edges[1:], "bin": (edges[:-1] + edges[1:]) / 2}
    )
    by_class = {BONAFIDE: _counts(bona, edges), SPOOF: _counts(spf, edges)}
    by_attack = {BONAFIDE: by_class[BONAFIDE]} | {
        str(a): _counts(spf[scores.attacks == a], edges)
        for a in sorted(set(scores.attacks.tolist()))
    }
    # A PR table needs only the corners of its staircase: where recall steps up, and the
    # point just before each step.
    steps = np.diff(recall) > 0
    corners = np.r_[True, steps] | np.r_[steps, True]
    return {
        "roc": pd.DataFrame({"fpr": fpr, "tpr": tpr}),
        "det": pd.DataFrame(
            {"far": fpr, "frr": frr, "far_probit": probit(fpr), "frr_probit": probit(frr)}
        ),
        "pr": pd.DataFrame({"recall": recall[corners], "precision": precision[corners]}),
        "reliability": pd.DataFrame(
            {"bin": rel.bin, "bin_low": rel.bin / ece_bins, "bin_high": (rel.bin + 1) / ece_bins,
             "confidence": rel.confidence, "accuracy": rel.accuracy, "count": rel.count,
             "weight": rel.weight}
        ),
        "hist_class": bins.assign(**by_class),
        "hist_attack": bins.assign(**by_attack),
    }


def _counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.histogram(values, bins=edges)[0]


def _key_safe(attack: str) -> str:
    # dvc metrics keys and column names stay plain identifiers whatever the corpus calls attacks
    return re.sub(r"[^0-9A-Za-z_]", "_", attack)
