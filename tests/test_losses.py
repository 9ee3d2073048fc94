"""Contrastive losses against hand-worked cases and a brute-force double loop."""

from __future__ import annotations

import math

import pytest
import torch

from spectcontra.models.losses import contrastive_loss, nt_xent, sup_con

torch.set_num_threads(1)


def naive_loss(z_a: torch.Tensor, z_b: torch.Tensor, t: float, labels=None) -> float:
    """Explicit double loop over anchors and candidates, in float64."""
    z = torch.cat([z_a, z_b]).double()
    z = z / z.norm(dim=1, keepdim=True)
    n = z_a.shape[0]
    lab = None if labels is None else torch.cat([labels, labels]).tolist()
    total = 0.0
    for i in range(2 * n):
        denom = sum(math.exp(float(z[i] @ z[k]) / t) for k in range(2 * n) if k != i)
        if lab is None:
            pos = [(i + n) % (2 * n)]
        else:
            pos = [p for p in range(2 * n) if p != i and lab[p] == lab[i]]
        total += -sum(math.log(math.exp(float(z[i] @ z[p]) / t) / denom) for p in pos) / len(pos)
    return total / (2 * n)


def test_nt_xent_hand_computed_b2():
    # Unit vectors: a0=(1,0), a1=(0,1), b0=(1,0), b1=(0.6,0.8); t = 0.5.
    z_a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z_b = torch.tensor([[2.0, 0.0], [0.6, 0.8]])  # b0 unnormalised on purpose
    t = 0.5
    e = lambda s: math.exp(s / t)  # noqa: E731
    # cosine similarities: a0.a1=0, a0.b0=1, a0.b1=.6, a1.b0=0, a1.b1=.8, b0.b1=.6
    l_a0 = -math.log(e(1.0) / (e(0.0) + e(1.0) + e(0.6)))
    l_a1 = -math.log(e(0.8) / (e(0.0) + e(0.0) + e(0.8)))
    l_b0 = -math.log(e(1.0) / (e(1.0) + e(0.0) + e(0.6)))
    l_b1 = -math.log(e(0.8) / (e(0.6) + e(0.8) + e(0.6)))
    expected = (l_a0 + l_a1 + l_b0 + l_b1) / 4
    assert nt_xent(z_a, z_b, t).item() == pytest.approx(expected, rel=1e-6)


def test_sup_con_hand_computed_same_label():
    # Both utterances bona fide: every other sample is a positive of every anchor.
    z_a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z_b = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    t = 1.0
    sims = {"a0": [0.0, 1.0, 0.6], "a1": [0.0, 0.0, 0.8], "b0": [1.0, 0.0, 0.6], "b1": [0.6, 0.8, 0.6]}
    expected = 0.0
    for row in sims.values():
        log_denom = math.log(sum(math.exp(s / t) for s in row))
        expected += -sum(s / t - log_denom for s in row) / 3
    expected /= 4
    got = sup_con(z_a, z_b, torch.tensor([1, 1]), t).item()
    assert got == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("t", [0.07, 0.2, 1.0])
@pytest.mark.parametrize("supervised", [False, True])
def test_matches_naive_double_loop(t, supervised):
    gen = torch.Generator().manual_seed(0)
    z_a, z_b = torch.randn(6, 5, generator=gen), torch.randn(6, 5, generator=gen)
    labels = torch.tensor([1, 0, 0, 1, 0, 0]) if supervised else None
    got = contrastive_loss(z_a.double(), z_b.double(), t, labels).item()
    assert got == pytest.approx(naive_loss(z_a, z_b, t, labels), rel=1e-9)


def test_sup_con_with_distinct_labels_is_nt_xent():
    gen = torch.Generator().manual_seed(1)
    z_a, z_b = torch.randn(5, 4, generator=gen), torch.randn(5, 4, generator=gen)
    assert torch.allclose(sup_con(z_a, z_b, torch.arange(5), 0.3), nt_xent(z_a, z_b, 0.3))


def test_scale_invariant_and_aligned_views_score_lower():
    gen = torch.Generator().manual_seed(2)
    z = torch.randn(8, 4, generator=gen)
    noise = torch.randn(8, 4, generator=gen)
    assert torch.allclose(nt_xent(z, z + noise, 0.2), nt_xent(3 * z, 0.5 * (z + noise), 0.2))
    assert nt_xent(z, z, 0.2) < nt_xent(z, noise, 0.2)


def test_gradient_is_finite():
    z_a = torch.randn(4, 3, requires_grad=True)
    z_b = torch.randn(4, 3, requires_grad=True)
    sup_con(z_a, z_b, torch.tensor([0, 1, 0, 1]), 0.1).backward()
    assert torch.isfinite(z_a.grad).all() and torch.isfinite(z_b.grad).all()
    assert z_a.grad.abs().sum() > 0


@pytest.mark.parametrize("z_a, z_b, t, match", [
    (torch.randn(4, 3), torch.randn(5, 3), 0.1, "z_a and z_b"),
    (torch.randn(1, 3), torch.randn(1, 3), 0.1, ">= 2"),
    (torch.randn(4, 3), torch.randn(4, 3), 0.0, "temperature"),
])
def test_bad_inputs_raise(z_a, z_b, t, match):
    with pytest.raises(ValueError, match=match):
        nt_xent(z_a, z_b, t)


def test_bad_label_shape_raises():
    with pytest.raises(ValueError, match="labels"):
        sup_con(torch.randn(4, 3), torch.randn(4, 3), torch.tensor([0, 1]), 0.1)
