"""Shared fixtures: the project root and a valid params mapping to mutate."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]

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
