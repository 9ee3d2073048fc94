"""Ablation on a tiny fake feature store: table, summary, caching, determinism, capacity match."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

import spectcontra.experiments.ablation as ablation
import spectcontra.stage as stage_runner
from spectcontra.config import VIEWS, Config, load_config, with_overrides
from spectcontra.errors import InputError
from spectcontra.experiments.ablation import (
    parameter_counts,
    reusable_encoder,
    run_ablation,
    tasks,
    variant_configs,
)
from spectcontra.experiments.ablation_report import markdown_table, plot_ablation
from spectcontra.experiments.stats import METRICS, REFERENCE, summarise, t_interval
from spectcontra.features.store import AUG, INDEX_COLUMNS, array_path, index_path
from spectcontra.io_utils import write_json_atomic
from stages import ablate as ablate_stage
from stages import ablate_variant as ablate_variant_stage
from tests.conftest import ROOT

torch.set_num_threads(1)

BINS, FRAMES = 16, 40
SIZES = {"train": 48, "dev": 30, "eval": 40}
SEEDS = (1, 2)
SMALL = {"train": 36, "dev": 24, "eval": 32}
TINY_VARIANTS = {REFERENCE: {}, "head_linear": {"finetune.head": "linear"}}
TINY = {
    "common.threads": 1,  # in-process, so monkeypatching spectcontra.experiments.ablation reaches the runs
    "pretrain.encoder.channels": [4, 8], "pretrain.encoder.embed_dim": 16,
    "pretrain.encoder.heads": 2, "pretrain.projection_dim": 8, "pretrain.batch_size": 16,
    "pretrain.augment.time_mask": 6, "pretrain.augment.freq_mask": 3,
    "finetune.batch_size": 16, "finetune.head_hidden": 8,
    "ablate.seeds": list(SEEDS), "ablate.scale": "small",
    **{f"ablate.small_{s}_utterances": n for s, n in SMALL.items()}, "ablate.small_epochs": 3,
    "ablate.variants": TINY_VARIANTS,
}


def write_store(root: Path, sizes: dict[str, int], bins: int, frames: int, seed: int) -> Path:
    """A feature store as preprocess writes it: bona fide carries extra energy in the top bins."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in sizes.items():
        target = (rng.random(n) < 0.4).astype(np.int64)
        target[:2] = (1, 0)  # both classes, whatever the draw
        index = pd.DataFrame({
            "utt_id": [f"{split}_{i:04d}" for i in range(n)],
            "label": np.where(target == 1, "bonafide", "spoof"),
            "attack": np.where(target == 1, "-", np.where(np.arange(n) % 2, "A01", "A02")),
            "speaker": [f"spk{i % 3}" for i in range(n)],
            "target": target,
        })
        index.loc[:, list(INDEX_COLUMNS)].to_csv(index_path(root, split), index=False)
        for name in (split, AUG) if split == "train" else (split,):
            for view in VIEWS:
                x = rng.normal(size=(n, bins, frames)).astype(np.float32)
                x[target == 1, -4:, :] += 2.0
                np.save(array_path(root, name, view), x.astype(np.float16))
    stats = {v: {"mean": [0.0] * bins, "std": [1.0] * bins} for v in VIEWS}
    write_json_atomic(root / "settings.json",
                      {"views": list(VIEWS), "stats": stats, "signal_augment": True})
    return root


def tiny_config() -> Config:
    cfg = load_config(ROOT / "params.yaml")
    return with_overrides(cfg, TINY)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return write_store(tmp_path_factory.mktemp("features"), SIZES, BINS, FRAMES, seed=0)


@pytest.fixture(scope="module")
def ablated(store: Path) -> tuple[pd.DataFrame, dict, list[tuple], dict]:
    """One run of the tiny ablation, recording each pretraining call's (seed, n utterances)."""
    calls: list[tuple] = []
    real = ablation.run_pretrain

    def counting(feats, cfg, seed, progress=False):
        calls.append((seed, len(feats.train.index)))
        return real(feats, cfg, seed, progress)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ablation, "run_pretrain", counting)
        runs, summary, seconds = run_ablation(tiny_config(), store, progress=False)
    return runs, summary, calls, seconds


