"""Tests for the spectral shortcut cues against signals whose spectra are known in closed form."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from spectcontra.data.spectral_cues import (
    SPECTRAL_CUES,
    bandwidth_50db,
    energy_above_4k,
    energy_above_7k,
    energy_ratio_above,
    spectral_flatness,
)

SR = 16000


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return np.random.default_rng(0).standard_normal(4 * SR)


def tone(hz: float, seconds: float = 1.0, sample_rate: int = SR) -> np.ndarray:
    return 0.5 * np.sin(2 * np.pi * hz * np.arange(int(seconds * sample_rate)) / sample_rate)


def test_white_noise_spreads_its_energy_evenly(noise: np.ndarray) -> None:
    # A flat spectrum puts (8 - 4) / 8 of its energy above 4 kHz and 1/8 above 7 kHz.
    assert energy_above_4k(noise, SR) == pytest.approx(0.5, abs=0.02)
    assert energy_above_7k(noise, SR) == pytest.approx(0.125, abs=0.01)
    assert bandwidth_50db(noise, SR) > 7500


def test_white_noise_flatness_is_exp_minus_euler_gamma(noise: np.ndarray) -> None:
    # Periodogram bins of Gaussian noise are exponential: E[log P] = log E[P] - gamma, so the
    # geometric over the arithmetic mean tends to exp(-0.5772) = 0.561.
    assert spectral_flatness(noise, SR) == pytest.approx(np.exp(-np.euler_gamma), abs=0.03)


def test_a_tone_is_narrow_and_not_flat() -> None:
    x = tone(1000.0)
    assert energy_above_4k(x, SR) < 1e-6
    assert spectral_flatness(x, SR) < 0.01
    assert 1000 <= bandwidth_50db(x, SR) < 1500


def test_a_band_limit_shows_in_every_band_cue(noise: np.ndarray) -> None:
    low = sosfilt(butter(12, 3400, fs=SR, output="sos"), noise)
    assert energy_above_4k(low, SR) < 1e-3
    assert energy_above_7k(low, SR) < 1e-6
    assert 3400 <= bandwidth_50db(low, SR) < 5000


def test_energy_ratio_is_zero_above_nyquist(noise: np.ndarray) -> None:
    assert energy_ratio_above(noise[:8000], 8000, 4000.0) == 0.0
    assert energy_ratio_above(noise, SR, 0.0) == pytest.approx(1.0)


def test_cues_ignore_a_dc_offset(noise: np.ndarray) -> None:
    x = noise[:SR]
    for name, cue in SPECTRAL_CUES.items():
        assert cue(x + 0.3, SR) == pytest.approx(cue(x, SR), rel=1e-6), name


def test_digital_silence_reads_as_no_energy_and_stays_finite() -> None:
    x = np.zeros(SR)
    assert energy_above_4k(x, SR) == 0.0
    assert bandwidth_50db(x, SR) == 0.0
    assert np.isfinite(spectral_flatness(x, SR))


def test_a_clip_shorter_than_one_frame_still_has_cues() -> None:
    x = np.random.default_rng(1).standard_normal(100)
    assert all(np.isfinite(cue(x, SR)) for cue in SPECTRAL_CUES.values())


@pytest.mark.parametrize("bad", [np.zeros(0), np.zeros((2, 10))])
def test_bad_waves_are_refused(bad: np.ndarray) -> None:
    for cue in SPECTRAL_CUES.values():
        with pytest.raises(ValueError, match="non-empty 1-D wave"):
            cue(bad, SR)


def test_bad_rate_is_refused(noise: np.ndarray) -> None:
    with pytest.raises(ValueError, match="sample_rate must be > 0"):
        energy_above_4k(noise, 0)
