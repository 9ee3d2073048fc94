"""Class-stratified bootstrap confidence intervals for detection metrics."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from numpy.typing import ArrayLike

from spectcontra.evaluation.metrics import MetricError, check_scores

MetricFn = Callable[[np.ndarray, np.ndarray], float]  # (bonafide, spoof) -> value
Interval = tuple[float, float, float]  # (point, low, high)


def bootstrap_cis(
    metric_fns: Mapping[str, MetricFn],
    bonafide: ArrayLike,
    spoof: ArrayLike,
    n_resamples: int,
    ci_level: float,
    seed: int,
) -> dict[str, Interval]:
    """Percentile intervals of several metrics over the SAME resamples of the utterances.

    Each resample draws n_bona bona fide and n_spoof spoof scores with replacement, class by
    class, so every resample keeps the class counts of the data (the metrics are conditional
    on them) and never loses a class. The point value is the metric on the full data, not
    the bootstrap mean. Resample indices depend only on ``seed`` and the class sizes, so
    adding a metric does not change the others' intervals.
    """
    bona, spf = check_scores(bonafide, spoof)
    if n_resamples < 1:
        raise MetricError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0.0 < ci_level < 1.0:
        raise MetricError(f"ci_level must be in (0, 1), got {ci_level}")
    if not metric_fns:
        raise MetricError("metric_fns is empty")
    rng = np.random.default_rng(seed)
    values = np.empty((len(metric_fns), n_resamples))
    for r in range(n_resamples):
        # Metrics sort internally, so they run per resample; only the draw is cheap to batch.
        b = bona[rng.integers(0, bona.size, bona.size)]
        s = spf[rng.integers(0, spf.size, spf.size)]
        for m, fn in enumerate(metric_fns.values()):
            values[m, r] = fn(b, s)
    alpha = 1.0 - ci_level
    lows, highs = np.quantile(values, [alpha / 2.0, 1.0 - alpha / 2.0], axis=1)
    return {
        name: (float(fn(bona, spf)), float(lo), float(hi))
        for (name, fn), lo, hi in zip(metric_fns.items(), lows, highs, strict=True)
    }


def bootstrap_ci(
    metric_fn: MetricFn,
    bonafide: ArrayLike,
    spoof: ArrayLike,
    n_resamples: int,
    ci_level: float,
    seed: int,
) -> Interval:
    """(point, low, high): the metric on all data and its percentile bootstrap interval."""
    return bootstrap_cis({"metric": metric_fn}, bonafide, spoof, n_resamples, ci_level, seed)[
        "metric"
    ]
