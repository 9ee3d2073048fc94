"""Spectral shortcut cues of one wave: high-band energy, flatness, bandwidth at -50 dB.

A band limit or a vocoder's noise floor that differs between the classes lets a detector win
without looking at speech; these cues, each a pure ``(wave, sample_rate) -> float``, let the
shortcut audit catch that. Spectra are Welch averages of Hann-windowed frames of about 32 ms
(:func:`spectcontra.data.dsp.fft_size`), the DC bin left out and the DC offset removed first.
"""

from __future__ import annotations

import numpy as np
import scipy.signal

from spectcontra.data.dsp import fft_size

BANDWIDTH_FLOOR_DB = 50.0  # a band counts while within this many dB of the loudest band
FLATNESS_FLOOR = 1e-12  # power floor inside the geometric mean, so digital silence stays finite


def _checked(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    x = np.asarray(wave, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"a spectral cue expects a non-empty 1-D wave, got shape {x.shape}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be > 0, got {sample_rate}")
    return x - x.mean()


def long_term_spectrum(wave: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies in Hz, power spectral density), both ``(bins,)``, DC bin dropped."""
    x = _checked(wave, sample_rate)
    n = min(fft_size(sample_rate), x.size)
    freqs, psd = scipy.signal.welch(x, sample_rate, window="hann", nperseg=n)
    return freqs[1:], psd[1:]


def energy_ratio_above(wave: np.ndarray, sample_rate: int, cutoff_hz: float) -> float:
    """Share of the spectral energy above ``cutoff_hz``, in [0, 1]; 0 for a silent wave."""
    freqs, psd = long_term_spectrum(wave, sample_rate)
    total = float(psd.sum())
    return float(psd[freqs > cutoff_hz].sum()) / total if total > 0 else 0.0


def energy_above_4k(wave: np.ndarray, sample_rate: int) -> float:
    """Share of the energy above 4 kHz: narrowband (8 kHz) audio has almost none."""
    return energy_ratio_above(wave, sample_rate, 4000.0)


def energy_above_7k(wave: np.ndarray, sample_rate: int) -> float:
    """Share of the energy above 7 kHz: wideband codecs such as G.722 stop near there."""
    return energy_ratio_above(wave, sample_rate, 7000.0)


def bandwidth_50db(wave: np.ndarray, sample_rate: int) -> float:
    """The highest frequency (Hz) whose long-term power is within 50 dB of the peak band."""
    freqs, psd = long_term_spectrum(wave, sample_rate)
    peak = float(psd.max())
    if peak <= 0:
        return 0.0
    within = np.flatnonzero(psd >= peak * 10 ** (-BANDWIDTH_FLOOR_DB / 10))
    return float(freqs[within[-1]])


def spectral_flatness(wave: np.ndarray, sample_rate: int) -> float:
    """Median over frames of the spectral flatness (geometric over arithmetic mean power).

    Near 1 for white noise, near 0 for a tone. The median over every frame, silences
    included, follows the noise floor between words as much as the speech: a vocoder that
    leaves digital silence or its own noise there moves it.
    """
    x = _checked(wave, sample_rate)
    n = min(fft_size(sample_rate), x.size)
    _, _, spec = scipy.signal.stft(x, sample_rate, window="hann", nperseg=n)
    power = np.abs(spec[1:]) ** 2 + FLATNESS_FLOOR  # (bins, frames), DC dropped
    flatness = np.exp(np.mean(np.log(power), axis=0)) / np.mean(power, axis=0)
    return float(np.median(flatness))


SPECTRAL_CUES = {
    "energy_above_4k": energy_above_4k,
    "energy_above_7k": energy_above_7k,
    "spectral_flatness": spectral_flatness,
    "bandwidth_50db_hz": bandwidth_50db,
}
