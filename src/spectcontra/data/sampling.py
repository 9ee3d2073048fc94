"""Seeded, class-stratified row draws: the one subset rule every stage and study uses."""

from __future__ import annotations

import numpy as np


def stratified_rows(classes: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted row indices of a draw of ``n`` rows keeping the class proportions.

    Every row when ``n >= len(classes)``. Otherwise each class gets its share
    ``n * count / total`` rounded down (at least one row), and what rounding down leaves is handed
    to the classes with the largest fractional parts (largest-remainder rounding), so exactly
    ``n`` rows come back whenever every class can give its share. Classes are drawn in sorted
    order, one ``rng.choice`` each.
    """
    classes = np.asarray(classes)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if n >= classes.size:
        return np.arange(classes.size)
    values, counts = np.unique(classes, return_counts=True)
    share = counts / counts.sum() * n
    take = np.minimum(np.maximum(np.floor(share).astype(int), 1), counts)
    for i in np.argsort(-(share - np.floor(share)), kind="stable"):
        if take.sum() >= n:
            break
        if take[i] < counts[i]:
            take[i] += 1
    picks = [rng.choice(np.flatnonzero(classes == v), size=int(k), replace=False)
             for v, k in zip(values, take, strict=True)]
    return np.sort(np.concatenate(picks))
