"""`spectcontra detect`: report rows, per-file errors, exit codes, PNGs, a fresh process."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.image import imread

from spectcontra.cli import REPORT_COLUMNS, main, png_names
from spectcontra.conventions import LABELS
from tests.test_inference import SR, make_checkpoint, speech_like, write_wav

torch.set_num_threads(1)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return make_checkpoint(tmp_path / "detector.pt")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    stereo = np.stack([speech_like(0.4, seed=1, sr=16000), speech_like(0.4, seed=2, sr=16000)], 1)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    return {
        "good": write_wav(tmp_path / "good.wav", speech_like(1.2)),
        "corrupt": corrupt,
        "stereo": write_wav(tmp_path / "stereo.wav", stereo, sr=16000),
        "silent": write_wav(tmp_path / "silent.wav", np.zeros(SR // 2, np.float32)),
    }


def test_bad_files_get_their_own_error_while_the_rest_are_scored(tmp_path, model, files, capsys):
    out = tmp_path / "out"
    argv = ["detect", *map(str, files.values()), "--model", str(model), "--out", str(out),
            "--window", "0.25", "--hop", "0.1"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    rows = json.loads((out / "report.json").read_text())
    assert [r["file"] for r in rows] == [str(p) for p in files.values()]
    by_name = {Path(r["file"]).stem: r for r in rows}
    for bad in ("corrupt", "silent"):
        assert str(files[bad]) in by_name[bad]["error"]
        assert by_name[bad]["score"] is None and by_name[bad]["plot"] == ""
        assert str(files[bad]) in captured.err
    assert "silent" in by_name["silent"]["error"]
    for good in ("good", "stereo"):
        row = by_name[good]
        assert set(row) == set(REPORT_COLUMNS) and row["error"] == ""
        assert math.isfinite(row["score"]) and row["decision"] in LABELS
        assert row["p_bonafide"] == pytest.approx(1 / (1 + math.exp(-row["score"])), abs=1e-6)
        assert row["latency_ms"] > 0 and row["peak_rss_mb"] > 0 and row["n_parameters"] > 1000
        assert row["model_bytes"] == model.stat().st_size
        png = imread(row["plot"])
        assert Path(row["plot"]) == out / f"{good}.png" and png.shape[0] > 300
        assert f"{files[good]}: score" in captured.out
    assert by_name["stereo"]["audio_seconds"] == pytest.approx(0.4)
    assert sorted(p.name for p in out.iterdir()) == ["good.png", "report.json", "stereo.png"]
    assert len(captured.out.strip().splitlines()) == 2  # one line per scored file


def test_csv_report_without_plots(tmp_path, model, files):
    out = tmp_path / "csv"
    argv = ["detect", str(files["good"]), "--model", str(model), "--out", str(out),
            "--format", "csv", "--no-plot"]
    assert main(argv) == 0
    report = pd.read_csv(out / "report.csv", keep_default_na=False)
    assert list(report.columns) == list(REPORT_COLUMNS) and len(report) == 1
    assert [p.name for p in out.iterdir()] == ["report.csv"]


def test_missing_model_is_a_usage_error(tmp_path, files, capsys):
    missing = tmp_path / "no" / "detector.pt"
    out = tmp_path / "out"
    assert main(["detect", str(files["good"]), "--model", str(missing), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"model file {missing} not found" in err and "--model" in err
    assert not out.exists()


def test_corrupt_model_and_bad_window_are_usage_errors(tmp_path, model, files, capsys):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"\x00" * 64)
    assert main(["detect", str(files["good"]), "--model", str(broken)]) == 2
    assert "broken.pt" in capsys.readouterr().err
    argv = ["detect", str(files["good"]), "--model", str(model), "--out", str(tmp_path / "o"),
            "--window", "0.6"]
    assert main(argv) == 2
    assert "longer than the model's 0.5 s crop" in capsys.readouterr().err


def test_argparse_usage_errors_exit_2(capsys):
    for argv in (["detect"], ["detect", "x.wav", "--format", "xml"], ["detect", "x.wav",
                                                                       "--hop", "-1"], []):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
    capsys.readouterr()


def test_png_names_are_unique():
    paths = [Path("a/x.wav"), Path("b/x.wav"), Path("y.flac"), Path("x-2.wav"), Path("c/x.mp3")]
    assert png_names(paths) == ["x.png", "x-2.png", "y.png", "x-2-2.png", "x-3.png"]


def test_fresh_process_reports_peak_rss(tmp_path, model, files):
    out = tmp_path / "sub"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "spectcontra.cli", "detect", str(files["good"]),
            "--model", str(model), "--out", str(out), "--no-plot"]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads((out / "report.json").read_text())
    assert row["peak_rss_mb"] > 0 and row["error"] == ""
    assert proc.stdout.startswith(f"{files['good']}: score")


# --------------------------------------------------------------------------- ONNX models


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from spectcontra.inference.export import export_onnx

    root = tmp_path_factory.mktemp("onnx")
    checkpoint = make_checkpoint(root / "detector.pt")
    export_onnx(checkpoint, root / "detector.onnx")
    return checkpoint, root / "detector.onnx"


def test_onnx_model_scores_like_its_checkpoint(tmp_path, exported, files):
    reports = {}
    for model in exported:
        out = tmp_path / model.suffix[1:]
        argv = ["detect", str(files["good"]), str(files["corrupt"]), "--model", str(model),
                "--out", str(out), "--no-plot"]
        assert main(argv) == 1  # the corrupt file fails under both
        reports[model.suffix] = json.loads((out / "report.json").read_text())
    for pt, onnx in zip(reports[".pt"], reports[".onnx"]):
        assert set(onnx) == set(REPORT_COLUMNS) and onnx["file"] == pt["file"]
        assert onnx["n_parameters"] == pt["n_parameters"]
        assert bool(onnx["error"]) == bool(pt["error"])
        if not pt["error"]:
            assert onnx["score"] == pytest.approx(pt["score"], abs=1e-4)
            assert onnx["decision"] == pt["decision"] and onnx["peak_rss_mb"] > 0
    assert reports[".onnx"][0]["model_bytes"] == exported[1].stat().st_size


def test_onnx_model_refuses_plots_by_name(tmp_path, exported, files, capsys):
    out = tmp_path / "out"
    argv = ["detect", str(files["good"]), "--model", str(exported[1]), "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert str(exported[1]) in err and "--no-plot" in err
    assert not out.exists()


def test_onnx_route_never_imports_torch(tmp_path, exported, files):
    out = tmp_path / "sub"
    argv = ["detect", str(files["good"]), "--model", str(exported[1]), "--out", str(out),
            "--no-plot"]
    code = ("import json, sys\n"
            "from spectcontra.cli import main\n"
            f"code = main({argv!r})\n"
            "print(json.dumps([code, 'torch' in sys.modules]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [0, False]
    (row,) = json.loads((out / "report.json").read_text())
    assert row["error"] == "" and row["peak_rss_mb"] > 0