def test_runs_table_has_one_row_per_variant_and_seed(ablated) -> None:
    runs, _, _, _ = ablated
    assert runs.shape[0] == len(TINY_VARIANTS) * len(SEEDS)
    assert list(runs["variant"]) == [v for v in TINY_VARIANTS for _ in SEEDS]
    assert list(runs["seed"]) == list(SEEDS) * len(TINY_VARIANTS)
    expected = {"variant", "seed", *METRICS, "params_pretrain", "params_trainable",
                "params_total", "n_train", "n_dev", "n_eval", "pretrain_cached"}
    assert set(runs.columns) == expected  # no wall clock: a rerun reproduces the table
    for split, n in SMALL.items():
        assert (runs[f"n_{split}"] == n).all(), split
    for metric in ("eer", "dev_eer", "roc_auc"):
        assert runs[metric].between(0, 1).all(), metric
    assert (runs["cllr"] > 0).all() and (runs["min_dcf"] >= 0).all()
    # the planted signal is easy: a trained detector must beat chance on eval
    assert runs["roc_auc"].mean() > 0.7


def test_parameter_counts_match_the_trained_detectors(ablated) -> None:
    runs, _, _, _ = ablated
    configs = variant_configs(tiny_config())
    for _, row in runs.iterrows():
        counts = parameter_counts(configs[row["variant"]], BINS)
        assert {k: row[k] for k in counts} == counts
    head = runs.set_index("variant")["params_trainable"]
    assert head[REFERENCE].iloc[0] > head["head_linear"].iloc[0]  # MLP head beats linear head


def test_summary_has_intervals_for_every_variant(ablated) -> None:
    runs, summary, _, _ = ablated
    assert list(summary) == list(TINY_VARIANTS)
    for name, s in summary.items():
        assert s["n_seeds"] == len(SEEDS)
        for metric in METRICS:
            eer = runs.loc[runs["variant"] == name, metric]
            assert s[f"{metric}_mean"] == pytest.approx(eer.mean())
            assert s[f"{metric}_ci_low"] <= s[f"{metric}_mean"] <= s[f"{metric}_ci_high"]
    assert summary[REFERENCE]["eer_diff_mean"] == 0.0
    json.dumps(summary, allow_nan=False)  # valid JSON for dvc metrics


def test_pretraining_is_shared_by_variants_that_differ_only_in_finetuning(ablated) -> None:
    runs, _, calls, _ = ablated
    assert sorted(calls) == [(seed, SMALL["train"]) for seed in SEEDS]  # once per seed, not per run
    cached = runs.set_index("variant")["pretrain_cached"]
    assert not cached[REFERENCE].any() and cached["head_linear"].all()


def test_ablation_is_deterministic_in_process_and_in_worker_processes(ablated, store: Path) -> None:
    runs, summary, _, _ = ablated
    again, again_summary, _ = run_ablation(tiny_config(), store, progress=False)
    pd.testing.assert_frame_equal(runs, again)
    assert json.dumps(summary, sort_keys=True) == json.dumps(again_summary, sort_keys=True)
    parallel, _, _ = run_ablation(with_overrides(tiny_config(), {"common.threads": 2}), store)
    pd.testing.assert_frame_equal(runs, parallel)


def test_wall_clock_seconds_go_to_the_timings_not_the_results(ablated) -> None:
    runs, summary, _, seconds = ablated
    assert set(seconds["run_seconds"]) == set(TINY_VARIANTS) == set(seconds["seconds_mean"])
    for variant, per_seed in seconds["run_seconds"].items():
        assert set(per_seed) == {str(s) for s in SEEDS} and min(per_seed.values()) >= 0
        assert seconds["seconds_mean"][variant] == pytest.approx(
            sum(per_seed.values()) / len(per_seed), abs=0.01)
    assert not any("second" in key for row in summary.values() for key in row)


def test_tasks_group_variants_by_pretrain_config() -> None:
    configs = variant_configs(load_config(ROOT / "params.yaml"))
    units = tasks(configs, (1, 2))
    shared = ("full_method", "partial", "frozen_logreg", "linear_head")
    assert units[:2] == [(1, shared), (2, shared)]  # the largest units go first
    assert (1, ("supervised_only", "capacity_control")) in units
    assert sorted(n for seed, names in units if seed == 1 for n in names) == sorted(configs)


