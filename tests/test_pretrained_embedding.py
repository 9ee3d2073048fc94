"""Frozen pretrained-embedding baseline: the real GE2E weights from the resemblyzer wheel, on a
handful of 1 s clips the tests make."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from spectcontra.baselines import pretrained_embedding as pe
from spectcontra.config import PretrainedEmbeddingConfig
from spectcontra.conventions import SPLITS
from spectcontra.evaluation.calibration import fit_calibration
from spectcontra.evaluation.scores import (
    SCORE_COLUMNS,
    baseline_files,
    read_scores,
    score_table,
    write_scores,
)
from spectcontra.profiling import embedding_cost
from spectcontra.profiling.energy import result_and_energy
from spectcontra.profiling.measure import count_macs

SR = 16000


@pytest.fixture(scope="module")
def encoder() -> torch.nn.Module:
    return pe.load_encoder()


def voiced(seed: int, f0: float, seconds: float = 1.0) -> np.ndarray:
    """A syllable-like clip: harmonics of ``f0`` under a 4 Hz envelope, plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f = f0 * (1 + 0.05 * rng.standard_normal())
    wave = sum(np.sin(2 * np.pi * k * f * t + rng.uniform(0, 6)) / k for k in range(1, 12))
    wave = wave * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)) + 0.01 * rng.standard_normal(t.size)
    return (0.1 * wave).astype(np.float32)


def toy_split(offset: int, n: int = 8) -> tuple[list[np.ndarray], np.ndarray]:
    """Bona fide (1): low voices; spoof (0): high voices. Easy for a speaker embedding."""
    y = np.arange(n) % 2
    return [voiced(offset + i, 110.0 if label else 320.0) for i, label in enumerate(y)], y


def test_weights_come_from_the_installed_wheel_and_stay_frozen(encoder) -> None:
    path = pe.weights_path()
    assert path.name == "pretrained.pt" and path.parent.name == "resemblyzer"
    assert not encoder.training
    assert all(not p.requires_grad for p in encoder.parameters())
    saved = torch.load(path, map_location="cpu", weights_only=True)["model_state"]
    for name, tensor in encoder.state_dict().items():
        assert torch.equal(tensor, saved[name]), name  # pretrained, not random init


def test_embeddings_are_unit_vectors_of_the_right_shape_and_deterministic(encoder) -> None:
    waves = [voiced(i, 150.0) for i in range(3)] + [voiced(9, 150.0, seconds=3.7)]
    a = pe.utterance_embeddings(encoder, waves, SR)
    assert a.shape == (4, pe.EMBED_DIM) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    b = pe.utterance_embeddings(pe.load_encoder(), waves, SR)
    assert np.array_equal(a, b)


