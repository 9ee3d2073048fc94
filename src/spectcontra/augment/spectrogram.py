"""Seeded spectrogram augmentations on (batch, bins, frames) tensors, driven by AugmentConfig."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from spectcontra.config import AugmentConfig

DB_TO_LOG_POWER = math.log(10.0) / 10.0  # features are natural-log power: 1 dB = ln(10)/10


def _band_mask(batch: int, size: int, max_width: int, generator: torch.Generator) -> Tensor:
    """One random band per row: widths uniform in [0, max_width], starts uniform where they fit."""
    max_width = min(max_width, size)
    widths = torch.randint(0, max_width + 1, (batch,), generator=generator)  # (B,)
    starts = (torch.rand(batch, generator=generator) * (size - widths + 1)).floor().long()  # (B,)
    pos = torch.arange(size)  # (size,)
    return (pos >= starts[:, None]) & (pos < (starts + widths)[:, None])  # (B, size)


def time_mask(x: Tensor, max_width: int, generator: torch.Generator) -> Tensor:
    """Zero (the normalised mean) one random span of up to ``max_width`` frames per example."""
    if max_width <= 0:
        return x
    mask = _band_mask(x.shape[0], x.shape[-1], max_width, generator)  # (B, T)
    return x.masked_fill(mask[:, None, :], 0.0)


def freq_mask(x: Tensor, max_width: int, generator: torch.Generator) -> Tensor:
    """Zero (the normalised mean) one random band of up to ``max_width`` bins per example."""
    if max_width <= 0:
        return x
    mask = _band_mask(x.shape[0], x.shape[-2], max_width, generator)  # (B, F)
    return x.masked_fill(mask[:, :, None], 0.0)


def random_gain(x: Tensor, gain_db: float, generator: torch.Generator,
                bin_std: Tensor | None = None) -> Tensor:
    """Add a gain uniform in [-gain_db, gain_db] dB per example to a log-power spectrogram.

    A gain multiplies power, so it adds a constant in log-power units. For features
    standardised per bin, pass that normalisation's ``bin_std`` (F,) so the shift is exact;
    without it the shift is applied in raw natural-log-power units.
    """
    if gain_db <= 0:
        return x
    gain = (torch.rand(x.shape[0], generator=generator) * 2 - 1) * gain_db  # (B,)
    shift = (gain * DB_TO_LOG_POWER)[:, None, None]  # (B, 1, 1)
    if bin_std is not None:
        shift = shift / bin_std.to(x.dtype)[None, :, None]  # (B, F, 1)
    return x + shift


def add_noise(x: Tensor, std: float, generator: torch.Generator) -> Tensor:
    """Add Gaussian noise of standard deviation ``std`` (in feature units)."""
    if std <= 0:
        return x
    return x + std * torch.randn(x.shape, generator=generator, dtype=x.dtype)


def random_time_crop(x: Tensor, frames: int, generator: torch.Generator) -> Tensor:
    """A random span of ``frames`` frames per example: x (B, F, T) -> (B, F, frames).

    Offsets are drawn independently per example, so two calls on the same batch give two
    views that are not frame-aligned. ``frames >= T`` returns x unchanged.
    """
    total = x.shape[-1]
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    if frames >= total:
        return x
    starts = torch.randint(0, total - frames + 1, (x.shape[0],), generator=generator)  # (B,)
    cols = starts[:, None] + torch.arange(frames)  # (B, frames)
    return torch.gather(x, 2, cols[:, None, :].expand(-1, x.shape[1], -1))


def pick_sources(clean: Tensor, augmented: Tensor | None, generator: torch.Generator) -> Tensor:
    """Per example, the clean or the signal-augmented features (probability 1/2 each).

    Drawn afresh at every call, so an utterance meets both renderings across epochs and the
    two views of one step are augmented independently. ``augmented`` None returns ``clean``.
    """
    if augmented is None:
        return clean
    if augmented.shape != clean.shape:
        raise ValueError(f"augmented features {tuple(augmented.shape)} differ from clean "
                         f"{tuple(clean.shape)}")
    use = torch.rand(clean.shape[0], generator=generator) < 0.5  # (B,)
    return torch.where(use[:, None, None], augmented, clean)


def check_augment(cfg: AugmentConfig) -> None:
    """Raise ValueError naming the first negative setting of ``cfg``."""
    for name in ("time_mask", "freq_mask", "gain_db", "noise_std"):
        value = getattr(cfg, name)
        if value < 0:
            raise ValueError(f"augment.{name} must be >= 0 (0 = off), got {value}")


def augment(x: Tensor, cfg: AugmentConfig, generator: torch.Generator,
            bin_std: Tensor | None = None) -> Tensor:
    """Gain, noise, then time and frequency masks on x: (B, F, T); all-zero settings = identity."""
    check_augment(cfg)
    x = random_gain(x, cfg.gain_db, generator, bin_std)
    x = add_noise(x, cfg.noise_std, generator)
    x = time_mask(x, cfg.time_mask, generator)
    return freq_mask(x, cfg.freq_mask, generator)
