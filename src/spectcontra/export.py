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

from spectcontra.calibration import Calibration
from spectcontra.features import LOG_EPS
from spectcontra.inference import Detector
from spectcontra.io_utils import atomic_path
from spectcontra.onnx_inference import (INPUT_NAME, METADATA_KEY, METADATA_VERSION, OUTPUT_NAME,
                                        OnnxDetector)

# LayerNormalization needs opset 17; 18 is within every current onnxruntime, WebAssembly included.
ONNX_OPSET = 18
VERIFY_BATCH = 2  # crops scored by both runtimes before the file is written
VERIFY_ATOL = 1e-3  # calibrated-score units (nats of LLR)


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


def export_onnx(checkpoint_path: Path, out_path: Path) -> dict[str, Any]:
    """Write the checkpoint as one ONNX graph ``wave`` (batch, samples) -> ``score`` (batch,).

    Batch and samples are dynamic axes. Sample rate, crop, threshold and calibration go into
    the model's metadata_props (key :data:`METADATA_KEY`, one JSON value), so the file alone
    serves :class:`OnnxDetector`. The graph is scored by onnxruntime against the torch
    :class:`Detector` on seeded noise before it replaces ``out_path``; a mismatch raises.
    Returns the file size, opset and that check's largest difference.
    """
    checkpoint_path, out_path = Path(checkpoint_path), Path(out_path)
    detector = Detector.load(checkpoint_path)
    module = WaveToScore(detector).eval()
    rng = np.random.default_rng(0)
    example = (0.1 * rng.standard_normal((VERIFY_BATCH, detector.crop_samples))).astype(np.float32)
    # Reflect padding of the centred STFT needs more than n_fft // 2 samples.
    samples = torch.export.Dim("samples", min=module.power.n_fft // 2 + 1)
    with torch.no_grad():
        program = torch.onnx.export(
            module, (torch.from_numpy(example),), dynamo=True, opset_version=ONNX_OPSET,
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], verbose=False,
            dynamic_shapes=({0: torch.export.Dim("batch"), 1: samples},),
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
    return {"onnx_bytes": size, "opset": ONNX_OPSET, "max_abs_diff_vs_torch": round(diff, 7),
            "n_parameters": detector.n_parameters}
