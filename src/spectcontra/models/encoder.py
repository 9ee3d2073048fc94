"""Small CNN + one self-attention layer turning a log spectrogram into time tokens and an embedding."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from spectcontra.config import VIEWS, EncoderConfig

TIME_POOLED_BLOCKS = 3  # blocks that halve time: 10 ms frames -> 80 ms tokens, cheap attention


def _conv_block(c_in: int, c_out: int, pool_time: bool, stem: bool) -> nn.Sequential:
    time_step = 2 if pool_time else 1
    if stem:
        # The stem sees the full-resolution spectrogram, where a convolution followed by
        # max-pooling cost most of a training step; a strided convolution halves the map at
        # a quarter of the cost (sizes as the pooled block's: ceil(F/2), ceil(T/2)).
        conv = nn.Conv2d(c_in, c_out, kernel_size=3, stride=(2, time_step), padding=1, bias=False)
        pool = nn.Identity()
    else:
        conv = nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False)
        # ceil_mode keeps every size >= 1, so any number of bins or frames passes through.
        pool = nn.MaxPool2d((2, time_step), ceil_mode=True)
    return nn.Sequential(conv, pool, nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class SpectralEncoder(nn.Module):
    """Log spectrogram (batch, bins, frames) -> tokens (batch, frames', D) and embedding (batch, D).

    Conv blocks (Conv2d-MaxPool-BatchNorm-ReLU; the first a strided Conv2d instead) halve
    frequency in every block and time in the first ``TIME_POOLED_BLOCKS``, so the costly
    convolutions run on small maps. Each time step's
    (channels x reduced bins) column becomes a token, a learned view-type embedding tells the
    views apart, and one pre-norm Transformer encoder layer (Vaswani et al. 2017) mixes the tokens.
    There is no positional embedding: the convolutions carry local order and any clip length
    (1 s to 10 s and beyond) works. The embedding is the mean over tokens.

    One encoder serves every view with shared weights (a Siamese encoder, as in the
    self-attention branches of Goel et al., Interspeech 2024, arXiv 2407.03514): it halves the
    parameter budget and makes the views' embeddings directly comparable for contrastive learning.
    """

    def __init__(self, cfg: EncoderConfig, n_bins: int):
        super().__init__()
        if n_bins < 1:
            raise ValueError(f"n_bins must be >= 1, got {n_bins}")
        self.cfg = cfg
        self.n_bins = n_bins
        blocks = []
        c_in, bins = 1, n_bins
        for i, c_out in enumerate(cfg.channels):
            blocks.append(_conv_block(c_in, c_out, pool_time=i < TIME_POOLED_BLOCKS, stem=i == 0))
            c_in, bins = c_out, math.ceil(bins / 2)
        self.blocks = nn.ModuleList(blocks)
        self.reduced_bins = bins
        self.to_tokens = nn.Linear(c_in * bins, cfg.embed_dim)
        self.view_embed = nn.Parameter(torch.zeros(len(VIEWS), cfg.embed_dim))
        nn.init.trunc_normal_(self.view_embed, std=0.02)
        self.attention = nn.TransformerEncoderLayer(
            d_model=cfg.embed_dim, nhead=cfg.heads, dim_feedforward=2 * cfg.embed_dim,
            dropout=cfg.dropout, batch_first=True, norm_first=True,
        )
        self.norm = nn.LayerNorm(cfg.embed_dim)

    @property
    def embed_dim(self) -> int:
        return self.cfg.embed_dim

    def partial_modules(self) -> list[nn.Module]:
        """What 'partial' fine-tuning trains: everything after the first conv blocks, i.e. the
        last conv block, the token projection, the attention layer and its norm (the view
        embedding, a bare parameter, is in :meth:`partial_parameters`)."""
        return [self.blocks[-1], self.to_tokens, self.attention, self.norm]

    def partial_parameters(self) -> list[nn.Parameter]:
        """Parameters 'partial' fine-tuning trains besides those of :meth:`partial_modules`."""
        return [self.view_embed]

    def forward(self, x: Tensor, view_ids: Tensor) -> tuple[Tensor, Tensor]:
        """x: (B, F, T) log spectrogram; view_ids: (B,) indices into ``VIEWS``."""
        if x.dim() != 3 or x.shape[1] != self.n_bins:
            raise ValueError(f"expected input (batch, {self.n_bins}, frames), got {tuple(x.shape)}")
        h = x.unsqueeze(1)  # (B, 1, F, T)
        for conv, pool, norm, act in self.blocks:
            # Pool before BatchNorm: CPU max-pooling runs ~10x faster channels-last, and the
            # normalisation (whose backward dominated a training step when it ran on the
            # full-resolution map) then works on a quarter of the cells.
            h = pool(conv(h).contiguous(memory_format=torch.channels_last))
            h = act(norm(h))  # (B, C, F', T')
        h = h.flatten(1, 2).transpose(1, 2)  # (B, T', C*F')
        tokens = self.to_tokens(h) + self.view_embed[view_ids].unsqueeze(1)  # (B, T', D)
        tokens = self.norm(self.attention(tokens))  # (B, T', D)
        return tokens, tokens.mean(dim=1)  # (B, T', D), (B, D)
