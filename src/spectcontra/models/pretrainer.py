"""Stage-I contrastive network: Siamese encoder, projection heads and optional cross-view attention."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from spectcontra.models.cross_attention import CrossViewAttention
from spectcontra.models.encoder import SpectralEncoder
from spectcontra.models.losses import contrastive_loss
from spectcontra.models.projection import ProjectionHead


class ContrastivePretrainer(nn.Module):
    """Two draws of two views (B, F, T) of the same utterances -> (L_SA, L_CA), scalar losses.

    A scaled-down version of the three-branch Siamese network of Goel et al. (Interspeech
    2024, arXiv 2407.03514): the shared encoder's self-attention branch embeds each view and
    L_SA contrasts their projections; with ``cross_attention`` the tokens of one view also
    attend to the other's and L_CA contrasts those projections. The caller combines
    L = L_SA + alpha * L_CA. Projection heads and cross-attention are pretraining-only.

    Against a leak: if L_CA's positive pair were (a attends b, b attends a) on the same draw,
    each side would contain its partner's tokens and the task would be solved by copying.
    Here the a->b and b->a attentions have separate weights, and the positive of
    ``a1 -> b1`` is ``b2 -> a2`` from a second, independent draw (other crops, other
    augmentation), so the two sides share no input tokens.
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
        self.cross_ab = self.cross_ba = self.project_ca = None
        if cross_attention:
            self.cross_ab = CrossViewAttention(dim, encoder.cfg.heads, encoder.cfg.dropout)
            self.cross_ba = CrossViewAttention(dim, encoder.cfg.heads, encoder.cfg.dropout)
            self.project_ca = ProjectionHead(dim, projection_dim)

    @property
    def needs_second_draw(self) -> bool:
        return self.cross_ab is not None

    def forward(self, x_a: Tensor, x_b: Tensor, view_a: int, view_b: int,
                labels: Tensor | None = None, second: tuple[Tensor, Tensor] | None = None,
                ) -> tuple[Tensor, Tensor]:
        """x_a, x_b: (B, F, T) draw 1; ``second`` (x_a2, x_b2): draw 2, needed with
        cross-attention; view_a/b index ``VIEWS``; labels (B,) make the losses supervised."""
        if self.needs_second_draw and second is None:
            raise ValueError("cross-attention needs a second draw of both views")
        batch = x_a.shape[0]
        xs = [x_a, x_b] + (list(second) if second is not None else [])
        ids = torch.cat([torch.full((batch,), v) for v in (view_a, view_b) * (len(xs) // 2)])
        # Every view of every draw in one batch, as in SimCLR: BatchNorm sees them together.
        tokens, pooled = self.encoder(torch.cat(xs), ids)  # (nB, T', D), (nB, D)
        z = self.project_sa(pooled).split(batch)  # n x (B, P)
        pairs = [(z[i], z[i + 1]) for i in range(0, len(z), 2)]
        l_sa = torch.stack([contrastive_loss(p, q, self.temperature, labels) for p, q in pairs]).mean()
        if self.cross_ab is None:
            return l_sa, torch.zeros((), dtype=l_sa.dtype)
        tok = tokens.split(batch)  # a1, b1, a2, b2: (B, T', D) each
        ca_1 = self.cross_ab(tok[0], tok[1])  # a1 attends b1: (B, D)
        ca_2 = self.cross_ba(tok[3], tok[2])  # b2 attends a2: (B, D)
        zc = self.project_ca(torch.cat([ca_1, ca_2])).split(batch)  # 2 x (B, P)
        l_ca = contrastive_loss(zc[0], zc[1], self.temperature, labels)
        return l_sa, l_ca
