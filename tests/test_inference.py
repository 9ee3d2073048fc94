"""Inference: training's crops and windows, calibration and threshold, checkpoint loading."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from spectcontra.config import VIEWS, EncoderConfig
from spectcontra.conventions import BONAFIDE, SPOOF
from spectcontra.features.clips import WINDOW_BATCH, window_starts
from spectcontra.features.store import FeatureStoreError
from spectcontra.inference.torch_detector import CheckpointError, Detector
from spectcontra.inference.whole_file import whole_file_logits
from spectcontra.models.checkpoint import load_checkpoint, save_checkpoint
from spectcontra.models.detector import SpoofDetector

torch.set_num_threads(1)

SR = 8000
CROP_S = 0.5
CROP = int(SR * CROP_S)
N_BINS = 16
TINY = EncoderConfig(channels=(4, 8), embed_dim=16, heads=2, dropout=0.1)
NO_CALIBRATION = {"method": "none", "a": 1.0, "b": 0.0, "temperature": 1.0}


def feature_settings(trim_silence: bool = False) -> dict:
    """A feature store's settings.json for 8 kHz, 0.5 s crops and 16 bins per view."""
    rng = np.random.default_rng(0)
    stats = {v: {"mean": rng.normal(-6.0, 1.0, N_BINS).tolist(),
                 "std": rng.uniform(1.0, 3.0, N_BINS).tolist()} for v in VIEWS}
    return {"sample_rate": SR, "crop_seconds": CROP_S, "n_fft": 256, "hop_length": 40,
            "n_mels": N_BINS, "n_linear": N_BINS, "trim_silence": trim_silence, "trim_db": 40.0,
            "views": list(VIEWS), "stats": stats, "signal_augment": False}


def make_checkpoint(path: Path, calibration: dict | None = None, threshold: float = 0.0,
                    trim_silence: bool = False) -> Path:
    """A seeded random-weight detector saved as the finetune stage would save it."""
    torch.manual_seed(0)
    detector = SpoofDetector(TINY, VIEWS, N_BINS, head="mlp", head_hidden=8).eval()
    extra = {"features": feature_settings(trim_silence),
             "calibration": calibration or NO_CALIBRATION, "threshold": threshold,
             "dev_eer": 0.1, "pretrain": {}, "finetune": {}}
    save_checkpoint(path, detector, extra)
    return path


