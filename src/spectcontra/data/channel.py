"""Recording conditions drawn whatever the class: timing, room, EQ, band limit, noise, level.

Both classes go through exactly these functions with draws from the same distributions, so
duration, silences, loudness, DC offset, clipping and bandwidth carry no label information.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve, firwin2, lfilter

from spectcontra.data.dsp import moving_average, rms

SNR_DB = (15.0, 45.0)
LEVEL_DBFS = (-32.0, -16.0)
BANDLIMIT_PROB = 0.2
REVERB_PROB = 0.3
CLIP_PROB = 0.05
EQ_DB = 1.5  # s.d. of the random EQ curve at each of its knots
TILT_DB_PER_OCTAVE = 1.0  # largest microphone tilt either way
RT60_S = (0.1, 0.4)


@dataclass(frozen=True)
class Timing:
    """Sample counts of one utterance: total length, and silence before and after the speech."""

    total: int
    lead: int
    trail: int

    @property
    def speech(self) -> int:
        return self.total - self.lead - self.trail


def draw_timing(rng: np.random.Generator, min_seconds: float, max_seconds: float,
                sample_rate: int) -> Timing:
    """Duration uniform in [min, max]; each silence up to 0.4 s and at most 20% of it."""
    seconds = float(rng.uniform(min_seconds, max_seconds))
    max_silence = min(0.4, 0.2 * seconds)
    lead, trail = rng.uniform(0.01, max_silence, 2)
    total = int(round(seconds * sample_rate))
    return Timing(total, int(round(lead * sample_rate)), int(round(trail * sample_rate)))


def _room_response(rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Direct path plus an exponentially decaying diffuse tail."""
    rt60 = float(rng.uniform(*RT60_S))
    t = np.arange(int(rt60 * sample_rate)) / sample_rate
    tail = rng.standard_normal(t.size) * np.exp(-6.9 * t / rt60)
    tail[: int(0.002 * sample_rate)] = 0.0  # first reflections arrive after the direct sound
    drr_db = float(rng.uniform(0.0, 12.0))
    tail *= 10 ** (-drr_db / 20) / np.sqrt(np.sum(tail**2))
    tail[0] = 1.0
    return tail


def _eq_filter(rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Linear-phase FIR: random smooth EQ, a high-pass, and sometimes a low-pass band limit."""
    nyq = sample_rate / 2
    freqs = np.linspace(0.0, nyq, 257)
    knots = np.geomspace(60.0, nyq, 10)
    tilt = rng.uniform(-TILT_DB_PER_OCTAVE, TILT_DB_PER_OCTAVE)
    knot_db = rng.normal(0.0, EQ_DB, knots.size) + tilt * np.log2(knots / 1000.0)
    gain = 10 ** (np.interp(np.log(np.maximum(freqs, 60.0)), np.log(knots), knot_db) / 20)
    gain *= np.clip((freqs - rng.uniform(20.0, 120.0)) / 40.0, 0.0, 1.0)  # high-pass
    if rng.random() < BANDLIMIT_PROB:
        cutoff = float(rng.uniform(4000.0, min(7600.0, 0.95 * nyq)))
        width = float(rng.uniform(100.0, 600.0))
        gain *= np.clip((cutoff - freqs) / width, 0.0, 1.0)
    return firwin2(257, freqs, gain, fs=sample_rate)


def _noise(rng: np.random.Generator, n: int, sample_rate: int) -> np.ndarray:
    """White, pink-ish, brown-ish or mains-hum-plus-hiss noise at unit RMS."""
    kind = int(rng.integers(4))
    white = rng.standard_normal(n)
    if kind == 1:
        noise = lfilter([1.0], [1.0, -0.9], white) + 0.3 * white
    elif kind == 2:
        noise = lfilter([1.0], [1.0, -0.99], white)
    elif kind == 3:
        t = np.arange(n) / sample_rate
        mains = float(rng.choice([50.0, 60.0]))
        noise = sum(np.sin(2 * np.pi * mains * h * t + rng.uniform(0, 2 * np.pi)) / h
                    for h in range(1, 6)) + 0.3 * white
    else:
        noise = white
    block = sample_rate // 40  # the level of real background noise drifts every few tens of ms
    drift = 1 + 0.3 * moving_average(rng.standard_normal(n // block + 2), 5)
    noise = noise * drift.repeat(block)[:n]
    return noise / rms(noise)


def apply_channel(wave: np.ndarray, speech: slice, rng: np.random.Generator,
                  sample_rate: int) -> np.ndarray:
    """Room, additive noise at an SNR over the ``speech`` span, then microphone EQ/band limit."""
    x = wave
    if rng.random() < REVERB_PROB:
        x = fftconvolve(x, _room_response(rng, sample_rate))[:x.size]
    snr_db = float(rng.uniform(*SNR_DB))
    x = x + _noise(rng, x.size, sample_rate) * rms(x[speech]) * 10 ** (-snr_db / 20)
    x = fftconvolve(x, _eq_filter(rng, sample_rate), mode="same")
    floor_db = float(rng.uniform(55.0, 75.0))  # converter noise after the analogue chain
    return x + rng.standard_normal(x.size) * rms(x[speech]) * 10 ** (-floor_db / 20)


def finish(wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Loudness to a random target, a small DC offset, occasional clipping; float32 in [-1, 1]."""
    target = 10 ** (float(rng.uniform(*LEVEL_DBFS)) / 20)
    x = wave * (target / rms(wave))
    x = x + float(rng.normal(0.0, 0.002))
    if rng.random() < CLIP_PROB:
        x = x * (float(rng.uniform(1.05, 1.8)) / np.max(np.abs(x)))
    return np.clip(x, -1.0, 1.0).astype(np.float32)
