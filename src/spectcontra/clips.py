"""The clip policy shared by training and both detectors: tiling, crops, windows, the verdict."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from spectcontra.conventions import BONAFIDE, SPOOF

WINDOW_BATCH = 16  # crops per forward pass: memory stays flat however long the file is
MAX_SECONDS = 600.0  # default longest accepted file, as preprocess.max_seconds in params.yaml


@dataclass(frozen=True)
class Detection:
    """One clip's verdict; ``score`` is a calibrated LLR, higher = more bona fide."""

    score: float
    p_bonafide: float
    decision: str
    latency_ms: float  # features + model, model already loaded
    audio_seconds: float


def check_wave(wave: np.ndarray) -> np.ndarray:
    """``wave`` as float32, refusing anything but a non-empty 1-D array."""
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1 or wave.size == 0:
        raise ValueError(f"expected a non-empty 1-D waveform, got shape {wave.shape}")
    return wave


def crop_or_pad(wave: np.ndarray, n_samples: int, rng: np.random.Generator | None) -> np.ndarray:
    """Return exactly ``n_samples`` samples of ``wave``.

    Shorter clips are tiled (repeated), not zero-padded, so padding adds no digital silence
    a model could read as a duration cue. Longer clips are cropped at an offset drawn from
    ``rng`` (deterministic given its seed), or centred when ``rng`` is None. A clip of exactly
    ``n_samples`` is returned unchanged.
    """
    if n_samples <= 0:
        raise ValueError(f"n_samples must be > 0, got {n_samples}")
    if wave.ndim != 1 or wave.size == 0:
        raise ValueError(f"expected a non-empty 1-D waveform, got shape {wave.shape}")
    if wave.size < n_samples:
        reps = -(-n_samples // wave.size)
        return np.tile(wave, reps)[:n_samples]
    extra = wave.size - n_samples
    if extra == 0:
        return wave
    start = int(rng.integers(0, extra + 1)) if rng is not None else extra // 2
    return wave[start : start + n_samples]


def window_starts(n_samples: int, window: int, hop: int) -> np.ndarray:
    """Start offsets (samples) of windows of ``window`` samples every ``hop`` samples.

    The last window ends flush with the clip, so the tail is always covered; a clip no
    longer than one window has the single start 0 (that window is then the whole clip).
    """
    if window < 1 or hop < 1 or n_samples < 1:
        raise ValueError(f"need n_samples, window, hop >= 1, got {n_samples}, {window}, {hop}")
    if n_samples <= window:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, n_samples - window + 1, hop, dtype=np.int64)
    if starts[-1] + window < n_samples:
        starts = np.append(starts, n_samples - window)
    return starts


def window_crops(wave: np.ndarray, window: int, starts: Sequence[int],
                 crop_samples: int) -> Iterator[np.ndarray]:
    """Batches (<= WINDOW_BATCH, crop_samples) of the ``window``-sample windows at ``starts``.

    Each window is tiled to the training crop with :func:`crop_or_pad`. Batches are cut one
    at a time, so a long file never holds every crop at once.
    """
    for i in range(0, len(starts), WINDOW_BATCH):
        yield np.stack([crop_or_pad(wave[s:s + window], crop_samples, None)
                        for s in starts[i:i + WINDOW_BATCH]])


class Decisions:
    """What the torch and ONNX scorers share once a clip has a score.

    A subclass provides ``score_wave``, ``threshold``, ``sample_rate`` and ``crop_samples``.
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
