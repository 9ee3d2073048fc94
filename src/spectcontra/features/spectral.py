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


def compute_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin mean and std over (utterances, frames) of a (N, bins, frames) array."""
    feats = np.asarray(features, dtype=np.float64)
    mean = feats.mean(axis=(0, 2))
    std = feats.std(axis=(0, 2))
    return mean.astype(np.float32), np.maximum(std, 1e-5).astype(np.float32)


def normalize(features: Tensor | np.ndarray, mean: np.ndarray, std: np.ndarray):
    """Standardise each bin with train statistics; broadcasts over (..., bins, frames)."""
    if isinstance(features, Tensor):
        return (features - torch.as_tensor(mean)[:, None]) / torch.as_tensor(std)[:, None]
    return (features - mean[:, None]) / std[:, None]
