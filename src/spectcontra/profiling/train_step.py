"""What one fine-tuning step of the deployed detector costs on this CPU, and what the memory
allocator takes of it.

One child process per setting and repeat (torch threads x allocator, repeated in rounds;
medians kept, every run's time too) times optimiser steps at the params'
batch size and crop length, on random inputs (the arithmetic does not depend on the values),
and counts the minor page faults the steps cause. With its defaults glibc hands freed memory
at the top of the heap back to the kernel and maps large blocks afresh, so the activations of
every step are faulted in again; on a virtual machine each fault is costly. The ``glibc_keep``
setting tells glibc (through its documented environment variables) to keep freed memory.
The float16 -> float32 conversion of one batch read from the feature store is timed too.
With ``--features``, each child also runs one whole fine-tuning epoch on the real feature
store (augmented batches, then dev scoring), the loop the training stages run.

Writes a timing file (seconds vary from run to run), not a metric:

    python -m spectcontra.profiling.train_step --params params.yaml --out metrics/train_step.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# Environment of each allocator setting; the child inherits it from its start.
ALLOCATORS: dict[str, dict[str, str]] = {
    "glibc_default": {},
    "glibc_keep": {
        "MALLOC_MMAP_THRESHOLD_": str(32 * 2**20),  # glibc's largest allowed threshold
        "MALLOC_TRIM_THRESHOLD_": str(4 * 2**30),   # never trim the heap's top back
        "MALLOC_TOP_PAD_": str(2**30),
    },
}
ALLOCATOR_KEYS = sorted({k for env in ALLOCATORS.values() for k in env})
TIMED = ("ms_per_step", "epoch_s")  # the timings whose every run the record keeps


def _epoch(params: Path, features: Path) -> dict[str, Any]:
    """One fine-tuning epoch (``run_finetune`` with ``epochs: 1``) on the feature store, timed,
    from a random-init encoder."""
    import dataclasses

    import numpy as np

    from spectcontra.config import load_config
    from spectcontra.models.encoder import SpectralEncoder
    from spectcontra.training.recipe import load_features, run_finetune

    cfg = load_config(params)
    feats = load_features(features, cfg.pretrain.views, with_aug=True)
    n_bins = feats.train.views[cfg.pretrain.views[0]].shape[1]
    encoder = SpectralEncoder(cfg.pretrain.encoder, n_bins)
    one = dataclasses.replace(cfg.finetune, epochs=1, patience=1)
    # read every array once, untimed, so no setting pays for a cold page cache
    for split in (feats.train, feats.dev, feats.train_aug):
        for array in (split.views.values() if split is not None else ()):
            float(np.max(array))
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    run_finetune(encoder, feats, one, seed=0)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {"epoch_s": wall, "epoch_system_s": after.ru_stime - before.ru_stime,
            "epoch_user_s": after.ru_utime - before.ru_utime,
            "epoch_minor_faults": after.ru_minflt - before.ru_minflt,
            "epoch_train_utterances": len(feats.train.index)}


def _child(params: Path, threads: int, steps: int, warmup: int, batch_size: int,
           features: Path | None) -> dict[str, Any]:
    """Time ``steps`` optimiser steps after ``warmup`` in this process (and one epoch on
    ``features`` if given)."""
    import numpy as np
    import torch

    from spectcontra.config import load_config
    from spectcontra.models.detector import SpoofDetector, as_float_tensor

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = load_config(params)
    views = tuple(cfg.pretrain.views)
    frames = cfg.common.crop_samples // cfg.preprocess.hop_length + 1
    detector = SpoofDetector(cfg.pretrain.encoder, views, cfg.preprocess.n_mels,
                             head=cfg.finetune.head, head_hidden=cfg.finetune.head_hidden)
    detector.set_strategy("full")
    detector.train()
    optimiser = torch.optim.AdamW(detector.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    stored = {v: rng.standard_normal((batch_size, cfg.preprocess.n_mels, frames))
              .astype(np.float16) for v in views}
    target = torch.from_numpy(rng.integers(0, 2, batch_size).astype(np.float32))

    def step() -> None:
        batch = {v: as_float_tensor(stored[v]) for v in views}
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(detector(batch), target)
        loss.backward()
        optimiser.step()

    for _ in range(warmup):
        step()
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(steps):
        step()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    for _ in range(steps):
        {v: as_float_tensor(stored[v]) for v in views}
    convert = time.perf_counter() - start
    epoch = _epoch(params, features) if features is not None else {}
    return {**epoch,
        "ms_per_step": 1000 * wall / steps,
        "user_ms_per_step": 1000 * (after.ru_utime - before.ru_utime) / steps,
        "system_ms_per_step": 1000 * (after.ru_stime - before.ru_stime) / steps,
        "minor_faults_per_step": (after.ru_minflt - before.ru_minflt) / steps,
        "float16_to_float32_ms_per_batch": 1000 * convert / steps,
        "batch_size": batch_size, "frames": frames, "views": list(views),
    }


def measure(params: Path, threads: int, allocator: str, steps: int, warmup: int,
            batch_size: int, features: Path | None = None) -> dict[str, Any]:
    """One setting, in a fresh child process whose environment carries the allocator's."""
    env = {k: v for k, v in os.environ.items() if k not in ALLOCATOR_KEYS}
    env.update(ALLOCATORS[allocator])
    cmd = [sys.executable, "-m", "spectcontra.profiling.train_step", "--child",
           "--params", str(params), "--threads", str(threads), "--steps", str(steps),
           "--warmup", str(warmup), "--batch-size", str(batch_size)]
    cmd += ["--features", str(features)] if features is not None else []
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"train-step child ({allocator}, {threads} threads) failed:\n"
                           f"{proc.stderr.strip()}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of every number over repeated runs of one setting, and the per-run values
    of the timings (``<key>_runs``) to show their spread."""
    out: dict[str, Any] = {}
    for key, value in runs[0].items():
        values = [r[key] for r in runs]
        if all(v == value for v in values):  # a setting (batch size, frames...), not a timing
            out[key] = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = statistics.median(float(v) for v in values)
        else:
            raise ValueError(f"{key!r} differs between runs of one setting: {values}")
        if key in TIMED:
            out[f"{key}_runs"] = [float(v) for v in values]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m spectcontra.profiling.train_step",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--out", type=Path, help="the JSON record to write")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--allocators", nargs="+", default=list(ALLOCATORS), choices=list(ALLOCATORS))
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3, help="runs of every setting (medians kept)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="default: finetune.batch_size of the params")
    p.add_argument("--features", type=Path, default=None,
                   help="a feature store (data/features): also time one fine-tuning epoch on it")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.steps < 1 or args.repeats < 1 or args.warmup < 0 or min(args.threads) < 1:
        p.error("--steps, --repeats and --threads must be >= 1 and --warmup >= 0")
    if args.child:
        print(json.dumps(_child(args.params, args.threads[0], args.steps, args.warmup,
                                args.batch_size, args.features)))
        return 0
    if args.out is None:
        p.error("--out is required")

    from spectcontra.config import load_config
    from spectcontra.io_utils import write_json_atomic
    from spectcontra.profiling.pipeline_time import machine

    batch = args.batch_size or load_config(args.params).finetune.batch_size
    runs: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for _ in range(args.repeats):  # rounds, so a slow spell of the machine hits every setting
        for t in args.threads:
            for alloc in args.allocators:
                runs.setdefault((t, alloc), []).append(
                    measure(args.params, t, alloc, args.steps, args.warmup, batch, args.features))
    settings = {f"{alloc}_threads{t}": {"allocator": alloc, "threads": t, **summarise(rs)}
                for (t, alloc), rs in runs.items()}
    record = {"machine": machine(), "steps": args.steps, "warmup": args.warmup,
              "repeats": args.repeats, "allocator_env": ALLOCATORS, "settings": settings}
    write_json_atomic(args.out, record)
    for name, s in settings.items():
        epoch = (f"; one epoch {s['epoch_s']:.1f} s (system {s['epoch_system_s']:.1f} s)"
                 if "epoch_s" in s else "")
        print(f"{name}: {s['ms_per_step']:.0f} ms/step (system {s['system_ms_per_step']:.0f} ms,"
              f" {s['minor_faults_per_step']:.0f} minor faults){epoch}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
