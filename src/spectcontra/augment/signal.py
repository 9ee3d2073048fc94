"""Signal-level augmentation after RawBoost: random linear filtering and codec-like quantisation."""

from __future__ import annotations

import numpy as np
import torch
import torchaudio.functional as AF
from scipy import signal


def random_fir(wave: np.ndarray, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Filter with a random FIR built from a few random notches/peaks (RawBoost's linear stage)."""
    n_taps = int(rng.integers(16, 64)) * 2 + 1
    n_bands = int(rng.integers(2, 6))
    freqs = np.linspace(0.0, 1.0, 64)
    gain = np.ones_like(freqs)
    for _ in range(n_bands):
        centre = rng.uniform(0.02, 0.98)
        width = rng.uniform(0.02, 0.15)
        depth_db = rng.uniform(-12.0, 6.0)
        gain *= 10 ** (depth_db / 20 * np.exp(-0.5 * ((freqs - centre) / width) ** 2))
    taps = signal.firwin2(n_taps, freqs, gain)
    return signal.lfilter(taps, [1.0], wave).astype(np.float32)


def codec_quantise(wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mu-law companding at a random bit depth: the coarse quantisation noise of narrow codecs."""
    channels = int(2 ** rng.integers(5, 9))
    peak = float(np.max(np.abs(wave))) or 1.0
    x = torch.from_numpy(np.clip(wave / peak, -1.0, 1.0).astype(np.float32))
    y = AF.mu_law_decoding(AF.mu_law_encoding(x, channels), channels)
    return (y.numpy() * peak).astype(np.float32)


def augment_signal(wave: np.ndarray, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Apply a random FIR filter, then, half of the time, codec-like quantisation."""
    out = random_fir(wave, rng, sample_rate)
    if rng.random() < 0.5:
        out = codec_quantise(out, rng)
    return out