def test_t_interval_against_hand_computation() -> None:
    # mean 0.7/3; s^2 = (0.1333^2 + 0.0333^2 + 0.1667^2) / 2 = 0.0233...; t(0.975, 2) = 4.3027
    mean, low, high = t_interval([0.1, 0.2, 0.4], 0.95)
    half = 4.302652729911275 * math.sqrt(0.07 / 3) / math.sqrt(3)
    assert mean == pytest.approx(0.7 / 3)
    assert (low, high) == pytest.approx((0.7 / 3 - half, 0.7 / 3 + half))
    assert t_interval([0.3, 0.3, 0.3]) == pytest.approx((0.3, 0.3, 0.3))
    one = t_interval([0.25])
    assert one[0] == 0.25 and math.isnan(one[1]) and math.isnan(one[2])
    with pytest.raises(ValueError):
        t_interval([])


def test_summary_pairs_differences_by_seed_and_nulls_single_seed_intervals() -> None:
    base = {"roc_auc": 0.9, "min_dcf": 0.5, "cllr": 0.8, "dev_eer": 0.1, "params_pretrain": 10,
            "params_trainable": 5, "params_total": 7}
    eers = {REFERENCE: [0.10, 0.20, 0.30], "other": [0.13, 0.22, 0.34], "solo": [0.5]}
    runs = pd.DataFrame([{**base, "variant": v, "seed": s, "eer": e}
                         for v, values in eers.items() for s, e in zip((1, 2, 3), values)])
    summary = summarise(runs)
    expected = t_interval([0.03, 0.02, 0.04])
    got = tuple(summary["other"][f"eer_diff_{k}"] for k in ("mean", "ci_low", "ci_high"))
    assert got == pytest.approx(expected)
    assert summary["solo"]["eer_ci_low"] is None and "eer_diff_mean" not in summary["solo"]


def test_capacity_control_is_the_deployed_detector_with_the_methods_step_budget() -> None:
    cfg = load_config(ROOT / "params.yaml")
    configs = variant_configs(with_overrides(cfg, {"ablate.scale": "full"}))
    n_bins = cfg.preprocess.n_mels
    method, control_cfg = configs[REFERENCE], configs["capacity_control"]
    control = parameter_counts(control_cfg, n_bins)
    assert control["params_pretrain"] == 0 and control_cfg.finetune.strategy == "full"
    assert control["params_total"] == parameter_counts(method, n_bins)["params_total"]
    assert control_cfg.finetune.epochs == method.pretrain.epochs + method.finetune.epochs
    assert control_cfg.finetune.batch_size == method.pretrain.batch_size
    # no early stop before the budget is spent: the control really trains that long
    assert control_cfg.finetune.patience >= control_cfg.finetune.epochs

def _changed(a: Any, b: Any, prefix: str = "") -> set[str]:
    """Dotted keys whose values differ between two config dataclasses."""
    if dataclasses.is_dataclass(a):
        return set().union(*(_changed(getattr(a, f.name), getattr(b, f.name),
                                      f"{prefix}{f.name}.") for f in dataclasses.fields(a)))
    return set() if a == b else {prefix.rstrip(".")}


# Every default variant, what it may change against full_method, and a check of its values.
VARIANT_CHANGES = [
    ("supervised_only", {"pretrain.contrastive_weight"},
     lambda c: c.pretrain.contrastive_weight == 0 and c.finetune.strategy == "full"),
    ("partial", {"finetune.strategy"}, lambda c: c.finetune.strategy == "partial"),
    ("frozen_logreg", {"finetune.strategy"}, lambda c: c.finetune.strategy == "logreg"),
    ("capacity_control", {"pretrain.contrastive_weight", "finetune.epochs", "finetune.patience"},
     lambda c: c.pretrain.contrastive_weight == 0 and c.finetune.strategy == "full"),
    ("linear_head", {"finetune.head"}, lambda c: c.finetune.head == "linear"),
    ("no_cross_attention", {"pretrain.cross_attention"},
     lambda c: not c.pretrain.cross_attention and c.pretrain.contrastive_weight > 0),
    ("supcon", {"pretrain.supervised_contrastive"},
     lambda c: c.pretrain.supervised_contrastive and c.pretrain.cross_attention),
    ("mel_only", {"pretrain.views"}, lambda c: c.pretrain.views == ("mel",)),
    ("no_augment", {f"pretrain.augment.{k}" for k in
                    ("time_mask", "freq_mask", "gain_db", "noise_std", "signal_effects")},
     lambda c: c.pretrain.augment == dataclasses.replace(
         c.pretrain.augment, time_mask=0, freq_mask=0, gain_db=0.0, noise_std=0.0,
         signal_effects=False) and c.finetune.augment.signal_effects),
]


