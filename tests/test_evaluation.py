"""evaluate_scores: flat metric keys, dev-only thresholds, curve tables, the bootstrap unit;
paired differences between systems; plots and tables."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from spectcontra.config import ConfigError, EvaluateConfig, load_config
from spectcontra.evaluation import plots
from spectcontra.evaluation.evaluate import evaluate_scores, headline_first, split_scores
from spectcontra.evaluation.metrics import MetricError, compute_eer
from spectcontra.evaluation.paired import paired_differences
from tests.conftest import ROOT

CFG = EvaluateConfig(n_bootstrap=30, ci_level=0.95, ece_bins=10, bootstrap_unit="speaker")
CI_KEYS = (
    "eer", "roc_auc", "ap_bonafide", "ap_spoof", "min_dcf", "act_dcf", "cllr", "min_cllr",
    "ece", "accuracy_at_dev_thr", "far_at_dev_thr", "frr_at_dev_thr",
)


def _table(seed, prefix, attacks, n_bona=120, n_spoof=360, shift=0.0, n_speakers=6):
    rng = np.random.default_rng(seed)
    attack = rng.choice(attacks, n_spoof)
    # later attacks are harder: their spoof scores sit closer to bona fide
    spoof = rng.normal(-2.0, 1.0, n_spoof) + np.array([attacks.index(a) for a in attack])
    # every speaker has utterances of both classes, as in ASVspoof
    speakers = [f"{prefix}S{i % n_speakers}" for i in range(n_bona)] + [
        f"{prefix}S{i % n_speakers}" for i in range(n_spoof)]
    return pd.DataFrame({
        "utt_id": [f"{prefix}{i:04d}" for i in range(n_bona + n_spoof)],
        "score": np.r_[rng.normal(2.0, 1.0, n_bona), spoof] + shift,
        "label": ["bonafide"] * n_bona + ["spoof"] * n_spoof,
        "attack": ["-"] * n_bona + list(attack),
        "speaker": speakers,
    })


@pytest.fixture(scope="module")
def result():
    dev = _table(0, "D", ["A01", "A02"])
    ev = _table(1, "E", ["A07", "A08", "A-9"])
    return dev, ev, *evaluate_scores(dev, ev, CFG, seed=0)


def test_flat_metric_keys_and_values(result):
    _, ev, flat, _ = result
    with_ci = (*CI_KEYS, "eer_attack_A07", "eer_attack_A08", "eer_attack_A_9")
    expected = {f"{k}{s}" for k in with_ci for s in ("", "_ci_low", "_ci_high")} | {
        "dev_eer", "dev_eer_threshold", "n_bonafide", "n_spoof", "n_speakers_bonafide",
        "n_speakers_spoof", "bootstrap_unit",
    }
    assert set(flat) == expected
    assert flat["bootstrap_unit"] == "speaker"
    numbers = {k: v for k, v in flat.items() if k != "bootstrap_unit"}
    assert all(isinstance(v, float) and np.isfinite(v) for v in numbers.values())
    for key in with_ci:
        assert flat[f"{key}_ci_low"] <= flat[f"{key}_ci_high"], key
    assert (flat["n_bonafide"], flat["n_spoof"]) == (120.0, 360.0)
    assert (flat["n_speakers_bonafide"], flat["n_speakers_spoof"]) == (6.0, 6.0)
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
        (lambda t: t.drop(columns="speaker"), "missing column"),
        (lambda t: t.assign(speaker=t["speaker"].where(t.index != 7, "")),
         "1 utterance.s. have no speaker"),
        (lambda t: t.assign(speaker=np.where(t["label"] == "bonafide", "B", t["speaker"])),
         "too few speakers.*got 0 bona fide and 6 spoof.*bootstrap_unit: utterance"),
    ],
)
def test_bad_eval_table_raises_naming_the_problem(mutate, match):
    dev, ev = _table(0, "D", ["A01"]), _table(1, "E", ["A07"])
    with pytest.raises(MetricError, match=match):
        evaluate_scores(dev, mutate(ev), CFG, seed=0)


def test_utterance_unit_stays_available_and_is_recorded(result):
    dev, ev, flat, _ = result
    utt, _ = evaluate_scores(dev, ev, dataclasses.replace(CFG, bootstrap_unit="utterance"), 0)
    assert utt["bootstrap_unit"] == "utterance"
    # the unit changes the intervals only, never the point values
    assert all(utt[k] == flat[k] for k in CI_KEYS)
    assert utt["eer_ci_low"] != flat["eer_ci_low"]
    # one speaker per class is a clear error for the speaker unit, fine for the utterance unit
    one = ev.assign(speaker=ev["label"])
    with pytest.raises(MetricError, match="too few speakers"):
        evaluate_scores(dev, one, CFG, seed=0)
    assert evaluate_scores(dev, one, dataclasses.replace(CFG, bootstrap_unit="utterance"), 0)[0][
        "n_speakers_bonafide"] == 1.0


def test_row_order_of_the_score_file_does_not_matter(result):
    dev, ev, flat, _ = result
    shuffled = ev.sample(frac=1.0, random_state=3)
    assert evaluate_scores(dev, shuffled, CFG, seed=0)[0] == flat


def test_bootstrap_unit_is_validated_by_name(params_raw, write_params):
    assert load_config(ROOT / "params.yaml").evaluate.bootstrap_unit == "speaker"
    params_raw["evaluate"]["bootstrap_unit"] = "session"
    with pytest.raises(ConfigError, match="'evaluate.bootstrap_unit' = 'session': expected one of"):
        load_config(write_params(params_raw))


def test_paired_difference_of_identical_systems_is_exactly_zero(result):
    _, ev, _, _ = result
    diff = paired_differences(ev, ev.sample(frac=1.0, random_state=1), CFG, seed=0)
    assert set(diff) == {f"{k}_diff{s}" for k in ("eer", "min_dcf", "cllr")
                         for s in ("", "_ci_low", "_ci_high")}
    assert all(v == 0.0 for v in diff.values())


def test_paired_difference_has_the_expected_sign_and_matches_the_point_values(result):
    dev, ev, flat, _ = result
    # the other system pushes every spoof score 1.5 towards bona fide: it is worse, so
    # ours - other is negative for every metric, interval included
    worse = ev.assign(score=np.where(ev["label"] == "spoof", ev["score"] + 1.5, ev["score"]))
    diff = paired_differences(ev, worse, CFG, seed=0, names=("ours", "worse"))
    other, _ = evaluate_scores(dev, worse, CFG, seed=0)
    for key in ("eer", "min_dcf", "cllr"):
        assert diff[f"{key}_diff"] == pytest.approx(flat[key] - other[key], abs=1e-12)
        assert diff[f"{key}_diff_ci_low"] <= diff[f"{key}_diff"] <= diff[f"{key}_diff_ci_high"] < 0
    # swapping the systems flips every sign
    back = paired_differences(worse, ev, CFG, seed=0)
    assert back["eer_diff"] == -diff["eer_diff"]
    assert back["eer_diff_ci_low"] == pytest.approx(-diff["eer_diff_ci_high"])


def test_paired_difference_is_narrower_than_either_systems_interval(result):
    dev, ev, flat, _ = result
    # a second system that shares every utterance's difficulty: the pairing cancels it
    rng = np.random.default_rng(5)
    close = ev.assign(score=ev["score"] + rng.normal(0.0, 0.2, len(ev)))
    diff = paired_differences(ev, close, CFG, seed=0)
    width = diff["eer_diff_ci_high"] - diff["eer_diff_ci_low"]
    assert width < 0.5 * (flat["eer_ci_high"] - flat["eer_ci_low"])


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda t: t.iloc[1:], "same eval utterances.*1 only in ours .e.g. 'E0000'., 0 only in other"),
        (lambda t: t.assign(utt_id=t["utt_id"].replace("E0003", "Z9")),
         "1 only in ours .e.g. 'E0003'., 1 only in other .e.g. 'Z9'"),
        (lambda t: t.assign(speaker=t["speaker"].replace("ES1", "ES9")), "disagree on the speaker"),
        (lambda t: t.assign(attack=t["attack"].replace("A07", "A99")), "disagree on the attack"),
        (lambda t: t.assign(label=np.where(t["utt_id"] == "E0000", "spoof", t["label"])),
         "disagree on the label of 1 eval utterance.s., e.g. 'E0000'"),
    ],
)
def test_paired_systems_must_score_the_same_utterances(result, mutate, match):
    _, ev, _, _ = result
    with pytest.raises(MetricError, match=match):
        paired_differences(ev, mutate(ev), CFG, seed=0)


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
    paired = plots.paired_table(
        {"base": {"eer_diff": -0.0123, "eer_diff_ci_low": -0.02, "eer_diff_ci_high": 0.005,
                  "cllr_diff": 0.25}},
        keys=("eer", "cllr", "min_dcf"), reference="ours", unit="speaker", ci_level=0.95,
    )
    assert paired.splitlines() == [
        "Paired differences, ours - system, on the same speaker resamples (95% CIs in "
        "brackets); below 0, ours has the lower (better) value:",
        "",
        "| ours - system | EER (pp) | Cllr | minDCF |",
        "|---|---|---|---|",
        "| base | -1.23 [-2.00, +0.50] | +0.250 | n/a |",
    ]


def test_eval_json_leads_with_the_headline_metrics() -> None:
    # `dvc exp show` lists eval.json's columns in key order: EER and its intervals first.
    flat = {"accuracy_at_dev_thr": 0.6, "cllr": 1.1, "eer_attack_A1": 0.3, "eer_ci_low": 0.1,
            "eer": 0.2, "eer_ci_high": 0.3, "eer_seed_mean": 0.25, "roc_auc": 0.8,
            "dev_eer": 0.05, "min_dcf": 0.7, "bootstrap_unit": "speaker"}
    ordered = headline_first(flat)
    assert list(ordered) == ["eer", "eer_ci_high", "eer_ci_low", "eer_seed_mean", "min_dcf",
                             "cllr", "roc_auc", "dev_eer", "accuracy_at_dev_thr",
                             "bootstrap_unit", "eer_attack_A1"]
    assert ordered == flat
