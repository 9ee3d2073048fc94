"""Spectrogram augmentations: seeded, shape-preserving, and the identity when switched off."""

from __future__ import annotations

import math

import pytest
import torch

from spectcontra.augment.spectrogram import (
    DB_TO_LOG_POWER,
    add_noise,
    augment,
    freq_mask,
    random_gain,
    time_mask,
)
from spectcontra.config import AugmentConfig

torch.set_num_threads(1)

OFF = AugmentConfig(time_mask=0, freq_mask=0, gain_db=0.0, noise_std=0.0, signal_effects=False)
ON = AugmentConfig(time_mask=10, freq_mask=4, gain_db=6.0, noise_std=0.1, signal_effects=False)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def batch(seed: int = 0) -> torch.Tensor:
    # Offset from zero so masked (zeroed) cells are distinguishable from data.
    return torch.rand(8, 16, 40, generator=gen(seed)) + 1.0


def test_zero_settings_are_identity():
    x = batch()
    assert torch.equal(augment(x, OFF, gen()), x)


def test_same_seed_same_output_different_seed_differs():
    x = batch()
    assert torch.equal(augment(x, ON, gen(3)), augment(x, ON, gen(3)))
    assert not torch.equal(augment(x, ON, gen(3)), augment(x, ON, gen(4)))


def test_input_not_modified():
    x = batch()
    before = x.clone()
    augment(x, ON, gen())
    assert torch.equal(x, before)


@pytest.mark.parametrize("max_width", [1, 10, 40, 100])
def test_time_mask_zeroes_one_span_of_whole_frames(max_width):
    x = batch()
    out = time_mask(x, max_width, gen())
    masked = (out == 0).all(dim=1)  # (B, T): frames zeroed across every bin
    assert torch.equal((out == 0), masked[:, None, :].expand_as(out))
    widths = masked.sum(dim=1)
    assert (widths <= min(max_width, x.shape[-1])).all()
    for row in masked:
        idx = row.nonzero().flatten()
        if len(idx):
            assert idx[-1] - idx[0] + 1 == len(idx)  # contiguous
    assert torch.equal(out[~(out == 0)], x[~(out == 0)])


@pytest.mark.parametrize("max_width", [1, 4, 16, 50])
def test_freq_mask_zeroes_one_band_of_whole_bins(max_width):
    x = batch()
    out = freq_mask(x, max_width, gen())
    masked = (out == 0).all(dim=2)  # (B, F)
    assert torch.equal((out == 0), masked[:, :, None].expand_as(out))
    assert (masked.sum(dim=1) <= min(max_width, x.shape[1])).all()
    assert masked.any()  # over 8 examples some band is non-empty


def test_masks_cover_every_position_over_many_draws():
    hits = torch.zeros(40, dtype=torch.bool)
    g = gen()
    for _ in range(50):
        hits |= (time_mask(batch(), 5, g) == 0).all(dim=1).any(dim=0)
    assert hits.all()  # starts reach both edges


def test_gain_is_one_constant_per_example_in_db():
    x = batch()
    out = random_gain(x, 6.0, gen())
    shift = out - x
    per_example = shift[:, :1, :1]
    assert torch.allclose(shift, per_example.expand_as(shift), atol=1e-6)
    assert (per_example.abs() <= 6.0 * DB_TO_LOG_POWER + 1e-6).all()
    assert per_example.std() > 0


def test_gain_divided_by_bin_std():
    x = batch()
    std = torch.linspace(0.5, 2.0, 16)
    raw = random_gain(x, 3.0, gen(7)) - x
    scaled = random_gain(x, 3.0, gen(7), bin_std=std) - x
    assert torch.allclose(scaled, raw / std[None, :, None], atol=1e-6)
    assert DB_TO_LOG_POWER == pytest.approx(math.log(10) / 10)


def test_noise_has_requested_std():
    x = torch.zeros(64, 16, 40)
    out = add_noise(x, 0.3, gen())
    assert out.mean().abs() < 0.01
    assert out.std().item() == pytest.approx(0.3, rel=0.03)


@pytest.mark.parametrize("field", ["time_mask", "freq_mask", "gain_db", "noise_std"])
def test_negative_setting_raises_naming_it(field):
    cfg = AugmentConfig(**{**OFF.__dict__, field: -1})
    with pytest.raises(ValueError, match=field):
        augment(batch(), cfg, gen())
