"""Tests for the user-corpus source: both CSV layouts, the speaker-disjoint split, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from spectcontra.config import FolderConfig
from spectcontra.data.folder import (
    prepare_folder,
    read_corpus_csv,
    speaker_disjoint_split,
    utt_id_from_path,
)
from spectcontra.data.protocol import COLUMNS, ProtocolError, validate


def _cfg(dev: float = 0.15, eval_: float = 0.25) -> FolderConfig:
    return FolderConfig(csv="my_corpus/meta.csv", root="my_corpus", dev_fraction=dev,
                        eval_fraction=eval_)


def _corpus(project: Path, csv_text: str, audio: list[str]) -> None:
    root = project / "my_corpus"
    for rel in audio:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(root / rel), np.full(160, 0.1), 16000)
    root.mkdir(parents=True, exist_ok=True)
    (root / "meta.csv").write_text(csv_text)


def _in_the_wild(n_speakers: int = 10) -> tuple[str, list[str]]:
    """meta.csv rows ``file,speaker,label`` with uneven speakers, each holding both labels."""
    lines, files, k = ["file,speaker,label"], [], 0
    for s in range(n_speakers):
        for j in range(2 + s % 4):
            label = "bona-fide" if j % 2 == 0 else "spoof"
            lines.append(f"{k}.wav,Speaker {s},{label}")
            files.append(f"{k}.wav")
            k += 1
    return "\n".join(lines) + "\n", files


def test_path_label_split_layout(tmp_path: Path) -> None:
    csv = ("path,label,split,attack,speaker\n"
           "real/a 1.wav,bona-fide,train,,alice\n"
           "fake/b.flac,spoof,dev,tts-x,bob\n"
           "fake/c.wav,Spoof,eval,,\n"
           "real/d.wav,bonafide,eval,-,carol\n")
    audio = ["real/a 1.wav", "fake/b.flac", "fake/c.wav", "real/d.wav"]
    _corpus(tmp_path, csv, audio)
    out = tmp_path / "data/raw"
    df = prepare_folder(_cfg(), seed=0, out_dir=out, project_root=tmp_path)
    validate(df)
    assert list(df.columns) == list(COLUMNS)
    assert df.to_dict("records") == [
        {"utt_id": "real__a_1", "path": "real/a 1.wav", "label": "bonafide", "split": "train",
         "attack": "-", "speaker": "alice"},
        {"utt_id": "fake__b", "path": "fake/b.flac", "label": "spoof", "split": "dev",
         "attack": "tts-x", "speaker": "bob"},
        {"utt_id": "fake__c", "path": "fake/c.wav", "label": "spoof", "split": "eval",
         "attack": "unknown", "speaker": "fake__c"},
        {"utt_id": "real__d", "path": "real/d.wav", "label": "bonafide", "split": "eval",
         "attack": "-", "speaker": "carol"},
    ]
    for rel in audio:  # self-contained copy at the same relative path
        assert (out / rel).read_bytes() == (tmp_path / "my_corpus" / rel).read_bytes()


def test_in_the_wild_layout_gets_speaker_disjoint_split(tmp_path: Path) -> None:
    csv, files = _in_the_wild()
    _corpus(tmp_path, csv, files)
    df = prepare_folder(_cfg(), seed=3, out_dir=tmp_path / "raw", project_root=tmp_path)
    validate(df)
    assert len(df) == len(files) and set(df["label"]) == {"bonafide", "spoof"}
    assert set(df.loc[df["label"] == "spoof", "attack"]) == {"unknown"}
    assert df.groupby("speaker")["split"].nunique().max() == 1  # speaker-disjoint
    for split in ("train", "dev", "eval"):
        assert set(df.loc[df["split"] == split, "label"]) == {"bonafide", "spoof"}, split
    share = df["split"].value_counts(normalize=True)
    assert share["train"] > share["eval"] > 0 and share["train"] > share["dev"] > 0
    assert all((tmp_path / "raw" / f).is_file() for f in files)


def test_split_is_seeded_and_independent_of_row_order(tmp_path: Path) -> None:
    csv, files = _in_the_wild(12)
    _corpus(tmp_path, csv, files)
    first = prepare_folder(_cfg(), seed=5, out_dir=tmp_path / "a", project_root=tmp_path)
    again = prepare_folder(_cfg(), seed=5, out_dir=tmp_path / "b", project_root=tmp_path)
    assert first.equals(again)
    header, *rows = csv.splitlines()
    rows = [rows[i] for i in np.random.default_rng(0).permutation(len(rows))]
    (tmp_path / "my_corpus/meta.csv").write_text("\n".join([header, *rows]) + "\n")
    shuffled = prepare_folder(_cfg(), seed=5, out_dir=tmp_path / "c", project_root=tmp_path)
    key = ["utt_id", "split"]
    pd.testing.assert_frame_equal(first[key].sort_values("utt_id").reset_index(drop=True),
                                  shuffled[key].sort_values("utt_id").reset_index(drop=True))
    splits = {tuple(prepare_folder(_cfg(), seed=s, out_dir=tmp_path / f"s{s}",
                                   project_root=tmp_path).sort_values("utt_id")["split"])
              for s in range(6)}
    assert len(splits) > 1  # the seed matters


def test_split_without_speakers_treats_each_file_as_a_speaker() -> None:
    n = 40
    labels = pd.Series(["bonafide", "spoof"] * (n // 2))
    speakers = pd.Series([f"u{i}" for i in range(n)])
    splits = speaker_disjoint_split(speakers, labels, 0.25, 0.25, seed=0)
    counts = pd.Series(splits).value_counts().to_dict()
    assert counts == {"train": 20, "dev": 10, "eval": 10}
    for split in ("train", "dev", "eval"):
        assert set(labels[splits == split]) == {"bonafide", "spoof"}


def test_split_with_one_label_speakers_pairs_them() -> None:
    # Every speaker holds one label only: each split needs one of each kind.
    speakers = pd.Series(["b1", "b2", "b3", "s1", "s2", "s3", "s3"])
    labels = pd.Series(["bonafide"] * 3 + ["spoof"] * 4)
    splits = speaker_disjoint_split(speakers, labels, 0.2, 0.2, seed=1)
    for split in ("train", "dev", "eval"):
        assert set(labels[splits == split]) == {"bonafide", "spoof"}
    assert pd.Series(splits).groupby(speakers).nunique().max() == 1


def test_impossible_split_is_a_clear_error(tmp_path: Path) -> None:
    _corpus(tmp_path, "path,label,speaker\na.wav,bonafide,x\nb.wav,spoof,x\nc.wav,spoof,y\n",
            ["a.wav", "b.wav", "c.wav"])
    with pytest.raises(ProtocolError, match="cannot split 2 speaker") as info:
        prepare_folder(_cfg(), seed=0, out_dir=tmp_path / "raw", project_root=tmp_path)
    assert "meta.csv" in str(info.value)
    assert not (tmp_path / "raw").exists()  # refused before the first copy
    # With dev and eval switched off, one speaker holding both labels is enough (params
    # refuse zero fractions for the folder source; the split rule itself allows them).
    table = read_corpus_csv(tmp_path / "my_corpus" / "meta.csv")
    splits = speaker_disjoint_split(table["speaker"], table["label"], 0.0, 0.0, seed=0)
    assert set(splits) == {"train"}


def test_utt_id_from_path() -> None:
    assert utt_id_from_path("spk 1/take.2.wav") == "spk_1__take.2"
    assert utt_id_from_path("0.wav") == "0"


@pytest.mark.parametrize(
    "csv, audio, error, pattern",
    [
        ("", [], ProtocolError, "is empty"),
        ("path,label,split\n", [], ProtocolError, "no rows"),
        ("path,split\na.wav,train\n", ["a.wav"], ProtocolError, r"missing \['label'\]"),
        ("file,label\na.wav,spoof\n", ["a.wav"], ProtocolError, r"missing \['speaker'\]"),
        ("path,label\na.wav,spoof\nb.wav,fake\n", ["a.wav", "b.wav"], ProtocolError,
         "line 3: unknown label"),
        ("path,label,split\na.wav,spoof,test\n", ["a.wav"], ProtocolError,
         "line 2: unknown split"),
        ("path,label\n../a.wav,spoof\n", [], ProtocolError, "line 2: audio path"),
        ("path,label\na.wav,spoof\na.wav,bonafide\n", ["a.wav"], ProtocolError,
         "line 3: audio path listed twice"),
        ("path,label\na.wav,spoof\na.flac,bonafide\n", ["a.wav", "a.flac"], ProtocolError,
         "line 3: utterance id"),
        ("path,label,attack\na.wav,bonafide,A01\n", ["a.wav"], ProtocolError,
         "line 2: bona fide row with an attack"),
        ("path,label,split\na.wav,spoof,train\ngone/b.wav,bonafide,dev\n", ["a.wav"],
         FileNotFoundError, r"my_corpus/gone/b.wav \(line 3\)"),
    ],
)
def test_bad_csv_is_named(tmp_path: Path, csv: str, audio: list[str], error: type,
                          pattern: str) -> None:
    _corpus(tmp_path, csv, audio)
    with pytest.raises(error, match=pattern) as info:
        prepare_folder(_cfg(), seed=0, out_dir=tmp_path / "raw", project_root=tmp_path)
    assert str(tmp_path / "my_corpus/meta.csv") in str(info.value)


def test_missing_csv_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="data.folder.csv"):
        prepare_folder(_cfg(), seed=0, out_dir=tmp_path / "raw", project_root=tmp_path)


def test_audio_is_copied_and_links_inside_the_root_are_followed(tmp_path: Path) -> None:
    _corpus(tmp_path, "path,label,split\nreal/a.wav,bonafide,train\nalias.wav,spoof,dev\n"
            "c.wav,spoof,eval\n", ["real/a.wav", "shared/b.wav", "c.wav"])
    root = tmp_path / "my_corpus"
    (root / "alias.wav").symlink_to(root / "shared" / "b.wav")  # inside the root: fine
    out = tmp_path / "raw"
    prepare_folder(_cfg(), seed=0, out_dir=out, project_root=tmp_path)
    for rel, original in (("real/a.wav", "real/a.wav"), ("alias.wav", "shared/b.wav")):
        placed = out / rel
        assert placed.read_bytes() == (root / original).read_bytes()
        assert not placed.is_symlink() and not placed.samefile(root / original)
        assert (root / original).stat().st_nlink == 1  # the user's file gained no hard link


def test_protocol_paths_must_stay_inside_the_audio_folder() -> None:
    row = {"utt_id": "u", "label": "spoof", "split": "eval", "attack": "A01", "speaker": "s"}
    for path in ("/etc/passwd", "../outside.wav", "a/../../b.wav", "C:/x.wav", "a\\..\\b.wav",
                 ""):
        with pytest.raises(ProtocolError, match="not relative to the audio folder") as info:
            validate(pd.DataFrame([{**row, "path": path}]), source="p.csv")
        assert "p.csv" in str(info.value)
    validate(pd.DataFrame([{**row, "path": "sub/dir/ok..wav"}]))  # '..' inside a name is fine
