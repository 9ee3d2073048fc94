"""Statistics across seeds, shared by the studies and their reports: t-intervals and summaries.

Pure NumPy/SciPy/pandas (the t-interval lives with the evaluation code), so a report can read
a study's results without its training code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from spectcontra.evaluation.seeds import t_interval

REFERENCE = "full_method"  # the ablation variant the others are compared with
CI_LEVEL = 0.95
METRICS = ("eer", "roc_auc", "min_dcf", "cllr", "dev_eer")  # eval metrics, then dev EER
PARAM_COLUMNS = ("params_pretrain", "params_trainable", "params_total")


def summarise(runs: pd.DataFrame, level: float = CI_LEVEL) -> dict[str, dict[str, Any]]:
    """{variant: {metric_mean, metric_ci_low, metric_ci_high, ..., n_seeds, params_*, order}}.

    ``order`` is the variant's position in ``runs`` (params.yaml order), which JSON files
    written with sorted keys would otherwise lose. Undefined interval ends (a single seed)
    are None, so the result is valid JSON. When the reference variant ran on the same seeds,
    ``eer_diff_*`` is the paired interval of EER(variant) - EER(reference), and
    ``dev_eer_diff_*`` the same on dev: within a seed every variant sees the same subsets, so
    pairing removes their share of the variance.
    """
    ref_runs = runs[runs["variant"] == REFERENCE].set_index("seed")
    reference = ref_runs["eer"] if len(ref_runs) else None
    out: dict[str, dict[str, Any]] = {}
    for order, (name, group) in enumerate(runs.groupby("variant", sort=False)):
        row: dict[str, Any] = {"order": order, "n_seeds": int(len(group))}
        for metric in METRICS:
            row.update(_interval_fields(metric, group[metric], level))
        if reference is not None and set(group["seed"]) == set(reference.index):
            mine = group.set_index("seed")
            row.update(_interval_fields("eer_diff", mine["eer"] - reference, level))
            # the dev difference is what a choice of default may read
            row.update(_interval_fields("dev_eer_diff", mine["dev_eer"] - ref_runs["dev_eer"],
                                        level))
        for column in PARAM_COLUMNS:
            row[column] = int(group[column].iloc[0])
        out[str(name)] = row
    _holm_fields(out, runs, reference, level)
    return out


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979), in the input order.

    Sorted ascending, the i-th (0-based) of m p-values becomes max over j <= i of
    min(1, (m - j) p_(j)); rejecting where the adjusted value is below alpha controls the
    family-wise error rate at alpha for any dependence between the tests.
    """
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    m = p.size
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out.tolist()


def _holm_fields(out: dict[str, dict[str, Any]], runs: pd.DataFrame,
                 reference: pd.Series | None, level: float) -> None:
    """Per variant against the reference: the paired t-test p-value of the EER difference
    across seeds (``eer_diff_p``), its Holm adjustment over every compared variant
    (``eer_diff_p_holm``) and the Bonferroni-level interval (``eer_diff_simultaneous_ci_*``,
    level 1 - (1 - level) / m), which holds for all m comparisons at once; the same
    Bonferroni-level interval of the dev difference (``dev_eer_diff_simultaneous_ci_*``), which
    a choice among the m variants must use."""
    if reference is None:
        return
    diffs, dev_diffs = {}, {}
    ref_dev = runs[runs["variant"] == REFERENCE].set_index("seed")["dev_eer"]
    for name, group in runs.groupby("variant", sort=False):
        if name != REFERENCE and len(group) >= 2 and set(group["seed"]) == set(reference.index):
            mine = group.set_index("seed")
            diffs[str(name)] = (mine["eer"] - reference).to_numpy()
            dev_diffs[str(name)] = (mine["dev_eer"] - ref_dev).to_numpy()
    if not diffs:
        return
    p_values = [float(stats.ttest_1samp(d, 0.0).pvalue) if np.ptp(d) > 0 else
                (1.0 if d[0] == 0 else 0.0) for d in diffs.values()]
    wide = 1.0 - (1.0 - level) / len(diffs)
    for (name, d), p, p_holm in zip(diffs.items(), p_values, holm(p_values), strict=True):
        _, low, high = t_interval(d, wide)
        _, dev_low, dev_high = t_interval(dev_diffs[name], wide)
        out[name].update(eer_diff_p=p, eer_diff_p_holm=p_holm, eer_diff_simultaneous_ci_low=low,
                         eer_diff_simultaneous_ci_high=high, n_comparisons=len(diffs),
                         dev_eer_diff_simultaneous_ci_low=dev_low,
                         dev_eer_diff_simultaneous_ci_high=dev_high)


def _interval_fields(name: str, values: pd.Series, level: float) -> dict[str, float | None]:
    mean, low, high = t_interval(values.to_numpy(), level)
    return {f"{name}_mean": mean, f"{name}_ci_low": None if math.isnan(low) else low,
            f"{name}_ci_high": None if math.isnan(high) else high}
