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
