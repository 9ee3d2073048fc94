"""Score calibration fitted on dev only: affine (logistic) LLR calibration and temperature scaling.

Both fits minimise the prior-weighted cross-entropy of BOSARIS / Cllr: each bona fide
utterance weighs ``prior / n_bona`` and each spoof ``(1 - prior) / n_spoof``, so the class
balance of the dev set does not leak into the result. With the default ``prior = 0.5`` the
calibrated score is a log-likelihood ratio, and sigmoid(score) is P(bona fide | x) under
equal priors; at ``prior = 0.5`` the objective is Cllr (in nats) itself.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import minimize, minimize_scalar
from scipy.special import expit, logit

# A tiny ridge on the slope (on standardised scores) keeps the fit finite when dev scores
# separate the classes perfectly; with overlapping classes it shrinks the slope by ~1e-4.
SLOPE_RIDGE = 1e-5
# Temperature is searched on a log scale within these bounds (separable data drives T to 0).
TEMPERATURE_BOUNDS = (1e-3, 1e3)


class CalibrationError(ValueError):
    """Scores or targets that a calibration cannot be fitted on or applied to."""


def fit_logistic_calibration(
    scores: ArrayLike, targets: ArrayLike, prior: float = 0.5
) -> tuple[float, float]:
    """Slope ``a`` and offset ``b`` such that ``a * score + b`` is a calibrated LLR.

    ``targets`` are 1 for bona fide, 0 for spoof. A slope <= 0 means the scores point the
    wrong way (higher should mean more bona fide) and triggers a RuntimeWarning.
    """
    s, y, w = _prepare(scores, targets, prior)
    # Standardising conditions the optimiser for raw logits of any scale.
    mu, sd = float(s.mean()), float(s.std())
    z = (s - mu) / sd if sd > 0 else s - mu
    sign = 2.0 * y - 1.0
    offset = float(logit(prior))

    def objective(params: np.ndarray) -> tuple[float, np.ndarray]:
        slope, bias = params
        margin = sign * (slope * z + bias + offset)
        loss = float(np.sum(w * np.logaddexp(0.0, -margin))) + 0.5 * SLOPE_RIDGE * slope**2
        dmargin = -w * sign * expit(-margin)
        grad = np.array([np.sum(dmargin * z) + SLOPE_RIDGE * slope, np.sum(dmargin)])
        return loss, grad

    fit = minimize(objective, x0=np.array([1.0, 0.0]), jac=True, method="BFGS",
                   options={"gtol": 1e-10})
    slope_z, bias = (float(v) for v in fit.x)
    a = slope_z / sd if sd > 0 else slope_z
    b = bias - a * mu
    if not (np.isfinite(a) and np.isfinite(b)):
        raise CalibrationError(f"logistic calibration diverged: a={a}, b={b} ({fit.message})")
    if a <= 0:
        warnings.warn(
            f"logistic calibration slope a={a:.4g} <= 0: dev scores do not rank bona fide "
            "above spoof, so the score direction may be inverted",
            RuntimeWarning,
            stacklevel=2,
        )
    return a, b


def fit_temperature(logits: ArrayLike, targets: ArrayLike, prior: float = 0.5) -> float:
    """Temperature ``T`` such that ``logits / T`` is a calibrated LLR (no offset is fitted).

    Use it for logits with no class-prior offset (e.g. a head trained on balanced batches);
    otherwise prefer :func:`fit_logistic_calibration`, whose offset absorbs the prior.
    """
    x, y, w = _prepare(logits, targets, prior)
    sign = 2.0 * y - 1.0
    offset = float(logit(prior))

    def objective(log_t: float) -> float:
        return float(np.sum(w * np.logaddexp(0.0, -sign * (x * np.exp(-log_t) + offset))))

    lo, hi = np.log(TEMPERATURE_BOUNDS[0]), np.log(TEMPERATURE_BOUNDS[1])
    fit = minimize_scalar(objective, bounds=(lo, hi), method="bounded", options={"xatol": 1e-8})
    return float(np.exp(fit.x))


def apply_logistic(scores: ArrayLike, a: float, b: float) -> np.ndarray:
    """Calibrated LLRs ``a * scores + b``."""
    if not (np.isfinite(a) and np.isfinite(b)):
        raise CalibrationError(f"calibration parameters must be finite, got a={a}, b={b}")
    return a * np.asarray(scores, dtype=np.float64) + b


def apply_temperature(logits: ArrayLike, temperature: float) -> np.ndarray:
    """Calibrated LLRs ``logits / temperature``."""
    if not (np.isfinite(temperature) and temperature > 0):
        raise CalibrationError(f"temperature must be finite and > 0, got {temperature}")
    return np.asarray(logits, dtype=np.float64) / temperature


def _prepare(
    scores: ArrayLike, targets: ArrayLike, prior: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(targets).ravel()
    if s.shape != y.shape:
        raise CalibrationError(f"got {s.size} scores but {y.size} targets")
    if not np.isfinite(s).all():
        raise CalibrationError("scores contain NaN or infinite values")
    if not np.isin(y, (0, 1)).all():
        raise CalibrationError(f"targets must be 0 (spoof) or 1 (bona fide), got {np.unique(y)}")
    if not 0.0 < prior < 1.0:
        raise CalibrationError(f"prior must be in (0, 1), got {prior}")
    y = y.astype(np.float64)
    n_bona, n_spoof = int(y.sum()), int(y.size - y.sum())
    if n_bona == 0 or n_spoof == 0:
        raise CalibrationError(
            f"need both classes to calibrate, got {n_bona} bona fide and {n_spoof} spoof"
        )
    weights = np.where(y == 1.0, prior / n_bona, (1.0 - prior) / n_spoof)
    return s, y, weights


METHODS = ("logistic", "temperature", "none")


@dataclass(frozen=True)
class Calibration:
    """Maps raw logits to calibrated log-likelihood ratios (higher = more bona fide)."""

    method: str
    a: float = 1.0
    b: float = 0.0
    temperature: float = 1.0

    def __post_init__(self) -> None:
        # An unknown name (a typo in a checkpoint or params) must not silently mean "none".
        _check_method(self.method)

    def apply(self, logits: np.ndarray) -> np.ndarray:
        if self.method == "logistic":
            return apply_logistic(logits, self.a, self.b)
        if self.method == "temperature":
            return apply_temperature(logits, self.temperature)
        return np.asarray(logits, dtype=np.float64)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def fit_calibration(method: str, dev_logits: np.ndarray, dev_targets: np.ndarray) -> Calibration:
    """Fit the score calibration on dev only (never on eval)."""
    _check_method(method)
    if method == "logistic":
        a, b = fit_logistic_calibration(dev_logits, dev_targets)
        return Calibration(method, a=float(a), b=float(b))
    if method == "temperature":
        return Calibration(method, temperature=float(fit_temperature(dev_logits, dev_targets)))
    return Calibration("none")


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise CalibrationError(f"unknown calibration method {method!r}; expected one of {METHODS}")
