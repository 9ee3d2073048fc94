"""The one protocol schema every data source writes: ``data/protocol.csv``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from spectcontra.conventions import BONAFIDE, LABELS, NO_ATTACK, SPLITS
from spectcontra.io_utils import atomic_path

COLUMNS = ("utt_id", "path", "label", "split", "attack", "speaker")


class ProtocolError(ValueError):
    """A protocol table that breaks the schema."""


def validate(df: pd.DataFrame, source: str = "protocol") -> pd.DataFrame:
    """Check the schema and return ``df`` with exactly :data:`COLUMNS`, as strings."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ProtocolError(f"{source}: missing column(s) {missing}")
    df = df.loc[:, list(COLUMNS)].astype(str)
    if df.empty:
        raise ProtocolError(f"{source}: no utterances")
    bad_label = sorted(set(df["label"]) - set(LABELS))
    if bad_label:
        raise ProtocolError(f"{source}: unknown label(s) {bad_label}; expected {LABELS}")
    bad_split = sorted(set(df["split"]) - set(SPLITS))
    if bad_split:
        raise ProtocolError(f"{source}: unknown split(s) {bad_split}; expected {SPLITS}")
    dup = df["utt_id"][df["utt_id"].duplicated()].tolist()
    if dup:
        raise ProtocolError(f"{source}: duplicate utt_id(s) {dup[:5]}")
    bona_attack = df[(df["label"] == BONAFIDE) & (df["attack"] != NO_ATTACK)]
    if len(bona_attack):
        raise ProtocolError(
            f"{source}: bona fide utterance(s) with an attack id, e.g. {bona_attack['utt_id'].iloc[0]}"
        )
    return df.reset_index(drop=True)


def write_protocol(df: pd.DataFrame, path: str | Path) -> None:
    df = validate(df)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def read_protocol(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ProtocolError(f"cannot read protocol {path}: {err}") from err
    return validate(df, str(path))
