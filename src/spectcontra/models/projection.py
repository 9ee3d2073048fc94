"""Projection head: embedding -> the space the contrastive loss compares (pretraining only)."""

from __future__ import annotations

from torch import Tensor, nn


class ProjectionHead(nn.Module):
    """Embedding (B, D) -> projection (B, P): Linear-ReLU-Linear, as in SimCLR (Chen et al. 2020).

    The loss acts on the projection, not on the embedding, so the embedding keeps information
    the augmentations would otherwise teach it to discard; the head is thrown away afterwards.
    """

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        if in_dim < 1 or out_dim < 1:
            raise ValueError(f"in_dim and out_dim must be >= 1, got {in_dim}, {out_dim}")
        self.net = nn.Sequential(nn.Linear(in_dim, in_dim), nn.ReLU(inplace=True),
                                 nn.Linear(in_dim, out_dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)  # (B, P)
