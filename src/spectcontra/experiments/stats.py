"""Statistics across seeds, shared by the studies and their reports: t-intervals and summaries.

Pure NumPy/SciPy/pandas, so a report can read a study's results without its training code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

REFERENCE = "full_method"  # the ablation variant the others are compared with
CI_LEVEL = 0.95
METRICS = ("eer", "roc_auc", "min_dcf", "cllr", "dev_eer")  # eval metrics, then dev EER
PARAM_COLUMNS = ("params_pretrain", "params_trainable", "params_total")


def t_interval(values: Sequence[float], level: float = CI_LEVEL) -> tuple[float, float, float]:
    """(mean, low, high): Student-t interval mean +- t_{(1+level)/2, n-1} * s / sqrt(n).

    s is the sample standard deviation (ddof 1). With one value the interval is undefined
    and low and high are NaN.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("need at least one value for an interval")
    mean = float(x.mean())
    if x.size < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf((1.0 + level) / 2.0, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return mean, mean - half, mean + half


def summarise(runs: pd.DataFrame, level: float = CI_LEVEL) -> dict[str, dict[str, Any]]:
    """{variant: {metric_mean, metric_ci_low, metric_ci_high, ..., n_seeds, params_*, order}}.

    ``order`` is the variant's position in ``runs`` (params.yaml order), which JSON files
    written with sorted keys would otherwise lose. Undefined interval ends (a single seed)
    are None, so the result is valid JSON. When the reference variant ran on the same seeds,
    ``eer_diff_*`` is the paired interval of EER(variant) - EER(reference): within a seed
    every variant sees the same subsets, so pairing removes their share of the variance.
    """
    reference = (runs[runs["variant"] == REFERENCE].set_index("seed")["eer"]
                 if REFERENCE in set(runs["variant"]) else None)
    out: dict[str, dict[str, Any]] = {}
    for order, (name, group) in enumerate(runs.groupby("variant", sort=False)):
        row: dict[str, Any] = {"order": order, "n_seeds": int(len(group))}
        for metric in METRICS:
            row.update(_interval_fields(metric, group[metric], level))
        if reference is not None and set(group["seed"]) == set(reference.index):
            diff = group.set_index("seed")["eer"] - reference
            row.update(_interval_fields("eer_diff", diff, level))
        for column in PARAM_COLUMNS:
            row[column] = int(group[column].iloc[0])
        row["seconds_mean"] = round(float(group["seconds"].mean()), 2)
        out[str(name)] = row
    return out


def _interval_fields(name: str, values: pd.Series, level: float) -> dict[str, float | None]:
    mean, low, high = t_interval(values.to_numpy(), level)
    return {f"{name}_mean": mean, f"{name}_ci_low": None if math.isnan(low) else low,
            f"{name}_ci_high": None if math.isnan(high) else high}
