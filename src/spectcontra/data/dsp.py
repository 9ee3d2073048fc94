"""Small NumPy DSP helpers shared by the synthetic voice, attack and channel models."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter1d

OVERLAP = 4  # hop = n_fft / OVERLAP: Hann analysis and synthesis windows overlap-add exactly


def fft_size(sample_rate: int, seconds: float = 0.032) -> int:
    """The power of two closest above ``seconds`` of audio (512 at 16 kHz for 32 ms)."""
    return int(2 ** np.ceil(np.log2(seconds * sample_rate)))


def stft(x: np.ndarray, n_fft: int) -> np.ndarray:
    """Hann-windowed STFT with hop ``n_fft // OVERLAP``: ``(frames, n_fft // 2 + 1)`` complex.

    The signal is zero-padded by ``n_fft`` on both sides so :func:`istft` rebuilds every
    sample, edges included.
    """
    if x.ndim != 1:
        raise ValueError(f"stft expects a 1-D signal, got shape {x.shape}")
    if n_fft % OVERLAP:
        raise ValueError(f"n_fft must be a multiple of {OVERLAP}, got {n_fft}")
    hop = n_fft // OVERLAP
    n_frames = int(np.ceil((x.size + n_fft) / hop)) + 1
    padded = np.zeros((n_frames - 1) * hop + n_fft)
    padded[n_fft:n_fft + x.size] = x
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]  # (frames, n_fft)
    return np.fft.rfft(frames * np.hanning(n_fft + 2)[1:-1], axis=1)


def istft(spec: np.ndarray, n_fft: int, length: int) -> np.ndarray:
    """Inverse of :func:`stft` by weighted overlap-add; returns ``length`` samples."""
    hop = n_fft // OVERLAP
    window = np.hanning(n_fft + 2)[1:-1]
    frames = np.fft.irfft(spec, n=n_fft, axis=1) * window  # (frames, n_fft)
    out = _overlap_add(frames, hop)
    norm = _overlap_add(np.broadcast_to(window**2, frames.shape), hop)
    out = out / np.maximum(norm, 1e-8)
    return out[n_fft:n_fft + length]


def _overlap_add(frames: np.ndarray, hop: int) -> np.ndarray:
    n_frames, n_fft = frames.shape
    parts = n_fft // hop
    blocks = frames.reshape(n_frames, parts, hop)
    out = np.zeros((n_frames + parts - 1, hop))
    for j in range(parts):
        out[j:j + n_frames] += blocks[:, j, :]
    return out.ravel()


def frame_times(n_frames: int, n_fft: int, sample_rate: int) -> np.ndarray:
    """Centre time in seconds of each :func:`stft` frame (the padding shifts it by n_fft/2)."""
    hop = n_fft // OVERLAP
    return (np.arange(n_frames) * hop - n_fft / 2) / sample_rate


def moving_average(x: np.ndarray, width: int, axis: int = 0) -> np.ndarray:
    """Centred moving average with edge replication; ``width`` <= 1 returns ``x``."""
    if width <= 1:
        return x
    return uniform_filter1d(np.asarray(x, dtype=np.float64), width, axis=axis, mode="nearest")


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)) + 1e-20))


def fit_length(x: np.ndarray, length: int) -> np.ndarray:
    """Crop or zero-pad ``x`` at the end to exactly ``length`` samples."""
    if x.size >= length:
        return x[:length]
    return np.concatenate([x, np.zeros(length - x.size)])
