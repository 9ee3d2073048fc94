"""Scores from another corpus or channel, judged at the operating point chosen on the main dev split.

Nothing is tuned on the new scores: the threshold is the system's dev EER threshold on the
main corpus (as the shipped detector's is), and the calibration is the one fitted there.
Intervals come from the same resampling as ``evaluate`` (``evaluate.bootstrap_unit``, by
default speakers then their utterances, class by class), drawn from the new scores only.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from spectcontra.config import EvaluateConfig
from spectcontra.evaluation.bootstrap import bootstrap_intervals
from spectcontra.evaluation.evaluate import (
    metric_functions,
    resampler,
    speaker_counts,
    split_scores,
)
from spectcontra.evaluation.metrics import MetricError, compute_eer

# Metrics of a transfer table, all from metric_functions; thresholded ones at the dev threshold.
TRANSFER_METRICS = ("eer", "min_dcf", "roc_auc", "act_dcf", "cllr", "accuracy_at_dev_thr",
                    "far_at_dev_thr", "frr_at_dev_thr")


def at_dev_threshold(dev: pd.DataFrame, test: pd.DataFrame, cfg: EvaluateConfig, seed: int,
                     name: str, metrics: Sequence[str] = TRANSFER_METRICS) -> dict[str, float]:
    """``metrics`` of ``test`` with ``_ci_low``/``_ci_high``, thresholds from ``dev`` only.

    ``dev`` is the system's score table on the main corpus's dev split, ``test`` its scores on
    the new audio (columns of ``evaluation.scores``). Adds ``dev_eer_threshold``, the class
    counts and the speaker counts of ``test``.
    """
    dev_set, test_set = split_scores(dev, f"{name} dev"), split_scores(test, name)
    _, threshold = compute_eer(dev_set.bonafide, dev_set.spoof)
    every = metric_functions(threshold, cfg.ece_bins)
    unknown = sorted(set(metrics) - set(every))
    if unknown:
        raise MetricError(f"unknown metric(s) {unknown}; expected some of {sorted(every)}")
    fns = [every[m] for m in metrics]
    point, low, high = bootstrap_intervals(
        lambda bi, si: [fn(test_set.bonafide[bi], test_set.spoof[si]) for fn in fns],
        resampler(test_set, cfg.bootstrap_unit, name), cfg.n_bootstrap, cfg.ci_level, seed,
    )
    out: dict[str, float] = {}
    for key, p, lo, hi in zip(metrics, point, low, high, strict=True):
        out.update({key: float(p), f"{key}_ci_low": float(lo), f"{key}_ci_high": float(hi)})
    n_bona_speakers, n_spoof_speakers = speaker_counts(test_set)
    out.update(dev_eer_threshold=float(threshold), n_bonafide=float(test_set.bonafide.size),
               n_spoof=float(test_set.spoof.size), n_speakers_bonafide=float(n_bona_speakers),
               n_speakers_spoof=float(n_spoof_speakers))
    return out

