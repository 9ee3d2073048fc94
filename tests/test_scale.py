"""The scale study at tiny scale: the corpus generator, the memory verdict and the stage."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from spectcontra.config import ScaleConfig, load_config
from spectcontra.conventions import BONAFIDE, NO_ATTACK, SPLITS
from spectcontra.data.protocol import COLUMNS, read_protocol
from spectcontra.data.synthetic import plan_corpus
from spectcontra.profiling.scale import memory_verdict
from spectcontra.profiling.scale_corpus import (
    generate_scale_corpus,
    plan_scale_corpus,
    source_config,
)
from stages import scale as scale_stage

TINY = ScaleConfig(train_utterances=80, dev_utterances=50, eval_utterances=70, train_speakers=3,
                   dev_speakers=2, eval_speakers=3, bonafide_fraction=0.25, min_seconds=0.4,
                   max_seconds=0.6, distinct_utterances=8, finetune_epochs=1)


def test_the_plan_has_the_asked_size_and_copies_labels_from_its_sources() -> None:
    plan = plan_scale_corpus(TINY, seed=5)
    sources = plan_corpus(source_config(TINY), 5)
    assert plan.groupby("split").size().to_dict() == {"train": 80, "dev": 50, "eval": 70}
    assert plan["utt_id"].is_unique and plan["path"].is_unique
    src = sources.iloc[plan["source"].to_numpy()].reset_index(drop=True)
    for col in ("label", "attack", "speaker", "split"):
        assert (plan[col] == src[col]).all(), col
    assert plan.groupby("split")["source"].nunique().to_dict() == {s: 8 for s in SPLITS}
    speakers = {s: set(plan.loc[plan["split"] == s, "speaker"]) for s in SPLITS}
    assert not speakers["eval"] & (speakers["train"] | speakers["dev"])
    bona = plan["label"] == BONAFIDE
    assert (plan.loc[bona, "attack"] == NO_ATTACK).all()
    assert 0.15 < bona.mean() < 0.35


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale")
    summary = generate_scale_corpus(TINY, 5, 16000, root / "raw", root / "protocol.csv")
    return root, summary


def test_the_generated_corpus_is_every_planned_file_each_one_unique(corpus) -> None:
    root, summary = corpus
    protocol = read_protocol(root / "protocol.csv")
    assert list(protocol.columns[:len(COLUMNS)]) == list(COLUMNS) and len(protocol) == 200
    assert summary.utterances == {"train": 80, "dev": 50, "eval": 70}
    assert summary.distinct_utterances == 24
    files = [root / "raw" / p for p in protocol["path"]]
    infos = [sf.info(f) for f in files]
    assert {i.samplerate for i in infos} == {16000} and {i.subtype for i in infos} == {"PCM_16"}
    seconds = sum(i.frames for i in infos) / 16000
    assert summary.seconds == pytest.approx(seconds)
    assert summary.as_dict()["hours"] == pytest.approx(seconds / 3600, abs=1e-3)
    assert 0.3 * 200 < seconds < 0.6 * 200  # copies start up to 0.1 s into 0.4-0.6 s sources
    assert summary.audio_bytes == sum(f.stat().st_size for f in files)
    assert len({f.read_bytes() for f in files}) == 200


def test_copies_differ_from_their_source_but_stay_close_to_it(corpus) -> None:
    root, _ = corpus
    protocol = read_protocol(root / "protocol.csv")
    plan = plan_scale_corpus(TINY, 5)
    same = plan.index[plan["source"] == plan.loc[0, "source"]][:2]
    a, b = (sf.read(root / "raw" / protocol.loc[i, "path"])[0] for i in same)
    n = min(a.size, b.size)
    assert not np.array_equal(a[:n], b[:n])
    assert a.std() > 0 and b.std() > 0


def test_memory_verdict_subtracts_the_fixed_cost() -> None:
    record = {"fixed_rss_mb": 700.0, "peak_rss_mb": 1100.0}
    assert memory_verdict(record, 400) == {**record, "working_mb": 400.0, "under_budget": True}
    assert memory_verdict(record, 399)["under_budget"] is False


def test_the_stage_measures_both_children_and_writes_the_metrics(tmp_path, params_raw,
                                                                  write_params) -> None:
    params_raw["common"].update(crop_seconds=0.25, threads=1)
    params_raw["pretrain"]["encoder"].update(channels=[8], embed_dim=16, heads=2)
    params_raw["finetune"].update(batch_size=16)
    params_raw["scale"].update({k: getattr(TINY, k) for k in params_raw["scale"]})
    params = write_params(params_raw)
    metrics, energy, scratch = tmp_path / "scale.json", tmp_path / "energy.json", tmp_path / "s"
    code = scale_stage.main(["--params", str(params), "--scratch", str(scratch),
                             "--metrics", str(metrics), "--energy", str(energy)])
    assert code == 0
    out = json.loads(metrics.read_text())
    cfg = load_config(params)
    assert out["memory_budget_mb"] == cfg.preprocess.memory_budget_mb
    assert out["corpus"]["utterances"] == 200 and out["corpus"]["train_utterances"] == 80
    assert out["preprocess"]["n_train"] == 80 and out["preprocess"]["n_eval"] == 70
    frames = int(0.25 * 16000) // cfg.preprocess.hop_length + 1
    bins = cfg.preprocess.n_mels + cfg.preprocess.n_linear
    stored_rows = 80 * 2 + 50 + 70  # train twice: clean and signal-augmented
    assert out["corpus"]["feature_bytes"] == pytest.approx(stored_rows * bins * frames * 2,
                                                           abs=6 * 256)  # + .npy headers
    assert out["finetune"]["train_utterances"] == 80 and out["finetune"]["dev_utterances"] == 50
    assert out["finetune"]["epochs"] == 1 and out["finetune"]["steps"] == 5
    for job in ("preprocess", "finetune"):
        rec = out[job]
        assert rec["peak_rss_mb"] > rec["fixed_rss_mb"] > 0 and rec["seconds"] > 0
        assert rec["working_mb"] == pytest.approx(rec["peak_rss_mb"] - rec["fixed_rss_mb"],
                                                  abs=0.11)
        assert rec["under_budget"] == (rec["working_mb"] <= out["memory_budget_mb"])
    assert out["machine"]["cores"] >= 1 and out["machine"]["cpu_model"]
    assert list(scratch.iterdir()) == []  # the generated corpus is gone
    timings = json.loads(energy.read_text())["timings"]
    assert timings["preprocess_seconds"] == out["preprocess"]["seconds"]