def speech_like(seconds: float, seed: int = 0, sr: int = SR) -> np.ndarray:
    """Harmonics with a wandering pitch plus noise: a clip whose windows differ."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    f0 = 140 + 40 * np.sin(2 * np.pi * 1.3 * t + seed)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    wave = sum(np.sin(k * phase) / k for k in range(1, 6)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    return (0.2 * wave + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def write_wav(path: Path, wave: np.ndarray, sr: int = SR) -> Path:
    sf.write(path, wave, sr)
    return path


@pytest.fixture
def detector(tmp_path: Path) -> Detector:
    return Detector.load(make_checkpoint(tmp_path / "detector.pt"))


def oracle_score(det: Detector, wave: np.ndarray) -> float:
    """Uncalibrated score computed one crop at a time, with explicit tiling and windows."""
    if wave.size <= CROP:
        crops = [np.tile(wave, math.ceil(CROP / wave.size))[:CROP]]
    else:
        starts = list(range(0, wave.size - CROP + 1, CROP // 2))
        if starts[-1] + CROP < wave.size:
            starts.append(wave.size - CROP)
        crops = [wave[s:s + CROP] for s in starts]
    with torch.no_grad():
        return float(np.mean([det.model(det.features(c[None])).item() for c in crops]))


# --------------------------------------------------------------------------- windows


def test_window_starts_cover_the_clip_and_end_flush():
    assert window_starts(100, 40, 20).tolist() == [0, 20, 40, 60]
    assert window_starts(105, 40, 20).tolist() == [0, 20, 40, 60, 65]  # tail window
    assert window_starts(40, 40, 20).tolist() == [0]
    assert window_starts(7, 40, 20).tolist() == [0]
    with pytest.raises(ValueError):
        window_starts(100, 0, 20)


# --------------------------------------------------------------------------- scores


@pytest.mark.parametrize("seconds", [0.1, CROP_S, 0.8, 5.0])
def test_score_matches_crop_by_crop_oracle(detector, seconds):
    # 0.1 s is tiled, 0.5 s is exactly one crop, 0.8 s has a tail window, and 5 s has
    # more windows than one batch holds.
    wave = speech_like(seconds)
    if seconds == 5.0:
        assert len(window_starts(wave.size, CROP, CROP // 2)) > WINDOW_BATCH
    got = detector.score_wave(wave)
    assert np.isfinite(got)
    assert got == pytest.approx(oracle_score(detector, wave), rel=1e-5, abs=1e-6)


def test_score_is_deterministic_across_calls_and_loads(tmp_path, detector):
    wave = speech_like(1.3, seed=3)
    again = Detector.load(make_checkpoint(tmp_path / "again.pt"))
    assert detector.score_wave(wave) == detector.score_wave(wave) == again.score_wave(wave)


def test_different_clips_get_different_scores(detector):
    assert detector.score_wave(speech_like(1.0, seed=1)) != detector.score_wave(
        speech_like(1.0, seed=2))


def test_window_scores_count_and_centre_times(detector):
    times, scores = detector.window_scores(speech_like(1.0), 0.25, 0.125)
    np.testing.assert_allclose(times, 0.125 + 0.125 * np.arange(7))
    assert scores.shape == (7,) and np.isfinite(scores).all()
    times, _ = detector.window_scores(speech_like(1.05), 0.25, 0.125)
    assert len(times) == 8 and times[-1] == pytest.approx(1.05 - 0.125)
    times, _ = detector.window_scores(speech_like(0.1), 0.25, 0.125)
    np.testing.assert_allclose(times, [0.05])  # one window: the whole (tiled) clip


def test_a_window_scores_like_a_clip_of_that_length(detector):
    wave = speech_like(0.25, seed=4)
    _, scores = detector.window_scores(wave, 0.25, 0.1)
    assert scores[0] == pytest.approx(detector.score_wave(wave), rel=1e-6)


def test_window_longer_than_the_crop_is_refused(detector):
    with pytest.raises(ValueError, match="longer than the 0.5 s crop"):
        detector.window_scores(speech_like(2.0), 0.6, 0.1)


@pytest.mark.parametrize("calibration, expected", [
    ({"method": "logistic", "a": 2.0, "b": 1.0, "temperature": 1.0}, lambda s: 2 * s + 1),
    ({"method": "temperature", "a": 1.0, "b": 0.0, "temperature": 4.0}, lambda s: s / 4),
])
def test_calibration_from_the_checkpoint_is_applied(tmp_path, detector, calibration, expected):
    calibrated = Detector.load(make_checkpoint(tmp_path / "cal.pt", calibration))
    wave = speech_like(1.2, seed=5)
    raw = detector.score_wave(wave)
    assert calibrated.score_wave(wave) == pytest.approx(expected(raw), rel=1e-6)
    _, raw_windows = detector.window_scores(wave, 0.25, 0.25)
    _, cal_windows = calibrated.window_scores(wave, 0.25, 0.25)
    np.testing.assert_allclose(cal_windows, expected(raw_windows), rtol=1e-6)


def test_threshold_decides_and_probability_is_the_sigmoid(tmp_path, detector):
    s = detector.score_wave(speech_like(0.7))
    low = Detector.load(make_checkpoint(tmp_path / "low.pt", threshold=s - 0.01))
    high = Detector.load(make_checkpoint(tmp_path / "high.pt", threshold=s + 0.01))
    assert low.decide(s) == BONAFIDE and high.decide(s) == SPOOF
    assert high.decide(s + 0.01) == SPOOF  # at the threshold: not above it
    assert detector.prob_bonafide(0.0) == 0.5
    assert detector.prob_bonafide(2.0) == pytest.approx(1 / (1 + math.exp(-2.0)))
    found = low.detect(speech_like(0.7))
    assert found.score == pytest.approx(s) and found.decision == BONAFIDE
    assert found.latency_ms > 0 and found.audio_seconds == pytest.approx(0.7)


# --------------------------------------------------------------------------- loading


def test_properties(tmp_path):
    path = make_checkpoint(tmp_path / "m.pt")
    det = Detector.load(path)
    assert det.n_parameters == sum(p.numel() for p in det.model.parameters()) > 1000
    assert det.model_bytes == path.stat().st_size
    assert det.sample_rate == SR and det.crop_samples == CROP and det.views == VIEWS
    assert det.features(speech_like(CROP_S))["mel"].shape == (1, N_BINS, det.crop_frames)


def test_load_wave_resamples_mixes_and_trims_as_training_did(tmp_path):
    stereo = np.stack([speech_like(0.6, sr=16000), speech_like(0.6, seed=1, sr=16000)], axis=1)
    path = write_wav(tmp_path / "stereo.wav", stereo, sr=16000)
    wave = Detector.load(make_checkpoint(tmp_path / "a.pt")).load_wave(path)
    assert wave.shape == (int(0.6 * SR),)
    padded = np.concatenate([np.zeros(SR, np.float32), speech_like(0.6), np.zeros(SR, np.float32)])
    trimmer = Detector.load(make_checkpoint(tmp_path / "t.pt", trim_silence=True))
    trimmed = trimmer.load_wave(write_wav(tmp_path / "padded.wav", padded))
    assert 0.55 * SR < trimmed.size < 0.7 * SR


def test_missing_and_corrupt_checkpoints_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        Detector.load(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pt"):
        Detector.load(bad)


def test_dev_and_eval_are_scored_through_the_path_detect_ships(tmp_path):
    """whole_file_logits (what finetune publishes) == the loaded detector's score_wave (what
    `spectcontra detect` prints), file by file, for short, crop-length and long clips."""
    calibration = {"method": "logistic", "a": 1.7, "b": -0.3, "temperature": 1.0}
    ckpt = make_checkpoint(tmp_path / "d.pt", calibration=calibration)
    rows = []
    for i, seconds in enumerate((0.3, CROP_S, 1.37, 2.0)):
        sf.write(tmp_path / f"u{i}.wav", speech_like(seconds, seed=i), SR, subtype="FLOAT")
        rows.append({"utt_id": f"u{i}", "path": f"u{i}.wav", "split": "eval"})
    protocol = pd.DataFrame(rows)
    model, extra = load_checkpoint(ckpt)
    logits = whole_file_logits(model, extra["features"], {"eval": protocol}, protocol, tmp_path)
    shipped = Detector.load(ckpt)
    expected = [shipped.score_wave(shipped.load_wave(tmp_path / r["path"])) for r in rows]
    np.testing.assert_allclose(shipped.calibration.apply(logits["eval"]), expected, atol=1e-9)
    assert len(set(np.round(logits["eval"], 6))) == len(rows)  # the clips really differ


def test_whole_file_scoring_refuses_utterances_missing_from_the_protocol(tmp_path):
    model, extra = load_checkpoint(make_checkpoint(tmp_path / "d.pt"))
    protocol = pd.DataFrame({"utt_id": ["a"], "path": ["a.wav"]})
    with pytest.raises(FeatureStoreError, match="'b'"):
        whole_file_logits(model, extra["features"], {"dev": pd.DataFrame({"utt_id": ["b"]})},
                          protocol, tmp_path)
