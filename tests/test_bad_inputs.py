"""A corpus of bad inputs: audio, corpus CSVs, params and model files.

Each case must end in one clear error that names the bad input, and leave no partial output
behind (no PNG or report for a refused model, no copied audio for a refused CSV, no stage
output for refused params). Audio goes through ``spectcontra detect``; the last test feeds
one file of every bad kind to a single run, which must score the good files regardless.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
import soundfile as sf
import torch
import yaml

import spectcontra.stage as stage_runner
from spectcontra.audio import AudioError
from spectcontra.cli import main as detect_main
from spectcontra.config import FolderConfig
from spectcontra.data.folder import prepare_folder
from spectcontra.data.protocol import ProtocolError
from spectcontra.errors import InputError, MissingInputError
from spectcontra.models.checkpoint import FORMAT_VERSION
from spectcontra.stage import run_stage
from tests.conftest import ROOT
from tests.test_inference import SR, make_checkpoint, speech_like, write_wav

torch.set_num_threads(1)

# --------------------------------------------------------------------------- audio


def _flac_claiming(path: Path, wave: np.ndarray, rate: int, total_frames: int) -> Path:
    """A FLAC whose STREAMINFO header claims ``total_frames``, whatever the body holds."""
    sf.write(path, wave, rate)
    data = bytearray(path.read_bytes())
    # STREAMINFO total samples: the low 36 bits of bytes 18..25 ("fLaC", a 4-byte block header).
    field = int.from_bytes(data[18:26], "big")
    data[18:26] = ((field & ~((1 << 36) - 1)) | total_frames).to_bytes(8, "big")
    path.write_bytes(bytes(data))
    return path


def _with_sample(value: float) -> Callable[[Path], Path]:
    def build(path: Path) -> Path:
        wave = speech_like(0.5)
        wave[100] = value
        sf.write(path, wave, SR, subtype="FLOAT")
        return path

    return build


def _truncated_flac(path: Path) -> Path:
    sf.write(path, speech_like(1.0), SR)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def _bytes(content: bytes) -> Callable[[Path], Path]:
    def build(path: Path) -> Path:
        path.write_bytes(content)
        return path

    return build


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "not audio")
    return buffer.getvalue()


# name -> (file name, builder, what the error must say besides the path)
AUDIO_CASES: dict[str, tuple[str, Callable[[Path], Path], str]] = {
    "empty file": ("empty.wav", _bytes(b""), "unreadable"),
    "header, no samples": ("header.wav", lambda p: write_wav(p, np.zeros(0, np.float32)),
                           "no samples"),
    "truncated FLAC": ("truncated.flac", _truncated_flac, "unreadable"),
    "NaN sample": ("nan.wav", _with_sample(np.nan), "NaN or infinite"),
    "Inf sample": ("inf.wav", _with_sample(np.inf), "NaN or infinite"),
    "600 s x 8 ch x 384 kHz": (
        "eight.flac",
        lambda p: _flac_claiming(p, 0.1 * np.ones((3840, 8), np.float32), 384_000,
                                 600 * 384_000),
        "600.0 s x 8 channels x 384000 Hz is 1,843,200,000 samples"),
    "one sample": ("one.wav", lambda p: write_wav(p, np.array([0.5], np.float32)),
                   "1 samples (0.000125 s) is shorter than the 0.1 s minimum"),
    "header claiming 10 h": (
        "liar.flac", lambda p: _flac_claiming(p, speech_like(0.5), SR, 10 * 3600 * SR),
        "36000.0 s is longer than the 600 s limit"),
    "silent": ("silent.wav", lambda p: write_wav(p, np.zeros(SR, np.float32)), "silent"),
    "text named .wav": ("notes.wav", _bytes(b"these are my notes, not audio\n" * 20),
                        "unreadable"),
    "zip named .wav": ("archive.wav", _bytes(_zip_bytes()), "unreadable"),
    "missing": ("gone.wav", lambda p: p, "no such file"),
    "2 kHz rate": ("low.wav", lambda p: write_wav(p, speech_like(0.5, sr=2000), sr=2000),
                   "sample rate 2000 Hz is below 4000 Hz"),
    "400 kHz rate": ("high.wav", lambda p: write_wav(p, speech_like(0.2, sr=400_000),
                                                     sr=400_000),
                     "sample rate 400000 Hz is above 384000 Hz"),
}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("model") / "detector.pt")


def _detect(files: list[Path], model: Path, out: Path, *extra: str) -> int:
    # --window: the tests' model has a 0.5 s crop; plots stay on so a stray PNG would show.
    return detect_main(["detect", *map(str, files), "--model", str(model), "--out", str(out),
                        "--window", "0.25", "--hop", "0.1", *extra])


@pytest.mark.parametrize("case", list(AUDIO_CASES))
def test_bad_audio_is_reported_by_name_and_leaves_no_plot(tmp_path, checkpoint, case, capsys):
    name, build, reason = AUDIO_CASES[case]
    path = build(tmp_path / name)
    out = tmp_path / "out"
    assert _detect([path], checkpoint, out) == 1
    (row,) = json.loads((out / "report.json").read_text())
    assert row["error"].startswith(f"bad audio file {path}: ")
    assert reason in row["error"] and row["error_type"] == "AudioError"
    assert row["score"] is None and row["plot"] == ""
    assert f"bad audio file {path}" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["report.json"]  # no PNG, no .partial


def test_detect_survives_one_file_of_every_bad_kind(tmp_path, checkpoint, capsys):
    bad = [build(tmp_path / name) for name, build, _ in AUDIO_CASES.values()]
    good = [write_wav(tmp_path / f"good{i}.wav", speech_like(0.8, seed=i)) for i in range(2)]
    files = [good[0], *bad, good[1]]
    out = tmp_path / "out"
    assert _detect(files, checkpoint, out, "--format", "jsonl") == 1
    rows = [json.loads(line) for line in (out / "report.jsonl").read_text().splitlines()]
    assert [r["file"] for r in rows] == [str(f) for f in files]
    for row, (_, _, reason) in zip(rows[1:-1], AUDIO_CASES.values(), strict=True):
        assert reason in row["error"] and row["score"] is None
    for row in (rows[0], rows[-1]):
        assert row["error"] == "" and np.isfinite(row["score"])
    assert sorted(p.name for p in out.iterdir()) == ["good0.png", "good1.png", "report.jsonl"]
    err = capsys.readouterr().err
    assert f"2 scored, {len(AUDIO_CASES)} failed" in err


# --------------------------------------------------------------------------- corpus CSVs


def _folder_cfg() -> FolderConfig:
    return FolderConfig(csv="corpus/meta.csv", root="corpus", dev_fraction=0.2,
                        eval_fraction=0.3)


def _write_corpus(project: Path, csv: bytes, audio: list[str]) -> None:
    root = project / "corpus"
    root.mkdir(parents=True)
    for rel in audio:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        write_wav(root / rel, speech_like(0.3))
    (root / "meta.csv").write_bytes(csv)


def _escape_by_file_link(project: Path) -> None:
    secret = write_wav(project / "elsewhere.wav", speech_like(0.3))
    (project / "corpus" / "link.wav").symlink_to(secret)


def _escape_by_folder_link(project: Path) -> None:
    outside = project / "outside"
    outside.mkdir()
    write_wav(outside / "b.wav", speech_like(0.3))
    (project / "corpus" / "sub").symlink_to(outside, target_is_directory=True)


GOOD_ROWS = b"a.wav,bonafide,train\n"
# name -> (CSV bytes, audio files to create, extra set-up, error type, what the error says)
CSV_CASES: dict[str, tuple[bytes, list[str], Callable[[Path], None] | None, type, str]] = {
    "wrong label": (b"path,label,split\n" + GOOD_ROWS + b"b.wav,deepfake,dev\n",
                    ["a.wav", "b.wav"], None, ProtocolError, "line 3: unknown label"),
    "duplicate path": (b"path,label,split\n" + GOOD_ROWS + b"a.wav,spoof,dev\n", ["a.wav"],
                       None, ProtocolError, "line 3: audio path listed twice"),
    "symlinked file escaping the root": (
        b"path,label,split\n" + GOOD_ROWS + b"link.wav,spoof,dev\n", ["a.wav"],
        _escape_by_file_link, ProtocolError, "line 3: "),
    "symlinked folder escaping the root": (
        b"path,label,split\n" + GOOD_ROWS + b"sub/b.wav,spoof,dev\n", ["a.wav"],
        _escape_by_folder_link, ProtocolError, "line 3: "),
    "non-UTF-8 CSV": (b"path,label,split\n" + GOOD_ROWS + "caf\u00e9.wav,spoof,dev\n"
                      .encode("latin-1"), ["a.wav"], None, ProtocolError, "is not UTF-8"),
    "missing column": (b"path,split\na.wav,train\n", ["a.wav"], None, ProtocolError,
                       "missing ['label']"),
    "missing audio file": (b"path,label,split\n" + GOOD_ROWS + b"gone.wav,spoof,dev\n",
                           ["a.wav"], None, FileNotFoundError, "gone.wav (line 3)"),
    "absolute path": (b"path,label,split\n" + GOOD_ROWS + b"/etc/passwd,spoof,dev\n",
                      ["a.wav"], None, ProtocolError, "line 3: audio path must be"),
}


@pytest.mark.parametrize("case", list(CSV_CASES))
def test_bad_corpus_csv_is_named_and_nothing_is_copied(tmp_path, case):
    csv, audio, setup, error, message = CSV_CASES[case]
    _write_corpus(tmp_path, csv, audio)
    if setup is not None:
        setup(tmp_path)
    out = tmp_path / "raw"
    with pytest.raises(error) as info:
        prepare_folder(_folder_cfg(), seed=0, out_dir=out, project_root=tmp_path)
    assert message in str(info.value)
    assert str(tmp_path / "corpus") in str(info.value)  # the CSV, or the file it lists
    assert not out.exists()


def test_a_symlink_escape_names_where_it_leads(tmp_path):
    csv, audio, setup, _, _ = CSV_CASES["symlinked file escaping the root"]
    _write_corpus(tmp_path, csv, audio)
    setup(tmp_path)
    with pytest.raises(ProtocolError) as info:
        prepare_folder(_folder_cfg(), seed=0, out_dir=tmp_path / "raw", project_root=tmp_path)
    assert str(info.value) == (
        f"{tmp_path / 'corpus' / 'meta.csv'}, line 3: {tmp_path / 'corpus' / 'link.wav'} "
        f"resolves to {(tmp_path / 'elsewhere.wav').resolve()}, outside the corpus root "
        f"{(tmp_path / 'corpus').resolve()}")


# --------------------------------------------------------------------------- params


def _params_text(mutate: Callable[[dict], None]) -> Callable[[], bytes]:
    def text() -> bytes:
        raw = yaml.safe_load((ROOT / "params.yaml").read_text())
        mutate(raw)
        return yaml.safe_dump(raw).encode()

    return text


PARAMS_CASES: dict[str, tuple[Callable[[], bytes], str]] = {
    "heads: 0": (_params_text(lambda r: r["pretrain"]["encoder"].update(heads=0)),
                 "'pretrain.encoder.heads' = 0"),
    "bad md5": (_params_text(lambda r: r["data"]["asvspoof2019_la"].update(md5="abc")),
                "'data.asvspoof2019_la.md5' = 'abc'"),
    "lr: .inf": (lambda: (ROOT / "params.yaml").read_bytes().replace(b"lr: 0.002", b"lr: .inf"),
                 "'pretrain.lr' must be a finite number"),
    "unknown key": (_params_text(lambda r: r["finetune"].update(learning_rate=0.1)),
                    "unknown params key(s): finetune.learning_rate"),
    "a list, not sections": (lambda: b"- common\n- data\n", "must hold a mapping of sections"),
    "not UTF-8": (lambda: (ROOT / "params.yaml").read_bytes() + b"# caf\xe9\n",
                  "is not UTF-8 text"),
}


@pytest.mark.parametrize("case", list(PARAMS_CASES))
def test_bad_params_stop_a_stage_before_it_writes(tmp_path, case, capsys):
    text, message = PARAMS_CASES[case]
    params = tmp_path / "params.yaml"
    params.write_bytes(text())
    output = tmp_path / "out.json"
    args = argparse.Namespace(params=params, energy=tmp_path / "energy.json")
    assert run_stage("demo", args, lambda cfg: output.write_text("{}")) == 2
    err = capsys.readouterr().err
    assert err.startswith("demo: error: ") and message in err
    assert "params" in err  # the file or the key, so the user knows where to look
    assert not output.exists() and not (tmp_path / "energy.json").exists()


# --------------------------------------------------------------------------- not bad input


def _reshape_bug() -> None:
    np.zeros(3).reshape(2)  # a plain ValueError raised inside numpy


# A stage body that fails for a reason of its own: a bug, not the user's input.
BUGS: dict[str, tuple[Callable[[], object], str]] = {
    "ZeroDivisionError": (lambda: 1 / 0, "ZeroDivisionError"),
    "ValueError from a library": (_reshape_bug, "ValueError: cannot reshape"),
    "KeyError": (lambda: {}["missing"], "KeyError"),
}


def _stage_args(tmp_path: Path, monkeypatch) -> argparse.Namespace:
    monkeypatch.setattr(stage_runner, "track_energy",  # CodeCarbon is slow and beside the point
                        lambda stage, path: contextlib.nullcontext({}))
    params = tmp_path / "params.yaml"
    params.write_bytes(_params_text(lambda r: r["common"].update(threads=1))())
    return argparse.Namespace(params=params, energy=tmp_path / "energy.json")


@pytest.mark.parametrize("case", list(BUGS))
def test_a_bug_in_a_stage_body_is_not_reported_as_bad_input(tmp_path, monkeypatch, case, capsys):
    bug, shown = BUGS[case]
    assert run_stage("demo", _stage_args(tmp_path, monkeypatch), lambda cfg: bug()) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and shown in err  # where it broke, for the bug report
    assert "demo: error:" not in err and "demo: failed; no output was written" in err


def test_an_input_error_raised_in_a_stage_body_is_one_line(tmp_path, monkeypatch, capsys):
    def body(cfg) -> None:
        raise AudioError(tmp_path / "x.wav", "no samples")

    assert run_stage("demo", _stage_args(tmp_path, monkeypatch), body) == 2
    err = capsys.readouterr().err
    assert err == f"demo: error: bad audio file {tmp_path / 'x.wav'}: no samples\n"


def test_every_bad_input_error_type_shares_the_one_base():
    from spectcontra.config import ConfigError
    from spectcontra.data.debian.packages import PackageError
    from spectcontra.data.fetch import DownloadError
    from spectcontra.evaluation.evaluate import BootstrapUnitError
    from spectcontra.inference.decisions import ModelFileError
    from spectcontra.inference.torch_detector import CheckpointError
    from spectcontra.models.checkpoint import CheckpointFormatError
    from spectcontra.reporting.render import ReportError

    for kind in (AudioError, ConfigError, ProtocolError, PackageError, DownloadError,
                 BootstrapUnitError, ModelFileError, CheckpointError, CheckpointFormatError,
                 ReportError, MissingInputError):
        assert issubclass(kind, InputError) and issubclass(kind, ValueError), kind
    assert issubclass(MissingInputError, FileNotFoundError)  # old `except OSError` still works
    assert not issubclass(ValueError, InputError)


# --------------------------------------------------------------------------- model files


class _Payload:
    """Pickles to ``open(marker, "w")``: unpickling it creates ``marker`` (code execution)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _pickled_object(path: Path) -> Path:
    torch.save({"format": FORMAT_VERSION, "payload": _Payload(path.with_suffix(".ran"))}, path)
    return path


