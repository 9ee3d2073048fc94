"""The edge every DVC stage shares: threads, seed, energy tracking and error reporting."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import torch

from spectcontra.config import Config, load_config
from spectcontra.profiling.energy import track_energy
from spectcontra.seeding import seed_everything

# Bad params, audio, protocols and files raise ValueError/OSError subclasses whose message
# names the input: one line for the user, exit code 2 (SPECTCONTRA_DEBUG=1 adds the traceback).
INPUT_ERRORS = (ValueError, OSError)


def parser(stage: str, doc: str | None) -> argparse.ArgumentParser:
    """An argument parser with the options every stage takes."""
    p = argparse.ArgumentParser(prog=f"python -m stages.{stage}", description=doc)
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--energy", type=Path, required=True, help="CodeCarbon record (JSON) to write")
    return p


def run_stage(stage: str, args: argparse.Namespace, body: Callable[[Config], None]) -> int:
    """Load params, fix threads and seeds, run ``body(cfg)`` under the energy tracker."""
    try:
        cfg = load_config(args.params)
        torch.set_num_threads(cfg.common.threads)
        seed_everything(cfg.common.seed)
        with track_energy(stage, args.energy):
            body(cfg)
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
