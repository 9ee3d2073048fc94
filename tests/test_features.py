"""Crop/pad policy, feature shapes and train-only normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spectcontra.config import load_config
from spectcontra.features.spectral import (
    FeatureExtractor,
    compute_stats,
    crop_or_pad,
    normalize,
)
from tests.conftest import ROOT

CFG = load_config(ROOT / "params.yaml")


@pytest.mark.parametrize("length", [1, 999, 1000, 1001, 5000])
def test_crop_or_pad_always_gives_the_crop_length(length: int) -> None:
    wave = np.arange(length, dtype=np.float32) + 1
    out = crop_or_pad(wave, 1000, np.random.default_rng(0))
    assert out.shape == (1000,)


def test_short_clips_are_tiled_not_zero_padded() -> None:
    wave = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    np.testing.assert_array_equal(crop_or_pad(wave, 7, None), [1, 2, 3, 1, 2, 3, 1])


def test_exact_length_is_returned_unchanged_even_with_random_crop() -> None:
    wave = np.random.default_rng(1).standard_normal(1000).astype(np.float32)
    for seed in range(5):
        np.testing.assert_array_equal(crop_or_pad(wave, 1000, np.random.default_rng(seed)), wave)


def test_long_clips_are_cropped_deterministically_from_the_seed() -> None:
    wave = np.arange(5000, dtype=np.float32)
    a = crop_or_pad(wave, 1000, np.random.default_rng(3))
    b = crop_or_pad(wave, 1000, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert np.all(np.diff(a) == 1)  # a contiguous window
    centred = crop_or_pad(wave, 1000, None)
    assert centred[0] == 2000


@pytest.mark.parametrize("bad", [np.zeros(0, np.float32), np.zeros((2, 10), np.float32)])
def test_crop_rejects_empty_and_multichannel(bad) -> None:
    with pytest.raises(ValueError, match="1-D waveform"):
        crop_or_pad(bad, 10, None)


def test_feature_views_shapes_and_finiteness() -> None:
    sr = CFG.common.sample_rate
    extractor = FeatureExtractor(CFG.preprocess, sr)
    wave = torch.zeros(2, sr)  # digital silence must still give finite features
    wave[1] = torch.randn(sr)
    views = extractor(wave)
    frames = sr // CFG.preprocess.hop_length + 1
    assert views["mel"].shape == (2, CFG.preprocess.n_mels, frames)
    assert views["linear"].shape == (2, CFG.preprocess.n_linear, frames)
    assert all(torch.isfinite(v).all() for v in views.values())


def test_linear_view_sees_high_frequencies_the_mel_view_blurs() -> None:
    sr = CFG.common.sample_rate
    t = torch.arange(sr) / sr
    extractor = FeatureExtractor(CFG.preprocess, sr)
    lo = extractor(torch.sin(2 * torch.pi * 7000 * t))
    hi = extractor(torch.sin(2 * torch.pi * 7300 * t))
    peak = lambda v: int(v.mean(-1).argmax())  # noqa: E731
    # 300 Hz apart at 7 kHz: distinct linear bands (125 Hz wide), the same or adjacent mel band.
    assert peak(hi["linear"][0]) - peak(lo["linear"][0]) >= 2
    assert peak(hi["mel"][0]) - peak(lo["mel"][0]) <= 1


def test_normalisation_uses_given_stats() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(3.0, 2.0, size=(20, 4, 50)).astype(np.float32)
    mean, std = compute_stats(train)
    z = normalize(train, mean, std)
    np.testing.assert_allclose(z.mean(axis=(0, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(z.std(axis=(0, 2)), 1, atol=1e-3)
    other = normalize(torch.from_numpy(train[:2]), mean, std)
    np.testing.assert_allclose(other.numpy(), z[:2], atol=1e-5)


def test_unknown_view_is_refused() -> None:
    with pytest.raises(ValueError, match="views must be"):
        FeatureExtractor(CFG.preprocess, 16000, ("mel", "cqt"))
