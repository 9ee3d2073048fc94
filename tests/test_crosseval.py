"""Cross-corpus evaluation: thresholds come from the main dev split, the second corpus is new
(synthetic voices and attacks, or a user's CSV corpus), and stale models are refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from spectcontra.config import (
    CrossevalConfig,
    CrossevalFolderConfig,
    EvaluateConfig,
    load_config,
)
from spectcontra.data.attacks import UNSEEN_ATTACKS
from spectcontra.data.crosscorpus import crosscorpus_seed, folder_corpus, synthetic_eval_corpus
from spectcontra.data.protocol import ProtocolError
from spectcontra.evaluation.metrics import compute_eer
from spectcontra.evaluation.transfer import at_dev_threshold
from spectcontra.experiments.crosseval import cross_corpus, crosseval_metrics, describe, score_corpus
from spectcontra.experiments.systems import (
    MAIN,
    StaleModelError,
    check_reproduces,
    not_scored,
)
from tests.conftest import ROOT

SR = 8000
SYN_SR = 16000  # the synthetic channel model needs a Nyquist above 4 kHz
EVAL = EvaluateConfig(n_bootstrap=50, ci_level=0.9, ece_bins=5, bootstrap_unit="speaker")


def _table(scores_bona, scores_spoof, prefix: str, n_speakers: int = 4) -> pd.DataFrame:
    scores = np.r_[scores_bona, scores_spoof]
    n_b = len(scores_bona)
    return pd.DataFrame({
        "utt_id": [f"{prefix}{i:03d}" for i in range(scores.size)], "score": scores,
        "label": ["bonafide"] * n_b + ["spoof"] * (scores.size - n_b),
        "attack": ["-"] * n_b + ["A1"] * (scores.size - n_b),
        "speaker": [f"s{i % n_speakers}" for i in range(scores.size)]})


def test_thresholds_come_from_dev_not_from_the_new_corpus():
    rng = np.random.default_rng(0)
    dev = _table(rng.normal(2, 1, 200), rng.normal(-2, 1, 200), "d")
    # the same separation, shifted by +5: its own EER is unchanged, but at the dev threshold
    # (near 0) nearly everything is called bona fide, so accuracy falls to about the bona fide
    # share and the false acceptance rate goes to ~1
    shifted = _table(rng.normal(7, 1, 100), rng.normal(3, 1, 300), "x")
    out = at_dev_threshold(dev, shifted, EVAL, seed=1, name="shifted")
    _, dev_thr = compute_eer(dev["score"][:200].to_numpy(), dev["score"][200:].to_numpy())
    assert out["dev_eer_threshold"] == pytest.approx(dev_thr)
    assert out["eer"] < 0.1
    assert out["accuracy_at_dev_thr"] == pytest.approx(0.25, abs=0.02)
    assert out["far_at_dev_thr"] > 0.95
    assert out["eer_ci_low"] <= out["eer"] <= out["eer_ci_high"]
    # moving the new corpus's scores never moves the threshold
    again = at_dev_threshold(dev, shifted.assign(score=shifted["score"] - 5), EVAL, 1, "x")
    assert again["dev_eer_threshold"] == out["dev_eer_threshold"]
    assert again["accuracy_at_dev_thr"] > 0.9


def test_synthetic_cross_corpus_is_new_voices_with_unseen_attacks(tmp_path, params_raw):
    cfg = load_config(ROOT / "params.yaml").data.synthetic
    small = type(cfg)(**{**cfg.__dict__, "min_seconds": 0.5, "max_seconds": 0.7})
    index = synthetic_eval_corpus(small, speakers=2, utterances=8, seed=crosscorpus_seed(3),
                                  sample_rate=SYN_SR, out_dir=tmp_path)
    assert len(index) == 8 and set(index["label"]) == {"bonafide", "spoof"}
    assert set(index.loc[index["label"] == "spoof", "attack"]) <= set(UNSEEN_ATTACKS)
    for rel in index["path"]:
        info = sf.info(tmp_path / rel)
        assert info.samplerate == SYN_SR and 0.5 <= info.duration <= 0.7 + 1e-3
    first = sf.read(tmp_path / index["path"][0])[0]
    synthetic_eval_corpus(small, 2, 8, crosscorpus_seed(3), SYN_SR, tmp_path / "again")
    np.testing.assert_array_equal(first, sf.read(tmp_path / "again" / index["path"][0])[0])
    assert crosscorpus_seed(3) != 3 and crosscorpus_seed(3) != crosscorpus_seed(4)
    counts = describe(index)
    assert counts["n_bonafide"] + counts["n_spoof"] == 8 and counts["n_speakers"] == 2


def _folder(tmp_path, rows: list[str]) -> None:
    (tmp_path / "audio").mkdir()
    for line in rows[1:]:
        name = line.split(",")[0]
        tone = np.sin(np.arange(SR // 2) * 0.05).astype(np.float32) * 0.3
        sf.write(tmp_path / "audio" / name, tone, SR)
    (tmp_path / "meta.csv").write_text("\n".join(rows) + "\n")


def test_folder_option_reads_an_in_the_wild_style_csv(tmp_path):
    _folder(tmp_path, ["file,speaker,label", "0.wav,Alice,bona-fide", "1.wav,Alice,spoof",
                       "2.wav,Bob,spoof", "3.wav,Bob,bona-fide"])
    cfg = CrossevalConfig(source="folder", synthetic_speakers=2, synthetic_utterances=4,
                          folder=CrossevalFolderConfig(csv="meta.csv", root="audio"))
    corpus = cross_corpus(cfg, None, "debian_speech", SR, 0, tmp_path / "work", tmp_path)
    assert corpus.root == tmp_path / "audio"
    assert list(corpus.index.columns) == ["utt_id", "path", "label", "attack", "speaker"]
    assert list(corpus.index["label"]) == ["bonafide", "spoof", "spoof", "bonafide"]
    assert corpus.description == {"source": "folder", "cross_corpus": True, "csv": "meta.csv"}

    class Length:
        def score_files(self, paths):
            return np.array([sf.info(p).frames for p in paths], dtype=float)

    tables = score_corpus({MAIN: Length()}, corpus)
    assert list(tables[MAIN]["score"]) == [SR // 2] * 4


def test_folder_corpus_errors_name_the_file(tmp_path):
    _folder(tmp_path, ["file,speaker,label", "0.wav,A,bona-fide", "1.wav,A,bona-fide"])
    with pytest.raises(ProtocolError, match="needs both classes"):
        folder_corpus(tmp_path / "meta.csv", tmp_path / "audio")
    (tmp_path / "meta.csv").write_text("file,speaker,label\n0.wav,A,spoof\nnone.wav,A,bona-fide\n")
    with pytest.raises(FileNotFoundError, match="line 3: audio file .*none.wav is missing"):
        folder_corpus(tmp_path / "meta.csv", tmp_path / "audio")


def test_training_on_synthetic_marks_the_synthetic_corpus_as_not_cross(tmp_path):
    cfg = load_config(ROOT / "params.yaml")
    small = type(cfg.data.synthetic)(**{**cfg.data.synthetic.__dict__, "min_seconds": 0.3,
                                        "max_seconds": 0.4})
    cross = CrossevalConfig("synthetic", 2, 4, cfg.crosseval.folder)
    corpus = cross_corpus(cross, small, "synthetic", SYN_SR, 0, tmp_path, tmp_path)
    assert corpus.description["cross_corpus"] is False


class _Published:
    """A fake system that returns published scores, offset by ``shift``."""

    def __init__(self, table: pd.DataFrame, shift: float = 0.0) -> None:
        self.by_path = {f"/audio/{u}": s + shift for u, s in zip(table["utt_id"], table["score"])}

    def score_files(self, paths):
        return np.array([self.by_path[str(p)] for p in paths])


def test_a_model_must_reproduce_its_published_dev_scores():
    rng = np.random.default_rng(1)
    dev = _table(rng.normal(1, 1, 20), rng.normal(-1, 1, 20), "d")
    paths = {u: f"/audio/{u}" for u in dev["utt_id"]}
    assert check_reproduces("ok", _Published(dev, 1e-5), dev, paths) == pytest.approx(1e-5)
    with pytest.raises(StaleModelError, match="stale|different runs"):
        check_reproduces("stale", _Published(dev, 0.1), dev, paths)
    with pytest.raises(StaleModelError, match="no audio in the protocol"):
        check_reproduces("lost", _Published(dev), dev, {})


def test_not_scored_lists_reasons_and_refuses_models_without_dev_scores():
    dev = {MAIN: None, "lfcc_logreg": None, "green_ai_wav2vec2": None}
    out = not_scored({MAIN: 1, "lfcc_logreg": 1}, dev, {"pretrained_embedding": "disabled"})
    assert out == {"green_ai_wav2vec2": "no saved model (the baselines stage does not save "
                                        "this baseline)",
                   "pretrained_embedding": "not run (disabled)"}
    with pytest.raises(StaleModelError, match=r"\['orphan'\] have no published dev scores"):
        not_scored({MAIN: 1, "orphan": 1}, dev, {})


def test_crosseval_metrics_pair_every_baseline_with_ours():
    rng = np.random.default_rng(2)
    dev = _table(rng.normal(1, 1, 60), rng.normal(-1, 1, 60), "d")
    ours = _table(rng.normal(1, 1, 40), rng.normal(-1, 1, 40), "x")
    worse = ours.assign(score=ours["score"] * 0.2 + rng.normal(0, 1, 80))
    out = crosseval_metrics({MAIN: ours, "worse": worse}, {MAIN: dev, "worse": dev}, EVAL, 0)
    assert "paired" not in out[MAIN]
    pair = out["worse"]["paired"]
    assert pair["eer_diff"] == pytest.approx(out[MAIN]["eer"] - out["worse"]["eer"])
    assert pair["eer_diff_ci_low"] <= pair["eer_diff"] <= pair["eer_diff_ci_high"]
    assert {"eer", "min_dcf", "roc_auc", "accuracy_at_dev_thr"} <= set(out[MAIN])