def test_every_default_variant_has_its_change_checked() -> None:
    names = set(load_config(ROOT / "params.yaml").ablate.variants) - {REFERENCE}
    assert names == {name for name, _, _ in VARIANT_CHANGES}


@pytest.mark.parametrize("name, changed, check", VARIANT_CHANGES)
def test_each_default_variant_changes_only_what_it_ablates(name, changed, check) -> None:
    configs = variant_configs(
        with_overrides(load_config(ROOT / "params.yaml"), {"ablate.scale": "full"}))
    reference = configs[REFERENCE]
    assert (reference.pretrain.views, reference.finetune.strategy) == (("mel", "linear"), "full")
    assert reference.finetune.head == "mlp" and reference.pretrain.augment.signal_effects
    assert _changed(configs[name], reference) == changed
    assert check(configs[name])


def test_default_run_is_full_scale_with_five_seeds_and_small_scale_caps_epochs() -> None:
    cfg = load_config(ROOT / "params.yaml")
    assert len(cfg.ablate.seeds) >= 5 and cfg.ablate.scale == "full"
    assert set(cfg.ablate.seeds) <= set(cfg.pretrain.seeds)  # so the encoders are reused
    small = variant_configs(with_overrides(cfg, {"ablate.scale": "small"}))[REFERENCE]
    assert small.pretrain.epochs == min(cfg.pretrain.epochs, cfg.ablate.small_epochs)
    assert small.finetune.epochs == min(cfg.finetune.epochs, cfg.ablate.small_epochs)
    full = variant_configs(with_overrides(cfg, {"ablate.scale": "full"}))[REFERENCE]
    assert (full.pretrain.epochs, full.finetune.epochs) == (cfg.pretrain.epochs,
                                                            cfg.finetune.epochs)


