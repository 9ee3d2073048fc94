"""Evaluation of dev/eval score tables: flat metrics with bootstrap CIs, and curve tables."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from spectcontra.config import EvaluateConfig
from spectcontra.conventions import BONAFIDE, LABELS, SPOOF
from spectcontra.errors import InputError
from spectcontra.evaluation.bootstrap import MetricFn, Resampler, Statistic, bootstrap_intervals
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


class BootstrapUnitError(MetricError, InputError):
    """Scores whose speakers cannot carry ``evaluate.bootstrap_unit: speaker``: the corpus or
    the params must change, so it is the user's input, not a fault in the metric code."""


class ScoreSet(NamedTuple):
    """One split's scores by class, in utt_id order; ``attacks`` and ``spoof_speakers`` are
    aligned with ``spoof``, ``bonafide_speakers`` with ``bonafide``."""

    bonafide: np.ndarray
    spoof: np.ndarray
    attacks: np.ndarray
    bonafide_speakers: np.ndarray
    spoof_speakers: np.ndarray


def split_scores(table: pd.DataFrame, name: str) -> ScoreSet:
    """Check a score table (columns :data:`SCORE_COLUMNS`) and split it by class.

    Rows are put in utt_id order first, so two systems scored on the same utterances give
    aligned arrays, and the same seed draws the same utterances for both.
    """
    missing = [c for c in SCORE_COLUMNS if c not in table.columns]
    if missing:
        raise MetricError(f"{name} scores: missing column(s) {missing}")
    bad = sorted(set(table["label"].astype(str)) - set(LABELS))
    if bad:
        raise MetricError(f"{name} scores: unknown label(s) {bad}; expected {LABELS}")
    dup = table["utt_id"][table["utt_id"].duplicated()]
    if len(dup):
        raise MetricError(f"{name} scores: duplicate utt_id(s), e.g. {dup.iloc[0]!r}")
    table = table.sort_values("utt_id", kind="stable")
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
    attacks = table["attack"].astype(str).to_numpy()
    speakers = table["speaker"].fillna("").astype(str).to_numpy()
    return ScoreSet(scores[is_bona], scores[~is_bona], attacks[~is_bona], speakers[is_bona],
                    speakers[~is_bona])


def resampler(scores: ScoreSet, unit: str, name: str) -> Resampler:
    """The resampling of ``evaluate.bootstrap_unit`` (``speaker`` or ``utterance``).

    The speaker unit needs every utterance's speaker and enough speakers to vary: without
    between-speaker variation an interval would look falsely certain.
    """
    if unit == "utterance":
        return Resampler.build(scores.bonafide.size, scores.spoof.size)
    if unit != "speaker":
        raise ValueError(f"unknown bootstrap unit {unit!r}")
    speakers = np.r_[scores.bonafide_speakers, scores.spoof_speakers]
    if (speakers == "").any():
        raise BootstrapUnitError(
            f"{name} scores: {int((speakers == '').sum())} utterance(s) have no speaker; the "
            "speaker bootstrap needs one for each (or set evaluate.bootstrap_unit: utterance)"
        )
    try:
        return Resampler.build(scores.bonafide.size, scores.spoof.size,
                               scores.bonafide_speakers, scores.spoof_speakers)
    except MetricError as err:
        raise BootstrapUnitError(
            f"{name} scores: too few speakers for the speaker bootstrap ({err}); add speakers, "
            "or set evaluate.bootstrap_unit: utterance (intervals then ignore speaker effects)"
        ) from err


def speaker_counts(scores: ScoreSet) -> tuple[int, int]:
    """Distinct named speakers among the bona fide and among the spoof utterances."""
    return tuple(len(set(s.tolist()) - {""})
                 for s in (scores.bonafide_speakers, scores.spoof_speakers))


def eer(bonafide: np.ndarray, spoof: np.ndarray) -> float:
    """The EER alone (``compute_eer`` also returns its threshold)."""
    return compute_eer(bonafide, spoof)[0]


