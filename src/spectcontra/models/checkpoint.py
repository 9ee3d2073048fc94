"""Self-contained detector checkpoints: weights plus every setting inference needs."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from spectcontra.config import EncoderConfig
from spectcontra.io_utils import atomic_path
from spectcontra.models.detector import SpoofDetector
from spectcontra.models.encoder import SpectralEncoder

FORMAT_VERSION = 1
_PLAIN = (str, int, float, bool, type(None), Tensor)


def _check_plain(obj: Any, key: str) -> None:
    # torch.load(weights_only=True) reads only these types; refuse others at save time.
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"checkpoint extra key {key}.{k!r} must be a string")
            _check_plain(v, f"{key}.{k}")
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            _check_plain(v, f"{key}[{i}]")
    elif not isinstance(obj, _PLAIN):
        raise TypeError(f"checkpoint {key} is a {type(obj).__name__}; use lists, numbers, "
                        f"strings or tensors (e.g. array.tolist())")


def save_checkpoint(path: str | Path, detector: SpoofDetector, extra: dict[str, Any]) -> None:
    """Write weights, encoder config, views, head, strategy, n_bins and ``extra`` atomically.

    ``extra`` (feature settings, normalisation statistics, calibration, threshold) must hold
    only dicts, lists, strings, numbers, booleans, None and tensors, so loading needs no pickle.
    A 'logreg' detector stores its classifier as the linear head's weight and bias tensors.
    """
    _check_plain(extra, "extra")
    payload = {
        "format": FORMAT_VERSION,
        "encoder_cfg": dataclasses.asdict(detector.encoder.cfg),
        "views": list(detector.views),
        "n_bins": detector.encoder.n_bins,
        "head": detector.head_kind,
        "head_hidden": detector.head_hidden,
        "strategy": detector.strategy,
        "state_dict": detector.state_dict(),
        "extra": extra,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | Path) -> tuple[SpoofDetector, dict[str, Any]]:
    """Rebuild the detector of ``save_checkpoint`` in eval mode; return it and ``extra``."""
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    if payload.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path}: checkpoint format {payload.get('format')!r}, "
                         f"expected {FORMAT_VERSION}")
    enc = payload["encoder_cfg"]
    encoder_cfg = EncoderConfig(**{**enc, "channels": tuple(enc["channels"])})
    detector = SpoofDetector(encoder_cfg, tuple(payload["views"]), payload["n_bins"],
                             head=payload["head"], head_hidden=payload["head_hidden"])
    detector.load_state_dict(payload["state_dict"])
    detector.set_strategy(payload["strategy"])
    return detector.eval(), payload["extra"]


def save_encoder(path: str | Path, encoder: SpectralEncoder, history: list[dict]) -> None:
    """Write a pretrained encoder with its config and pretraining history (plain types)."""
    payload = {
        "format": FORMAT_VERSION,
        "encoder_cfg": dataclasses.asdict(encoder.cfg),
        "n_bins": encoder.n_bins,
        "state_dict": encoder.state_dict(),
        "history": history,
    }
    _check_plain(history, "history")
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_encoder(path: str | Path) -> SpectralEncoder:
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    if payload.get("format") != FORMAT_VERSION or "n_bins" not in payload:
        raise ValueError(f"{path} is not a spectcontra encoder checkpoint")
    enc = payload["encoder_cfg"]
    encoder = SpectralEncoder(EncoderConfig(**{**enc, "channels": tuple(enc["channels"])}),
                              payload["n_bins"])
    encoder.load_state_dict(payload["state_dict"])
    return encoder.eval()