def _checkpoint_with(edit: Callable[[dict], None]) -> Callable[[Path], Path]:
    def build(path: Path) -> Path:
        make_checkpoint(path)
        payload = torch.load(path, weights_only=True)
        edit(payload)
        torch.save(payload, path)
        return path

    return build


def _wrong_architecture(payload: dict) -> None:
    payload["encoder_cfg"]["channels"] = [8, 16]  # the weights were trained with (4, 8)


def _truncated(path: Path) -> Path:
    make_checkpoint(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def _plain_onnx(path: Path) -> Path:
    """A valid ONNX graph (identity) without the spectcontra metadata."""
    from onnx import TensorProto, helper

    io_info = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [None]) for n in ("x", "y")]
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", io_info[:1],
                              io_info[1:])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


# name -> (file name, builder, what the error says besides the path)
MODEL_CASES: dict[str, tuple[str, Callable[[Path], Path], str]] = {
    "empty .pt": ("empty.pt", _bytes(b""), "is not a readable detector checkpoint"),
    "pickled arbitrary object": ("evil.pt", _pickled_object,
                                 "pickled objects other than tensors and plain data "
                                 "(io.open), refused without running them"),
    "wrong architecture": ("wrong.pt", _checkpoint_with(_wrong_architecture),
                           "size mismatch"),
    "a list, not a checkpoint": ("list.pt", lambda p: (torch.save([1, 2, 3], p), p)[1],
                                 "found list"),
    "future format": ("future.pt", _checkpoint_with(lambda d: d.update(format=99)),
                      "format 99"),
    "truncated .pt": ("half.pt", _truncated, "is not a readable detector checkpoint"),
    "unknown calibration": (
        "calib.pt", _checkpoint_with(lambda d: d["extra"]["calibration"].update(method="platt")),
        "unknown calibration method 'platt'"),
    "corrupt .onnx": ("corrupt.onnx", _bytes(b"\x08\x07garbage" * 64),
                      "is not a loadable ONNX model"),
    "ONNX without our metadata": ("plain.onnx", _plain_onnx,
                                  "is not a spectcontra ONNX detector"),
}


