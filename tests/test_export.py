"""ONNX export: one graph from waveform to calibrated score, scored torch-free like the Detector."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from spectcontra import export as export_module
from spectcontra.audio import AudioError, load_audio
from spectcontra.calibration import Calibration
from spectcontra.export import DftPowerSpectrogram, calibration_affine, export_onnx
from spectcontra.features import crop_or_pad
from spectcontra.inference import WINDOW_BATCH, Detector, window_starts
from spectcontra.onnx_inference import (AudioFileError, ModelFileError, OnnxDetector, main,
                                        read_audio, tile_to)
from spectcontra.onnx_inference import window_starts as onnx_window_starts
from tests.test_inference import CROP, CROP_S, SR, make_checkpoint, speech_like, write_wav

LOGISTIC = {"method": "logistic", "a": 1.7, "b": -0.3, "temperature": 1.0}
SCORE_ATOL = 1e-4  # calibrated-score units; float32 DFT-by-GEMM vs torch's FFT


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Detector, Path, dict]:
    # One export for the module: tracing and translating the graph takes seconds.
    root = tmp_path_factory.mktemp("export")
    checkpoint = make_checkpoint(root / "detector.pt", LOGISTIC, threshold=0.25)
    out = root / "nested" / "detector.onnx"
    report = export_onnx(checkpoint, out)
    return Detector.load(checkpoint), out, report


@pytest.fixture(scope="module")
def onnx_detector(exported) -> OnnxDetector:
    return OnnxDetector.load(exported[1])


# --------------------------------------------------------------------------- graph pieces


def test_dft_power_spectrogram_matches_torchaudio(exported):
    extractor = exported[0].extractor
    spec = extractor.spectrogram
    dft = DftPowerSpectrogram(spec.n_fft, spec.hop_length, spec.window)
    waves = torch.from_numpy(np.stack([speech_like(0.7, seed=s) for s in range(3)]))
    want = spec(waves)
    got = dft(waves)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5 * float(want.abs().max()))


def test_calibration_affine_reproduces_every_method():
    x = np.array([-3.0, 0.0, 2.5])
    for cal in (Calibration(**LOGISTIC), Calibration("temperature", temperature=0.4),
                Calibration("none")):
        slope, offset = calibration_affine(cal)
        np.testing.assert_allclose(slope * x + offset, cal.apply(x), rtol=1e-12)


# --------------------------------------------------------------------------- parity


def test_export_report_and_metadata(exported, onnx_detector):
    detector, path, report = exported
    assert report["onnx_bytes"] == path.stat().st_size
    assert report["opset"] == export_module.ONNX_OPSET
    assert report["max_abs_diff_vs_torch"] <= export_module.VERIFY_ATOL
    assert report["n_parameters"] == detector.n_parameters
    assert (onnx_detector.sample_rate, onnx_detector.crop_samples) == (SR, CROP)
    assert onnx_detector.threshold == detector.threshold == 0.25
    assert Calibration(**onnx_detector.calibration) == detector.calibration
    assert detector.calibration == Calibration(**LOGISTIC)
    assert not list(path.parent.glob(".*.tmp"))  # the atomic write left no temporary file


@pytest.mark.parametrize("seconds", [0.1, CROP_S, 0.8, 5.0])
def test_onnx_scores_match_torch_detector(exported, onnx_detector, seconds):
    # Tiled, exactly one crop, a tail window, and more windows than one batch holds.
    wave = speech_like(seconds, seed=7)
    if seconds == 5.0:
        assert len(window_starts(wave.size, CROP, CROP // 2)) > WINDOW_BATCH
    want = exported[0].score_wave(wave)
    assert onnx_detector.score_wave(wave) == pytest.approx(want, abs=SCORE_ATOL)


def test_decisions_and_probabilities_match_torch_detector(exported, onnx_detector):
    detector = exported[0]
    for score in (-40.0, -1.0, 0.25, 0.2500001, 3.0, 800.0):
        assert onnx_detector.decide(score) == detector.decide(score)
        assert onnx_detector.prob_bonafide(score) == pytest.approx(
            detector.prob_bonafide(score), abs=1e-12)


@pytest.mark.parametrize(("batch", "samples"),
                         [(1, CROP), (3, CROP), (2, CROP + 123), (1, 3 * CROP)])
def test_batch_and_samples_axes_are_dynamic(exported, onnx_detector, batch, samples):
    detector = exported[0]
    waves = np.stack([speech_like(samples / SR, seed=s)[:samples] for s in range(batch)])
    with torch.inference_mode():
        logits = detector.model(detector.features(waves)).numpy().astype(np.float64)
    got = onnx_detector.score_batch(waves)
    assert got.shape == (batch,)
    np.testing.assert_allclose(got, detector.calibration.apply(logits), rtol=0, atol=SCORE_ATOL)


def test_clip_policy_matches_the_torch_detector():
    for n in (1, 7, 39, 40, 41, 100, 105, 999):
        for window, hop in ((40, 20), (40, 40), (40, 13)):
            want = window_starts(n, window, hop).tolist()
            assert onnx_window_starts(n, window, hop).tolist() == want
        wave = np.arange(n, dtype=np.float32)
        if n <= 40:
            np.testing.assert_array_equal(tile_to(wave, 40), crop_or_pad(wave, 40, None))


def test_failed_verification_keeps_the_old_file(tmp_path, monkeypatch):
    checkpoint = make_checkpoint(tmp_path / "detector.pt")
    out = tmp_path / "detector.onnx"
    out.write_bytes(b"previous export")
    monkeypatch.setattr(export_module, "VERIFY_ATOL", -1.0)  # every difference now fails
    with pytest.raises(RuntimeError, match="disagrees with the torch detector"):
        export_onnx(checkpoint, out)
    assert out.read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["detector.onnx", "detector.pt"]


# --------------------------------------------------------------------------- torch-free runtime


def test_onnx_inference_imports_no_torch():
    code = "import spectcontra.onnx_inference, sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_read_audio_matches_the_torch_loader_at_the_model_rate(tmp_path):
    stereo = np.stack([speech_like(0.6, seed=1), 0.5 * speech_like(0.6, seed=2)], axis=1)
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo, SR, subtype="FLOAT")
    np.testing.assert_array_equal(read_audio(path, SR), load_audio(path, SR, 600.0))


def test_read_audio_resamples_to_the_model_rate(tmp_path):
    path = write_wav(tmp_path / "fast.wav", speech_like(0.6, sr=22050), sr=22050)
    wave = read_audio(path, SR)
    torch_wave = load_audio(path, SR, 600.0)
    assert wave.dtype == np.float32 and wave.shape == torch_wave.shape
    # Two different resampling filters: equal in the passband, not to the last bit.
    assert np.corrcoef(wave, torch_wave)[0, 1] > 0.99


@pytest.mark.parametrize("kind", ["garbage", "silent", "missing"])
def test_unusable_audio_is_refused_by_name_like_the_torch_loader(tmp_path, onnx_detector, kind):
    path = tmp_path / f"{kind}.wav"
    if kind == "garbage":
        path.write_bytes(b"RIFF\x00\x00not really a wave file")
    elif kind == "silent":
        write_wav(path, np.zeros(SR // 2, dtype=np.float32))
    with pytest.raises(AudioFileError, match=str(path)):
        onnx_detector.load_wave(path)
    with pytest.raises(AudioError):
        load_audio(path, SR, 600.0)


def test_cli_prints_score_then_peak_rss(exported, onnx_detector, tmp_path, capsys):
    wave = speech_like(1.2, seed=4)
    path = write_wav(tmp_path / "clip.wav", wave)
    assert main([str(exported[1]), str(path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    result, memory = json.loads(lines[0]), json.loads(lines[1])
    expected = onnx_detector.score_wave(read_audio(path, SR))
    assert result["file"] == str(path)
    assert result["score"] == pytest.approx(expected, abs=1e-6)
    assert result["decision"] == onnx_detector.decide(expected)
    assert memory["peak_rss_mb"] > 0


def test_cli_names_a_corrupt_audio_file(exported, tmp_path, capsys):
    path = tmp_path / "corrupt.wav"
    path.write_bytes(b"\x00\x01garbage" * 50)
    assert main([str(exported[1]), str(path)]) == 1
    err = capsys.readouterr().err
    assert f"bad audio file {path}" in err
    assert main([str(path), str(path)]) == 2  # an audio file given as the model
    assert f"model file {path}" in capsys.readouterr().err


def test_a_file_that_is_not_a_detector_is_refused_by_name(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not a protobuf")
    with pytest.raises(ModelFileError, match=str(path)):
        OnnxDetector.load(path)
    with pytest.raises(FileNotFoundError, match="absent.onnx"):
        OnnxDetector.load(tmp_path / "absent.onnx")


def test_a_trimming_model_refuses_files_rather_than_score_them_untrimmed(exported, tmp_path):
    session = OnnxDetector.load(exported[1]).session
    metadata = {"sample_rate": SR, "crop_samples": CROP, "threshold": 0.0,
                "calibration": LOGISTIC, "trim_silence": True}
    path = write_wav(tmp_path / "clip.wav", speech_like(0.6))
    with pytest.raises(NotImplementedError, match="trims silence"):
        OnnxDetector(session, metadata).load_wave(path)
