"""Torch-free scoring of an exported ONNX detector: onnxruntime, numpy, soundfile and scipy only."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import soundfile as sf

from spectcontra.conventions import BONAFIDE, SPOOF

INPUT_NAME = "wave"  # (batch, samples) float32 at the model's sample rate
OUTPUT_NAME = "score"  # (batch,) calibrated LLR, higher = more bona fide
METADATA_KEY = "spectcontra"  # metadata_props key holding the JSON written by the exporter
METADATA_VERSION = 1
METADATA_FIELDS = ("sample_rate", "crop_samples", "threshold", "calibration", "trim_silence")
# As spectcontra.inference: crops per run, so memory stays flat however long the file is.
WINDOW_BATCH = 16
MAX_SECONDS = 600.0
# As spectcontra.audio, whose module imports torch (torchaudio resampling).
MIN_SAMPLE_RATE = 4000
SILENCE_PEAK = 1e-6


class ModelFileError(ValueError):
    """A file that exists but is not an ONNX detector written by ``spectcontra.export``."""


class AudioFileError(ValueError):
    """An audio file that cannot be scored; the message names the file and the reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"bad audio file {path}: {reason}")
        self.path = Path(path)
        self.reason = reason

    def __reduce__(self) -> tuple[type, tuple[Path, str]]:
        return (AudioFileError, (self.path, self.reason))


# --------------------------------------------------------------------------- clip policy
# The torch Detector's policy, kept numerically identical (tests/test_export.py checks both):
# a clip no longer than the crop is tiled to it; a longer one is cut into crop windows every
# half crop, the last flush with the end, and its score is the mean over windows.


def window_starts(n_samples: int, window: int, hop: int) -> np.ndarray:
    """Start offsets of ``window``-sample windows every ``hop``; the last ends flush."""
    if window < 1 or hop < 1 or n_samples < 1:
        raise ValueError(f"need n_samples, window, hop >= 1, got {n_samples}, {window}, {hop}")
    if n_samples <= window:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, n_samples - window + 1, hop, dtype=np.int64)
    if starts[-1] + window < n_samples:
        starts = np.append(starts, n_samples - window)
    return starts