def test_report_table_and_figure(ablated, tmp_path: Path) -> None:
    runs, summary, _, _ = ablated
    # as read back from a JSON file written with sorted keys: params.yaml order survives
    resorted = dict(sorted(summary.items(), reverse=True))
    table = markdown_table(resorted).splitlines()
    assert len(table) == 2 + len(summary) and "speaker x seed" in table[0] and "ranked by dev" in table[0]
    by_dev = sorted(summary, key=lambda n: summary[n]["dev_eer_mean"])
    for row, name in zip(table[2:], by_dev, strict=True):
        label = f"**{name}**" if name == REFERENCE else name
        s = summary[name]
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[:2] == [label, f"{s['dev_eer_mean'] * 100:.2f}"]
        assert cells[3].startswith(f"{s['eer_mean'] * 100:.2f} [")
        # scale small: seeds score different eval subsets, so no speaker x seed pairing
        assert cells[4] == cells[5] == "-"
    path = tmp_path / "ablation.png"
    plot_ablation(runs, summary, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_stages_write_one_record_per_variant_then_metrics_runs_and_plot(
        store: Path, tmp_path: Path, params_raw: dict, write_params, monkeypatch, ablated) -> None:
    raw = params_raw
    raw["common"]["threads"] = 1
    for key, value in TINY.items():
        *parents, leaf = key.split(".")
        node = raw
        for part in parents:
            node = node[part]
        node[leaf] = value
    params = write_params(raw)
    timings: dict[str, Any] = {}
    monkeypatch.setattr(stage_runner, "track_energy",
                        lambda stage, path: contextlib.nullcontext(timings))  # CodeCarbon is slow
    # The stage scores dev and eval files whole, from the audio folder and protocol it is given
    # (the tiny store has no audio: the stored crops stand in, and the arguments are checked).
    whole: list[tuple[Path, Path]] = []

    def whole_file_scored(detector, feats, raw_dir, protocol, method):
        whole.append((raw_dir, protocol))
        return ablation.calibrate_and_score(detector, feats, method)

    monkeypatch.setattr(ablation, "whole_file_scored", whole_file_scored)
    records = tmp_path / "records"
    for name in TINY_VARIANTS:
        argv = ["--params", str(params), "--variant", name, "--features", str(store),
                "--raw-dir", str(tmp_path / "raw"), "--protocol", str(tmp_path / "protocol.csv"),
                "--encoders", str(tmp_path / "no_encoders"), "--out", str(records / f"{name}.json"),
                "--energy", str(tmp_path / "energy.json")]
        assert ablate_variant_stage.main(argv) == 0
        assert set(timings["seconds_mean"]) == {name}  # the timing record's share
    assert whole == [(tmp_path / "raw", tmp_path / "protocol.csv")] * (len(TINY_VARIANTS) * len(SEEDS))
    record = json.loads((records / f"{REFERENCE}.json").read_text())
    assert [r["seed"] for r in record["runs"]] == list(SEEDS)
    assert all(len(r["scores"]) == SMALL["eval"] and "seconds" not in r for r in record["runs"])

    out = {k: tmp_path / name for k, name in
           (("metrics", "ablation.json"), ("runs", "runs.csv"), ("plot", "ablation.png"))}
    argv = ["--params", str(params), "--runs-dir", str(records), "--features", str(store),
            "--energy", str(tmp_path / "energy.json")]
    argv += [a for k, path in out.items() for a in (f"--{k}", str(path))]
    assert ablate_stage.main(argv) == 0
    summary = json.loads(out["metrics"].read_text())
    assert sorted(summary, key=lambda v: summary[v]["order"]) == list(TINY_VARIANTS)
    runs = pd.read_csv(out["runs"])
    assert len(runs) == len(TINY_VARIANTS) * len(SEEDS)
    assert out["plot"].read_bytes()[:4] == b"\x89PNG"
    # one variant per stage gives what the one-call study gives (which shares pretraining)
    one_call_runs, one_call_summary, _, _ = ablated
    assert json.loads(json.dumps(one_call_summary)) == summary
    # (pretrain_cached says how a run was computed: shared within a one-call unit, or not)
    pd.testing.assert_frame_equal(runs.drop(columns="pretrain_cached"),
                                  one_call_runs.drop(columns="pretrain_cached"), check_dtype=False)


def test_summary_stage_refuses_a_missing_or_stale_record(store: Path, tmp_path: Path) -> None:
    cfg = tiny_config()
    rows = ablation.run_variant(cfg, REFERENCE, store)
    records = tmp_path / "records"
    write_json_atomic(records / f"{REFERENCE}.json", ablation.variant_record(cfg, REFERENCE, rows))
    # a variant that has not run is named
    with pytest.raises(InputError, match=r"head_linear\.json is missing"):
        ablation.read_variant_records(cfg, records)
    only_ref = with_overrides(cfg, {"ablate.variants": {REFERENCE: {}}})
    assert len(ablation.read_variant_records(only_ref, records)) == len(SEEDS)
    # a record written under other params is refused, whatever changed
    for change in ({"finetune.epochs": 1}, {"ablate.seeds": [1]}, {"pretrain.temperature": 0.5},
                   {"ablate.variants": {REFERENCE: {"finetune.head": "linear"}}}):
        with pytest.raises(InputError, match="written under other params"):
            ablation.read_variant_records(with_overrides(only_ref, change), records)
    # the number of threads does not change results, so it does not make a record stale
    ablation.read_variant_records(with_overrides(only_ref, {"common.threads": 2}), records)
    # records of variants no longer in the params are ignored; a corrupt one is named
    record = json.loads((records / f"{REFERENCE}.json").read_text())
    record["runs"][0]["scores"].pop()
    (records / f"{REFERENCE}.json").write_text(json.dumps(record))
    with pytest.raises(InputError, match=r"full_method\.json is not a variant record: a run "
                                         r"holds another number of eval scores"):
        ablation.read_variant_records(only_ref, records)
    (records / f"{REFERENCE}.json").write_text("{not json")
    with pytest.raises(InputError, match=r"full_method\.json is not a variant record"):
        ablation.read_variant_records(only_ref, records)
    with pytest.raises(InputError, match="no variant 'nope'"):
        ablation.run_variant(cfg, "nope", store)


def test_holm_adjusts_step_down_in_input_order() -> None:
    from spectcontra.experiments.stats import holm
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5]) == [0.5]
    assert holm([0.6, 0.9]) == [1.0, 1.0]