def test_prepare_is_resemblyzers_preprocess_wav_on_ordinary_audio() -> None:
    import resemblyzer

    wave = voiced(3, 140.0)
    assert np.array_equal(pe.prepare(wave, SR), resemblyzer.preprocess_wav(wave))
    # 8 kHz audio is resampled to the encoder's 16 kHz first, as preprocess_wav does.
    assert abs(pe.prepare(wave[::2].copy(), SR // 2).size - wave.size) <= 2 * 480


def test_silence_is_scored_not_turned_into_nan(encoder) -> None:
    silent = np.zeros(SR, np.float32)
    assert np.array_equal(pe.prepare(silent, SR), silent)
    emb = pe.utterance_embeddings(encoder, [silent], SR)
    assert np.all(np.isfinite(emb))
    with pytest.raises(ValueError, match="non-empty 1-D wave"):
        pe.prepare(np.zeros(0, np.float32), SR)


def test_selection_reads_dev_only() -> None:
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    # Dimension 0 separates the classes on train and dev; eval is pure noise.
    train, dev = (rng.normal(size=(40, 6)) + 2.0 * y[:, None] * np.eye(6)[0] for _ in range(2))
    eval_ = rng.normal(size=(40, 6))
    grid = (["logreg", "svm"], [0.01, 0.1, 1.0])
    a = pe.select_on_dev(train, y, dev, y, eval_, *grid, seed=0)
    b = pe.select_on_dev(train, y, dev, y, eval_[rng.permutation(40)] * -3.0, *grid, seed=0)
    assert (a.classifier, a.c, a.dev_eer) == (b.classifier, b.c, b.dev_eer)
    assert np.array_equal(a.dev_scores, b.dev_scores)
    assert a.classifier in ("logreg", "svm") and a.c in grid[1]
    assert a.eval_scores.shape == (40,)
    with pytest.raises(ValueError, match="dev targets must hold both"):
        pe.select_on_dev(train, y, dev, np.zeros(40, int), eval_, *grid, seed=0)
    with pytest.raises(ValueError, match="unknown classifier 'rf'"):
        pe.select_on_dev(train, y, dev, y, eval_, ["rf"], [1.0], seed=0)


def test_the_baseline_separates_a_toy_task_and_writes_score_files(tmp_path) -> None:
    cfg = PretrainedEmbeddingConfig(enabled=True, classifiers=("logreg", "svm"), c_grid=(0.1, 1.0))
    sets = {s: toy_split(100 * k) for k, s in enumerate(SPLITS)}
    waves = {s: w for s, (w, _) in sets.items()}
    targets = {s: y for s, (_, y) in sets.items() if s != "eval"}
    sel = pe.embed_select_score(waves, targets, SR, cfg, seed=0)
    y_eval = sets["eval"][1]
    assert sel.dev_eer <= 0.25
    assert sel.eval_scores[y_eval == 1].mean() > sel.eval_scores[y_eval == 0].mean()

    index = {s: pd.DataFrame({"utt_id": [f"{s}{i}" for i in range(len(y))],
                              "label": np.where(y == 1, "bonafide", "spoof"),
                              "attack": np.where(y == 1, "-", "A1"), "speaker": "s1"})
             for s, (_, y) in sets.items()}
    cal = fit_calibration("logistic", sel.dev_scores, sets["dev"][1])
    write_scores(tmp_path, system="pretrained_embedding", tables={
        "dev": score_table(index["dev"], cal.apply(sel.dev_scores)),
        "eval": score_table(index["eval"], cal.apply(sel.eval_scores))})
    files = baseline_files(tmp_path)["pretrained_embedding"]
    for split in ("dev", "eval"):
        table = read_scores(files[split])
        assert tuple(table.columns) == SCORE_COLUMNS
        assert list(table["utt_id"]) == list(index[split]["utt_id"])
        assert np.all(np.isfinite(table["score"]))


def test_lstm_macs_match_a_step_by_step_lstm_under_the_flop_counter() -> None:
    lstm = torch.nn.LSTM(5, 7, num_layers=2, batch_first=True)
    x = torch.randn(3, 4, 5)  # (batch, steps, features)

    def unrolled() -> None:
        inp = x
        for k in range(lstm.num_layers):
            w_ih, w_hh = getattr(lstm, f"weight_ih_l{k}"), getattr(lstm, f"weight_hh_l{k}")
            h = c = torch.zeros(3, 7)
            outs = []
            for t in range(inp.shape[1]):
                i, f, g, o = (F.linear(inp[:, t], w_ih) + F.linear(h, w_hh)).chunk(4, dim=1)
                c = f.sigmoid() * c + i.sigmoid() * g.tanh()
                h = o.sigmoid() * c.tanh()
                outs.append(h)
            inp = torch.stack(outs, dim=1)

    assert embedding_cost.lstm_macs(lstm, batch=3, steps=4) == count_macs(unrolled)


def test_profile_entry_has_every_cost_column(monkeypatch) -> None:
    def fake_energy(label: str, fn) -> dict:
        return {"measured": True, "energy_kwh": 2e-6}  # CodeCarbon itself is tested elsewhere

    monkeypatch.setattr(embedding_cost, "energy_of", fake_energy)
    out = embedding_cost.embedding_cost([1.0], [1], SR, warmup=0, runs=2, seed=0)
    for key in ("1s_1t_p50_ms", "1s_1t_p95_ms", "1s_1t_rtf", "params", "state_dict_bytes",
                "macs_per_audio_s", "peak_rss_mb", "energy_kwh_per_1000_utt"):
        assert f"pretrained_embedding_{key}" in out, key
    assert out["pretrained_embedding_params"] > 1_000_000  # 3 LSTM layers of 256 + projection
    # The LSTM dominates: far more than the one Linear layer the FLOP counter sees alone.
    assert out["pretrained_embedding_macs_per_audio_s"] > 10 * 256 * 256
    assert out["pretrained_embedding_energy_kwh_per_1000_utt"] == pytest.approx(
        2e-6 * 1000 / embedding_cost.ENERGY_CALLS)


def test_the_stage_gets_the_result_and_its_energy_record() -> None:
    result, record = result_and_energy("unit", lambda: sum(i * i for i in range(100_000)))
    assert result == sum(i * i for i in range(100_000))
    assert record["duration_s"] >= 0
    assert ("energy_kwh" in record) if record["measured"] else record["reason"]
    with pytest.raises(ZeroDivisionError):
        result_and_energy("unit", lambda: 1 / 0)
