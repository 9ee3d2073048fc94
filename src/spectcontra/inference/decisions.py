"""What both detectors (torch and ONNX Runtime) share once a clip has a score: the verdict."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from spectcontra.conventions import BONAFIDE, SPOOF
from spectcontra.errors import InputError


class ModelFileError(InputError):
    """A model file that exists but is not a usable detector (torch checkpoint or ONNX)."""


@dataclass(frozen=True)
class Detection:
    """One clip's verdict; ``score`` is a calibrated LLR, higher = more bona fide."""

    score: float
    p_bonafide: float
    decision: str
    latency_ms: float  # features + model, model already loaded
    audio_seconds: float


class Decisions:
    """What the torch and ONNX scorers share once a clip has a score.

    A subclass provides ``score_wave``, ``threshold``, ``sample_rate`` and ``crop_samples``
    (and, to read files, ``read``/``load_wave``, which resample and trim as its training did).
    """

    threshold: float
    sample_rate: int
    crop_samples: int

    def score_wave(self, wave: np.ndarray) -> float:
        raise NotImplementedError

    def prob_bonafide(self, score: float) -> float:
        """P(bona fide | x) under equal priors: the sigmoid of the calibrated LLR."""
        return float(0.5 * (1.0 + math.tanh(0.5 * score)))  # overflow-free logistic

    def decide(self, score: float) -> str:
        return BONAFIDE if score > self.threshold else SPOOF

    def detect(self, wave: np.ndarray) -> Detection:
        """Score, probability and decision of a clip, timed from waveform to score."""
        start = time.perf_counter()
        score = self.score_wave(wave)
        latency_ms = (time.perf_counter() - start) * 1e3
        return Detection(score=score, p_bonafide=self.prob_bonafide(score),
                         decision=self.decide(score), latency_ms=latency_ms,
                         audio_seconds=wave.size / self.sample_rate)

    def warm_up(self) -> None:
        """One throw-away pass, so the first timed file is not charged lazy set-up."""
        noise = np.random.default_rng(0).standard_normal(self.crop_samples)
        self.score_wave(noise.astype(np.float32))
