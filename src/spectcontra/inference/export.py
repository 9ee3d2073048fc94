"""Export a detector checkpoint as one ONNX graph: waveform (batch, samples) -> calibrated score."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from spectcontra.audio import SILENCE_PEAK
from spectcontra.conventions import MAX_AUDIO_SECONDS, OVERLAY_HOP_SECONDS, OVERLAY_WINDOW_SECONDS
from spectcontra.evaluation.calibration import Calibration
from spectcontra.features.clips import WINDOW_BATCH
from spectcontra.features.spectral import LOG_EPS
from spectcontra.inference.onnx_detector import (
    INPUT_NAME,
    METADATA_KEY,
    METADATA_VERSION,
    OUTPUT_NAME,
    OnnxDetector,
)
from spectcontra.inference.torch_detector import Detector
from spectcontra.io_utils import atomic_path, write_json_atomic

# LayerNormalization needs opset 17; 18 is within every current onnxruntime, WebAssembly included.
ONNX_OPSET = 18
VERIFY_BATCH = 2  # crops scored by both runtimes before the file is written
VERIFY_ATOL = 1e-3  # calibrated-score units (nats of LLR)
BROWSER_SETTINGS_FORMAT = "spectcontra-browser"  # web/src/detector.js checks both
BROWSER_SETTINGS_VERSION = 1


def calibration_affine(calibration: Calibration) -> tuple[float, float]:
    """(slope, offset) with ``calibration.apply(x) == slope * x + offset``.

    Every calibration here (logistic, temperature, none) is affine, so two points fix it, and
    the mean of calibrated window scores equals the calibrated mean window logit.
    """
    at = calibration.apply(np.array([0.0, 1.0]))
    return float(at[1] - at[0]), float(at[0])


class DftPowerSpectrogram(nn.Module):
    """Waveform (batch, samples) -> power spectrogram (batch, n_fft // 2 + 1, frames).

    torchaudio's centred, reflect-padded, one-sided ``Spectrogram(power=2)`` as one strided
    Conv1d whose kernels are the window times the DFT's cosine and sine rows. onnxruntime's
    STFT operator ran ~5x slower than this GEMM on one CPU thread, and the browser's WebGPU
    backend has no STFT kernel at all, while every ONNX runtime has Conv.
    """

    def __init__(self, n_fft: int, hop_length: int, window: Tensor):
        super().__init__()
        if n_fft < 2 or hop_length < 1 or window.shape != (n_fft,):
            raise ValueError(f"need n_fft >= 2, hop_length >= 1 and an (n_fft,) window, got "
                             f"{n_fft}, {hop_length}, {tuple(window.shape)}")
        self.n_fft, self.hop_length = n_fft, hop_length
        self.n_freqs = n_fft // 2 + 1
        n = torch.arange(n_fft, dtype=torch.float64)
        k = torch.arange(self.n_freqs, dtype=torch.float64)
        angle = 2 * math.pi * k[:, None] * n[None, :] / n_fft  # (n_freqs, n_fft)
        win = window.detach().to(torch.float64)
        basis = torch.cat([torch.cos(angle) * win, torch.sin(angle) * win])  # (2 n_freqs, n_fft)
        self.register_buffer("basis", basis.to(torch.float32)[:, None, :])  # (2 n_freqs, 1, n_fft)

    def forward(self, wave: Tensor) -> Tensor:
        half = self.n_fft // 2
        padded = F.pad(wave[:, None, :], (half, half), mode="reflect")  # (batch, 1, samples')
        parts = F.conv1d(padded, self.basis, stride=self.hop_length)  # (batch, 2 n_freqs, frames)
        squared = parts * parts
        return squared[:, :self.n_freqs] + squared[:, self.n_freqs:]  # re^2 + im^2


class WaveToScore(nn.Module):
    """Waveform (batch, samples) -> calibrated score (batch,): the :class:`Detector` path.

    Power spectrogram, the extractor's own mel / linear filterbank matrices, log, the
    train-statistics normalisation, the network and the affine calibration, in one module so
    one ONNX graph carries all of it. Only the views the network reads are computed.
    """

    def __init__(self, detector: Detector):
        super().__init__()
        spec = detector.extractor.spectrogram
        # DftPowerSpectrogram re-states torchaudio's Spectrogram; refuse any setting it does
        # not reproduce rather than export features the model never saw.
        if not (spec.power == 2.0 and spec.center and not spec.normalized and spec.onesided
                and spec.pad == 0 and spec.pad_mode == "reflect" and spec.win_length == spec.n_fft):
            raise ValueError(f"unsupported spectrogram settings for ONNX export: {spec}")
        self.power = DftPowerSpectrogram(spec.n_fft, spec.hop_length, spec.window)
        self.views = detector.views
        banks = {"mel": detector.extractor.mel.fb, "linear": detector.extractor.linear_fb}
        for view in self.views:
            mean, std = detector.stats[view]
            self.register_buffer(f"fb_{view}", banks[view].detach().clone())  # (n_freqs, bins)
            self.register_buffer(f"mean_{view}", torch.from_numpy(mean.copy())[:, None])
            self.register_buffer(f"std_{view}", torch.from_numpy(std.copy())[:, None])
        self.model = detector.model.eval()
        self.slope, self.offset = calibration_affine(detector.calibration)

    def forward(self, wave: Tensor) -> Tensor:
        power = self.power(wave)  # (batch, n_freqs, frames)
        feats = {}
        for view in self.views:
            fb = getattr(self, f"fb_{view}")
            bands = torch.matmul(power.transpose(1, 2), fb).transpose(1, 2)  # (batch, bins, frames)
            log = torch.log(bands + LOG_EPS)
            feats[view] = (log - getattr(self, f"mean_{view}")) / getattr(self, f"std_{view}")
        return self.model(feats) * self.slope + self.offset  # (batch,)


def strip_debug_metadata(proto: onnx.ModelProto) -> None:
    """Drop the exporter's per-node and per-value debug metadata, in place.

    It is source stack traces with absolute paths: ~150 KB per file, and bytes that would
    change with the checkout location, so the same checkpoint would export differently.
    """
    graph = proto.graph
    for item in (*graph.node, *graph.input, *graph.output, *graph.value_info, *graph.initializer):
        del item.metadata_props[:]


def onnx_metadata(detector: Detector) -> dict[str, Any]:
    """Everything the torch-free scorer needs besides the graph, as plain JSON types."""
    return {
        "version": METADATA_VERSION,
        "sample_rate": detector.sample_rate,
        "crop_samples": detector.crop_samples,
        "threshold": detector.threshold,
        "calibration": detector.calibration.as_dict(),
        "views": list(detector.views),
        "trim_silence": detector.feature_cfg.trim_silence,
        "trim_db": detector.feature_cfg.trim_db,
        "n_parameters": detector.n_parameters,
    }


def browser_settings_path(onnx_path: Path) -> Path:
    """Where :func:`browser_settings` go: beside the model, ``detector.onnx`` -> ``detector.json``."""
    return Path(onnx_path).with_suffix(".json")


def browser_settings(detector: Detector, model_file: str, overlay_window_s: float,
                     overlay_hop_s: float) -> dict[str, Any]:
    """What web/ (onnxruntime-web, which cannot read metadata_props) needs beside the graph.

    Every window is in samples, so the page rounds nothing itself: the whole-file score's
    crop windows every half crop (``score_wave``) and the overlay's windows (as
    ``Detector.window_scores``), the overlay window capped at the crop as the explain stage
    caps it. Audio refusals follow :func:`spectcontra.audio.load_audio`.
    """
    sr, crop = detector.sample_rate, detector.crop_samples
    window = min(int(round(overlay_window_s * sr)), crop)
    hop = int(round(overlay_hop_s * sr))
    if window < 1 or hop < 1:
        raise ValueError(f"overlay window {overlay_window_s} s and hop {overlay_hop_s} s must "
                         "each span a sample")
    return {
        "format": BROWSER_SETTINGS_FORMAT,
        "version": BROWSER_SETTINGS_VERSION,
        "model_file": model_file,
        "input_name": INPUT_NAME,
        "output_name": OUTPUT_NAME,
        "sample_rate": sr,
        "crop_samples": crop,
        "score_window_samples": crop,
        "score_hop_samples": crop // 2,
        "overlay_window_samples": window,
        "overlay_hop_samples": hop,
        "window_batch": WINDOW_BATCH,
        "threshold": detector.threshold,
        "calibration": detector.calibration.as_dict(),  # already inside the graph; for display
        "trim_silence": detector.feature_cfg.trim_silence,
        "trim_db": detector.feature_cfg.trim_db,
        "max_seconds": MAX_AUDIO_SECONDS,
        "silence_peak": SILENCE_PEAK,
        "n_fft": detector.feature_cfg.n_fft,  # the page's spectrogram picture
        "hop_length": detector.feature_cfg.hop_length,
        "n_parameters": detector.n_parameters,
    }


def export_onnx(checkpoint_path: Path, out_path: Path, settings_path: Path | None = None,
                overlay_window_s: float = OVERLAY_WINDOW_SECONDS,
                overlay_hop_s: float = OVERLAY_HOP_SECONDS) -> dict[str, Any]:
    """Write the checkpoint as one ONNX graph ``wave`` (batch, samples) -> ``score`` (batch,).

    The batch axis is dynamic; samples are fixed at the training crop, the only length the
    clip policy ever feeds (every file is scored as crop-length windows, see
    :mod:`spectcontra.features.clips`), which also keeps torch.export from having to prove
    shape guards of the strided stem and ceil-mode pooling for every length. Sample rate,
    crop, threshold and calibration go into
    the model's metadata_props (key :data:`METADATA_KEY`, one JSON value), so the file alone
    serves :class:`OnnxDetector`. The graph is scored by onnxruntime against the torch
    :class:`Detector` on seeded noise before it replaces ``out_path``; a mismatch raises.
    The same settings, plus the windows, go to ``settings_path`` (default
    :func:`browser_settings_path`) for the web app, once the graph has passed that check.
    Returns the file size, opset and that check's largest difference.
    """
    checkpoint_path, out_path = Path(checkpoint_path), Path(out_path)
    detector = Detector.load(checkpoint_path)
    module = WaveToScore(detector).eval()
    rng = np.random.default_rng(0)
    example = (0.1 * rng.standard_normal((VERIFY_BATCH, detector.crop_samples))).astype(np.float32)
    with torch.no_grad():
        program = torch.onnx.export(
            module, (torch.from_numpy(example),), dynamo=True, opset_version=ONNX_OPSET,
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], verbose=False,
            dynamic_shapes=({0: torch.export.Dim("batch")},),
        )
    proto = program.model_proto
    strip_debug_metadata(proto)
    onnx.helper.set_model_props(proto, {METADATA_KEY: json.dumps(onnx_metadata(detector))})
    onnx.checker.check_model(proto)
    with atomic_path(out_path) as tmp:
        onnx.save_model(proto, tmp)
        got = OnnxDetector.load(tmp).score_batch(example)
        want = np.array([detector.score_wave(crop) for crop in example])
        diff = float(np.max(np.abs(got - want)))
        if not diff <= VERIFY_ATOL:
            raise RuntimeError(f"ONNX export of {checkpoint_path} disagrees with the torch "
                               f"detector by {diff:.3g} (> {VERIFY_ATOL:g}); "
                               f"not writing {out_path}")
        size = tmp.stat().st_size
    write_json_atomic(settings_path or browser_settings_path(out_path),
                      browser_settings(detector, out_path.name, overlay_window_s, overlay_hop_s))
    return {"onnx_bytes": size, "opset": ONNX_OPSET, "max_abs_diff_vs_torch": round(diff, 7),
            "n_parameters": detector.n_parameters}
