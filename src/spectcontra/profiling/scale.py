"""The scale study: peak memory and time of preprocess and fine-tuning at ASVspoof 2019 LA size.

A corpus the size of LA is generated (:mod:`spectcontra.profiling.scale_corpus`), then the
pipeline's own preprocess and one fine-tuning run each go through a fresh child process
(:mod:`spectcontra.profiling.scale_child`), which reports its peak resident memory. Each is
held to ``preprocess.memory_budget_mb``: the memory it takes beyond its fixed cost (the
interpreter, torch and the code, measured in the child before it reads any data) must fit
in the budget.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spectcontra.config import (
    CommonConfig,
    EncoderConfig,
    FinetuneConfig,
    PreprocessConfig,
    ScaleConfig,
)
from spectcontra.io_utils import write_json_atomic
from spectcontra.profiling import scale_child
from spectcontra.profiling.measure import cpu_model
from spectcontra.profiling.scale_corpus import generate_scale_corpus


def child_config(common: CommonConfig, preprocess: PreprocessConfig, encoder: EncoderConfig,
                 views: tuple[str, ...], finetune: FinetuneConfig) -> dict[str, Any]:
    """The params sections the child jobs read, as JSON-ready dicts."""
    return {"common": dataclasses.asdict(common), "preprocess": dataclasses.asdict(preprocess),
            "encoder": dataclasses.asdict(encoder), "views": list(views),
            "finetune": dataclasses.asdict(finetune)}


def run_child(args: list[str]) -> dict[str, Any]:
    """Run one scale_child job; return its JSON record plus ``seconds`` (wall, start to exit).

    The child's progress bars and errors go to this process's stderr.
    """
    argv = [sys.executable, "-m", scale_child.__name__, *args]
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, text=True, check=False)
    seconds = time.perf_counter() - start
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"scale study: the {args[0]} child failed (exit code "
                           f"{proc.returncode}); its error is above")
    record = json.loads(lines[-1])
    record["seconds"] = round(seconds, 1)
    return record


def memory_verdict(record: dict[str, Any], budget_mb: float) -> dict[str, Any]:
    """``record`` with ``working_mb`` (peak minus fixed cost) and ``under_budget``."""
    working = round(record["peak_rss_mb"] - record["fixed_rss_mb"], 1)
    return {**record, "working_mb": working, "under_budget": bool(working <= budget_mb)}


def machine(threads: int) -> dict[str, Any]:
    return {"cpu_model": cpu_model(), "cores": os.cpu_count(), "torch_threads": threads}


def run_scale_study(scale: ScaleConfig, common: CommonConfig, preprocess: PreprocessConfig,
                    encoder: EncoderConfig, views: tuple[str, ...], finetune: FinetuneConfig,
                    scratch: Path, keep: bool = False,
                    log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Generate the corpus under ``scratch``, measure both jobs, return the metrics.

    Everything is written in a fresh folder inside ``scratch``, removed at the end (even on
    failure) unless ``keep``. Fine-tuning runs ``scale.finetune_epochs`` epochs without early
    stopping, from a freshly initialised encoder, with every other ``finetune`` setting.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=scratch))
    budget = preprocess.memory_budget_mb
    try:
        start = time.perf_counter()
        corpus = generate_scale_corpus(scale, common.seed, common.sample_rate, work / "raw",
                                       work / "protocol.csv", log)
        generate_seconds = round(time.perf_counter() - start, 1)
        log(f"corpus: {corpus.as_dict()} in {generate_seconds} s")
        config = work / "config.json"
        tuned = dataclasses.replace(finetune, epochs=scale.finetune_epochs, patience=0)
        write_json_atomic(config, child_config(common, preprocess, encoder, views, tuned))
        features = work / "features"
        pre = memory_verdict(run_child(["preprocess", str(config), "--raw-dir", str(work / "raw"),
                                        "--protocol", str(work / "protocol.csv"),
                                        "--features", str(features)]), budget)
        log(f"preprocess: {pre}")
        feature_bytes = sum(f.stat().st_size for f in features.glob("*.npy"))
        fine = memory_verdict(run_child(["finetune", str(config), "--features", str(features)]),
                              budget)
        log(f"finetune: {fine}")
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    return {
        "corpus": {**corpus.as_dict(), "feature_bytes": feature_bytes,
                   "generate_seconds": generate_seconds},
        "memory_budget_mb": budget,
        "preprocess": pre,
        "finetune": fine,
        "under_budget": pre["under_budget"] and fine["under_budget"],
        "machine": machine(common.threads),
    }
