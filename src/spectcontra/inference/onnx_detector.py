"""Torch-free scoring of an exported ONNX detector: onnxruntime, numpy, soundfile and scipy only."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from spectcontra.audio import Audio, read_audio, trim_silence
from spectcontra.conventions import MAX_AUDIO_SECONDS
from spectcontra.errors import MissingInputError
from spectcontra.features.clips import check_wave, window_crops, window_starts
from spectcontra.inference.decisions import Decisions, ModelFileError

INPUT_NAME = "wave"  # (batch, samples) float32 at the model's sample rate
OUTPUT_NAME = "score"  # (batch,) calibrated LLR, higher = more bona fide
METADATA_KEY = "spectcontra"  # metadata_props key holding the JSON written by the exporter
METADATA_VERSION = 2  # 2 added n_parameters
METADATA_FIELDS = ("sample_rate", "crop_samples", "threshold", "calibration", "trim_silence",
                   "trim_db", "n_parameters")


class OnnxDetector(Decisions):
    """An exported detector: waveform in, calibrated score (LLR) and decision out.

    Scores match :class:`spectcontra.inference.torch_detector.Detector` on the same wave: the same clip
    policy (:mod:`spectcontra.features.clips`), the same loader and silence trimming; the graph holds
    features, network and calibration. The one difference is resampling, see :meth:`load_wave`.
    """

    def __init__(self, session: ort.InferenceSession, metadata: dict[str, Any],
                 model_bytes: int = 0):
        self.session = session
        self.sample_rate = int(metadata["sample_rate"])
        self.crop_samples = int(metadata["crop_samples"])
        self.threshold = float(metadata["threshold"])
        # Already applied inside the graph; kept for reports. A plain dict, not
        # spectcontra.evaluation.calibration.Calibration: that module imports scipy.optimize (+48 MB RSS).
        self.calibration: dict[str, Any] = dict(metadata["calibration"])
        self.trim_silence = bool(metadata["trim_silence"])
        self.trim_db = float(metadata["trim_db"])
        self.n_parameters = int(metadata["n_parameters"])  # the network's, as Detector counts
        self.model_bytes = int(model_bytes)

    @classmethod
    def load(cls, path: str | Path, threads: int = 1) -> OnnxDetector:
        """Open an ``export_onnx`` file on the CPU with ``threads`` intra-op threads."""
        path = Path(path)
        if not path.is_file():
            raise MissingInputError(f"model file {path} not found")
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
            return cls(session, metadata, path.stat().st_size)
        except (TypeError, ValueError) as err:
            raise ModelFileError(f"model file {path} has malformed {METADATA_KEY} metadata: "
                                 f"{err}") from err

    @property
    def crop_seconds(self) -> float:
        return self.crop_samples / self.sample_rate

    def load_wave(self, path: str | Path, max_seconds: float = MAX_AUDIO_SECONDS) -> np.ndarray:
        """The wave the model sees: mono at the model's rate, trimmed if training trimmed.

        Raises :class:`spectcontra.audio.AudioError` naming the file for unusable audio. A
        file at another rate goes through scipy's polyphase resampler, not the torch
        detector's torchaudio sinc one, which would import torch (~590 MB). The two filters
        agree in the passband only, so such files score slightly differently: about 0.02
        (at most 0.025) in calibrated-score units for the tests' random-weight 8 kHz model
        fed 11-48 kHz files. Files already at the model's rate score the same.
        """
        return self.read(path, max_seconds).wave

    def read(self, path: str | Path, max_seconds: float = MAX_AUDIO_SECONDS) -> Audio:
        """:meth:`load_wave`'s wave with the file's native rate (was it upsampled?)."""
        audio = read_audio(path, self.sample_rate, max_seconds, resampler="polyphase")
        if not self.trim_silence:
            return audio
        return replace(audio, wave=trim_silence(audio.wave, self.sample_rate, self.trim_db))

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
        crops = window_crops(wave, self.crop_samples, starts, self.crop_samples)
        return float(np.concatenate([self.score_batch(batch) for batch in crops]).mean())
