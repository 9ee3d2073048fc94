"""The edge every DVC stage shares: threads, seed, energy tracking and error reporting."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from spectcontra.config import Config, load_config
from spectcontra.errors import InputError
from spectcontra.profiling.energy import track_energy
from spectcontra.seeding import seed_everything

# Bad params, audio, protocols, feature stores and model files raise InputError subclasses
# whose message names the input: one line for the user, exit code 2 (SPECTCONTRA_DEBUG=1 adds
# the traceback). Any other exception is a bug (or the machine's fault) and keeps its
# traceback, exit code 1: a plain ValueError from library code is not the user's to fix.
INPUT_ERRORS = (InputError,)

# What a stage body returns: None, or wall-clock figures of its own (per-run seconds, per-file
# latencies) for its timing record, metrics/energy/<stage>.json. Result files hold only
# figures that a rerun reproduces exactly, so timings never go there.
Timings = Mapping[str, Any] | None


def parser(stage: str, doc: str | None) -> argparse.ArgumentParser:
    """An argument parser with the options every stage takes."""
    p = argparse.ArgumentParser(prog=f"python -m stages.{stage}", description=doc)
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--energy", type=Path, required=True, help="CodeCarbon record (JSON) to write")
    return p


def run_stage(stage: str, args: argparse.Namespace, body: Callable[[Config], Timings]) -> int:
    """Load params, fix threads and seeds, run ``body(cfg)`` under the energy tracker.

    The timing record (``--energy``) gets the stage's duration and energy, plus whatever
    timings ``body`` returns (under ``timings``). Exit codes: 0 done, 2 bad input (one line
    naming it), 1 anything else (with its traceback).
    """
    try:
        cfg = load_config(args.params)
        torch.set_num_threads(cfg.common.threads)
        seed_everything(cfg.common.seed)
        with track_energy(stage, args.energy) as timings:
            timings.update(body(cfg) or {})
    except INPUT_ERRORS as err:
        if os.environ.get("SPECTCONTRA_DEBUG"):
            traceback.print_exc()
        print(f"{stage}: error: {err}", file=sys.stderr)
        return 2
    except Exception:
        traceback.print_exc()
        print(f"{stage}: failed; no output was written in its place", file=sys.stderr)
        return 1
    return 0