def metric_functions(dev_threshold: float, ece_bins: int) -> dict[str, MetricFn]:
    """Every bootstrapped metric, keyed by its flat name; thresholded ones use the dev threshold."""
    return {
        "eer": eer,
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


# The figures a reader looks for first, in this order. `dvc exp show` lists a metrics file's
# columns in its key order, so eval.json is written with these (each with its intervals and
# seed statistics) ahead of the rest.
HEADLINE = ("eer", "min_dcf", "cllr", "roc_auc", "dev_eer")
_FAMILY = re.compile(r"_(ci_low|ci_high|seed_\w+)")


def headline_first(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``flat`` with the :data:`HEADLINE` metrics first (each followed by its ``_ci_*`` and
    ``_seed_*`` keys, sorted), then every other key in sorted order."""
    lead = [key for name in HEADLINE for key in sorted(flat)
            if key == name or (key.startswith(name) and _FAMILY.fullmatch(key[len(name):]))]
    return {**{k: flat[k] for k in lead}, **{k: flat[k] for k in sorted(flat) if k not in lead}}


def evaluate_scores(
    dev: pd.DataFrame, eval_: pd.DataFrame, cfg: EvaluateConfig, seed: int
) -> tuple[dict[str, float | str], dict[str, pd.DataFrame]]:
    """Flat metrics (with ``_ci_low``/``_ci_high`` bootstrap bounds) and curve tables for eval.

    Scores are used as given: actDCF, Cllr and ECE treat them as calibrated LLRs, so they
    measure the calibration the ``finetune`` stage fitted on dev. The only threshold, the dev
    EER threshold, is chosen on dev and never on eval; the intervals of the thresholded rates
    resample eval only and hold that threshold fixed. Every metric and every per-attack EER
    takes its interval from the same resamples of ``cfg.bootstrap_unit`` (recorded as
    ``bootstrap_unit``), drawn as :mod:`spectcontra.evaluation.bootstrap` describes; an
    attack's interval uses the resamples that drew at least one of its utterances.
    """
    dev_set, ev = split_scores(dev, "dev"), split_scores(eval_, "eval")
    shared = set(dev["utt_id"]) & set(eval_["utt_id"])
    if shared:
        raise MetricError(f"dev and eval share {len(shared)} utt_id(s), e.g. {min(shared)!r}")
    dev_eer, dev_threshold = compute_eer(dev_set.bonafide, dev_set.spoof)
    fns = metric_functions(dev_threshold, cfg.ece_bins)
    attack_ids = sorted(set(ev.attacks.tolist()))
    keys = [*fns, *(f"eer_attack_{_key_safe(a)}" for a in attack_ids)]
    point, low, high = bootstrap_intervals(
        _flat_statistic(ev, list(fns.values()), attack_ids),
        resampler(ev, cfg.bootstrap_unit, "eval"), cfg.n_bootstrap, cfg.ci_level, seed,
    )
    flat: dict[str, float | str] = {}
    for key, p, lo, hi in zip(keys, point, low, high, strict=True):
        flat.update({key: float(p), f"{key}_ci_low": float(lo), f"{key}_ci_high": float(hi)})
    n_bona_speakers, n_spoof_speakers = speaker_counts(ev)
    flat.update(dev_eer=dev_eer, dev_eer_threshold=dev_threshold,
                n_bonafide=float(ev.bonafide.size), n_spoof=float(ev.spoof.size),
                n_speakers_bonafide=float(n_bona_speakers), n_speakers_spoof=float(n_spoof_speakers),
                bootstrap_unit=cfg.bootstrap_unit)
    return flat, curve_tables(ev, cfg.ece_bins)


def _flat_statistic(ev: ScoreSet, fns: list[MetricFn], attack_ids: list[str]) -> Statistic:
    """Every metric, then each attack's EER (NaN when a resample drew none of that attack)."""
    def values(bona_idx: np.ndarray, spoof_idx: np.ndarray) -> list[float]:
        bona, spoof = ev.bonafide[bona_idx], ev.spoof[spoof_idx]
        by_attack = per_attack_eer(bona, spoof, ev.attacks[spoof_idx])
        return [fn(bona, spoof) for fn in fns] + [by_attack.get(a, np.nan) for a in attack_ids]

    return values


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
