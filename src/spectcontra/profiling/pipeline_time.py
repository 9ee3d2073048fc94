"""How long the pipeline takes: a fresh clone's ``make repro``, timed stage by stage, and the
forced full run (every stage's last recorded duration), written to ``metrics/pipeline.json``.

A fresh clone reruns every stage whose outputs live in the DVC cache (the corpus, features,
exported model...) and skips the stages whose outputs are committed to git when their inputs
reproduce byte for byte (the per-seed training, the long studies). Both numbers matter: the
first is what a user waits for, the second what the whole study costs when forced.

    python -m spectcontra.profiling.pipeline_time --out metrics/pipeline.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from spectcontra.io_utils import write_json_atomic

RUNNING = re.compile(r"^Running stage '([^']+)'", re.MULTILINE)
SKIPPED = re.compile(r"^Stage '([^']+)' didn't change, skipping", re.MULTILINE)
BUDGET_S = 1200.0  # the brief's budget for a fresh clone's `make repro` on 2 cores


def stages_from_log(log: str) -> tuple[list[str], list[str]]:
    """(stages run, stages skipped) in the order ``dvc repro`` printed them."""
    return RUNNING.findall(log), SKIPPED.findall(log)


def stage_seconds(energy_dir: Path, stages: list[str]) -> dict[str, float]:
    """Each stage's ``duration_s`` from its energy record (``<energy_dir>/<stage>.json``)."""
    out = {}
    for stage in stages:
        path = Path(energy_dir) / f"{stage}.json"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: stage {stage!r} left no timing record")
        out[stage] = float(json.loads(path.read_text())["duration_s"])
    return out


# SIMD extensions that change which kernels NumPy, PyTorch and MKL dispatch to, and so the last
# bits of floating-point results: a corpus rendered on a CPU with AVX-512 need not match one
# rendered without it byte for byte.
SIMD_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16")


def machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    simd: list[str] = []
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        text = cpuinfo.read_text()
        names = re.findall(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
        model = names[0] if names else model
        flags = re.search(r"^flags\s*:\s*(.+)$", text, re.MULTILINE)
        present = set(flags.group(1).split()) if flags else set()
        simd = [f for f in SIMD_FLAGS if f in present]
    return {"cpu_model": model, "cores": os.cpu_count() or 0, "simd": simd,
            "python": platform.python_version()}


def lock_outputs(lock_text: str) -> dict[str, str]:
    """{output path: md5} of every stage in a dvc.lock."""
    lock = yaml.safe_load(lock_text) or {}
    return {o["path"]: o.get("md5", "") for stage in lock.get("stages", {}).values()
            for o in stage.get("outs", [])}


def changed_outputs(before: str, after: str) -> list[str]:
    """Outputs whose hash differs between two dvc.lock texts, sorted by path: in a fresh
    clone, these are why the stages that read them ran instead of being skipped."""
    old, new = lock_outputs(before), lock_outputs(after)
    return sorted(path for path in old.keys() & new.keys() if old[path] != new[path])


# The model card's block that renders timings (metrics/energy/), so it differs on every run.
TIMING_BLOCK = re.compile(r"(<!-- BEGIN:energy -->\n).*?(<!-- END:energy -->)", re.S)


def mask_timing_blocks(text: str) -> str:
    """``text`` with the content of its timing block (``TIMING_BLOCK``) removed."""
    return TIMING_BLOCK.sub(r"\1\2", text)


def timing_only(changed: list[str], card_before: str, card_after: str,
                card: str = "MODEL_CARD.md") -> list[str]:
    """The changed outputs that differ only because they hold timings: every energy record
    (a duration and what it cost), and the model card if it is the same text once its timing
    blocks are masked. Anything else the clone rebuilt differently is not in the list."""
    out = [o for o in changed if o.startswith("metrics/energy/")]
    if card in changed and mask_timing_blocks(card_before) == mask_timing_blocks(card_after):
        out.append(card)
    return sorted(out)


def summarise(install_s: float, repro_s: float, log: str, clone_energy: Path,
              forced: Mapping[str, float], commit: str,
              outputs_changed: list[str] | None = None,
              forced_machines: Mapping[str, str] | None = None,
              outputs_timing_only: list[str] | None = None) -> dict[str, Any]:
    """The metrics/pipeline.json record of one timed fresh-clone run. ``forced_machines`` maps
    each stage to the CPU model its last recorded run was made on; ``outputs_timing_only`` is
    the part of ``outputs_changed`` that differs only in timings (``timing_only``)."""
    ran, skipped = stages_from_log(log)
    per_stage = stage_seconds(clone_energy, ran)
    default = set(ran) | set(skipped)  # what `make repro` (dvc repro report) covers
    total = install_s + repro_s
    machines = dict(forced_machines or {})
    return {
        "commit": commit,
        "machine": machine(),
        "fresh_clone": {
            "install_s": round(install_s, 1),
            "repro_s": round(repro_s, 1),
            "total_s": round(total, 1),
            "within_budget": total <= BUDGET_S,
            "budget_s": BUDGET_S,
            "stages_run": {s: round(v, 1) for s, v in per_stage.items()},
            "stages_skipped": skipped,
            # outputs the clone rebuilt with other bytes than the committed dvc.lock records
            "outputs_changed": outputs_changed or [],
            # ... of which differ only in the timings they hold (checked, see timing_only)
            "outputs_timing_only": outputs_timing_only or [],
        },
        # each stage's last recorded duration in the repository (its metrics/energy record)
        "forced_full_run": {
            "stages": {s: round(v, 1) for s, v in forced.items()},
            "default_pipeline_s": round(sum(v for s, v in forced.items() if s in default), 1),
            "studies": sorted(set(forced) - default),
            "total_s": round(sum(forced.values()), 1),
            # where those records were made: the default pipeline's, then the studies'
            "cpu_models": sorted({m for s, m in machines.items() if s in default}),
            "studies_cpu_models": sorted({m for s, m in machines.items() if s not in default}),
        },
    }


def _timed(cmd: list[str], cwd: Path, log: Path) -> tuple[float, str]:
    start = time.perf_counter()
    with log.open("a") as fh:
        proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, check=False)
        fh.write(proc.stdout)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed in {cwd} (exit {proc.returncode}); see {log}")
    return seconds, proc.stdout


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m spectcontra.profiling.pipeline_time",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repo", type=Path, default=Path("."), help="the repository to clone")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--workdir", type=Path, default=None, help="where to clone (default: a temp dir)")
    args = p.parse_args(argv)
    repo = args.repo.resolve()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                            text=True, check=True).stdout.strip()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="spectcontra-clone-")).resolve()
    clone, log = work / "repo", work / "make.log"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    debs = repo / "downloads" / "debs"  # the .deb cache is outside git: reuse it, as a user would
    if debs.is_dir():
        (clone / "downloads").mkdir(exist_ok=True)
        os.symlink(debs, clone / "downloads" / "debs")
    lock_before = (clone / "dvc.lock").read_text()
    card_before = (clone / "MODEL_CARD.md").read_text()
    install_s, _ = _timed(["make", "install"], clone, log)
    repro_s, out = _timed(["make", "repro"], clone, log)
    energy = repo / "metrics" / "energy"
    records = sorted(energy.glob("*.json"))
    forced = stage_seconds(energy, [p.stem for p in records])
    machines = {p.stem: json.loads(p.read_text()).get("cpu_model", "?") for p in records}
    changed = changed_outputs(lock_before, (clone / "dvc.lock").read_text())
    timing = timing_only(changed, card_before, (clone / "MODEL_CARD.md").read_text())
    record = summarise(install_s, repro_s, out, clone / "metrics" / "energy", forced, commit,
                       changed, machines, timing)
    write_json_atomic(args.out, record)
    print(json.dumps(record["fresh_clone"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
