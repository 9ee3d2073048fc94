"""Classification heads: an embedding (B, D) -> one bona fide logit (B,)."""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

HeadKind = Literal["linear", "mlp"]


class LinearHead(nn.Module):
    """One linear layer: the logistic-regression head of a linear probe."""

    def __init__(self, in_dim: int):
        super().__init__()
        self.fc = nn.Linear(in_dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(x).squeeze(-1)  # (B,)


class MLPHead(nn.Module):
    """Linear-ReLU-Dropout-Linear with ``hidden`` units."""

    def __init__(self, in_dim: int, hidden: int, dropout: float):
        super().__init__()
        if hidden < 1:
            raise ValueError(f"hidden must be >= 1 for an MLP head, got {hidden}")
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True),
                                 nn.Dropout(dropout), nn.Linear(hidden, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(-1)  # (B,)


def build_head(kind: HeadKind, in_dim: int, hidden: int, dropout: float) -> nn.Module:
    """The head named by ``finetune.head``; ``hidden`` and ``dropout`` apply to the MLP only."""
    if kind == "linear":
        return LinearHead(in_dim)
    if kind == "mlp":
        return MLPHead(in_dim, hidden, dropout)
    raise ValueError(f"unknown head {kind!r}; expected 'linear' or 'mlp'")
