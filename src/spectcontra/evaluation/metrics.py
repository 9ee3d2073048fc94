"""Detection metrics on scores where higher = more bona fide (see spectcontra.conventions)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import expit, logit
from scipy.stats import norm, rankdata
from sklearn.isotonic import isotonic_regression

Positive = Literal["bonafide", "spoof"]


class MetricError(ValueError):
    """Scores that no metric can be computed from (one class only, NaN, empty).

    All-tied scores are deliberately *not* an error: a constant score is a valid, useless
    detector, and each metric returns its chance value (EER 1.0 by the official rule, ROC-AUC
    0.5, AP the positive class's share, minDCF 1.0, minCllr 1.0).
    """


def check_scores(bonafide: ArrayLike, spoof: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Both classes as flat float64 arrays; MetricError if either is empty or not finite."""
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
    bona, spf = check_scores(bonafide, spoof)
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


# --------------------------------------------------------------------------- threshold-free


def roc_curve(
    bonafide: ArrayLike, spoof: ArrayLike, drop_intermediate: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FPR (= FAR), TPR (= 1 - FRR) and thresholds at every distinct score, highest first.

    Semantics follow ``sklearn.metrics.roc_curve``: a threshold accepts scores ``>= t`` and
    the point (0, 0) at ``t = +inf`` is prepended. Only realisable operating points appear,
    so tied scores give a diagonal segment (unlike :func:`det_curve`, which follows the
    official EER rule). ``drop_intermediate`` removes collinear points; the curve is unchanged.
    """
    bona, spf = check_scores(bonafide, spoof)
    tps, fps, thresholds = _cumulative_counts(bona, spf)
    if drop_intermediate and tps.size > 2:
        keep = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        tps, fps, thresholds = tps[keep], fps[keep], thresholds[keep]
    tps, fps = np.concatenate([[0.0], tps]), np.concatenate([[0.0], fps])
    thresholds = np.concatenate([[np.inf], thresholds])
    return fps / spf.size, tps / bona.size, thresholds


def roc_auc(bonafide: ArrayLike, spoof: ArrayLike) -> float:
    """Area under the ROC: P(bona fide score > spoof score), ties counted one half."""
    bona, spf = check_scores(bonafide, spoof)
    ranks = rankdata(np.concatenate([bona, spf]))  # average ranks give ties one half
    u = ranks[: bona.size].sum() - bona.size * (bona.size + 1) / 2.0
    return float(u / (bona.size * spf.size))


def pr_curve(
    bonafide: ArrayLike, spoof: ArrayLike, positive: Positive = "bonafide"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and thresholds at every distinct score, taking ``positive`` as the
    class to retrieve (spoof is retrieved by ranking on ``-score``).

    Thresholds run from the highest score down; no (recall 0, precision 1) point is added.
    """
    pos, neg = _positive_first(bonafide, spoof, positive)
    tps, fps, thresholds = _cumulative_counts(pos, neg)
    return tps / (tps + fps), tps / pos.size, thresholds


def average_precision(
    bonafide: ArrayLike, spoof: ArrayLike, positive: Positive = "bonafide"
) -> float:
    """Average precision sum_k (R_k - R_{k-1}) P_k with ``positive`` as the retrieved class.

    Matches ``sklearn.metrics.average_precision_score`` (step-wise, no interpolation). Its
    chance level is the positive class's share of the scores, so AP_bonafide and AP_spoof
    differ on unbalanced data: report both.
    """
    precision, recall, _ = pr_curve(bonafide, spoof, positive)
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


# --------------------------------------------------------------------------- ASVspoof 5 costs


@dataclass(frozen=True)
class DcfParams:
    """Detection-cost parameters; the defaults are the ASVspoof 5 countermeasure ones."""

    p_spoof: float = 0.05
    c_miss: float = 1.0
    c_fa: float = 10.0

    def __post_init__(self) -> None:
        if not (0.0 < self.p_spoof < 1.0 and self.c_miss > 0 and self.c_fa > 0):
            raise ValueError(f"invalid DCF parameters {self}: need 0 < p_spoof < 1, costs > 0")

    @property
    def normaliser(self) -> float:
        """Cost of the better trivial system (accept all or reject all): 0.5 for ASVspoof 5."""
        return min(self.c_miss * (1.0 - self.p_spoof), self.c_fa * self.p_spoof)

    @property
    def bayes_threshold(self) -> float:
        """Minimum-cost threshold for a calibrated LLR: -ln(1.9) for ASVspoof 5."""
        return float(-np.log(self.c_miss * (1.0 - self.p_spoof) / (self.c_fa * self.p_spoof)))

    def cost(self, p_miss: np.ndarray | float, p_fa: np.ndarray | float) -> np.ndarray:
        """Normalised DCF of miss and false-alarm rates (1.0 = the better trivial system)."""
        raw = self.c_miss * (1.0 - self.p_spoof) * np.asarray(p_miss) + (
            self.c_fa * self.p_spoof * np.asarray(p_fa)
        )
        return raw / self.normaliser


ASVSPOOF5 = DcfParams()


def far_frr_at_threshold(
    bonafide: ArrayLike, spoof: ArrayLike, threshold: float
) -> tuple[float, float]:
    """FAR and FRR when scores strictly above ``threshold`` are accepted as bona fide.

    A score equal to the threshold is rejected, as in :func:`det_curve`, so the threshold
    :func:`compute_eer` returns reproduces its operating point. (The ASVspoof 5 script accepts
    ties; the two differ only for scores exactly on the threshold.)
    """
    bona, spf = check_scores(bonafide, spoof)
    if not np.isfinite(threshold):
        raise MetricError(f"threshold must be finite, got {threshold!r}")
    return float(np.mean(spf > threshold)), float(np.mean(bona <= threshold))


def accuracy_at_threshold(bonafide: ArrayLike, spoof: ArrayLike, threshold: float) -> float:
    """Plain accuracy over all utterances at ``threshold`` (depends on the class balance)."""
    far, frr = far_frr_at_threshold(bonafide, spoof, threshold)
    n_bona, n_spoof = np.size(bonafide), np.size(spoof)
    return float((n_bona * (1.0 - frr) + n_spoof * (1.0 - far)) / (n_bona + n_spoof))


def dcf_at_threshold(
    bonafide: ArrayLike, spoof: ArrayLike, threshold: float, params: DcfParams = ASVSPOOF5
) -> float:
    """Normalised DCF at a given threshold (same tie rule as :func:`far_frr_at_threshold`)."""
    far, frr = far_frr_at_threshold(bonafide, spoof, threshold)
    return float(params.cost(frr, far))


def min_dcf(bonafide: ArrayLike, spoof: ArrayLike, params: DcfParams = ASVSPOOF5) -> float:
    """Normalised DCF at the best threshold, scanning every DET point.

    The extra points :func:`det_curve` puts inside a block of tied scores only add misses,
    so they never beat a realisable threshold: this is the minimum over real thresholds.
    """
    frr, far, _ = det_curve(bonafide, spoof)
    return float(np.min(params.cost(frr, far)))


def act_dcf(bonafide: ArrayLike, spoof: ArrayLike, params: DcfParams = ASVSPOOF5) -> float:
    """Normalised DCF at the Bayes threshold, which is right only if scores are calibrated LLRs."""
    return dcf_at_threshold(bonafide, spoof, params.bayes_threshold, params)


# --------------------------------------------------------------------------- calibration-sensitive


# PAV posteriors of 0 or 1 would give infinite LLRs; clipping bounds them at about +-27.6
# nats and moves minCllr by under 1e-11 bits.
PAV_EPS = 1e-12


def cllr(bonafide: ArrayLike, spoof: ArrayLike) -> float:
    """Log-likelihood-ratio cost in bits: 0 = perfect, 1 = an uninformative calibrated system."""
    bona, spf = check_scores(bonafide, spoof)
    # logaddexp(0, x) = ln(1 + e^x) without overflow for large |x|
    nats = 0.5 * (np.logaddexp(0.0, -bona).mean() + np.logaddexp(0.0, spf).mean())
    return float(nats / np.log(2.0))


def pav_llrs(bonafide: ArrayLike, spoof: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Scores mapped by the optimal monotonic (PAV) calibration to LLRs, per class.

    PAV turns the pooled scores into posteriors P(bona fide | score) at the empirical prior
    pi = n_bona / n; subtracting logit(pi) converts them to LLRs. Tied scores share one value.
    Posteriors are clipped to [PAV_EPS, 1 - PAV_EPS] so the LLRs stay finite.
    """
    bona, spf = check_scores(bonafide, spoof)
    scores = np.concatenate([bona, spf])
    targets = np.concatenate([np.ones(bona.size), np.zeros(spf.size)])
    unique, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    hits = np.bincount(inverse, weights=targets, minlength=unique.size)
    posterior = isotonic_regression(hits / counts, sample_weight=counts.astype(np.float64))
    posterior = np.clip(posterior, PAV_EPS, 1.0 - PAV_EPS)
    prior = bona.size / scores.size
    llr = (logit(posterior) - logit(prior))[inverse]
    return llr[: bona.size], llr[bona.size :]


def min_cllr(bonafide: ArrayLike, spoof: ArrayLike) -> float:
    """Cllr after the best monotonic recalibration: the discrimination part of Cllr."""
    return cllr(*pav_llrs(bonafide, spoof))


class ReliabilityCurve(NamedTuple):
    """Non-empty bins of a reliability diagram for p(bona fide) = sigmoid(score)."""

    bin: np.ndarray  # bin index in 0..n_bins-1 over [0, 1]
    confidence: np.ndarray  # mean predicted p(bona fide) in the bin
    accuracy: np.ndarray  # observed bona fide frequency in the bin
    count: np.ndarray  # utterances in the bin
    weight: np.ndarray  # class-balanced share of the data in the bin (sums to 1)


def reliability_curve(bonafide: ArrayLike, spoof: ArrayLike, n_bins: int) -> ReliabilityCurve:
    """Reliability diagram of sigmoid(score) in ``n_bins`` equal-width bins.

    For a calibrated LLR s, sigmoid(s) is the posterior P(bona fide | x) under equal priors.
    Evaluation sets are rarely balanced, so every bona fide utterance weighs 0.5 / n_bona and
    every spoof 0.5 / n_spoof: a calibrated LLR then lies on the diagonal whatever the class
    balance, and the figure is comparable across data sets.
    """
    bona, spf = check_scores(bonafide, spoof)
    if n_bins < 1:
        raise MetricError(f"n_bins must be >= 1, got {n_bins}")
    prob = expit(np.concatenate([bona, spf]))
    targets = np.concatenate([np.ones(bona.size), np.zeros(spf.size)])
    weights = np.concatenate(
        [np.full(bona.size, 0.5 / bona.size), np.full(spf.size, 0.5 / spf.size)]
    )
    idx = np.minimum((prob * n_bins).astype(np.int64), n_bins - 1)  # p = 1 joins the last bin
    mass = np.bincount(idx, weights=weights, minlength=n_bins)
    count = np.bincount(idx, minlength=n_bins)
    keep = count > 0
    confidence = np.bincount(idx, weights=weights * prob, minlength=n_bins)[keep] / mass[keep]
    accuracy = np.bincount(idx, weights=weights * targets, minlength=n_bins)[keep] / mass[keep]
    return ReliabilityCurve(
        np.flatnonzero(keep), confidence, accuracy, count[keep], mass[keep]
    )


def expected_calibration_error(bonafide: ArrayLike, spoof: ArrayLike, n_bins: int) -> float:
    """Class-balanced ECE: sum over bins of weight * |accuracy - confidence| (see above)."""
    curve = reliability_curve(bonafide, spoof, n_bins)
    return float(np.sum(curve.weight * np.abs(curve.accuracy - curve.confidence)))


# --------------------------------------------------------------------------- breakdowns and helpers


def per_attack_eer(
    bonafide: ArrayLike, spoof: ArrayLike, attacks: ArrayLike
) -> dict[str, float]:
    """EER of each attack's spoof scores against ALL bona fide scores, keyed by attack id."""
    spf = np.asarray(spoof, dtype=np.float64).ravel()
    ids = np.asarray(attacks).astype(str).ravel()
    if ids.shape != spf.shape:
        raise MetricError(f"attacks has {ids.size} entries for {spf.size} spoof scores")
    return {a: compute_eer(bonafide, spf[ids == a])[0] for a in sorted(set(ids.tolist()))}


def probit(rates: ArrayLike, eps: float = 1e-6) -> np.ndarray:
    """Normal deviate of error rates for DET axes; rates are clipped to [eps, 1 - eps]
    so that 0 and 1 stay finite (eps = 1e-6 maps to about +-4.75)."""
    return norm.ppf(np.clip(np.asarray(rates, dtype=np.float64), eps, 1.0 - eps))


def _positive_first(
    bonafide: ArrayLike, spoof: ArrayLike, positive: Positive
) -> tuple[np.ndarray, np.ndarray]:
    bona, spf = check_scores(bonafide, spoof)
    if positive == "bonafide":
        return bona, spf
    if positive == "spoof":
        return -spf, -bona  # rank on -score so that "more spoof" comes first
    raise MetricError(f"positive must be 'bonafide' or 'spoof', got {positive!r}")


def _cumulative_counts(
    pos: np.ndarray, neg: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True and false positives accepted at each distinct threshold, highest first."""
    scores = np.concatenate([pos, neg])
    labels = np.concatenate([np.ones(pos.size), np.zeros(neg.size)])
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    last_of_block = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]
    tps = np.cumsum(labels)[last_of_block]
    fps = last_of_block + 1.0 - tps
    return tps, fps, scores[last_of_block]
