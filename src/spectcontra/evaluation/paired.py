"""Paired comparison of two systems scored on the same eval utterances: ``ours - other`` with CIs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from spectcontra.config import EvaluateConfig
from spectcontra.evaluation.bootstrap import MetricFn, bootstrap_intervals
from spectcontra.evaluation.evaluate import eer, resampler, split_scores
from spectcontra.evaluation.metrics import MetricError, cllr, min_dcf

PAIRED_METRICS: dict[str, MetricFn] = {"eer": eer, "min_dcf": min_dcf, "cllr": cllr}
MATCHED_COLUMNS = ("label", "attack", "speaker")  # what both files must say of each utterance


def paired_differences(
    ours: pd.DataFrame | Sequence[pd.DataFrame], other: pd.DataFrame, cfg: EvaluateConfig,
    seed: int, names: tuple[str, str] = ("ours", "other"),
) -> dict[str, float]:
    """``<metric>_diff`` = metric(ours) - metric(other) on eval, with ``_ci_low``/``_ci_high``.

    ``ours`` may be several score tables (one per training seed): metric(ours) is then the
    mean over them on each resample, so the interval is that of the seed-mean difference.

    Both score tables must hold the same utterances (joined on utt_id) with the same label,
    attack and speaker. Each resample draws one set of utterances (by ``cfg.bootstrap_unit``)
    and scores both systems on it; with the same seed these are the very draws
    ``evaluate_scores`` used for each system's own intervals. Below zero, ours has the lower
    (better) EER, minDCF or Cllr; identical systems give exactly 0 [0, 0].
    """
    tables = [ours] if isinstance(ours, pd.DataFrame) else list(ours)
    if not tables:
        raise MetricError(f"no {names[0]} score tables to compare")
    for table in tables:
        check_same_utterances(table, other, names)
    mine = [split_scores(t, f"{names[0]} eval") for t in tables]
    theirs = split_scores(other, f"{names[1]} eval")
    fns = list(PAIRED_METRICS.values())

    def differences(bona_idx, spoof_idx):
        return [np.mean([fn(m.bonafide[bona_idx], m.spoof[spoof_idx]) for m in mine])
                - fn(theirs.bonafide[bona_idx], theirs.spoof[spoof_idx]) for fn in fns]

    point, low, high = bootstrap_intervals(
        differences, resampler(mine[0], cfg.bootstrap_unit, f"{names[0]} eval"),
        cfg.n_bootstrap, cfg.ci_level, seed,
    )
    out: dict[str, float] = {}
    for key, p, lo, hi in zip(PAIRED_METRICS, point, low, high, strict=True):
        out.update({f"{key}_diff": float(p), f"{key}_diff_ci_low": float(lo),
                    f"{key}_diff_ci_high": float(hi)})
    return out


def check_same_utterances(ours: pd.DataFrame, other: pd.DataFrame, names: tuple[str, str]) -> None:
    """MetricError unless both tables list the same utt_ids with the same label/attack/speaker."""
    a, b = ours.set_index("utt_id"), other.set_index("utt_id")
    only = [a.index.difference(b.index), b.index.difference(a.index)]
    if len(only[0]) or len(only[1]):
        parts = [f"{len(ids)} only in {name}" + (f" (e.g. {ids[0]!r})" if len(ids) else "")
                 for ids, name in zip(only, names, strict=True)]
        raise MetricError(f"{names[0]} and {names[1]} must score the same eval utterances for a "
                          f"paired comparison: {', '.join(parts)}")
    b = b.loc[a.index]
    for col in MATCHED_COLUMNS:
        differ = a[col].astype(str) != b[col].astype(str)
        if differ.any():
            raise MetricError(f"{names[0]} and {names[1]} disagree on the {col} of "
                              f"{int(differ.sum())} eval utterance(s), e.g. {differ.idxmax()!r}")