@pytest.mark.parametrize("case", list(MODEL_CASES))
def test_bad_model_file_is_named_and_nothing_is_written(tmp_path, case, capsys):
    name, build, reason = MODEL_CASES[case]
    model = build(tmp_path / name)
    clip = write_wav(tmp_path / "clip.wav", speech_like(0.8))
    out = tmp_path / "out"
    plot = [] if model.suffix == ".onnx" else ["--plot"]
    assert _detect([clip], model, out, *plot) == 2
    err = capsys.readouterr().err
    assert f"model file {model}" in err and reason in err
    assert "Traceback" not in err  # bad input, not a crash
    assert not out.exists()


def test_a_pickled_payload_is_never_run(tmp_path, capsys):
    model = _pickled_object(tmp_path / "evil.pt")
    marker = model.with_suffix(".ran")
    assert _detect([tmp_path / "x.wav"], model, tmp_path / "out") == 2
    assert not marker.exists()
    # The payload is live: unpickling it the unsafe way does run it. (Only here, on purpose.)
    torch.load(model, weights_only=False)
    assert marker.exists()
    capsys.readouterr()


def test_the_corpus_is_large_enough():
    cases = len(AUDIO_CASES) + len(CSV_CASES) + len(PARAMS_CASES) + len(MODEL_CASES)
    assert cases >= 25 and min(map(len, (AUDIO_CASES, CSV_CASES, PARAMS_CASES,
                                         MODEL_CASES))) >= 4
