"""Spectral views of a waveform: log-mel and log linear-filterbank, and their normalisation."""

from __future__ import annotations

import numpy as np
import torch
import torchaudio
from torch import Tensor, nn

from spectcontra.config import VIEWS, PreprocessConfig

# crop_or_pad is re-exported: preprocessing imports it from here, beside the extractor.
from spectcontra.features.clips import crop_or_pad as crop_or_pad

LOG_EPS = 1e-6  # floor inside log(): digital silence maps to a finite value


class FeatureExtractor(nn.Module):
    """Waveform (batch, samples) -> {view: (batch, bins, frames)} log spectrogram views.

    One STFT feeds both views: ``mel`` (torchaudio MelScale) and ``linear``, a triangular
    filterbank on a linear frequency axis (torchaudio ``linear_fbanks``) that keeps the high
    bands' resolution, where vocoders leave traces.
    """

    def __init__(self, cfg: PreprocessConfig, sample_rate: int, views: tuple[str, ...] = VIEWS):
        super().__init__()
        unknown = set(views) - set(VIEWS)
        if unknown or not views:
            raise ValueError(f"views must be a non-empty subset of {VIEWS}, got {views}")
        self.views = tuple(views)
        n_freqs = cfg.n_fft // 2 + 1
        self.spectrogram = torchaudio.transforms.Spectrogram(
            n_fft=cfg.n_fft, hop_length=cfg.hop_length, power=2.0
        )
        self.mel = torchaudio.transforms.MelScale(
            n_mels=cfg.n_mels, sample_rate=sample_rate, n_stft=n_freqs
        )
        linear_fb = torchaudio.functional.linear_fbanks(
            n_freqs=n_freqs, f_min=0.0, f_max=sample_rate / 2, n_filter=cfg.n_linear,
            sample_rate=sample_rate,
        )
        self.register_buffer("linear_fb", linear_fb)  # (n_freqs, n_linear)

    def forward(self, wave: Tensor) -> dict[str, Tensor]:
        if wave.dim() == 1:
            wave = wave.unsqueeze(0)
        power = self.spectrogram(wave)  # (batch, n_freqs, frames)
        out: dict[str, Tensor] = {}
        if "mel" in self.views:
            out["mel"] = torch.log(self.mel(power) + LOG_EPS)
        if "linear" in self.views:
            lin = torch.einsum("bft,fk->bkt", power, self.linear_fb)
            out["linear"] = torch.log(lin + LOG_EPS)
        return out


STD_FLOOR = 1e-5  # a constant bin (digital silence) is left unscaled rather than divided by 0


def compute_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin mean and std over (utterances, frames) of a (N, bins, frames) array."""
    feats = np.asarray(features, dtype=np.float64)
    mean = feats.mean(axis=(0, 2))
    std = feats.std(axis=(0, 2))
    return mean.astype(np.float32), np.maximum(std, STD_FLOOR).astype(np.float32)


class RunningStats:
    """:func:`compute_stats` over batches that never need to be in memory together.

    Each (B, bins, frames) batch contributes its own float64 per-bin mean and sum of squared
    deviations, merged with the pairwise update of Chan, Golub and LeVeque (1979), which
    stays accurate where a running sum of squares would cancel. ``result()`` matches
    ``compute_stats`` of the concatenated batches to float64 rounding, far below the float32
    it returns.
    """

    def __init__(self) -> None:
        self.count = 0  # values per bin: utterances x frames
        self.mean: np.ndarray | None = None  # (bins,) float64
        self.m2: np.ndarray | None = None  # (bins,) float64, sum of squared deviations

    def update(self, batch: np.ndarray) -> None:
        x = np.asarray(batch, dtype=np.float64)  # (B, bins, frames)
        if x.ndim != 3:
            raise ValueError(f"expected a (batch, bins, frames) array, got shape {x.shape}")
        n = x.shape[0] * x.shape[2]
        if n == 0:
            return
        mean = x.mean(axis=(0, 2))
        m2 = ((x - mean[None, :, None]) ** 2).sum(axis=(0, 2))
        if self.mean is None:
            self.count, self.mean, self.m2 = n, mean, m2
            return
        if mean.shape != self.mean.shape:
            raise ValueError(f"batch has {mean.size} bins, earlier batches {self.mean.size}")
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta**2 * (self.count * n / total)
        self.count = total

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) per bin as float32, std floored as in :func:`compute_stats`."""
        if self.mean is None:
            raise ValueError("no features were added")
        std = np.sqrt(self.m2 / self.count)
        return self.mean.astype(np.float32), np.maximum(std, STD_FLOOR).astype(np.float32)


def normalize(features: Tensor | np.ndarray, mean: np.ndarray, std: np.ndarray):
    """Standardise each bin with train statistics; broadcasts over (..., bins, frames)."""
    if isinstance(features, Tensor):
        return (features - torch.as_tensor(mean)[:, None]) / torch.as_tensor(std)[:, None]
    return (features - mean[:, None]) / std[:, None]
