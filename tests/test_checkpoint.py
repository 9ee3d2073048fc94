"""Model files are bit-identical for identical models, so DVC hashes only change with the model."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import torch

from spectcontra.config import VIEWS
from spectcontra.models.checkpoint import (
    load_checkpoint,
    load_encoder,
    save_checkpoint,
    save_encoder,
)
from spectcontra.models.detector import SpoofDetector
from tests.conftest import ROOT
from tests.test_inference import N_BINS, TINY, make_checkpoint

torch.set_num_threads(1)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_saves_of_one_detector_are_byte_identical(tmp_path: Path) -> None:
    # Different names and folders: torch.save to a file would name the zip records after it.
    first = make_checkpoint(tmp_path / "a" / "detector.pt")
    second = make_checkpoint(tmp_path / "b" / "other-name.pt")
    again = make_checkpoint(tmp_path / "a" / "detector.pt")  # over the first, as dvc repro does
    assert _sha256(first) == _sha256(second) == _sha256(again)
    assert all(n.startswith("archive/") for n in zipfile.ZipFile(first).namelist())
    model, extra = load_checkpoint(first)
    assert extra["threshold"] == 0.0 and model.views == VIEWS


def test_different_weights_give_different_bytes(tmp_path: Path) -> None:
    make_checkpoint(tmp_path / "a.pt")
    torch.manual_seed(1)
    other = SpoofDetector(TINY, VIEWS, N_BINS, head="mlp", head_hidden=8).eval()
    reference, extra = load_checkpoint(tmp_path / "a.pt")
    save_checkpoint(tmp_path / "b.pt", other, extra)
    save_checkpoint(tmp_path / "c.pt", reference, extra)
    assert _sha256(tmp_path / "b.pt") != _sha256(tmp_path / "a.pt")
    assert _sha256(tmp_path / "c.pt") == _sha256(tmp_path / "a.pt")  # a reload saves the same


def test_two_saves_of_one_encoder_are_byte_identical(tmp_path: Path) -> None:
    torch.manual_seed(0)
    encoder = SpoofDetector(TINY, VIEWS, N_BINS).encoder
    history = [{"epoch": 1, "loss": 0.5}]
    save_encoder(tmp_path / "x" / "encoder.pt", encoder, history)
    save_encoder(tmp_path / "y.pt", encoder, history)
    assert _sha256(tmp_path / "x" / "encoder.pt") == _sha256(tmp_path / "y.pt")
    loaded = load_encoder(tmp_path / "y.pt")
    for (name, a), (_, b) in zip(encoder.state_dict().items(), loaded.state_dict().items(),
                                 strict=True):
        assert torch.equal(a, b), name


def test_a_fresh_process_writes_the_same_bytes(tmp_path: Path) -> None:
    """As two `dvc repro` runs would: other process, other hash seed, other file name."""
    here = make_checkpoint(tmp_path / "here.pt")
    code = ("import sys, torch\n"
            "from pathlib import Path\n"
            "torch.set_num_threads(1)\n"
            "from tests.test_inference import make_checkpoint\n"
            "make_checkpoint(Path(sys.argv[1]))\n")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "there.pt")], check=True,
                   cwd=ROOT, env=env, timeout=120)
    assert _sha256(tmp_path / "there.pt") == _sha256(here)
