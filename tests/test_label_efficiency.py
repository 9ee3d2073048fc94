"""Label-efficiency study: nested stratified fractions, equal step budgets, paired intervals."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from spectcontra.config import ConfigError, load_config
from spectcontra.experiments.label_efficiency import (
    ARMS,
    StudyData,
    check_study_seeds,
    cluster_bootstrap_eer,
    epochs_for_steps,
    nested_fractions,
    run_seed,
    summarise,
)
from spectcontra.experiments.label_efficiency_report import markdown_table, plot_label_efficiency
from spectcontra.features.store import Split
from spectcontra.training.pretrain import pretrain
from spectcontra.training.recipe import Features
from tests.conftest import ROOT

torch.set_num_threads(1)


def protocol_index(n_speakers: int = 6, per: int = 20, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_speakers):
        for i in range(per):
            bona = i % 4 == 0
            rows.append({"utt_id": f"s{s}_{i}", "label": "bonafide" if bona else "spoof",
                         "attack": "-" if bona else f"A0{1 + int(rng.integers(0, 3))}",
                         "speaker": f"spk{s}", "target": int(bona)})
    return pd.DataFrame(rows)


def test_fractions_are_nested_stratified_and_hold_both_classes():
    index = protocol_index()
    subsets = nested_fractions(index, [0.01, 0.1, 0.25, 1.0], seed=3)
    sizes = [len(subsets[f]) for f in (0.01, 0.1, 0.25, 1.0)]
    assert sizes == sorted(sizes) and sizes[-1] == len(index)
    for small, large in ((0.01, 0.1), (0.1, 0.25), (0.25, 1.0)):
        assert set(subsets[small]) <= set(subsets[large])
    for rows in subsets.values():
        assert set(index["label"].iloc[rows]) == {"bonafide", "spoof"}
    # Stratified: at 25%, every speaker holds close to a quarter of its utterances.
    per_speaker = index.iloc[subsets[0.25]]["speaker"].value_counts()
    assert per_speaker.min() >= 4 and per_speaker.max() <= 6
    assert nested_fractions(index, [0.1], seed=3)[0.1].tolist() == subsets[0.1].tolist()
    assert nested_fractions(index, [0.1], seed=4)[0.1].tolist() != subsets[0.1].tolist()
    with pytest.raises(ValueError, match="fractions"):
        nested_fractions(index, [0.0], seed=0)


@pytest.mark.parametrize(("n", "batch", "steps", "epochs"),
                         [(20, 64, 200, 200), (640, 64, 200, 20), (650, 64, 200, 19), (1, 8, 3, 3)])
def test_every_fraction_gets_the_same_step_budget(n, batch, steps, epochs):
    assert epochs_for_steps(n, batch, steps) == epochs
    per_epoch = -(-n // min(batch, n))
    assert epochs * per_epoch >= steps and (epochs - 1) * per_epoch < steps


def test_paired_interval_of_identical_arms_is_exactly_zero_and_shifts_have_a_sign():
    rng = np.random.default_rng(0)
    targets = np.tile([1, 0, 0, 0], 30)
    speakers = np.repeat(np.arange(12), 10)
    runs = [rng.normal(size=120) + 1.5 * targets for _ in range(5)]
    assert cluster_bootstrap_eer(runs, targets, speakers, 200, 0.95, 1, reference=runs) == (0, 0, 0)
    better = [r + 2.0 * targets for r in runs]  # bona fide pushed up: lower EER
    mean, low, high = cluster_bootstrap_eer(better, targets, speakers, 200, 0.95, 1, reference=runs)
    assert mean < 0 and high < 0
    assert cluster_bootstrap_eer(better, targets, speakers, 200, 0.95, 1, reference=runs) == \
        (mean, low, high)  # same seed, same interval
    eer, lo, hi = cluster_bootstrap_eer(runs, targets, speakers, 200, 0.95, 1)
    assert lo <= eer <= hi and 0 < eer < 0.5


def _features(n_train: int, seed: int) -> Features:
    rng = np.random.default_rng(seed)

    def split(n: int, offset: int) -> Split:
        index = protocol_index(n_speakers=4, per=n // 4, seed=seed + offset)
        views = {}
        for view in ("mel", "linear"):
            x = rng.normal(size=(len(index), 16, 24)).astype(np.float32)
            x[index["target"].to_numpy() == 1, -4:, :] += 1.5
            views[view] = x.astype(np.float16)
        return Split(index=index, views=views)

    stats = {v: {"mean": [0.0] * 16, "std": [1.0] * 16} for v in ("mel", "linear")}
    return Features(train=split(n_train, 0), train_aug=split(n_train, 0), dev=split(24, 1),
                    eval=split(32, 2), settings={"stats": stats})


def test_one_seed_runs_every_arm_at_every_fraction_and_summarises(tmp_path):
    cfg = load_config(ROOT / "params.yaml")
    enc = dataclasses.replace(cfg.pretrain.encoder, channels=(4, 8), embed_dim=16, heads=2)
    cfg = dataclasses.replace(
        cfg, pretrain=dataclasses.replace(cfg.pretrain, epochs=1, batch_size=16, encoder=enc),
        finetune=dataclasses.replace(cfg.finetune, batch_size=8))
    feats = _features(48, 0)
    lfcc = {s: np.random.default_rng(1).normal(size=(len(getattr(feats, s).index), 6))
            + getattr(feats, s).targets[:, None] for s in ("train", "dev", "eval")}
    rows = []
    for seed in (1, 2):
        pretrained, _ = pretrain(feats.train.views, feats.train_aug.views, feats.train.targets,
                                 cfg.pretrain, seed, bin_std=feats.bin_std(("mel", "linear")))
        rows += run_seed(StudyData(feats, lfcc), cfg, seed, (0.25, 1.0), steps=4,
                         pretrained=pretrained)
    runs = pd.DataFrame(rows)
    assert len(runs) == 2 * 2 * len(ARMS)
    assert set(runs["arm"]) == set(ARMS)
    assert runs.groupby(["fraction", "seed"])["n_labelled"].nunique().eq(1).all()
    assert runs["eer"].between(0, 1).all() and runs["dev_eer"].notna().all()
    summary = summarise(runs, feats.eval.targets, feats.eval.index["speaker"].to_numpy(), 50,
                        0.95, 0)
    assert set(summary) == {"0.25", "1"}
    b = summary["1"]["pretrained_finetune"]
    assert b["diff_ci_low"] <= b["diff_vs_supervised"] <= b["diff_ci_high"]
    assert "diff_vs_supervised" not in summary["1"]["supervised"]
    table = markdown_table(summary)
    assert table.count("\n") == 4 and "| 25% |" in table
    plot_label_efficiency(summary, tmp_path / "le.png")
    assert (tmp_path / "le.png").read_bytes()[:4] == b"\x89PNG"


def test_study_seeds_must_have_pretrained_encoders():
    cfg = load_config(ROOT / "params.yaml")
    cfg = dataclasses.replace(cfg, pretrain=dataclasses.replace(cfg.pretrain, seeds=(1, 2)),
                              label_efficiency=dataclasses.replace(cfg.label_efficiency,
                                                                   seeds=(1, 2, 3)))
    with pytest.raises(ConfigError, match=r"label_efficiency.seeds \[3\]"):
        check_study_seeds(cfg)
    cfg = dataclasses.replace(
        cfg, label_efficiency=dataclasses.replace(cfg.label_efficiency, seeds=(1, 2)),
        pretrain=dataclasses.replace(cfg.pretrain, supervised_contrastive=True))
    with pytest.raises(ConfigError, match="supervised_contrastive"):
        check_study_seeds(cfg)
