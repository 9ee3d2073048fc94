"""Tests for the copy-synthesis vocoders: every family on a voiced test signal, and the registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.signal import lfilter

from spectcontra.data.vocoders import (
    BY_ATTACK,
    FAMILIES,
    KNOWN_ATTACKS,
    UNSEEN_ATTACKS,
    vocode,
)

SR = 16000


def vowel(seconds: float, f0: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A sustained vowel between two silences: a gliding pulse train through three formants.

    Pitch trackers and envelope estimators need something speech-like to lock on to.
    """
    n = int(seconds * sample_rate)
    glide = f0 * (1 + 0.1 * np.sin(np.linspace(0, np.pi, n)))
    phase = np.cumsum(glide / sample_rate)
    source = (np.diff(np.floor(phase), prepend=0.0) > 0).astype(float)  # one pulse a period
    x = source + 0.01 * rng.standard_normal(n)
    for formant, bandwidth in ((700, 80), (1200, 90), (2600, 120)):
        r = np.exp(-np.pi * bandwidth / sample_rate)
        x = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * formant / sample_rate), r * r], x)
    x = 0.3 * x / np.max(np.abs(x))
    silence = np.zeros(int(0.1 * sample_rate))
    floor = 1e-4 * rng.standard_normal(2 * silence.size + n)  # a quiet room, not digital zero
    return (np.concatenate([silence, x, silence]) + floor).astype(np.float32)


@pytest.fixture(scope="module")
def wave() -> np.ndarray:
    torch.set_num_threads(1)
    return vowel(0.5, 120.0, SR, np.random.default_rng(0))


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.attack)
def test_family_keeps_length_and_changes_the_wave(family, wave: np.ndarray) -> None:
    out = family.vocode(wave, SR, 7)
    assert out.shape == wave.shape and out.dtype == np.float32
    assert np.isfinite(out).all()
    assert not np.allclose(out, wave, atol=1e-3)
    assert np.std(out) > 0.05 * np.std(wave)  # speech came out, not silence


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.attack)
def test_family_is_deterministic_in_its_seed(family, wave: np.ndarray) -> None:
    np.testing.assert_array_equal(family.vocode(wave, SR, 3), family.vocode(wave, SR, 3))


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.attack)
def test_family_handles_an_odd_length_and_another_rate(family) -> None:
    x = vowel(0.3, 200.0, 22050, np.random.default_rng(1))[:-3]
    out = family.vocode(x, 22050, 0)
    assert out.shape == x.shape and np.isfinite(out).all()


def test_registry_splits_families_into_known_and_eval_only() -> None:
    attacks = [f.attack for f in FAMILIES]
    assert len(set(attacks)) == len(attacks) >= 6
    assert len(UNSEEN_ATTACKS) >= 2 and len(KNOWN_ATTACKS) >= 2
    assert not set(KNOWN_ATTACKS) & set(UNSEEN_ATTACKS)
    assert set(KNOWN_ATTACKS) | set(UNSEEN_ATTACKS) == set(BY_ATTACK)
    # An eval-only family must be another algorithm, not a known one reparameterised.
    known = {f.vocode for f in FAMILIES if not f.eval_only}
    assert not known & {f.vocode for f in FAMILIES if f.eval_only}


def test_vocode_dispatches_and_rejects_unknown_attacks(wave: np.ndarray) -> None:
    np.testing.assert_array_equal(vocode("V01", wave, SR, 0), BY_ATTACK["V01"].vocode(wave, SR, 0))
    with pytest.raises(ValueError, match="unknown vocoder attack 'A01'"):
        vocode("A01", wave, SR, 0)


@pytest.mark.parametrize("bad", [np.zeros(0, np.float32), np.zeros((2, 100), np.float32)])
def test_vocoders_reject_empty_or_multichannel_input(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="non-empty 1-D wave"):
        vocode("V01", bad, SR, 0)
