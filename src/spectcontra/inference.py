"""Score audio with a saved detector: training's features and crops, windowing, calibration."""

from __future__ import annotations

import pickle
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.special import expit
from torch import Tensor, nn

from spectcontra.audio import load_audio, trim_silence
from spectcontra.config import VIEWS, PreprocessConfig
from spectcontra.conventions import BONAFIDE, SPOOF
from spectcontra.features import FeatureExtractor, crop_or_pad, normalize
from spectcontra.models.checkpoint import load_checkpoint
from spectcontra.calibration import Calibration

WINDOW_BATCH = 16  # crops per forward pass: memory stays flat however long the file is
MAX_SECONDS = 600.0  # default longest accepted file, as preprocess.max_seconds in params.yaml


class CheckpointError(ValueError):
    """A model file that exists but is not a usable detector checkpoint."""


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


def feature_config(settings: dict[str, Any]) -> PreprocessConfig:
    """The preprocess settings a checkpoint's features were computed with."""
    return PreprocessConfig(
        n_fft=int(settings["n_fft"]), hop_length=int(settings["hop_length"]),
        n_mels=int(settings["n_mels"]), n_linear=int(settings["n_linear"]),
        trim_silence=bool(settings["trim_silence"]), trim_db=float(settings["trim_db"]),
        # Policies of the preprocess stage itself; FeatureExtractor never reads them.
        bad_audio="error", max_seconds=MAX_SECONDS, signal_augment=False,
    )


@dataclass(frozen=True)
class Detection:
    """One clip's verdict; ``score`` is a calibrated LLR, higher = more bona fide."""

    score: float
    p_bonafide: float
    decision: str
    latency_ms: float  # features + model, model already loaded
    audio_seconds: float


