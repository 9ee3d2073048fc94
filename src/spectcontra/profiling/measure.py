"""CPU cost measurements: latency percentiles, throughput, MACs, model size and peak RSS."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (falls back to platform.processor())."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def time_calls(fn: Callable[[], object], warmup: int, runs: int) -> np.ndarray:
    """Wall-clock milliseconds of ``runs`` calls of ``fn`` after ``warmup`` untimed calls."""
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    for _ in range(warmup):
        fn()
    out = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        fn()
        out[i] = (time.perf_counter() - start) * 1e3
    return out


def latency_summary(ms: np.ndarray, audio_seconds: float) -> dict[str, float]:
    """p50/p95/mean latency in ms and the real-time factor (compute time / audio time) at p50."""
    p50 = float(np.percentile(ms, 50))
    return {
        "p50_ms": round(p50, 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
        "mean_ms": round(float(ms.mean()), 3),
        "rtf": round(p50 / 1e3 / audio_seconds, 6),
    }


class threads:  # noqa: N801 - used as a context manager, reads like a statement
    """Temporarily set torch's intra-op thread count."""

    def __init__(self, n: int):
        self.n = n

    def __enter__(self) -> None:
        self.old = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.old)


def count_macs(call: Callable[[], object]) -> int:
    """Multiply-accumulates of the torch ops ``call`` runs (the FLOP counter counts 2 per MAC).

    Convolutions, matmuls and attention are counted; FFTs and element-wise ops are not, so
    the figure is the network's arithmetic, not the STFT's.
    """
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        call()
    return int(counter.get_total_flops() // 2)


def parameter_count(module: nn.Module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def state_dict_bytes(module: nn.Module, path: Path) -> int:
    """Size on disk of the module's saved state_dict (written to ``path``)."""
    torch.save(module.state_dict(), path)
    return path.stat().st_size


def peak_rss_mb(argv: list[str], env: dict[str, str] | None = None) -> float:
    """Peak resident memory (MB) of a fresh process running ``argv``.

    The child reports its own peak (:func:`spectcontra.profiling.memory.report_own_peak_rss`) as the
    last line of stdout (JSON), so the figure covers exactly one process: the interpreter,
    its imports, the model and one inference.
    """
    proc = subprocess.run(argv, capture_output=True, text=True, env=env or dict(os.environ),
                          timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"memory probe {argv} failed:\n{proc.stderr[-2000:]}")
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    return float(record["peak_rss_mb"])