def tile_to(wave: np.ndarray, n_samples: int) -> np.ndarray:
    """``wave`` repeated to exactly ``n_samples`` (tiling, not zero padding, as in training)."""
    if wave.size >= n_samples:
        return wave[:n_samples]
    return np.tile(wave, -(-n_samples // wave.size))[:n_samples]


def check_wave(wave: np.ndarray) -> np.ndarray:
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1 or wave.size == 0:
        raise ValueError(f"expected a non-empty 1-D waveform, got shape {wave.shape}")
    return wave


# --------------------------------------------------------------------------- audio


def read_audio(path: str | Path, sample_rate: int, max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """``path`` as a mono float32 wave at ``sample_rate``, refusing what the torch loader refuses.

    Channels are averaged; a different file rate is converted with scipy's polyphase
    resampler (the torch loader's torchaudio sinc resampler differs by a small filter error).
    """
    path = Path(path)
    if not path.is_file():
        raise AudioFileError(path, "no such file")
    try:
        info = sf.info(str(path))
        if info.samplerate < MIN_SAMPLE_RATE:
            raise AudioFileError(path, f"sample rate {info.samplerate} Hz is below "
                                       f"{MIN_SAMPLE_RATE} Hz")
        if info.frames / info.samplerate > max_seconds:
            raise AudioFileError(path, f"{info.frames / info.samplerate:.1f} s is longer than "
                                       f"the {max_seconds:g} s limit")
        data, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, OSError) as err:
        raise AudioFileError(path, f"unreadable ({err})") from err
    if data.shape[0] == 0:
        raise AudioFileError(path, "no samples")
    if not np.isfinite(data).all():
        raise AudioFileError(path, "contains NaN or infinite samples")
    wave = data.mean(axis=1, dtype=np.float32)  # (samples,)
    if float(np.abs(wave).max()) < SILENCE_PEAK:
        raise AudioFileError(path, f"silent (peak below {SILENCE_PEAK:g})")
    if file_rate == sample_rate:
        return wave
    # Imported on demand: scipy.signal adds tens of MB a same-rate file never needs.
    from scipy.signal import resample_poly

    g = math.gcd(file_rate, sample_rate)
    return resample_poly(wave, sample_rate // g, file_rate // g).astype(np.float32)


# --------------------------------------------------------------------------- detector


class OnnxDetector:
    """An exported detector: waveform in, calibrated score (LLR) and decision out.

    Scores match :class:`spectcontra.inference.Detector` on the same wave (same tiling and
    windows; the graph holds features, network and calibration).
    """

    def __init__(self, session: ort.InferenceSession, metadata: dict[str, Any]):
        self.session = session
        self.sample_rate = int(metadata["sample_rate"])
        self.crop_samples = int(metadata["crop_samples"])
        self.threshold = float(metadata["threshold"])
        # Already applied inside the graph; kept for reports. A plain dict, not
        # spectcontra.calibration.Calibration: that module imports scipy.optimize (+48 MB RSS).
        self.calibration: dict[str, Any] = dict(metadata["calibration"])
        self.trim_silence = bool(metadata["trim_silence"])

    @classmethod
    def load(cls, path: str | Path, threads: int = 1) -> OnnxDetector:
        """Open an ``export_onnx`` file on the CPU with ``threads`` intra-op threads."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"model file {path} not found")
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own untyped Fail/InvalidGraph errors
            raise ModelFileError(f"model file {path} is not a loadable ONNX model: {err}") from err
        raw = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        try:
            metadata = json.loads(raw) if raw is not None else {}
        except json.JSONDecodeError as err:
            raise ModelFileError(f"model file {path} has unreadable {METADATA_KEY} metadata: "
                                 f"{err}") from err
        missing = [k for k in METADATA_FIELDS if k not in metadata]
        if metadata.get("version") != METADATA_VERSION or missing:
            raise ModelFileError(f"model file {path} is not a spectcontra ONNX detector "
                                 f"(metadata version {metadata.get('version')!r}, "
                                 f"missing {missing})")
        try:
            return cls(session, metadata)
        except (TypeError, ValueError) as err:
            raise ModelFileError(f"model file {path} has malformed {METADATA_KEY} metadata: "
                                 f"{err}") from err

    def load_wave(self, path: str | Path, max_seconds: float = MAX_SECONDS) -> np.ndarray:
        """The wave the model sees: mono at the model's rate; raises AudioFileError naming it."""
        if self.trim_silence:
            # spectcontra.audio.trim_silence lives beside torchaudio; until it moves out, a
            # silently untrimmed wave would score differently from the torch detector.
            raise NotImplementedError("this model trims silence, which the torch-free scorer "
                                      "does not do yet; score it with spectcontra.inference")
        return read_audio(path, self.sample_rate, max_seconds)

    def score_batch(self, crops: np.ndarray) -> np.ndarray:
        """Calibrated scores (batch,) of crops (batch, samples), float64 like the torch path."""
        feed = {INPUT_NAME: np.ascontiguousarray(np.atleast_2d(crops), dtype=np.float32)}
        return self.session.run([OUTPUT_NAME], feed)[0].astype(np.float64)

    def score_wave(self, wave: np.ndarray) -> float:
        """Calibrated score of a whole clip (samples,) at :attr:`sample_rate`.

        The mean of calibrated window scores is the calibrated mean window logit, because
        every calibration is affine.
        """
        wave = check_wave(wave)
        starts = window_starts(wave.size, self.crop_samples, self.crop_samples // 2)
        scores = []
        for i in range(0, starts.size, WINDOW_BATCH):
            crops = [tile_to(wave[s:s + self.crop_samples], self.crop_samples)
                     for s in starts[i:i + WINDOW_BATCH]]
            scores.append(self.score_batch(np.stack(crops)))
        return float(np.concatenate(scores).mean())

    def prob_bonafide(self, score: float) -> float:
        """P(bona fide | x) under equal priors: the sigmoid of the calibrated LLR."""
        return float(0.5 * (1.0 + math.tanh(0.5 * score)))  # overflow-free logistic

    def decide(self, score: float) -> str:
        return BONAFIDE if score > self.threshold else SPOOF


def own_peak_rss_mb() -> float | None:
    """This process's peak resident set size in MB (VmHWM), or None without /proc (not Linux).

    spectcontra.profiling has the same reader but imports torch, which alone costs ~590 MB.
    """
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)  # kB -> MB
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Score one file; print its score as JSON, then this process's peak RSS as JSON.

    The last line is the probe format :func:`spectcontra.profiling.peak_rss_mb` reads.
    """
    parser = argparse.ArgumentParser(prog="python -m spectcontra.onnx_inference",
                                     description=__doc__)
    parser.add_argument("model", type=Path, help="ONNX file written by spectcontra.export")
    parser.add_argument("file", type=Path, help="audio file to score")
    parser.add_argument("--max-seconds", type=float, default=MAX_SECONDS,
                        help="longer files are refused (default: %(default)g)")
    args = parser.parse_args(argv)
    # Exit codes as `spectcontra detect`: 2 for an unusable model, 1 for an unusable file.
    try:
        detector = OnnxDetector.load(args.model)
    except (OSError, ValueError) as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    try:
        wave = detector.load_wave(args.file, args.max_seconds)
    except (AudioFileError, NotImplementedError) as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 1
    score = detector.score_wave(wave)
    print(json.dumps({"file": str(args.file), "score": round(score, 6),
                      "p_bonafide": round(detector.prob_bonafide(score), 6),
                      "decision": detector.decide(score),
                      "threshold": round(detector.threshold, 6)}))
    print(json.dumps({"peak_rss_mb": own_peak_rss_mb()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
