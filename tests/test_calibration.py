"""Calibration fitted on dev recovers calibrated LLRs on held-out scores."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from spectcontra.evaluation.calibration import (
    TEMPERATURE_BOUNDS,
    Calibration,
    CalibrationError,
    apply_logistic,
    apply_temperature,
    fit_calibration,
    fit_logistic_calibration,
    fit_temperature,
)
from spectcontra.evaluation.metrics import cllr, expected_calibration_error, min_cllr

M = 2.0  # ideal LLRs: bona fide ~ N(M, 2M), spoof ~ N(-M, 2M)


def _llrs(seed, n_bona=1000, n_spoof=4000):
    rng = np.random.default_rng(seed)
    sd = np.sqrt(2 * M)
    return rng.normal(M, sd, n_bona), rng.normal(-M, sd, n_spoof)


def _table(bona, spoof):
    return np.r_[bona, spoof], np.r_[np.ones(len(bona)), np.zeros(len(spoof))]


def test_logistic_calibration_fixes_miscalibrated_llrs_on_held_out_data():
    scale, shift = 0.3, 2.0  # under-confident and biased towards bona fide
    dev_b, dev_s = _llrs(0)
    a, b = fit_logistic_calibration(*_table(scale * dev_b + shift, scale * dev_s + shift))
    assert a == pytest.approx(1 / scale, rel=0.1)
    assert b == pytest.approx(-shift / scale, rel=0.1)
    ev_b, ev_s = _llrs(1)
    raw_b, raw_s = scale * ev_b + shift, scale * ev_s + shift
    cal_b, cal_s = apply_logistic(raw_b, a, b), apply_logistic(raw_s, a, b)
    assert expected_calibration_error(raw_b, raw_s, 10) > 0.2
    assert expected_calibration_error(cal_b, cal_s, 10) < 0.03
    assert cllr(raw_b, raw_s) - min_cllr(raw_b, raw_s) > 0.3
    assert cllr(cal_b, cal_s) - min_cllr(cal_b, cal_s) < 0.02


def test_logistic_calibration_matches_balanced_sklearn_fit():
    bona, spoof = _llrs(2, 300, 900)
    x, y = _table(0.5 * bona - 1.0, 0.5 * spoof - 1.0)
    ref = LogisticRegression(C=1e12, class_weight="balanced", tol=1e-12, max_iter=10_000)
    ref.fit(x[:, None], y)
    a, b = fit_logistic_calibration(x, y)
    assert a == pytest.approx(ref.coef_[0, 0], rel=1e-3)
    assert b == pytest.approx(ref.intercept_[0], rel=1e-3, abs=1e-3)


def test_logistic_calibration_ignores_the_class_balance_of_dev():
    bona, spoof = _llrs(3, 200, 600)
    x, y = _table(bona, spoof)
    x3, y3 = _table(bona, np.tile(spoof, 3))
    # equal up to the tiny slope ridge, which acts on standardised (data-dependent) scores
    tiled = fit_logistic_calibration(x3, y3)
    assert fit_logistic_calibration(x, y) == pytest.approx(tiled, rel=1e-3)


def test_logistic_calibration_stays_finite_on_separable_scores():
    x, y = np.array([1.0, 2.0, 3.0, 10.0, 11.0]), np.array([0, 0, 0, 1, 1])
    a, b = fit_logistic_calibration(x, y)
    assert np.isfinite([a, b]).all() and a > 0
    llr = apply_logistic(x, a, b)
    assert (llr[y == 1] > 0).all() and (llr[y == 0] < 0).all()


def test_inverted_scores_warn():
    bona, spoof = _llrs(4, 200, 200)
    with pytest.warns(RuntimeWarning, match="inverted"):
        a, _ = fit_logistic_calibration(*_table(-bona, -spoof))
    assert a < 0


def test_temperature_recovers_the_scale_of_over_confident_logits():
    bona, spoof = _llrs(5)
    temperature = fit_temperature(*_table(3.0 * bona, 3.0 * spoof))
    assert temperature == pytest.approx(3.0, rel=0.05)
    ev_b, ev_s = _llrs(6)
    cal_b = apply_temperature(3.0 * ev_b, temperature)
    cal_s = apply_temperature(3.0 * ev_s, temperature)
    assert expected_calibration_error(cal_b, cal_s, 10) < 0.03


def test_temperature_is_bounded_on_separable_logits():
    temperature = fit_temperature([-2.0, -1.0, 1.0, 2.0], [0, 0, 1, 1])
    assert temperature == pytest.approx(TEMPERATURE_BOUNDS[0], rel=1e-3)


@pytest.mark.parametrize(
    "scores, targets, match",
    [
        ([0.1, 0.2], [1, 1], "both classes"),
        ([0.1, np.nan], [1, 0], "NaN"),
        ([0.1, 0.2, 0.3], [1, 0], "3 scores but 2 targets"),
        ([0.1, 0.2], [1, 2], "targets must be 0"),
    ],
)
@pytest.mark.parametrize("fit", [fit_logistic_calibration, fit_temperature])
def test_bad_inputs_raise(fit, scores, targets, match):
    with pytest.raises(CalibrationError, match=match):
        fit(scores, targets)


def test_bad_parameters_raise():
    with pytest.raises(CalibrationError, match="prior"):
        fit_logistic_calibration([0.0, 1.0], [0, 1], prior=1.0)
    with pytest.raises(CalibrationError, match="temperature"):
        apply_temperature([1.0], 0.0)
    with pytest.raises(CalibrationError, match="finite"):
        apply_logistic([1.0], np.nan, 0.0)


def test_an_unknown_method_is_an_error_not_silently_none():
    with pytest.raises(CalibrationError, match="unknown calibration method 'platt'"):
        fit_calibration("platt", np.array([0.0, 1.0]), np.array([0, 1]))
    with pytest.raises(CalibrationError, match="unknown calibration method 'Logistic'"):
        Calibration("Logistic", a=2.0, b=1.0)  # e.g. from a hand-edited checkpoint
    assert Calibration("none").apply(np.array([1.5])).tolist() == [1.5]