def test_summary_adds_holm_and_simultaneous_intervals() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(1, 6):
        base = 0.3 + 0.01 * rng.normal()
        for name, shift in (("full_method", 0.0), ("worse", 0.1), ("same", 0.0)):
            rows.append({"variant": name, "seed": seed, "eer": base + shift + 0.005 * rng.normal(),
                         "roc_auc": 0.7, "min_dcf": 0.5, "cllr": 0.9, "dev_eer": 0.1,
                         "params_pretrain": 1, "params_trainable": 1, "params_total": 1})
    out = summarise(pd.DataFrame(rows))
    worse, same = out["worse"], out["same"]
    assert worse["n_comparisons"] == same["n_comparisons"] == 2
    assert worse["eer_diff_p_holm"] < 0.05 < same["eer_diff_p_holm"]
    assert worse["eer_diff_p_holm"] >= worse["eer_diff_p"]
    # the simultaneous interval is wider than the per-comparison one
    assert worse["eer_diff_simultaneous_ci_low"] < worse["eer_diff_ci_low"]
    assert "eer_diff_p" not in out["full_method"]


def test_full_scale_reuses_only_the_pretrain_stage_encoder_it_would_train(tmp_path: Path) -> None:
    cfg = with_overrides(load_config(ROOT / "params.yaml"), {"ablate.scale": "full"})
    seed = cfg.pretrain.seeds[0]
    path = tmp_path / f"seed_{seed}" / "encoder.pt"
    path.parent.mkdir()
    path.write_bytes(b"x")
    configs = variant_configs(cfg)
    assert reusable_encoder(cfg, configs[REFERENCE].pretrain, seed, tmp_path) == path
    assert reusable_encoder(cfg, configs[REFERENCE].pretrain, seed, None) is None
    assert reusable_encoder(cfg, configs["supervised_only"].pretrain, seed, tmp_path) is None
    assert reusable_encoder(cfg, configs[REFERENCE].pretrain, 999, tmp_path) is None
    small = with_overrides(cfg, {"ablate.scale": "small"})
    assert reusable_encoder(small, variant_configs(small)[REFERENCE].pretrain, seed, tmp_path) is None


