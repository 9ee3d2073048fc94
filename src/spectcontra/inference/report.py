"""The ``spectcontra detect`` report: one row per file, streamed to disk as each file is scored.

Rows go to ``<report>.partial``, each flushed as soon as its file is done, so a crash or a
Ctrl-C keeps every finished row there; the report appears under its own name, by one rename,
only when the whole batch is done. An existing report, or a ``.partial`` left by a run that
is still going or was interrupted, is never replaced unless the caller says ``overwrite``.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

COLUMNS = ("file", "score", "p_bonafide", "decision", "threshold", "audio_seconds", "upsampled",
           "latency_ms", "peak_rss_mb", "n_parameters", "model_bytes", "plot", "error",
           "error_type")
# json: one JSON list (a row a line); jsonl: JSON lines; csv: a header, then a row a line.
FORMATS = ("json", "jsonl", "csv")


class ReportError(Exception):
    """The report cannot be started where it was asked for; the message says why."""


class ReportExistsError(ReportError):
    """The report (or a run's unfinished ``.partial``) is already there; the message says why."""


def partial_path(report: Path) -> Path:
    return report.with_name(report.name + ".partial")


@contextlib.contextmanager
def streamed_report(report: str | Path, fmt: str,
                    overwrite: bool = False) -> Iterator[Callable[[dict[str, Any]], None]]:
    """Yield ``write(row)``; each row reaches the disk before ``write`` returns.

    On success the ``.partial`` file is renamed to ``report``. On an exception it stays, with
    every row written so far, and the exception propagates.
    """
    if fmt not in FORMATS:
        raise ValueError(f"report format must be one of {FORMATS}, got {fmt!r}")
    report = Path(report)
    partial = partial_path(report)
    if overwrite:
        partial.unlink(missing_ok=True)
    else:
        refuse_existing(report)
    try:
        report.parent.mkdir(parents=True, exist_ok=True)
        # "x": two runs that passed the check above at the same moment cannot share the file.
        handle = partial.open("x", encoding="utf-8", newline="")
    except FileExistsError as err:
        if not report.parent.is_dir():
            raise ReportError(f"cannot write a report in {report.parent}: not a folder") from err
        raise ReportExistsError(_busy(partial)) from err
    except OSError as err:
        raise ReportError(f"cannot write a report in {report.parent}: "
                          f"{err.strerror or err}") from err
    with handle:
        writer = _RowWriter(handle, fmt)
        yield writer.write
        writer.close()
    if not overwrite and report.exists():
        raise ReportExistsError(f"{report} appeared while this run was scoring; this run's "
                                f"rows are kept in {partial}")
    os.replace(partial, report)


def refuse_existing(report: Path) -> None:
    """Raise :class:`ReportExistsError` if ``report`` or its ``.partial`` is already there."""
    partial = partial_path(report)
    if report.exists():
        raise ReportExistsError(
            f"{report} already exists; pass --overwrite to replace it, or --out another folder. "
            f"To score many files in one run, list them with --files-from LIST (- for stdin) "
            f"instead of several runs (xargs) into the same folder")
    if partial.exists():
        raise ReportExistsError(_busy(partial))


def _busy(partial: Path) -> str:
    return (f"{partial} exists: another run is writing to this folder, or one was interrupted "
            f"(its finished rows are in that file); remove it or pass --overwrite")


class _RowWriter:
    def __init__(self, handle: IO[str], fmt: str) -> None:
        self.handle = handle
        self.fmt = fmt
        self.rows = 0
        self.csv = csv.DictWriter(handle, COLUMNS) if fmt == "csv" else None
        if self.csv is not None:
            self.csv.writeheader()
        elif fmt == "json":
            handle.write("[")
        self._flush()

    def write(self, row: dict[str, Any]) -> None:
        missing = set(COLUMNS) ^ set(row)
        if missing:
            raise KeyError(f"report row columns differ from COLUMNS: {sorted(missing)}")
        if self.csv is not None:
            self.csv.writerow(row)
        else:
            line = json.dumps({k: row[k] for k in COLUMNS})
            if self.fmt == "json":
                line = ("\n" if self.rows == 0 else ",\n") + line
            else:
                line += "\n"
            self.handle.write(line)
        self.rows += 1
        self._flush()

    def close(self) -> None:
        if self.fmt == "json":
            self.handle.write("\n]\n")
        self._flush()

    def _flush(self) -> None:
        # Past Python's buffer and into the OS, so a crash of this process loses no row.
        self.handle.flush()
