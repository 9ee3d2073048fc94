"""Shared fixtures: the project root and a valid params mapping to mutate."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]

# Timing files: every figure in them changes from run to run (wall clock, energy, latency, peak
# RSS). dvc.yaml declares them as plain cache-false outs, never as metrics; every other file
# under metrics/ is a result that a rerun reproduces byte for byte, which the two-process test
# in test_pipeline_e2e.py checks on all of them. metrics/energy/<stage>.json is each stage's
# timing record; metrics/profile.json is the latency/memory benchmark; metrics/scale.json the
# peak memory and time of preprocess and fine-tuning at ASVspoof 2019 LA size; metrics/pipeline.json
# (written by `make time-repro`, outside the DAG) the time of a fresh clone's `make repro`;
# metrics/train_step.json (`make time-train-step`, outside the DAG) a training step's costs.
TIMING_FILES = ("metrics/energy/", "metrics/profile.json", "metrics/scale.json",
                "metrics/pipeline.json", "metrics/pipeline_cross_cpu.json",
                "metrics/train_step.json")


def is_timing_file(rel: str) -> bool:
    return rel.startswith(TIMING_FILES)


def expand_foreach(stages: dict, params: dict) -> dict[str, dict]:
    """dvc.yaml's stages with every ``foreach`` stage resolved into its instances
    (``name@key``, ``${key}`` substituted), as DVC resolves them from ``params``."""
    out: dict[str, dict] = {}
    for name, body in stages.items():
        if "foreach" not in body:
            out[name] = body
            continue
        items = params
        for part in body["foreach"].removeprefix("${").removesuffix("}").split("."):
            items = items[part]
        text = yaml.safe_dump(body["do"])
        for key in items:
            out[f"{name}@{key}"] = yaml.safe_load(text.replace("${key}", key))
    return out

torch.set_num_threads(1)


@pytest.fixture
def params_raw() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


@pytest.fixture
def write_params(tmp_path: Path):
    def _write(raw: dict) -> Path:
        path = tmp_path / "params.yaml"
        path.write_text(yaml.safe_dump(raw))
        return path

    return _write


def pytest_terminal_summary(terminalreporter) -> None:
    """Say loudly when the browser tests did not run (no Chromium, Playwright or npm ci)."""
    skipped = [r for r in terminalreporter.stats.get("skipped", [])
               if "test_browser.py" in r.nodeid]
    if skipped:
        longrepr = skipped[0].longrepr
        reason = str(longrepr[-1]).removeprefix("Skipped: ") if isinstance(longrepr, tuple) else ""
        terminalreporter.write_sep("!", f"{len(skipped)} BROWSER TESTS SKIPPED", red=True,
                                   bold=True)
        terminalreporter.write_line(f"  {reason}", red=True, bold=True)
        terminalreporter.write_line("  install: apt-get install -y chromium; (cd web && npm ci); "
                                    "under CI=true these tests fail instead", red=True)
