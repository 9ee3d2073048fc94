"""A user's own corpus described by a CSV: check it, split it by speaker if needed, place the audio.

Two CSV layouts are read (header names are case-insensitive):

* ``path,label[,split][,attack][,speaker]``: labels ``bonafide``/``bona-fide``/``spoof``;
* In-the-Wild ``meta.csv``: ``file,speaker,label`` with labels ``bona-fide``/``spoof``.

Audio paths are relative to ``cfg.root`` and keep that relative path under ``out_dir``; a
path (or a symlink along it) that leads outside the root is refused, and files are copied,
never hard-linked, so nothing written under ``out_dir`` can reach the user's originals.
A missing or empty attack is ``-`` for bona fide and ``unknown`` for spoof. A missing or empty
speaker becomes the utterance id: each such file is treated as its own speaker, so the
speaker-disjoint split stays truthful instead of lumping unrelated files under one name.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from spectcontra.config import FolderConfig
from spectcontra.conventions import BONAFIDE, NO_ATTACK, SPLITS, SPOOF
from spectcontra.data.fetch import copy_file
from spectcontra.data.protocol import COLUMNS, ProtocolError, resolve_inside, unsafe_path, validate
from spectcontra.errors import MissingInputError

LABEL_ALIASES = {"bonafide": BONAFIDE, "bona-fide": BONAFIDE, "spoof": SPOOF}
UNKNOWN_ATTACK = "unknown"


def prepare_folder(
    cfg: FolderConfig, seed: int, out_dir: Path, project_root: Path
) -> pd.DataFrame:
    """Place the corpus audio under ``out_dir`` and return its protocol (paths relative to it).

    Without a split column the split is seeded and speaker-disjoint, sized by
    ``cfg.dev_fraction`` and ``cfg.eval_fraction`` (in files, to speaker granularity).
    """
    csv_path = Path(project_root) / cfg.csv
    root = Path(project_root) / cfg.root
    table = read_corpus_csv(csv_path)
    # Every path is checked before the first copy, so a bad row leaves out_dir untouched.
    sources = {}
    for line, rel in zip(table.index, table["path"], strict=True):
        try:
            sources[rel] = resolve_inside(root, rel)
        except ProtocolError as err:
            raise ProtocolError(f"{csv_path}, line {line}: {err}") from err
    missing = [(line, rel) for line, rel in zip(table.index, table["path"], strict=True)
               if not sources[rel].is_file()]
    if missing:
        line, rel = missing[0]
        raise MissingInputError(
            f"{len(missing)} audio file(s) listed in {csv_path} are missing, first "
            f"{root / rel} (line {line})"
        )
    if "split" not in table.columns:
        try:
            splits = speaker_disjoint_split(table["speaker"], table["label"], cfg.dev_fraction,
                                            cfg.eval_fraction, seed)
        except ProtocolError as err:
            raise ProtocolError(f"{csv_path}: {err}") from err
        table = table.assign(split=splits)
    table = validate(table, source=str(csv_path))
    for rel in table["path"]:
        copy_file(sources[rel], Path(out_dir) / rel)
    return table


def read_corpus_csv(path: Path) -> pd.DataFrame:
    """Read and normalise a corpus CSV; the index is each row's line number in the file."""
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ProtocolError(f"corpus CSV {path} is not UTF-8 text ({err.reason} at byte "
                            f"{err.start}); save it as UTF-8") from err
    except FileNotFoundError as err:
        raise MissingInputError(f"corpus CSV {path} not found (params data.folder.csv)") from err
    except pd.errors.EmptyDataError as err:
        raise ProtocolError(f"corpus CSV {path} is empty") from err
    except pd.errors.ParserError as err:
        raise ProtocolError(f"corpus CSV {path} is not valid CSV: {err}") from err
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    cols = set(raw.columns)
    if "file" in cols and "path" not in cols:
        need = {"file", "speaker", "label"}  # In-the-Wild meta.csv
        raw = raw.rename(columns={"file": "path"})
    else:
        need = {"path", "label"}
    if not need <= cols:
        raise ProtocolError(
            f"corpus CSV {path} has columns {sorted(cols)}; expected path,label[,split,attack,"
            f"speaker] or the In-the-Wild file,speaker,label (missing {sorted(need - cols)})"
        )
    if raw.empty:
        raise ProtocolError(f"corpus CSV {path} has a header but no rows")
    raw = raw.apply(lambda col: col.str.strip())
    raw.index = raw.index + 2  # line 1 is the header

    def fail(mask: pd.Series, what: str) -> None:
        mask = mask.astype(bool)
        if mask.any():
            more = int(mask.sum()) - 1
            also = f" ({more} more row(s) like it)" if more else ""
            raise ProtocolError(f"{path}, line {mask.idxmax()}: {what}{also}")

    rel = raw["path"].str.replace("\\", "/", regex=False)
    fail(rel.map(unsafe_path), "audio path must be a non-empty path relative to the root, "
         "without '..'")
    fail(rel.duplicated(), "audio path listed twice")
    label = raw["label"].str.lower().map(LABEL_ALIASES)
    fail(label.isna(), f"unknown label; expected one of {sorted(LABEL_ALIASES)}")
    utt_id = rel.map(utt_id_from_path)
    fail(utt_id.duplicated(), "utterance id (path without extension) repeats an earlier one")
    table = pd.DataFrame({"utt_id": utt_id, "path": rel, "label": label}, index=raw.index)
    if "split" in cols:
        split = raw["split"].str.lower()
        fail(~split.isin(SPLITS), f"unknown split; expected one of {SPLITS}")
        table["split"] = split
    attack = raw["attack"] if "attack" in cols else pd.Series("", index=raw.index)
    bona = label == BONAFIDE
    fail(bona & ~attack.isin(["", NO_ATTACK]), f"bona fide row with an attack id (use {NO_ATTACK!r})")
    no_attack = attack.isin(["", NO_ATTACK])
    table["attack"] = attack.where(~no_attack, np.where(bona, NO_ATTACK, UNKNOWN_ATTACK))
    speaker = raw["speaker"] if "speaker" in cols else pd.Series("", index=raw.index)
    table["speaker"] = speaker.where(speaker != "", utt_id)
    return table.loc[:, [c for c in COLUMNS if c in table.columns]]


