"""Detection metrics on scores where higher = more bona fide (see spectcontra.conventions)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


class MetricError(ValueError):
    """Scores that no metric can be computed from (one class only, NaN, empty)."""


def _check_scores(bonafide: ArrayLike, spoof: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    bona = np.asarray(bonafide, dtype=np.float64).ravel()
    spf = np.asarray(spoof, dtype=np.float64).ravel()
    if bona.size == 0 or spf.size == 0:
        raise MetricError(
            f"need scores of both classes, got {bona.size} bona fide and {spf.size} spoof"
        )
    if not (np.isfinite(bona).all() and np.isfinite(spf).all()):
        raise MetricError("scores contain NaN or infinite values")
    return bona, spf


def det_curve(bonafide: ArrayLike, spoof: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FRR, FAR and thresholds, one operating point per score, as the ASVspoof package does.

    Scores are sorted with a stable sort, bona fide first among ties; at each point FRR is
    the fraction of bona fide at or below it and FAR the fraction of spoof above it. The point
    (FRR 0, FAR 1) is prepended, at a threshold just below the lowest score.
    """
    bona, spf = _check_scores(bonafide, spoof)
    scores = np.concatenate([bona, spf])
    labels = np.concatenate([np.ones(bona.size), np.zeros(spf.size)])
    order = np.argsort(scores, kind="mergesort")
    labels = labels[order]
    tar_below = np.cumsum(labels)
    non_above = spf.size - (np.arange(1, scores.size + 1) - tar_below)
    frr = np.concatenate([[0.0], tar_below / bona.size])
    far = np.concatenate([[1.0], non_above / spf.size])
    thresholds = np.concatenate([[scores[order[0]] - 1e-3], scores[order]])
    return frr, far, thresholds


def compute_eer(bonafide: ArrayLike, spoof: ArrayLike) -> tuple[float, float]:
    """Equal error rate and its threshold, by the official ASVspoof rule.

    EER is the mean of FRR and FAR at the operating point minimising |FRR - FAR|. Because
    bona fide scores sort first among ties, a block of tied scores is counted in the
    detector's disfavour: with every score tied the EER is 1.0, not 0.5. We keep the rule for
    comparability with published figures; a score that is constant carries no information.
    """
    frr, far, thresholds = det_curve(bonafide, spoof)
    idx = int(np.argmin(np.abs(frr - far)))
    return float((frr[idx] + far[idx]) / 2.0), float(thresholds[idx])
