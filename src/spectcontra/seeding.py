"""One place to seed Python, NumPy and torch, and to make seeded torch generators."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch's global RNGs and ask torch for deterministic kernels.

    On CPU deterministic kernels cost next to nothing; ``warn_only`` keeps an op that has no
    deterministic version usable (it warns instead of raising).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


def torch_generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed``, for shuffling and augmentation."""
    gen = torch.Generator(device="cpu")
    gen.manual_seed(seed)
    return gen