def utt_id_from_path(rel: str) -> str:
    """A stable id from a relative path: no extension, ``/`` -> ``__``, spaces -> ``_``."""
    stem = PurePosixPath(rel).with_suffix("").as_posix()
    return re.sub(r"\s+", "_", stem.replace("/", "__"))


def speaker_disjoint_split(
    speakers: pd.Series, labels: pd.Series, dev_fraction: float, eval_fraction: float, seed: int
) -> np.ndarray:
    """Assign each row a split so no speaker spans two splits and every split has both labels.

    Each split with a positive fraction is first given one speaker with both labels (or one
    bona-fide-only plus one spoof-only speaker), smallest first so small splits stay small;
    the remaining speakers go, in seeded random order, to the split furthest below its target
    file count. The result depends on the seed and the rows, not on the row order.
    """
    targets = {"train": 1.0 - dev_fraction - eval_fraction, "dev": dev_fraction,
               "eval": eval_fraction}
    wanted = [s for s in SPLITS if targets[s] > 0]
    groups = pd.DataFrame({"speaker": speakers.to_numpy(), "label": labels.to_numpy()})
    per_speaker = groups.groupby("speaker")["label"]
    sizes = per_speaker.size()
    kinds = per_speaker.agg(lambda x: frozenset(x))
    rng = np.random.default_rng(seed)
    names = sorted(sizes.index)
    order = [names[i] for i in rng.permutation(len(names))]
    by_size = sorted(order, key=lambda s: sizes[s])  # stable: ties keep the seeded order
    mixed = [s for s in by_size if len(kinds[s]) == 2]
    bona_only = [s for s in by_size if kinds[s] == {BONAFIDE}]
    spoof_only = [s for s in by_size if kinds[s] == {SPOOF}]
    if len(mixed) + min(len(bona_only), len(spoof_only)) < len(wanted):
        raise ProtocolError(
            f"cannot split {len(names)} speaker(s) into {wanted} with both labels in each: "
            f"{len(mixed)} speaker(s) have both labels, {len(bona_only)} only bona fide, "
            f"{len(spoof_only)} only spoof; add speakers, or give the CSV a split column"
        )
    assignment: dict[str, str] = {}
    for split in sorted(wanted, key=lambda s: targets[s]):
        seeds = [mixed.pop(0)] if mixed else [bona_only.pop(0), spoof_only.pop(0)]
        assignment.update({s: split for s in seeds})
    total = float(sizes.sum())
    count = {s: 0 for s in wanted}
    for speaker, split in assignment.items():
        count[split] += int(sizes[speaker])
    for speaker in order:
        if speaker in assignment:
            continue
        split = max(wanted, key=lambda s: targets[s] * total - count[s])
        assignment[speaker] = split
        count[split] += int(sizes[speaker])
    return groups["speaker"].map(assignment).to_numpy()
