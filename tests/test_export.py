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

from spectcontra.audio import AudioError, load_audio
from spectcontra.evaluation.calibration import Calibration
from spectcontra.features.clips import WINDOW_BATCH, window_starts
from spectcontra.inference import export as export_module
from spectcontra.inference.export import (
    DftPowerSpectrogram,
    calibration_affine,
    export_onnx,
)
from spectcontra.inference.onnx_detector import ModelFileError, OnnxDetector
from spectcontra.inference.torch_detector import Detector
from spectcontra.profiling.probe import main
from tests.test_inference import (
    CROP,
    CROP_S,
    SR,
    make_checkpoint,
    speech_like,
    write_wav,
)

LOGISTIC = {"method": "logistic", "a": 1.7, "b": -0.3, "temperature": 1.0}
SCORE_ATOL = 1e-4  # calibrated-score units; float32 DFT-by-GEMM vs torch's FFT
RESAMPLED_SCORE_ATOL = 0.05  # plus scipy polyphase vs torchaudio sinc resampling: ~0.02 measured


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
    assert report["n_parameters"] == detector.n_parameters == onnx_detector.n_parameters
    assert onnx_detector.model_bytes == path.stat().st_size
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



@pytest.mark.parametrize("batch", [1, 3, 17])
def test_batch_axis_is_dynamic_and_samples_are_the_training_crop(exported, onnx_detector, batch):
    detector = exported[0]
    waves = np.stack([speech_like(CROP / SR, seed=s)[:CROP] for s in range(batch)])
    with torch.inference_mode():
        logits = detector.model(detector.features(waves)).numpy().astype(np.float64)
    got = onnx_detector.score_batch(waves)
    assert got.shape == (batch,)
    np.testing.assert_allclose(got, detector.calibration.apply(logits), rtol=0, atol=SCORE_ATOL)
    with pytest.raises(Exception, match="(?i)dimension|shape"):
        onnx_detector.score_batch(waves[:, : CROP // 2])  # the clip policy never feeds this


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


def test_scoring_a_resampled_trimmed_file_imports_no_torch(exported, tmp_path):
    # Another rate and silence trimming: the two routes that used to need torch.
    path = write_wav(tmp_path / "fast.wav", speech_like(0.6, sr=22050), sr=22050)
    code = ("import sys\n"
            "from spectcontra.inference.onnx_detector import OnnxDetector\n"
            f"det = OnnxDetector.load({str(exported[1])!r})\n"
            "det.trim_silence = True\n"
            f"det.score_wave(det.load_wave({str(path)!r}))\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_load_wave_matches_the_torch_detector_at_the_model_rate(exported, onnx_detector,
                                                                 tmp_path):
    stereo = np.stack([speech_like(0.6, seed=1), 0.5 * speech_like(0.6, seed=2)], axis=1)
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo, SR, subtype="FLOAT")
    np.testing.assert_array_equal(onnx_detector.load_wave(path), exported[0].load_wave(path))


def test_load_wave_resamples_without_torch_to_nearly_the_same_score(exported, onnx_detector,
                                                                     tmp_path):
    path = write_wav(tmp_path / "fast.wav", speech_like(2.0, sr=22050), sr=22050)
    wave = onnx_detector.load_wave(path)
    torch_wave = exported[0].load_wave(path)
    assert wave.dtype == np.float32 and wave.shape == torch_wave.shape
    # Two different resampling filters: equal in the passband, not to the last bit, so the
    # scores differ by a little more than the graph's own float error.
    assert np.corrcoef(wave, torch_wave)[0, 1] > 0.99
    assert onnx_detector.score_wave(wave) == pytest.approx(
        exported[0].score_wave(torch_wave), abs=RESAMPLED_SCORE_ATOL)


@pytest.mark.parametrize("kind", ["garbage", "silent", "missing"])
def test_unusable_audio_is_refused_by_name_like_the_torch_loader(tmp_path, onnx_detector, kind):
    path = tmp_path / f"{kind}.wav"
    if kind == "garbage":
        path.write_bytes(b"RIFF\x00\x00not really a wave file")
    elif kind == "silent":
        write_wav(path, np.zeros(SR // 2, dtype=np.float32))
    with pytest.raises(AudioError, match=str(path)):
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
    expected = onnx_detector.score_wave(onnx_detector.load_wave(path))
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


def test_a_trimming_model_trims_like_the_torch_detector(exported, tmp_path):
    trimming = Detector.load(make_checkpoint(tmp_path / "trim.pt", LOGISTIC, threshold=0.25,
                                             trim_silence=True))
    # Same seeded weights and statistics as the exported model; only the flag differs.
    metadata = export_module.onnx_metadata(trimming)
    onnx_trimming = OnnxDetector(OnnxDetector.load(exported[1]).session, metadata)
    quiet = np.zeros(SR // 2, dtype=np.float32)
    path = write_wav(tmp_path / "clip.wav", np.concatenate([quiet, speech_like(0.6), quiet]))
    wave = onnx_trimming.load_wave(path)
    np.testing.assert_array_equal(wave, trimming.load_wave(path))
    assert wave.size < SR  # the silence went
    assert onnx_trimming.score_wave(wave) == pytest.approx(trimming.score_wave(wave),
                                                           abs=SCORE_ATOL)
