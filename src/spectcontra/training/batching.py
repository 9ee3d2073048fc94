"""DataLoader-free batching: seeded shuffles of indices and float32 batches of float16 arrays."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from spectcontra.models.detector import ArrayLike, as_float_tensor


def shuffled_batches(n: int, batch_size: int, generator: torch.Generator,
                     min_size: int = 1) -> list[Tensor]:
    """A seeded permutation of range(n) in batches; a last batch under ``min_size`` is dropped."""
    perm = torch.randperm(n, generator=generator)
    return [b for b in perm.split(batch_size) if len(b) >= min_size]


def take(array: ArrayLike, idx: Tensor) -> Tensor:
    """Rows ``idx`` of a numpy array (memory-mapped or not) or tensor, as float32."""
    if isinstance(array, Tensor):
        return array[idx].to(torch.float32)
    return as_float_tensor(array[idx.numpy()])  # fancy indexing copies, so memmaps work


def check_views(views: Mapping[str, ArrayLike], names: tuple[str, ...], n: int, what: str) -> None:
    """Raise ValueError unless every view in ``names`` is present with ``n`` rows of shape (F, T)."""
    for name in names:
        if name not in views:
            raise ValueError(f"{what} lacks view {name!r} (has {sorted(views)})")
        shape = tuple(views[name].shape)
        if len(shape) != 3 or shape[0] != n:
            raise ValueError(f"{what}[{name!r}] must be ({n}, bins, frames), got {shape}")
