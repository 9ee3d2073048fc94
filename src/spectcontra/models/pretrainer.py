"""Stage-I contrastive network: Siamese encoder, projection heads and optional cross-view attention."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from spectcontra.models.cross_attention import CrossViewAttention
from spectcontra.models.encoder import SpectralEncoder
from spectcontra.models.losses import contrastive_loss
from spectcontra.models.projection import ProjectionHead


class ContrastivePretrainer(nn.Module):
    """Two views (B, F, T) of the same utterances -> (L_SA, L_CA), two scalar losses.

    A scaled-down version of the three-branch Siamese network of Goel et al. (Interspeech
    2024, arXiv 2407.03514): the shared encoder's self-attention branch embeds each view and
    L_SA contrasts their projections; with ``cross_attention`` the tokens of each view also
    attend to the other's and L_CA contrasts those projections. The caller combines
    L = L_SA + alpha * L_CA. Projection heads and cross-attention are pretraining-only.
    """

    def __init__(self, encoder: SpectralEncoder, projection_dim: int, cross_attention: bool,
                 temperature: float):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        dim = encoder.embed_dim
        self.encoder = encoder
        self.temperature = temperature
        self.project_sa = ProjectionHead(dim, projection_dim)
        self.cross = (CrossViewAttention(dim, encoder.cfg.heads, encoder.cfg.dropout)
                      if cross_attention else None)
        self.project_ca = ProjectionHead(dim, projection_dim) if cross_attention else None

    def forward(self, x_a: Tensor, x_b: Tensor, view_a: int, view_b: int,
                labels: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x_a, x_b: (B, F, T); view_a/b index ``VIEWS``; labels (B,) make the loss supervised."""
        batch = x_a.shape[0]
        ids = torch.cat([torch.full((batch,), view_a), torch.full((batch,), view_b)])  # (2B,)
        # Both views in one batch, as in SimCLR: BatchNorm sees them together.
        tokens, pooled = self.encoder(torch.cat([x_a, x_b]), ids)  # (2B, T', D), (2B, D)
        z = self.project_sa(pooled)  # (2B, P)
        l_sa = contrastive_loss(z[:batch], z[batch:], self.temperature, labels)
        if self.cross is None:
            return l_sa, torch.zeros((), dtype=l_sa.dtype)
        ca_a, ca_b = self.cross(tokens[:batch], tokens[batch:])  # (B, D) each
        zc = self.project_ca(torch.cat([ca_a, ca_b]))  # (2B, P)
        l_ca = contrastive_loss(zc[:batch], zc[batch:], self.temperature, labels)
        return l_sa, l_ca
