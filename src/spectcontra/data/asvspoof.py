"""ASVspoof 2019 LA: fetch LA.zip (or reuse an extracted copy), place audio, parse CM protocols.

A user who already has the corpus skips the 7.6 GB download in either of two ways: put
``LA.zip`` in ``archive_dir`` (it is verified, not fetched), or put the extracted ``LA/``
folder there (``<archive_dir>/LA/ASVspoof2019_LA_cm_protocols/...``); the extracted folder wins
when both exist. Only the files the protocol needs are placed in ``out_dir``: copies from an
extracted folder (never hard links, see :func:`copy_file`), members extracted from the zip.
``size_bytes: 0`` or ``md5: ""`` skips that check of the archive.
"""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from spectcontra.config import Asvspoof2019Config
from spectcontra.conventions import BONAFIDE, LABELS, NO_ATTACK, SPLITS
from spectcontra.data.fetch import copy_file, download
from spectcontra.data.protocol import COLUMNS, ProtocolError, resolve_inside, validate
from spectcontra.data.sampling import stratified_rows
from spectcontra.errors import InputError, MissingInputError

PROTOCOL_DIR = "LA/ASVspoof2019_LA_cm_protocols"
PROTOCOL_FILES = {
    "train": "ASVspoof2019.LA.cm.train.trn.txt",
    "dev": "ASVspoof2019.LA.cm.dev.trl.txt",
    "eval": "ASVspoof2019.LA.cm.eval.trl.txt",
}
ARCHIVE_NAME = "LA.zip"


def audio_dir(split: str) -> str:
    """Folder of a split's FLAC files, relative to the raw data folder."""
    return f"LA/ASVspoof2019_LA_{split}/flac"


def parse_cm_protocol(path: Path, split: str, audio_dir_rel: str) -> pd.DataFrame:
    """Parse a CM protocol (``SPEAKER UTTERANCE - ATTACK KEY`` a line) into protocol rows."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    rows = []
    seen: dict[str, int] = {}
    with Path(path).open() as fh:
        for number, line in enumerate(fh, start=1):
            fields = line.split()
            if not fields:
                continue
            where = f"{path}, line {number}"
            if len(fields) != 5:
                raise ProtocolError(
                    f"{where}: expected 5 fields 'SPEAKER UTTERANCE - ATTACK KEY', got {line.strip()!r}"
                )
            speaker, utt, _unused, attack, key = fields
            if "/" in utt or "\\" in utt or utt.startswith("."):
                raise ProtocolError(f"{where}: utterance id {utt!r} is not a plain file name")
            if key not in LABELS:
                raise ProtocolError(f"{where}: unknown key {key!r}; expected one of {LABELS}")
            if (key == BONAFIDE) != (attack == NO_ATTACK):
                raise ProtocolError(
                    f"{where}: {key} utterance {utt} with attack {attack!r} (bona fide and only "
                    f"bona fide has {NO_ATTACK!r})"
                )
            if utt in seen:
                raise ProtocolError(f"{where}: utterance {utt} already listed on line {seen[utt]}")
            seen[utt] = number
            rows.append((utt, f"{audio_dir_rel}/{utt}.flac", key, split, attack, speaker))
    if not rows:
        raise ProtocolError(f"{path}: no utterances")
    return pd.DataFrame(rows, columns=list(COLUMNS))


def prepare_asvspoof2019(
    cfg: Asvspoof2019Config, seed: int, out_dir: Path, project_root: Path
) -> pd.DataFrame:
    """Place the LA protocols and (a subset of) the LA audio in ``out_dir``; return the protocol.

    ``path`` in the result is relative to ``out_dir``. With ``cfg.max_per_split > 0`` each split
    is a seeded, class-stratified subset of that size, and only its audio is placed.
    """
    out_dir = Path(out_dir)
    archive_dir = Path(project_root) / cfg.archive_dir
    extracted = archive_dir / "LA"
    if extracted.is_dir():
        source: _Source = _FolderSource(archive_dir)
    else:
        zip_path = download(
            cfg.url, archive_dir / ARCHIVE_NAME,
            expected_size=cfg.size_bytes or None, md5=cfg.md5 or None,
        )
        source = _ZipSource(zip_path)
    with source:
        tables = []
        for index, split in enumerate(SPLITS):
            rel = f"{PROTOCOL_DIR}/{PROTOCOL_FILES[split]}"
            source.place(rel, out_dir / rel)
            table = parse_cm_protocol(out_dir / rel, split, audio_dir(split))
            if cfg.max_per_split > 0:
                rng = np.random.default_rng([seed, index])
                rows = stratified_rows(table["label"].to_numpy(), cfg.max_per_split, rng)
                table = table.iloc[rows]
            tables.append(table)
        protocol = pd.concat(tables, ignore_index=True)
        missing = [p for p in protocol["path"] if not source.has(p)]
        if missing:
            raise MissingInputError(
                f"{len(missing)} audio file(s) listed in the LA protocols are not in "
                f"{source.name}, e.g. {missing[0]}"
            )
        for rel in protocol["path"]:
            source.place(rel, out_dir / rel)
    return validate(protocol, source="ASVspoof 2019 LA")


class _Source:
    """Where the LA files come from: ``has``/``place`` take paths like ``LA/...``."""

    name: str

    def __enter__(self) -> _Source:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def has(self, rel: str) -> bool:
        raise NotImplementedError

    def place(self, rel: str, dst: Path) -> None:
        raise NotImplementedError


class _FolderSource(_Source):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.name = str(root / "LA")

    def has(self, rel: str) -> bool:
        return (self.root / rel).is_file()

    def place(self, rel: str, dst: Path) -> None:
        if not self.has(rel):
            raise MissingInputError(f"{self.root / rel} is missing from the extracted corpus")
        copy_file(resolve_inside(self.root, rel), dst)


class _ZipSource(_Source):
    def __init__(self, path: Path) -> None:
        self.name = str(path)
        try:
            self.zip = zipfile.ZipFile(path)
        except zipfile.BadZipFile as err:
            raise InputError(f"{path} is not a valid zip archive: {err}") from err
        self.members = {
            info.filename: info for info in self.zip.infolist() if not info.is_dir()
        }

    def __exit__(self, *exc: object) -> None:
        self.zip.close()

    def has(self, rel: str) -> bool:
        return rel in self.members

    def place(self, rel: str, dst: Path) -> None:
        # Paths come from the protocol; refuse any that would climb out of out_dir.
        if PurePosixPath(rel).is_absolute() or ".." in PurePosixPath(rel).parts:
            raise ProtocolError(f"refusing unsafe archive path {rel!r} in {self.name}")
        if rel not in self.members:
            raise MissingInputError(f"{rel} is missing from {self.name}")
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.unlink(missing_ok=True)  # never write through a hard link left by an earlier run
        with self.zip.open(self.members[rel]) as src, dst.open("wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
