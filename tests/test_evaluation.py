"""evaluate_scores: flat metric keys, dev-only thresholds, curve tables; plots and table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spectcontra.config import EvaluateConfig
from spectcontra.evaluation import plots
from spectcontra.evaluation.evaluate import evaluate_scores, split_scores
from spectcontra.evaluation.metrics import MetricError, compute_eer

CFG = EvaluateConfig(n_bootstrap=30, ci_level=0.95, ece_bins=10)
CI_KEYS = (
    "eer", "roc_auc", "ap_bonafide", "ap_spoof", "min_dcf", "act_dcf", "cllr", "min_cllr",
    "ece", "accuracy_at_dev_thr", "far_at_dev_thr", "frr_at_dev_thr",
)


def _table(seed, prefix, attacks, n_bona=120, n_spoof=360, shift=0.0):
    rng = np.random.default_rng(seed)
    attack = rng.choice(attacks, n_spoof)
    # later attacks are harder: their spoof scores sit closer to bona fide
    spoof = rng.normal(-2.0, 1.0, n_spoof) + np.array([attacks.index(a) for a in attack])
    return pd.DataFrame({
        "utt_id": [f"{prefix}{i:04d}" for i in range(n_bona + n_spoof)],
        "score": np.r_[rng.normal(2.0, 1.0, n_bona), spoof] + shift,
        "label": ["bonafide"] * n_bona + ["spoof"] * n_spoof,
        "attack": ["-"] * n_bona + list(attack),
    })


@pytest.fixture(scope="module")
def result():
    dev = _table(0, "D", ["A01", "A02"])
    ev = _table(1, "E", ["A07", "A08", "A-9"])
    return dev, ev, *evaluate_scores(dev, ev, CFG, seed=0)


def test_flat_metric_keys_and_values(result):
    _, ev, flat, _ = result
    expected = {f"{k}{s}" for k in CI_KEYS for s in ("", "_ci_low", "_ci_high")} | {
        "dev_eer", "dev_eer_threshold", "eer_attack_A07", "eer_attack_A08", "eer_attack_A_9",
        "n_bonafide", "n_spoof",
    }
    assert set(flat) == expected
    assert all(isinstance(v, float) and np.isfinite(v) for v in flat.values())
    for key in CI_KEYS:
        assert flat[f"{key}_ci_low"] <= flat[f"{key}_ci_high"], key
    assert (flat["n_bonafide"], flat["n_spoof"]) == (120.0, 360.0)
    bona = ev.loc[ev["label"] == "bonafide", "score"].to_numpy()
    a07 = ev.loc[ev["attack"] == "A07", "score"].to_numpy()
    assert flat["eer_attack_A07"] == compute_eer(bona, a07)[0]
    assert flat["eer_attack_A07"] < flat["eer_attack_A_9"]


def test_threshold_comes_from_dev_never_from_eval(result):
    dev, ev, flat, _ = result
    assert flat["dev_eer_threshold"] == compute_eer(*split_scores(dev, "dev")[:2])[1]
    # shifting eval leaves every threshold-free metric and the dev threshold alone but moves
    # the rates at that threshold: nothing was re-tuned on eval
    shifted, _ = evaluate_scores(dev, ev.assign(score=ev["score"] + 3.0), CFG, seed=0)
    assert shifted["dev_eer_threshold"] == flat["dev_eer_threshold"]
    assert shifted["eer"] == flat["eer"] and shifted["min_dcf"] == flat["min_dcf"]
    assert shifted["far_at_dev_thr"] > flat["far_at_dev_thr"] + 0.3
    assert shifted["frr_at_dev_thr"] <= flat["frr_at_dev_thr"]


def test_curve_tables(result):
    _, _, flat, curves = result
    assert set(curves) == {"roc", "det", "pr", "reliability", "hist_class", "hist_attack"}
    roc, det = curves["roc"], curves["det"]
    assert list(roc.columns) == ["fpr", "tpr"]
    assert (np.diff(roc["fpr"]) >= 0).all() and (np.diff(roc["tpr"]) >= 0).all()
    assert np.allclose(det["far"], roc["fpr"]) and np.allclose(det["frr"], 1 - roc["tpr"])
    assert np.isfinite(det[["far_probit", "frr_probit"]].to_numpy()).all()
    # AP re-computed from the thinned PR staircase is unchanged
    pr = curves["pr"]
    assert np.sum(np.diff(pr["recall"], prepend=0) * pr["precision"]) == pytest.approx(
        flat["ap_bonafide"]
    )
    rel = curves["reliability"]
    assert {"bin", "confidence", "accuracy", "count"} <= set(rel.columns)
    assert rel["count"].sum() == 480
    weights = rel["weight"].to_numpy()
    gaps = np.abs(rel["accuracy"] - rel["confidence"]).to_numpy()
    assert np.sum(weights * gaps) == pytest.approx(flat["ece"])
    by_class, by_attack = curves["hist_class"], curves["hist_attack"]
    assert (by_class["bonafide"].sum(), by_class["spoof"].sum()) == (120, 360)
    assert list(by_attack.columns[3:]) == ["bonafide", "A-9", "A07", "A08"]
    assert (by_attack[["A-9", "A07", "A08"]].sum(axis=1) == by_class["spoof"]).all()


def test_same_seed_reproduces(result):
    dev, ev, flat, _ = result
    assert evaluate_scores(dev, ev, CFG, seed=0)[0] == flat


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda t: t.drop(columns="attack"), "missing column"),
        (lambda t: t.assign(label=t["label"].replace("spoof", "fake")), "unknown label"),
        (lambda t: t.assign(score=t["score"].where(t.index != 5)), "E0005"),
        (lambda t: t[t["label"] == "spoof"], "both classes"),
        (lambda t: pd.concat([t, t.iloc[:1]]), "duplicate utt_id"),
    ],
)
def test_bad_eval_table_raises_naming_the_problem(mutate, match):
    dev, ev = _table(0, "D", ["A01"]), _table(1, "E", ["A07"])
    with pytest.raises(MetricError, match=match):
        evaluate_scores(dev, mutate(ev), CFG, seed=0)


def test_dev_eval_overlap_raises():
    dev = _table(0, "X", ["A01"])
    with pytest.raises(MetricError, match="share"):
        evaluate_scores(dev, _table(1, "X", ["A07"]), CFG, seed=0)


def test_plots_and_markdown_table(result, tmp_path):
    _, _, flat, curves = result
    worse = evaluate_scores(_table(2, "D", ["A01"]), _table(3, "E", ["A07"], shift=0.0), CFG, 0)
    systems = {"ours": curves, "baseline": worse[1]}
    paths = plots.plot_all(systems, tmp_path, {"ours": flat, "baseline": worse[0]})
    assert [p.name for p in paths] == [
        "det.png", "roc.png", "pr.png", "reliability.png", "hist_class.png", "hist_attack.png",
    ]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)

    table = plots.markdown_table(
        {"sys": {"eer": 0.0123, "eer_ci_low": 0.01, "eer_ci_high": 0.015, "cllr": 0.5}},
        keys=("eer", "cllr", "min_dcf"),
    )
    assert table.splitlines() == [
        "| system | EER (%) | Cllr | minDCF |",
        "|---|---|---|---|",
        "| sys | 1.23 [1.00, 1.50] | 0.500 | n/a |",
    ]
