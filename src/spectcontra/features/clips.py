"""The clip policy shared by training and both detectors: tiling, crops and sliding windows."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

WINDOW_BATCH = 16  # crops per forward pass: memory stays flat however long the file is


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
