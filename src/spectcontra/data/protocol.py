"""The one protocol schema every data source writes: ``data/protocol.csv``."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import pandas as pd

from spectcontra.conventions import BONAFIDE, LABELS, NO_ATTACK, SPLITS
from spectcontra.errors import InputError
from spectcontra.io_utils import atomic_path

COLUMNS = ("utt_id", "path", "label", "split", "attack", "speaker")
# Kept when a source provides them (the Debian corpus does): where each utterance comes from.
OPTIONAL_COLUMNS = ("language", "source_package", "source_file")


class ProtocolError(InputError):
    """A protocol table that breaks the schema."""


def validate(df: pd.DataFrame, source: str = "protocol") -> pd.DataFrame:
    """Check the schema and return ``df`` with :data:`COLUMNS` (then any of
    :data:`OPTIONAL_COLUMNS` it has), as strings."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ProtocolError(f"{source}: missing column(s) {missing}")
    keep = [*COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in df.columns)]
    df = df.loc[:, keep].astype(str)
    if df.empty:
        raise ProtocolError(f"{source}: no utterances")
    bad_label = sorted(set(df["label"]) - set(LABELS))
    if bad_label:
        raise ProtocolError(f"{source}: unknown label(s) {bad_label}; expected {LABELS}")
    bad_split = sorted(set(df["split"]) - set(SPLITS))
    if bad_split:
        raise ProtocolError(f"{source}: unknown split(s) {bad_split}; expected {SPLITS}")
    unsafe = df["path"][df["path"].map(unsafe_path)].tolist()
    if unsafe:
        # Every reader joins raw_dir / path: an absolute path or '..' would read elsewhere.
        raise ProtocolError(f"{source}: {len(unsafe)} path(s) not relative to the audio folder "
                            f"or climbing out of it with '..', e.g. {unsafe[0]!r}")
    dup = df["utt_id"][df["utt_id"].duplicated()].tolist()
    if dup:
        raise ProtocolError(f"{source}: duplicate utt_id(s) {dup[:5]}")
    bona_attack = df[(df["label"] == BONAFIDE) & (df["attack"] != NO_ATTACK)]
    if len(bona_attack):
        raise ProtocolError(
            f"{source}: bona fide utterance(s) with an attack id, e.g. {bona_attack['utt_id'].iloc[0]}"
        )
    return df.reset_index(drop=True)


def unsafe_path(rel: str) -> bool:
    """True unless ``rel`` is a non-empty relative POSIX path without '..' or a drive letter."""
    parts = PurePosixPath(rel)
    return (rel == "" or parts.is_absolute() or ".." in parts.parts or "\\" in rel
            or bool(re.match(r"^[A-Za-z]:", rel)))


def resolve_inside(root: Path, rel: str) -> Path:
    """``root / rel`` with every symlink resolved, refused unless it stays inside ``root``.

    A corpus file that is a symlink to somewhere else (``/etc/passwd``, another user's
    folder) would otherwise be copied into the data set; the check runs on the resolved path,
    so a link inside the root that points inside the root is fine.
    """
    real_root = Path(root).resolve()
    target = (Path(root) / rel).resolve()
    if not target.is_relative_to(real_root):
        raise ProtocolError(f"{Path(root) / rel} resolves to {target}, outside the corpus root "
                            f"{real_root}")
    return target


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