class Detector:
    """A loaded detector checkpoint: waveform in, calibrated score (LLR) and decision out.

    Clips no longer than the training crop are tiled to it with ``crop_or_pad``, as in
    training; longer clips score the mean logit of crop-length windows every half crop.
    """

    def __init__(self, model: nn.Module, settings: dict[str, Any], calibration: Calibration,
                 threshold: float, model_bytes: int = 0):
        self.model = model.eval()
        self.views: tuple[str, ...] = tuple(model.views)
        self.settings = settings
        self.calibration = calibration
        self.threshold = float(threshold)
        self.model_bytes = int(model_bytes)
        self.sample_rate = int(settings["sample_rate"])
        # Same rounding as CommonConfig.crop_samples, which sized the training crops.
        self.crop_samples = int(round(float(settings["crop_seconds"]) * self.sample_rate))
        self.feature_cfg = feature_config(settings)
        # Both views, always: the overlay shows the log-mel even for a linear-only model.
        self.extractor = FeatureExtractor(self.feature_cfg, self.sample_rate, VIEWS).eval()
        self.stats = {v: (np.asarray(settings["stats"][v]["mean"], dtype=np.float32),
                          np.asarray(settings["stats"][v]["std"], dtype=np.float32))
                      for v in self.views}

    @classmethod
    def load(cls, path: str | Path) -> Detector:
        """Load a checkpoint written by the finetune stage (``save_checkpoint``)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"model file {path} not found")
        try:
            model, extra = load_checkpoint(path)
            return cls(model, extra["features"], Calibration(**extra["calibration"]),
                       extra["threshold"], path.stat().st_size)
        except (RuntimeError, EOFError, KeyError, TypeError, pickle.UnpicklingError) as err:
            raise CheckpointError(f"model file {path} is not a usable detector checkpoint: "
                                  f"{type(err).__name__}: {err}") from err

    @property
    def n_parameters(self) -> int:
        return int(sum(p.numel() for p in self.model.parameters()))

    @property
    def crop_seconds(self) -> float:
        return self.crop_samples / self.sample_rate

    @property
    def hop_length(self) -> int:
        return self.feature_cfg.hop_length

    @property
    def crop_frames(self) -> int:
        return 1 + self.crop_samples // self.hop_length  # the centred STFT of one crop

    @property
    def calibration_slope(self) -> float:
        """d(calibrated score)/d(logit); every calibration here is affine."""
        at = self.calibration.apply(np.array([0.0, 1.0]))
        return float(at[1] - at[0])

    def load_wave(self, path: str | Path, max_seconds: float = MAX_SECONDS) -> np.ndarray:
        """The wave the model sees: mono at the model's rate, trimmed if training trimmed.

        Raises :class:`spectcontra.audio.AudioError` naming the file for unusable audio.
        """
        wave = load_audio(path, self.sample_rate, max_seconds)
        if self.feature_cfg.trim_silence:
            wave = trim_silence(wave, self.sample_rate, self.feature_cfg.trim_db)
        return wave

    def log_spectrograms(self, waves: np.ndarray) -> dict[str, Tensor]:
        """Un-normalised log views {view: (batch, bins, frames)} of waves (batch, samples)."""
        batch = torch.from_numpy(np.ascontiguousarray(np.atleast_2d(waves), dtype=np.float32))
        with torch.no_grad():
            return self.extractor(batch)

    def features(self, waves: np.ndarray) -> dict[str, Tensor]:
        """The model's normalised inputs {view: (batch, bins, frames)}, as the store holds them."""
        raw = self.log_spectrograms(waves)
        return {v: normalize(raw[v], *self.stats[v]) for v in self.views}

    def _window_logits(self, wave: np.ndarray, window: int, starts: Sequence[int]) -> np.ndarray:
        # Windows are cut and tiled one batch at a time, so a long file never holds every crop.
        out = []
        for i in range(0, len(starts), WINDOW_BATCH):
            crops = np.stack([crop_or_pad(wave[s:s + window], self.crop_samples, None)
                              for s in starts[i:i + WINDOW_BATCH]])
            feats = self.features(crops)
            with torch.inference_mode():
                out.append(self.model(feats).numpy().astype(np.float64))
        return np.concatenate(out)

    def score_wave(self, wave: np.ndarray) -> float:
        """Calibrated score of a whole clip (samples,) at :attr:`sample_rate`."""
        wave = _check_wave(wave)
        starts = window_starts(wave.size, self.crop_samples, self.crop_samples // 2)
        logit = self._window_logits(wave, self.crop_samples, starts).mean()
        return float(self.calibration.apply(np.array([logit]))[0])

    def window_scores(self, wave: np.ndarray, window_s: float,
                      hop_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Centre times (s) and calibrated scores of ``window_s`` windows every ``hop_s``.

        Each window is tiled to the training crop, so ``window_s`` may not exceed the crop.
        """
        wave = _check_wave(wave)
        window = int(round(window_s * self.sample_rate))
        hop = int(round(hop_s * self.sample_rate))
        if window < 1 or hop < 1:
            raise ValueError(f"window {window_s} s and hop {hop_s} s must each span a sample")
        if window > self.crop_samples:
            raise ValueError(f"window {window_s} s is longer than the {self.crop_seconds:g} s "
                             "crop the model was trained on")
        starts = window_starts(wave.size, window, hop)
        centres = (starts + min(window, wave.size) / 2) / self.sample_rate
        return centres, self.calibration.apply(self._window_logits(wave, window, starts))

    def prob_bonafide(self, score: float) -> float:
        """P(bona fide | x) under equal priors: the sigmoid of the calibrated LLR."""
        return float(expit(score))

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
        """One throw-away pass, so the first timed file is not charged torch's lazy set-up."""
        noise = np.random.default_rng(0).standard_normal(self.crop_samples)
        self.score_wave(noise.astype(np.float32))


def _check_wave(wave: np.ndarray) -> np.ndarray:
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1 or wave.size == 0:
        raise ValueError(f"expected a non-empty 1-D waveform, got shape {wave.shape}")
    return wave
