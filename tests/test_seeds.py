"""Training seeds: the shipped seed is the dev median, seed runs are independent of the worker
layout, and seed-averaged eval metrics and paired differences agree with their oracles."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from spectcontra.evaluation.evaluate import evaluate_scores
from spectcontra.evaluation.metrics import MetricError, compute_eer
from spectcontra.evaluation.paired import paired_differences
from spectcontra.evaluation.seeds import seed_summary, t_interval
from spectcontra.experiments.seeds import map_seeds, median_seed
from tests.test_evaluation import CFG, _table


def test_median_seed_is_the_dev_median_and_never_depends_on_order():
    assert median_seed({1: 0.30, 2: 0.10, 3: 0.20}) == 3
    assert median_seed({3: 0.20, 1: 0.30, 2: 0.10}) == 3
    assert median_seed({1: 0.4, 2: 0.1, 3: 0.3, 4: 0.2}) == 4  # lower middle of an even count
    assert median_seed({5: 0.2, 4: 0.2, 9: 0.2}) == 5  # ties: ordered by seed
    assert median_seed({7: 0.5}) == 7
    with pytest.raises(ValueError):
        median_seed({})


def _job(seed: int) -> tuple[int, int, float]:
    torch.manual_seed(seed)
    return seed, torch.get_num_threads(), float(torch.rand(1))


def test_map_seeds_gives_the_same_results_in_seed_order_whatever_the_workers():
    one = map_seeds(_job, [3, 1, 2], workers=1)
    two = map_seeds(_job, [3, 1, 2], workers=2)
    assert list(one) == list(two) == [3, 1, 2]
    assert one == two
    assert all(threads == 1 for _, threads, _ in one.values())  # single-threaded workers


def test_t_interval_matches_scipy():
    values = [0.31, 0.28, 0.35, 0.40, 0.33]
    mean, low, high = t_interval(values, 0.95)
    ref = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert mean == pytest.approx(np.mean(values))
    assert (low, high) == pytest.approx(ref)
    assert np.isnan(t_interval([0.3], 0.95)[1])
    with pytest.raises(MetricError):
        t_interval([0.3, np.nan], 0.95)


def test_seed_summary_of_identical_seeds_equals_the_single_system_bootstrap():
    dev, ev = _table(0, "D", ["A01"]), _table(1, "E", ["A07", "A08"])
    flat, _ = evaluate_scores(dev, ev, CFG, seed=3)
    summary = seed_summary({1: ev, 2: ev.copy(), 3: ev.copy()}, CFG, seed=3)
    assert summary["n_seeds"] == 3
    assert summary["eer_seed_mean"] == pytest.approx(flat["eer"])
    assert summary["eer_seed_sd"] == 0.0
    assert summary["eer_seed_t_ci_low"] == summary["eer_seed_t_ci_high"] == pytest.approx(flat["eer"])
    # the same resamples as the system's own interval: the seed mean of equal seeds is that metric
    for key in ("eer", "min_dcf", "cllr", "roc_auc"):
        assert summary[f"{key}_seed_pooled_ci_low"] == pytest.approx(flat[f"{key}_ci_low"])
        assert summary[f"{key}_seed_pooled_ci_high"] == pytest.approx(flat[f"{key}_ci_high"])


def test_seed_summary_averages_different_seeds():
    tables = {s: _table(1, "E", ["A07"], shift=0.0) for s in (1, 2)}
    tables[2]["score"] = tables[2]["score"] + np.where(tables[2]["label"] == "spoof", 1.0, 0.0)
    summary = seed_summary(tables, CFG, seed=0)
    eers = [compute_eer(t.loc[t.label == "bonafide", "score"].to_numpy(),
                        t.loc[t.label == "spoof", "score"].to_numpy())[0] for t in tables.values()]
    assert eers[1] > eers[0]
    assert summary["eer_seed_mean"] == pytest.approx(np.mean(eers))
    assert summary["eer_seed_t_ci_low"] < summary["eer_seed_mean"] < summary["eer_seed_t_ci_high"]
    other = _table(1, "E", ["A07"])
    other["utt_id"] = other["utt_id"].str.replace("E", "X")
    with pytest.raises(MetricError, match="same eval utterances"):
        seed_summary({1: tables[1], 2: other}, CFG, seed=0)


def test_paired_difference_of_seed_copies_equals_the_single_table_one():
    ours, theirs = _table(1, "E", ["A07"]), _table(1, "E", ["A07"], shift=0.3)
    theirs["score"] = theirs["score"] + np.random.default_rng(5).normal(0, 1.0, len(theirs))
    single = paired_differences(ours, theirs, CFG, seed=2)
    several = paired_differences([ours, ours.copy(), ours.copy()], theirs, CFG, seed=2)
    assert several == pytest.approx(single)
    assert single["eer_diff"] != 0.0
