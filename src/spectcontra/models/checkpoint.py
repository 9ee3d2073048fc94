"""Self-contained detector checkpoints: weights plus every setting inference needs."""

from __future__ import annotations

import dataclasses
import io
import pickle
import re
import sys
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from spectcontra.config import ConfigError, EncoderConfig
from spectcontra.errors import InputError
from spectcontra.io_utils import atomic_path
from spectcontra.models.detector import SpoofDetector
from spectcontra.models.encoder import SpectralEncoder

FORMAT_VERSION = 1
_PLAIN = (str, int, float, bool, type(None), Tensor)


class CheckpointFormatError(InputError):
    """A file that is not a checkpoint of this format: the message names the file and why."""


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
    _save(payload, path)


def _save(payload: dict[str, Any], path: str | Path) -> None:
    """``torch.save`` that gives identical bytes for an identical payload.

    Saved to a file, torch names the zip's records after it (``<stem>/data.pkl``); the atomic
    temporary file has a random name, so identical models got new bytes, and new DVC hashes
    that rerun every later stage, on each run. Saved to memory the records are always
    ``archive/...``; the bytes then go to disk in one atomic write.
    """
    # The state_dict is rebuilt by module.state_dict() on every save, and its OrderedDict
    # carries _metadata that load_state_dict reads, so it is saved as it is.
    payload = {k: v if k == "state_dict" else _canonical(v) for k, v in payload.items()}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def _canonical(obj: Any) -> Any:
    """A copy of plain data whose pickle depends on its values only.

    Pickle writes an object it has seen before as a back-reference, so equal payloads whose
    strings or lists are shared differently (built by code vs. read back from a checkpoint)
    would pickle to different bytes. Interning makes equal strings one object; containers
    are rebuilt, so none is shared.
    """
    if isinstance(obj, str):
        return sys.intern(obj)
    if isinstance(obj, dict):
        return {_canonical(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_canonical(v) for v in obj)
    return obj


def _read_payload(path: str | Path, kind: str) -> dict[str, Any]:
    """The saved dict, read without running pickled code (``weights_only=True``)."""
    try:
        payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # weights_only refuses any pickled object but tensors and plain containers, so a
        # crafted file raises here instead of executing its code.
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        what = f" ({found.group(1)})" if found else ""
        raise CheckpointFormatError(f"{path} is not a readable {kind} checkpoint: it holds "
                                    f"pickled objects other than tensors and plain data{what}, "
                                    "refused without running them") from err
    except (RuntimeError, EOFError, OSError) as err:
        # A truncated archive surfaces as an OSError (EINVAL) from the zip reader.
        raise CheckpointFormatError(f"{path} is not a readable {kind} checkpoint: "
                                    f"{_brief(err)}") from err
    version = payload.get("format") if isinstance(payload, dict) else None
    if version != FORMAT_VERSION:
        raise CheckpointFormatError(f"{path} is not a {kind} checkpoint of format "
                                    f"{FORMAT_VERSION} (found {type(payload).__name__}, "
                                    f"format {version!r})")
    return payload


def _brief(err: Exception, limit: int = 400) -> str:
    """The error on one line (torch's are multi-line, an EOFError may be empty), capped."""
    text = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
    text = text if len(text) <= limit else text[:limit] + " ..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def load_checkpoint(path: str | Path) -> tuple[SpoofDetector, dict[str, Any]]:
    """Rebuild the detector of ``save_checkpoint`` in eval mode; return it and ``extra``."""
    payload = _read_payload(path, "detector")
    try:
        enc = payload["encoder_cfg"]
        encoder_cfg = EncoderConfig(**{**enc, "channels": tuple(enc["channels"])})
        detector = SpoofDetector(encoder_cfg, tuple(payload["views"]), payload["n_bins"],
                                 head=payload["head"], head_hidden=payload["head_hidden"])
        detector.load_state_dict(payload["state_dict"])  # RuntimeError on other shapes
        detector.set_strategy(payload["strategy"])
        return detector.eval(), payload["extra"]
    except (KeyError, TypeError, ConfigError, RuntimeError) as err:
        raise CheckpointFormatError(f"{path} does not hold a detector this code can rebuild: "
                                    f"{_brief(err)}") from err


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
    _save(payload, path)


def load_encoder(path: str | Path) -> SpectralEncoder:
    payload = _read_payload(path, "encoder")
    try:
        enc = payload["encoder_cfg"]
        encoder = SpectralEncoder(EncoderConfig(**{**enc, "channels": tuple(enc["channels"])}),
                                  payload["n_bins"])
        encoder.load_state_dict(payload["state_dict"])
        return encoder.eval()
    except (KeyError, TypeError, ConfigError, RuntimeError) as err:
        raise CheckpointFormatError(f"{path} does not hold an encoder this code can rebuild: "
                                    f"{_brief(err)}") from err
