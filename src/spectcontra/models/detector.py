"""Spoof detector: the spectral encoder on each view, embeddings concatenated, a light head."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from spectcontra.config import VIEWS, EncoderConfig
from spectcontra.models.encoder import SpectralEncoder
from spectcontra.models.heads import HeadKind, build_head

Strategy = Literal["frozen", "partial", "full", "logreg"]
STRATEGIES: tuple[str, ...] = ("frozen", "partial", "full", "logreg")
ArrayLike = np.ndarray | Tensor


class SpoofDetector(nn.Module):
    """{view: (B, F, T)} -> bona fide logit (B,); higher = more bona fide.

    The shared (Siamese) :class:`SpectralEncoder` embeds every configured view in one batched
    call; the per-view embeddings (B, D) are concatenated to (B, V*D) and a linear or MLP head
    gives the logit. ``set_strategy`` picks what fine-tuning may change, in the manner of
    MoCo's linear evaluation (He et al. 2020): 'frozen' and 'logreg' freeze the encoder and
    keep it in eval mode so BatchNorm statistics cannot drift; 'partial' trains the last conv
    block, the token projection, the view embedding and the attention layer; 'full' trains
    everything.
    """

    def __init__(self, encoder_cfg: EncoderConfig, views: tuple[str, ...], n_bins: int,
                 head: HeadKind = "mlp", head_hidden: int = 32):
        super().__init__()
        views = tuple(views)
        if not views or len(set(views)) != len(views) or not set(views) <= set(VIEWS):
            raise ValueError(f"views must be distinct names from {VIEWS}, got {views}")
        self.views = views
        self.head_kind = head
        self.head_hidden = head_hidden
        self.encoder = SpectralEncoder(encoder_cfg, n_bins)
        self.head = build_head(head, len(views) * encoder_cfg.embed_dim, head_hidden,
                               encoder_cfg.dropout)
        self.register_buffer("view_ids", torch.tensor([VIEWS.index(v) for v in views]),
                             persistent=False)
        self.strategy: Strategy = "full"

    def set_strategy(self, strategy: Strategy) -> None:
        """Set ``requires_grad`` (and train/eval modes) for a fine-tuning strategy."""
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; expected one of {STRATEGIES}")
        self.strategy = strategy
        self.requires_grad_(True)
        if strategy != "full":
            self.encoder.requires_grad_(False)
        if strategy == "partial":
            for module in self.encoder.partial_modules():
                module.requires_grad_(True)
            for param in self.encoder.partial_parameters():
                param.requires_grad_(True)
        self.train(self.training)

    def train(self, mode: bool = True) -> SpoofDetector:
        # Frozen parts stay in eval mode: BatchNorm running stats must not move, dropout is off.
        super().train(mode)
        if mode and self.strategy != "full":
            self.encoder.eval()
            if self.strategy == "partial":
                for module in self.encoder.partial_modules():
                    module.train()
        return self

    def embed(self, views: Mapping[str, Tensor]) -> Tensor:
        """Mean-pooled embeddings of every view, concatenated: (B, V*D)."""
        xs = [views[v] for v in self.views]  # V x (B, F, T)
        if any(x.shape != xs[0].shape for x in xs):
            shapes = [tuple(x.shape) for x in xs]
            raise ValueError(f"views {self.views} must share one shape, got {shapes}")
        batch = xs[0].shape[0]
        # Each view id repeated batch times, view-major like torch.cat(xs). Written as
        # expand + reshape rather than repeat_interleave, which the ONNX exporter
        # (onnxscript 0.7.2) mistranslates when the batch size is dynamic.
        ids = self.view_ids[:, None].expand(-1, batch).reshape(-1)  # (V*B,)
        _, pooled = self.encoder(torch.cat(xs), ids)  # (V*B, D)
        return pooled.view(len(xs), batch, -1).transpose(0, 1).reshape(batch, -1)  # (B, V*D)

    def forward(self, views: Mapping[str, Tensor]) -> Tensor:
        return self.head(self.embed(views))  # (B,)


def as_float_tensor(array: ArrayLike) -> Tensor:
    """A float32 tensor copy of a (float16) array, memory-mapped or not, or of a tensor."""
    if isinstance(array, Tensor):
        return array.to(torch.float32)
    return torch.from_numpy(np.array(array, dtype=np.float32))


def _batched(detector: SpoofDetector, fn: Callable[[dict[str, Tensor]], Tensor],
             views: Mapping[str, ArrayLike], batch_size: int) -> np.ndarray:
    n = len(views[detector.views[0]])
    was_training = detector.training
    detector.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            batch = {v: as_float_tensor(views[v][start:start + batch_size]) for v in detector.views}
            out.append(fn(batch).numpy().astype(np.float64))
    detector.train(was_training)
    return np.concatenate(out) if out else np.zeros((0,), dtype=np.float64)


def score(detector: SpoofDetector, views: Mapping[str, ArrayLike],
          batch_size: int = 256) -> np.ndarray:
    """Raw bona fide logits (N,) of {view: (N, F, T)}, in eval mode and without gradients."""
    return _batched(detector, detector, views, batch_size)


def embeddings(detector: SpoofDetector, views: Mapping[str, ArrayLike],
               batch_size: int = 256) -> np.ndarray:
    """Mean-pooled encoder embeddings (N, V*D) of {view: (N, F, T)}, as for a linear probe."""
    return _batched(detector, detector.embed, views, batch_size)