def test_speaker_seed_intervals_pair_variants_with_the_reference_on_speakers_and_seeds() -> None:
    rng = np.random.default_rng(0)
    n, speakers = 120, np.repeat([f"spk{i}" for i in range(12)], 10)
    targets = np.tile([1, 0], n // 2)
    good = [targets * 2.0 + rng.normal(size=n) for _ in SEEDS + (3,)]   # separates the classes
    noise = [rng.normal(size=n) for _ in good]                          # chance
    runs = pd.DataFrame({"variant": [v for v in (REFERENCE, "same", "worse") for _ in good],
                         "seed": list(range(len(good))) * 3})
    scores = pd.Series(good + good + noise)
    summary = {name: {} for name in (REFERENCE, "same", "worse")}
    ablation.speaker_seed_intervals(summary, runs, scores, targets, speakers, n_boot=200, seed=1)
    same, worse = summary["same"], summary["worse"]
    assert same["eer_diff_boot_mean"] == 0.0  # identical runs: every replicate differs by 0
    assert same["eer_diff_boot_ci_low"] == same["eer_diff_boot_ci_high"] == 0.0
    assert 0 < worse["eer_diff_boot_ci_low"] < worse["eer_diff_boot_mean"]  # excludes 0
    # the Bonferroni-level interval (two comparisons) contains the 95% one
    assert worse["eer_diff_boot_simultaneous_ci_low"] <= worse["eer_diff_boot_ci_low"]
    assert worse["eer_diff_boot_simultaneous_ci_high"] >= worse["eer_diff_boot_ci_high"]
    assert summary[REFERENCE] == {}  # the reference is not compared with itself


def test_table_bolds_only_differences_whose_simultaneous_interval_excludes_0() -> None:
    base = {"dev_eer_mean": 0.1, "eer_mean": 0.3, "eer_ci_low": 0.2, "eer_ci_high": 0.4,
            "roc_auc_mean": 0.7, "min_dcf_mean": 0.8, "params_pretrain": 0, "params_trainable": 9}
    boot = {"dev_eer_diff_mean": 0.01, "dev_eer_diff_ci_low": -0.01, "dev_eer_diff_ci_high": 0.03,
            "eer_diff_boot_mean": 0.05, "eer_diff_boot_ci_low": 0.02, "eer_diff_boot_ci_high": 0.08}
    summary = {REFERENCE: {**base, "order": 0},
               "resolved": {**base, **boot, "order": 1, "eer_diff_boot_simultaneous_ci_low": 0.01,
                            "eer_diff_boot_simultaneous_ci_high": 0.09},
               "unresolved": {**base, **boot, "order": 2,
                              "eer_diff_boot_simultaneous_ci_low": -0.01,
                              "eer_diff_boot_simultaneous_ci_high": 0.11}}
    rows = {r.split("|")[1].strip(): r for r in markdown_table(summary).splitlines()[2:]}
    assert "| +5.00 [+2.00, +8.00] | **[+1.00, +9.00]** |" in rows["resolved"]
    assert "| +5.00 [+2.00, +8.00] | [-1.00, +11.00] |" in rows["unresolved"]
    assert "| 1.00 [-1.00, 3.00] |" in rows["resolved"]  # the dev difference


def test_verdict_claims_only_resolved_differences_and_moves_the_default_only_on_dev() -> None:
    from spectcontra.experiments.ablation_report import verdict
    ref = {"order": 0, "dev_eer_mean": 0.10}
    other = {"order": 1, "dev_eer_mean": 0.08, "dev_eer_diff_mean": -0.02,
             "dev_eer_diff_simultaneous_ci_low": -0.05, "dev_eer_diff_simultaneous_ci_high": 0.01,
             "eer_diff_boot_mean": 0.05, "eer_diff_boot_simultaneous_ci_low": 0.01,
             "eer_diff_boot_simultaneous_ci_high": 0.09}
    text = verdict({REFERENCE: ref, "other": other})
    assert "resolve other +5.00 pp [+1.00, +9.00]" in text
    assert "does not exclude 0, so by the dev rule the default stays full_method" in text
    clear = {**other, "dev_eer_diff_simultaneous_ci_high": -0.005,
             "eer_diff_boot_simultaneous_ci_low": -0.01}
    text = verdict({REFERENCE: ref, "other": clear})
    assert text.startswith("No variant's eval EER differs")
    assert "by the dev rule it should be the default" in text
    assert "stays the default" in verdict({REFERENCE: {**ref, "dev_eer_mean": 0.05}, "other": other})
    unpaired = {k: v for k, v in other.items() if not k.startswith(("eer_diff", "dev_eer_diff"))}
    text = verdict({REFERENCE: ref, "other": unpaired})
    assert text.startswith("No speaker x seed intervals were computed")
    assert "no paired dev interval" in text


def test_summary_pairs_dev_differences_by_seed_with_a_simultaneous_interval() -> None:
    base = {"roc_auc": 0.9, "min_dcf": 0.5, "cllr": 0.8, "params_pretrain": 10,
            "params_trainable": 5, "params_total": 7}
    dev = {REFERENCE: [0.10, 0.20, 0.30], "a": [0.08, 0.15, 0.29], "b": [0.1, 0.2, 0.3]}
    runs = pd.DataFrame([{**base, "variant": v, "seed": s, "eer": 0.3 + s / 100, "dev_eer": e}
                         for v, values in dev.items() for s, e in zip((3, 1, 2), values)])
    summary = summarise(runs)
    diffs = [-0.02, -0.05, -0.01]
    got = tuple(summary["a"][f"dev_eer_diff_{k}"] for k in ("mean", "ci_low", "ci_high"))
    assert got == pytest.approx(t_interval(diffs))
    wide = t_interval(diffs, 1 - 0.05 / 2)  # two variants compared with the reference
    assert (summary["a"]["dev_eer_diff_simultaneous_ci_low"],
            summary["a"]["dev_eer_diff_simultaneous_ci_high"]) == pytest.approx(wide[1:])
    assert summary["b"]["dev_eer_diff_mean"] == 0.0


def test_full_scale_adds_speaker_seed_intervals_and_keeps_scores_out_of_the_table(store) -> None:
    cfg = with_overrides(tiny_config(), {"ablate.scale": "full", "pretrain.epochs": 2,
                                         "finetune.epochs": 2})
    runs, summary, _ = run_ablation(cfg, store, n_boot=20)
    assert "scores" not in runs.columns and (runs["n_eval"] == SIZES["eval"]).all()
    other = summary["head_linear"]
    assert {"eer_diff_boot_mean", "eer_diff_boot_ci_low", "eer_diff_boot_simultaneous_ci_high"} <= set(other)
    assert other["eer_diff_boot_ci_low"] <= other["eer_diff_boot_mean"] <= other["eer_diff_boot_ci_high"]
    assert not any(k.startswith("eer_diff_boot") for k in summary[REFERENCE])
    json.dumps(summary)  # plain types only: the stage writes it as JSON
