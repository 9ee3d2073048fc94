"""Contrastive losses between two views' projections: NT-Xent and supervised contrastive."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _check(z_a: Tensor, z_b: Tensor, temperature: float) -> None:
    if z_a.dim() != 2 or z_a.shape != z_b.shape:
        raise ValueError(f"z_a and z_b must both be (B, P), got {tuple(z_a.shape)} "
                         f"and {tuple(z_b.shape)}")
    if z_a.shape[0] < 2:
        raise ValueError(f"a contrastive loss needs a batch of >= 2, got {z_a.shape[0]}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")


def contrastive_loss(z_a: Tensor, z_b: Tensor, temperature: float,
                     labels: Tensor | None = None) -> Tensor:
    """Mean over the 2B anchors of -mean_{p in P(i)} log softmax_{k != i}(cos(z_i, z_k) / t)_p.

    Row i of ``z_a`` and row i of ``z_b`` are two views of utterance i. Without ``labels``,
    P(i) is the other view of i: NT-Xent (SimCLR, Chen et al. 2020). With ``labels`` (B,),
    P(i) also holds every sample of the same label in both views: the supervised contrastive
    loss L_out of Khosla et al. 2020, which pulls bona fide utterances together (and spoofs).
    """
    _check(z_a, z_b, temperature)
    n = z_a.shape[0]
    z = F.normalize(torch.cat([z_a, z_b]), dim=1)  # (2B, P)
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)  # (2B, 2B)
    logits = (z @ z.T / temperature).masked_fill(self_mask, float("-inf"))  # (2B, 2B)
    log_prob = logits.log_softmax(dim=1)  # (2B, 2B)
    if labels is None:
        idx = torch.arange(2 * n, device=z.device)
        positives = torch.zeros_like(self_mask)
        positives[idx, (idx + n) % (2 * n)] = True  # (2B, 2B): the other view only
    else:
        if labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {tuple(labels.shape)}")
        both = torch.cat([labels, labels])  # (2B,)
        positives = (both[:, None] == both[None, :]) & ~self_mask  # (2B, 2B)
    per_anchor = -log_prob.masked_fill(~positives, 0.0).sum(dim=1) / positives.sum(dim=1)  # (2B,)
    return per_anchor.mean()


def nt_xent(z_a: Tensor, z_b: Tensor, temperature: float) -> Tensor:
    """NT-Xent (SimCLR, Chen et al. 2020) between projections z_a, z_b: (B, P)."""
    return contrastive_loss(z_a, z_b, temperature)


def sup_con(z_a: Tensor, z_b: Tensor, labels: Tensor, temperature: float) -> Tensor:
    """Supervised contrastive loss (Khosla et al. 2020) with labels: (B,)."""
    return contrastive_loss(z_a, z_b, temperature, labels)
