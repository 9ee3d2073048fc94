"""Stratified bootstrap: reproducibility, stratification, and coverage of known true values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from spectcontra.evaluation.bootstrap import bootstrap_ci, bootstrap_cis
from spectcontra.evaluation.metrics import MetricError, compute_eer, roc_auc


def _eer(b, s):
    return compute_eer(b, s)[0]


def _scores(seed, n_bona=150, n_spoof=300, d=2.0):
    rng = np.random.default_rng(seed)
    return rng.normal(d, 1.0, n_bona), rng.normal(0.0, 1.0, n_spoof)


def test_same_seed_same_interval_and_point_is_full_data_metric():
    bona, spoof = _scores(0)
    first = bootstrap_ci(_eer, bona, spoof, 100, 0.95, seed=3)
    assert first == bootstrap_ci(_eer, bona, spoof, 100, 0.95, seed=3)
    assert first != bootstrap_ci(_eer, bona, spoof, 100, 0.95, seed=4)
    point, low, high = first
    assert point == _eer(bona, spoof)
    assert low <= point <= high


def test_metrics_share_resamples_and_wider_level_gives_wider_interval():
    bona, spoof = _scores(1)
    joint = bootstrap_cis({"eer": _eer, "auc": roc_auc}, bona, spoof, 80, 0.9, seed=5)
    assert joint["eer"] == bootstrap_ci(_eer, bona, spoof, 80, 0.9, seed=5)
    assert joint["auc"] == bootstrap_ci(roc_auc, bona, spoof, 80, 0.9, seed=5)
    _, lo99, hi99 = bootstrap_ci(roc_auc, bona, spoof, 80, 0.99, seed=5)
    _, lo90, hi90 = joint["auc"]
    assert lo99 <= lo90 and hi90 <= hi99


def test_resamples_are_stratified_by_class():
    bona, spoof = np.arange(7.0), -np.arange(1.0, 20.0)
    sizes = set()

    def record(b, s):
        sizes.add((b.size, s.size))
        assert set(b) <= set(bona) and set(s) <= set(spoof)  # no mixing of classes
        return float(b.mean())

    bootstrap_ci(record, bona, spoof, 50, 0.95, seed=0)
    assert sizes == {(7, 19)}


def test_interval_of_a_mean_matches_normal_theory():
    rng = np.random.default_rng(2)
    bona = rng.normal(0.0, 1.0, 400)
    _, low, high = bootstrap_ci(lambda b, s: float(b.mean()), bona, [0.0], 2000, 0.95, seed=1)
    expected_half_width = 1.96 * bona.std() / np.sqrt(bona.size)
    assert (high - low) / 2 == pytest.approx(expected_half_width, rel=0.1)


def test_intervals_cover_the_true_value_at_about_the_stated_rate():
    # N(d, 1) vs N(0, 1): EER = Phi(-d/2), ROC-AUC = Phi(d / sqrt 2)
    d = 2.0
    truth = {"eer": norm.cdf(-d / 2), "auc": norm.cdf(d / np.sqrt(2))}
    hits = {"eer": 0, "auc": 0}
    n_draws = 100
    for draw in range(n_draws):
        bona, spoof = _scores(1000 + draw, n_bona=150, n_spoof=300, d=d)
        cis = bootstrap_cis({"eer": _eer, "auc": roc_auc}, bona, spoof, 200, 0.95, seed=draw)
        for key, (_, low, high) in cis.items():
            hits[key] += low <= truth[key] <= high
    for key, hit in hits.items():
        assert 0.85 <= hit / n_draws <= 0.99, f"{key} coverage {hit / n_draws}"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_resamples": 0}, "n_resamples"),
        ({"ci_level": 1.0}, "ci_level"),
        ({"ci_level": 0.0}, "ci_level"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    args = {"n_resamples": 10, "ci_level": 0.95, "seed": 0} | kwargs
    with pytest.raises(MetricError, match=match):
        bootstrap_ci(_eer, [1.0, 2.0], [0.0], **args)


def test_degenerate_scores_and_empty_metric_set_raise():
    with pytest.raises(MetricError, match="both classes"):
        bootstrap_ci(_eer, [], [0.0], 10, 0.95, 0)
    with pytest.raises(MetricError, match="NaN"):
        bootstrap_ci(_eer, [np.nan], [0.0], 10, 0.95, 0)
    with pytest.raises(MetricError, match="empty"):
        bootstrap_cis({}, [1.0], [0.0], 10, 0.95, 0)
