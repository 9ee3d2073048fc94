"""The score-file format, owned here: columns, writing, reading and finding every system's files.

A system's scores are two CSV files, ``<stem>dev.csv`` and ``<stem>eval.csv`` with the columns
:data:`SCORE_COLUMNS` (score: calibrated, higher = more bona fide). The main model writes
``scores/{dev,eval}.csv``; each baseline ``baselines/<name>_{dev,eval}.csv``, beside a
``status.json`` naming the baselines that did not run and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from spectcontra.io_utils import atomic_path, read_json, write_json_atomic

SCORE_COLUMNS = ("utt_id", "score", "label", "attack", "speaker")
SCORED_SPLITS = ("dev", "eval")
STATUS_FILE = "status.json"
SCORE_DECIMALS = 6


def score_table(index: pd.DataFrame, scores: np.ndarray) -> pd.DataFrame:
    """Score-file rows from an index (utt_id, label, attack, speaker) and its scores."""
    out = index.loc[:, ["utt_id", "label", "attack", "speaker"]].copy()
    out.insert(1, "score", np.round(np.asarray(scores, dtype=np.float64), SCORE_DECIMALS))
    return out.loc[:, list(SCORE_COLUMNS)]


def score_path(folder: Path, split: str, system: str | None = None) -> Path:
    """``folder/<split>.csv`` for the main model, ``folder/<system>_<split>.csv`` for a baseline."""
    return Path(folder) / (f"{split}.csv" if system is None else f"{system}_{split}.csv")


def write_scores(folder: Path, tables: Mapping[str, pd.DataFrame], system: str | None = None) -> None:
    """Write one system's dev/eval tables atomically (see :func:`score_path`)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    for split, table in tables.items():
        with atomic_path(score_path(folder, split, system)) as tmp:
            table.loc[:, list(SCORE_COLUMNS)].to_csv(tmp, index=False)


def read_scores(path: Path) -> pd.DataFrame:
    """A score file as written by :func:`write_scores` (ids and attacks kept as strings)."""
    return pd.read_csv(path, dtype={"utt_id": str, "attack": str, "label": str, "speaker": str},
                       keep_default_na=False)


def baseline_files(folder: Path) -> dict[str, dict[str, Path]]:
    """Baseline name -> {split: path} for every baseline that wrote its dev scores."""
    out = {}
    for dev in sorted(Path(folder).glob("*_dev.csv")):
        name = dev.name.removesuffix("_dev.csv")
        out[name] = {s: score_path(folder, s, name) for s in SCORED_SPLITS}
    return out


def write_status(folder: Path, not_run: Mapping[str, str]) -> None:
    """Record which baselines did not run, and why."""
    write_json_atomic(Path(folder) / STATUS_FILE, {"not_run": dict(not_run)})


def read_status(folder: Path) -> dict[str, str]:
    """Baselines that did not run -> reason (empty when no status was written)."""
    path = Path(folder) / STATUS_FILE
    return dict(read_json(path).get("not_run", {})) if path.exists() else {}
