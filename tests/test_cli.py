"""`spectcontra detect`: report rows, per-file errors, exit codes, PNGs, streaming, inputs."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from matplotlib.image import imread

from spectcontra import cli
from spectcontra.cli import main, png_names, show_progress
from spectcontra.conventions import LABELS
from spectcontra.inference.report import COLUMNS as REPORT_COLUMNS
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
        assert by_name[bad]["error_type"] == "AudioError"
        assert by_name[bad]["score"] is None and by_name[bad]["plot"] == ""
        assert by_name[bad]["upsampled"] is None
        assert str(files[bad]) in captured.err
    assert "silent" in by_name["silent"]["error"]
    for good in ("good", "stereo"):
        row = by_name[good]
        assert set(row) == set(REPORT_COLUMNS) and row["error"] == row["error_type"] == ""
        assert row["upsampled"] is False  # 8 kHz and 16 kHz files for an 8 kHz model
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
    argv = ["detect", str(files["good"]), str(files["corrupt"]), "--model", str(model),
            "--out", str(out), "--format", "csv", "--no-plot"]
    assert main(argv) == 1
    report = pd.read_csv(out / "report.csv", keep_default_na=False)
    assert list(report.columns) == list(REPORT_COLUMNS) and len(report) == 2
    assert report["error"][0] == "" and math.isfinite(float(report["score"][0]))
    assert report["error"][1].startswith(f"bad audio file {files['corrupt']}: ")
    assert report["score"][1] == "" and report["upsampled"].tolist() == ["False", ""]
    assert [p.name for p in out.iterdir()] == ["report.csv"]


def test_jsonl_report_has_one_row_a_line(tmp_path, model, files):
    out = tmp_path / "jsonl"
    argv = ["detect", str(files["good"]), str(files["silent"]), "--model", str(model),
            "--out", str(out), "--format", "jsonl", "--no-plot"]
    assert main(argv) == 1
    lines = (out / "report.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["file"] for r in rows] == [str(files["good"]), str(files["silent"])]
    assert [list(r) for r in rows] == [list(REPORT_COLUMNS)] * 2


@pytest.fixture
def on_read(monkeypatch):
    """Install ``hook(file)``, called by the loaded detector before it reads each file."""

    def install(hook) -> None:
        real_load = cli.load_detector

        def load(model: Path, threads: int):
            detector = real_load(model, threads)
            real_read = detector.read

            def read(file: Path, max_seconds: float):
                hook(file)
                return real_read(file, max_seconds)

            detector.read = read
            return detector

        monkeypatch.setattr(cli, "load_detector", load)

    return install


def test_a_bug_for_one_file_is_reported_with_its_type_and_the_batch_goes_on(
        tmp_path, model, files, on_read, capsys):
    def hook(file: Path) -> None:
        if file == files["stereo"]:
            raise ZeroDivisionError("float division by zero")

    on_read(hook)
    out = tmp_path / "out"
    argv = ["detect", str(files["good"]), str(files["stereo"]), str(files["silent"]),
            str(files["good"]), "--model", str(model), "--out", str(out), "--no-plot"]
    assert main(argv) == 1
    rows = json.loads((out / "report.json").read_text())
    assert [r["error_type"] for r in rows] == ["", "ZeroDivisionError", "AudioError", ""]
    assert rows[1]["error"].startswith(f"internal error while scoring {files['stereo']}: "
                                       "ZeroDivisionError: float division by zero")
    assert rows[1]["score"] is None and math.isfinite(rows[3]["score"])
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "in hook" in err
    assert "2 scored, 2 failed" in err


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_rows_reach_the_disk_as_scored_and_an_interrupt_keeps_them(
        tmp_path, model, files, on_read, capsys, fmt):
    out = tmp_path / "out"
    partial = out / f"report.{fmt}.partial"
    seen: list[int] = []

    def rows_on_disk() -> list[str]:
        lines = partial.read_text().splitlines()
        return lines if fmt == "jsonl" else lines[1:]  # after the CSV header or JSON's "["

    def hook(file: Path) -> None:
        seen.append(len(rows_on_disk()))
        if len(seen) == 3:
            raise KeyboardInterrupt

    on_read(hook)
    argv = ["detect", str(files["good"]), str(files["corrupt"]), str(files["stereo"]),
            "--model", str(model), "--out", str(out), "--no-plot", "--format", fmt]
    assert main(argv) == 130
    assert seen == [0, 1, 2]  # each row was on disk before the next file was read
    assert f"interrupted; the rows finished so far are in {partial}" in capsys.readouterr().err
    assert not (out / f"report.{fmt}").exists()
    kept = rows_on_disk()
    assert str(files["good"]) in kept[0] and str(files["corrupt"]) in kept[1]
    # A rerun refuses to clobber the kept rows unless told to.
    on_read(lambda file: None)
    assert main(argv) == 2
    assert f"{partial} exists" in capsys.readouterr().err and partial.exists()
    assert main([*argv, "--overwrite"]) == 1
    assert not partial.exists() and (out / f"report.{fmt}").exists()


def test_an_existing_report_is_never_overwritten_silently(tmp_path, model, files, capsys):
    out = tmp_path / "out"
    first = ["detect", str(files["good"]), "--model", str(model), "--out", str(out), "--no-plot"]
    assert main(first) == 0
    before = (out / "report.json").read_bytes()
    second = [*first[:2], str(files["stereo"]), *first[2:]]
    assert main(second) == 2
    err = capsys.readouterr().err
    assert f"{out / 'report.json'} already exists" in err
    assert "--overwrite" in err and "--files-from" in err
    assert (out / "report.json").read_bytes() == before
    assert main([*second, "--overwrite"]) == 0
    rows = json.loads((out / "report.json").read_text())
    assert [r["file"] for r in rows] == [str(files["good"]), str(files["stereo"])]
    assert sorted(p.name for p in out.iterdir()) == ["report.json"]


def test_an_out_path_that_is_not_a_folder_is_a_usage_error(tmp_path, model, files, capsys):
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a folder")
    for out in (blocker, blocker / "sub"):
        argv = ["detect", str(files["good"]), "--model", str(model), "--out", str(out),
                "--no-plot"]
        assert main(argv) == 2
        assert f"cannot write a report in {out}" in capsys.readouterr().err
    assert blocker.read_text() == "a file, not a folder"


def test_folders_are_searched_recursively_by_audio_extension(tmp_path, model):
    root = tmp_path / "corpus"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".cache").mkdir()
    wanted = [write_wav(root / "a.wav", speech_like(0.6, seed=1)),
              root / "sub" / "b.FLAC", root / "sub" / "deeper" / "c.ogg"]
    sf.write(wanted[1], speech_like(0.6, seed=2), SR, format="FLAC")
    sf.write(wanted[2], speech_like(0.6, seed=3), SR, format="OGG")
    write_wav(root / ".cache" / "hidden.wav", speech_like(0.6))
    (root / "._a.wav").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # macOS metadata
    (root / "notes.txt").write_text("not audio")
    out = tmp_path / "out"
    assert main(["detect", str(root), "--model", str(model), "--out", str(out),
                 "--no-plot"]) == 0
    rows = json.loads((out / "report.json").read_text())
    assert [r["file"] for r in rows] == [str(p) for p in wanted]


def test_files_from_a_list_or_stdin_after_the_paths(tmp_path, model, files, monkeypatch,
                                                    capsys):
    folder = tmp_path / "folder"
    folder.mkdir()
    inside = write_wav(folder / "inside.wav", speech_like(0.6, seed=5))
    listing = tmp_path / "list.txt"
    listing.write_text(f"{files['stereo']}\n\n{folder}\r\n")
    out = tmp_path / "a"
    base = ["--model", str(model), "--no-plot"]
    assert main(["detect", str(files["good"]), "--files-from", str(listing), "--out", str(out),
                 *base]) == 0
    rows = json.loads((out / "report.json").read_text())
    assert [r["file"] for r in rows] == [str(files["good"]), str(files["stereo"]), str(inside)]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(listing.read_bytes())))
    assert main(["detect", "--files-from", "-", "--out", str(tmp_path / "b"), *base]) == 0
    rows = json.loads((tmp_path / "b" / "report.json").read_text())
    assert [r["file"] for r in rows] == [str(files["stereo"]), str(inside)]
    capsys.readouterr()
    assert main(["detect", "--files-from", str(tmp_path / "absent.txt"), *base]) == 2
    assert "absent.txt" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["detect", str(empty), "--out", str(tmp_path / "c"), *base]) == 2
    assert f"folder {empty} holds no audio files" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_upsampled_files_are_flagged(tmp_path, model, capsys):
    paths = [write_wav(tmp_path / f"{sr}.wav", speech_like(0.8, sr=sr), sr=sr)
             for sr in (6000, SR, 2 * SR)]
    out = tmp_path / "out"
    assert main(["detect", *map(str, paths), "--model", str(model), "--out", str(out),
                 "--no-plot"]) == 0
    rows = json.loads((out / "report.json").read_text())
    assert [r["upsampled"] for r in rows] == [True, False, False]
    lines = capsys.readouterr().out.splitlines()
    assert ["(upsampled: " in line for line in lines] == [True, False, False]


def test_a_file_name_that_is_not_utf8_is_scored_and_reported_readably(tmp_path, model):
    raw = os.fsencode(tmp_path) + b"/caf\xe9.wav"
    os.rename(write_wav(tmp_path / "x.wav", speech_like(0.6)), raw)
    out = tmp_path / "out"
    for fmt in ("json", "csv"):
        argv = ["detect", os.fsdecode(raw), "--model", str(model), "--out", str(out),
                "--format", fmt, "--window", "0.25", "--hop", "0.1", "--overwrite"]
        assert main(argv) == 0
        text = (out / f"report.{fmt}").read_text(encoding="utf-8")  # strict: valid UTF-8
        assert f"{tmp_path}/caf\\\\xe9.wav" in text if fmt == "json" else \
            f"{tmp_path}/caf\\xe9.wav" in text
    assert (out / os.fsdecode(b"caf\xe9.png")).is_file()


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_bar_only_on_a_terminal_or_for_long_batches(tmp_path, model, files,
                                                             monkeypatch, capsys):
    assert show_progress(5, _Stream(tty=True))
    assert not show_progress(1, _Stream(tty=True))
    assert not show_progress(cli.PROGRESS_MIN_FILES - 1, _Stream(tty=False))
    assert show_progress(cli.PROGRESS_MIN_FILES, _Stream(tty=False))
    argv = ["detect", str(files["good"]), str(files["stereo"]), "--model", str(model),
            "--no-plot"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    assert "2/2" not in capsys.readouterr().err  # pytest's stderr is no terminal
    monkeypatch.setattr(cli, "show_progress", lambda n, stream: True)
    assert main([*argv, "--out", str(tmp_path / "b")]) == 0
    captured = capsys.readouterr()
    assert "2/2" in captured.err and "2/2" not in captured.out


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
    for argv in (["detect", "x.wav", "--format", "xml"], ["detect", "x.wav", "--hop", "-1"], []):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
    capsys.readouterr()
    assert main(["detect"]) == 2
    assert "no input" in capsys.readouterr().err


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
    argv = ["detect", str(files["good"]), "--model", str(exported[1]), "--out", str(out),
            "--plot"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert str(exported[1]) in err and "--plot" in err
    assert not out.exists()
    assert main(argv[:-1] + ["--out", str(tmp_path / "plain")]) == 0  # plots are off by default
    assert [p.name for p in (tmp_path / "plain").iterdir()] == ["report.json"]


def test_default_route_is_onnx_and_never_imports_torch(tmp_path, exported, files):
    """With models/detector.onnx beside models/detector.pt, a bare `detect` scores through
    ONNX Runtime, writes no PNG (saliency needs torch) and never imports torch."""
    work = tmp_path / "project"
    (work / "models").mkdir(parents=True)
    for model in exported:
        (work / "models" / model.name).write_bytes(model.read_bytes())
    code = ("import json, sys\n"
            "from spectcontra.cli import main\n"
            f"code = main(['detect', {str(files['good'])!r}, '--out', 'det'])\n"
            "print(json.dumps([code, 'torch' in sys.modules]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [0, False]
    (row,) = json.loads((work / "det" / "report.json").read_text())
    assert row["error"] == "" and row["peak_rss_mb"] > 0 and row["plot"] == ""
    assert row["model_bytes"] == exported[1].stat().st_size  # the .onnx, not the .pt
    assert sorted(p.name for p in (work / "det").iterdir()) == ["report.json"]
