"""Score audio with a saved detector: training's features and crops, windowing, calibration."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from spectcontra.audio import Audio, read_audio, trim_silence
from spectcontra.config import VIEWS, PreprocessConfig
from spectcontra.conventions import MAX_AUDIO_SECONDS
from spectcontra.errors import MissingInputError
from spectcontra.evaluation.calibration import Calibration, CalibrationError
from spectcontra.features.clips import check_wave, window_crops, window_starts
from spectcontra.features.spectral import FeatureExtractor, normalize
from spectcontra.inference.decisions import Decisions, ModelFileError
from spectcontra.models.checkpoint import CheckpointFormatError, load_checkpoint


class CheckpointError(ModelFileError):
    """A model file that exists but is not a usable detector checkpoint."""


def feature_config(settings: dict[str, Any]) -> PreprocessConfig:
    """The preprocess settings a checkpoint's features were computed with."""
    return PreprocessConfig(
        n_fft=int(settings["n_fft"]), hop_length=int(settings["hop_length"]),
        n_mels=int(settings["n_mels"]), n_linear=int(settings["n_linear"]),
        trim_silence=bool(settings["trim_silence"]), trim_db=float(settings["trim_db"]),
        # Policies of the preprocess stage itself; FeatureExtractor never reads them.
        bad_audio="error", signal_augment=False, memory_budget_mb=1,
    )


class Detector(Decisions):
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
    def uncalibrated(cls, model: nn.Module, settings: dict[str, Any]) -> Detector:
        """A freshly trained model before its dev calibration: scores are raw logits."""
        return cls(model, settings, Calibration(method="none"), threshold=0.0)

    @classmethod
    def load(cls, path: str | Path) -> Detector:
        """Load a checkpoint written by the finetune stage (``save_checkpoint``)."""
        path = Path(path)
        if not path.is_file():
            raise MissingInputError(f"model file {path} not found")
        try:
            model, extra = load_checkpoint(path)
            return cls(model, extra["features"], Calibration(**extra["calibration"]),
                       extra["threshold"], path.stat().st_size)
        except CheckpointFormatError as err:
            raise CheckpointError(f"model file {err}") from err  # it names the file and why
        except (KeyError, TypeError, CalibrationError) as err:
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

    def load_wave(self, path: str | Path, max_seconds: float = MAX_AUDIO_SECONDS) -> np.ndarray:
        """The wave the model sees: mono at the model's rate, trimmed if training trimmed.

        Raises :class:`spectcontra.audio.AudioError` naming the file for unusable audio.
        """
        return self.read(path, max_seconds).wave

    def read(self, path: str | Path, max_seconds: float = MAX_AUDIO_SECONDS) -> Audio:
        """:meth:`load_wave`'s wave with the file's native rate (was it upsampled?)."""
        audio = read_audio(path, self.sample_rate, max_seconds)
        if not self.feature_cfg.trim_silence:
            return audio
        return replace(audio, wave=trim_silence(audio.wave, self.sample_rate,
                                                self.feature_cfg.trim_db))

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
        out = []
        for crops in window_crops(wave, window, starts, self.crop_samples):
            feats = self.features(crops)
            with torch.inference_mode():
                out.append(self.model(feats).numpy().astype(np.float64))
        return np.concatenate(out)

    def logit_wave(self, wave: np.ndarray) -> float:
        """Uncalibrated score of a whole clip: the mean logit of crop-length windows every half
        crop (a clip no longer than the crop is tiled to it, as in training)."""
        wave = check_wave(wave)
        starts = window_starts(wave.size, self.crop_samples, self.crop_samples // 2)
        return float(self._window_logits(wave, self.crop_samples, starts).mean())

    def score_wave(self, wave: np.ndarray) -> float:
        """Calibrated score of a whole clip (samples,) at :attr:`sample_rate`."""
        return float(self.calibration.apply(np.array([self.logit_wave(wave)]))[0])

    def file_logits(self, paths: Sequence[str | Path]) -> np.ndarray:
        """Whole-file logits (n,) of audio files, read exactly as ``spectcontra detect`` reads
        them: this is how dev and eval are scored, so published numbers describe what ships."""
        return np.array([self.logit_wave(self.load_wave(p)) for p in paths], dtype=np.float64)

    def window_scores(self, wave: np.ndarray, window_s: float,
                      hop_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Centre times (s) and calibrated scores of ``window_s`` windows every ``hop_s``.

        Each window is tiled to the training crop, so ``window_s`` may not exceed the crop.
        """
        wave = check_wave(wave)
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
