"""Cross-view attention: the tokens of one spectral view attend to the other's (pretraining only)."""

from __future__ import annotations

from torch import Tensor, nn


class CrossViewAttention(nn.Module):
    """Query tokens (B, Tq, D) attend to context tokens (B, Tc, D) -> pooled embedding (B, D).

    The cross-attention branch of Goel et al., "Towards Attention-based Contrastive Learning
    for Audio Spoof Detection" (Interspeech 2024, arXiv 2407.03514), scaled down to one
    pre-norm multi-head attention layer; the result is added to its queries (residual) and
    mean-pooled over time. The pretrainer holds one per direction (a->b, b->a), with separate
    weights. Its contrastive loss L_CA joins the self-attention loss as L = L_SA + alpha * L_CA;
    the module is dropped after pretraining, so it costs nothing at inference.
    """

    def __init__(self, embed_dim: int, heads: int, dropout: float):
        super().__init__()
        if embed_dim < 1 or heads < 1 or embed_dim % heads:
            raise ValueError(f"embed_dim ({embed_dim}) must be a positive multiple of heads ({heads})")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.norm_query = nn.LayerNorm(embed_dim)
        self.norm_context = nn.LayerNorm(embed_dim)
        self.attention = nn.MultiheadAttention(embed_dim, heads, dropout=dropout, batch_first=True)
        self.norm_out = nn.LayerNorm(embed_dim)

    def attend(self, query: Tensor, context: Tensor) -> Tensor:
        """query: (B, Tq, D) attends to context: (B, Tc, D) -> pooled (B, D)."""
        q = self.norm_query(query)
        kv = self.norm_context(context)
        mixed, _ = self.attention(q, kv, kv, need_weights=False)  # (B, Tq, D)
        return self.norm_out(query + mixed).mean(dim=1)  # (B, D)

    def forward(self, query: Tensor, context: Tensor) -> Tensor:
        return self.attend(query, context)
