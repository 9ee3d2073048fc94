"""Tests for the ASVspoof 2019 LA source on a tiny fixture corpus in the real layout."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from spectcontra.config import Asvspoof2019Config
from spectcontra.data.asvspoof import (
    PROTOCOL_DIR,
    PROTOCOL_FILES,
    parse_cm_protocol,
    prepare_asvspoof2019,
)
from spectcontra.data.protocol import COLUMNS, ProtocolError, validate

# split -> (letter, bona fide count, spoof attacks); speakers alternate between two per split
FIXTURE = {
    "train": ("T", 3, ["A01", "A02", "A01", "A02", "A03", "A04"]),
    "dev": ("D", 2, ["A01", "A05", "A06", "A02"]),
    "eval": ("E", 2, ["A07", "A19", "A16"]),
}


def _build_tree(root: Path, extra_listed: str | None = None) -> dict[str, list[str]]:
    """Write LA/ in the ASVspoof layout under ``root``; return the protocol lines per split."""
    rng = np.random.default_rng(0)
    lines: dict[str, list[str]] = {}
    for split, (letter, n_bona, attacks) in FIXTURE.items():
        flac = root / f"LA/ASVspoof2019_LA_{split}/flac"
        flac.mkdir(parents=True)
        keys = [("-", "bonafide")] * n_bona + [(a, "spoof") for a in attacks]
        lines[split] = []
        for i, (attack, key) in enumerate(keys):
            utt = f"LA_{letter}_{1000000 + i}"
            wave = 0.1 * rng.standard_normal(1600)
            sf.write(str(flac / f"{utt}.flac"), wave, 16000, subtype="PCM_16")
            lines[split].append(f"LA_00{i % 2}{letter} {utt} - {attack} {key}")
        sf.write(str(flac / f"LA_{letter}_9000000.flac"), np.zeros(160), 16000)  # unlisted
    if extra_listed:
        lines["dev"].append(f"LA_0001D {extra_listed} - A01 spoof")
    protocols = root / PROTOCOL_DIR
    protocols.mkdir(parents=True)
    for split, name in PROTOCOL_FILES.items():
        (protocols / name).write_text("\n".join(lines[split]) + "\n")
    (root / "LA/README.LA.txt").write_text("readme\n")
    (root / "LA/ASVspoof2019_LA_asv_scores").mkdir()
    (root / "LA/ASVspoof2019_LA_asv_scores/scores.txt").write_text("not needed\n")
    return lines


def _zip_tree(tree: Path, zip_path: Path) -> tuple[int, str]:
    with zipfile.ZipFile(zip_path, "w") as zf:
        for path in sorted(tree.rglob("*")):
            zf.write(path, path.relative_to(tree).as_posix())
    data = zip_path.read_bytes()
    return len(data), hashlib.md5(data).hexdigest()


def _cfg(url: str, size: int, md5: str, max_per_split: int = 0) -> Asvspoof2019Config:
    return Asvspoof2019Config(url=url, size_bytes=size, md5=md5, archive_dir="downloads",
                              max_per_split=max_per_split)


@pytest.fixture
def served_zip(tmp_path: Path) -> tuple[str, int, str]:
    """LA.zip outside the project, reachable by a file: URL, with its size and MD5."""
    tree = tmp_path / "fixture"
    _build_tree(tree)
    size, md5 = _zip_tree(tree, tmp_path / "LA.zip")
    return (tmp_path / "LA.zip").as_uri(), size, md5


def test_prepare_end_to_end_from_archive(served_zip, tmp_path: Path) -> None:
    url, size, md5 = served_zip
    project, out = tmp_path / "project", tmp_path / "project/data/raw"
    df = prepare_asvspoof2019(_cfg(url, size, md5), seed=1, out_dir=out, project_root=project)
    assert (project / "downloads/LA.zip").stat().st_size == size
    assert list(df.columns) == list(COLUMNS)
    validate(df)
    n_expected = sum(n + len(attacks) for _, n, attacks in FIXTURE.values())
    assert len(df) == n_expected
    counts = df.groupby(["split", "label"]).size().to_dict()
    assert counts[("train", "bonafide")] == 3 and counts[("train", "spoof")] == 6
    assert counts[("eval", "spoof")] == 3
    row = df.set_index("utt_id").loc["LA_T_1000003"]
    assert row["path"] == "LA/ASVspoof2019_LA_train/flac/LA_T_1000003.flac"
    assert (row["label"], row["split"], row["attack"], row["speaker"]) == (
        "spoof", "train", "A01", "LA_001T")
    assert set(df.loc[df["label"] == "bonafide", "attack"]) == {"-"}
    for rel in df["path"]:
        assert sf.info(str(out / rel)).samplerate == 16000
    # Only the protocols and the listed audio are extracted.
    assert (out / PROTOCOL_DIR / PROTOCOL_FILES["eval"]).is_file()
    assert not (out / "LA/README.LA.txt").exists()
    assert not (out / "LA/ASVspoof2019_LA_asv_scores").exists()
    assert len(list(out.rglob("*.flac"))) == n_expected


def test_max_per_split_takes_seeded_stratified_subset(served_zip, tmp_path: Path) -> None:
    url, size, md5 = served_zip
    cfg = _cfg(url, size, md5, max_per_split=3)
    project = tmp_path / "project"
    a = prepare_asvspoof2019(cfg, seed=7, out_dir=tmp_path / "a", project_root=project)
    b = prepare_asvspoof2019(cfg, seed=7, out_dir=tmp_path / "b", project_root=project)
    assert a.equals(b)
    for split, part in a.groupby("split"):
        assert len(part) == 3, split
        assert set(part["label"]) == {"bonafide", "spoof"}, split
    assert len(list((tmp_path / "a").rglob("*.flac"))) == 9  # only the subset's audio
    seeds = {tuple(prepare_asvspoof2019(cfg, seed=s, out_dir=tmp_path / f"s{s}",
                                        project_root=project)["utt_id"]) for s in range(6)}
    assert len(seeds) > 1  # the seed matters


def test_extracted_folder_is_used_without_download(tmp_path: Path) -> None:
    project = tmp_path / "project"
    _build_tree(project / "downloads")
    cfg = _cfg("http://127.0.0.1:9/unreachable/LA.zip", 1, "0" * 32)
    df = prepare_asvspoof2019(cfg, seed=1, out_dir=project / "raw", project_root=project)
    assert len(df) == sum(n + len(attacks) for _, n, attacks in FIXTURE.values())
    assert not (project / "downloads/LA.zip").exists()
    # Copies, never hard links: nothing written under raw/ can reach the user's extracted corpus.
    for rel in df["path"]:
        placed, original = project / "raw" / rel, project / "downloads" / rel
        assert placed.read_bytes() == original.read_bytes() and not placed.samefile(original)


def test_missing_audio_file_is_named(tmp_path: Path) -> None:
    tree = tmp_path / "fixture"
    _build_tree(tree, extra_listed="LA_D_7777777")
    size, md5 = _zip_tree(tree, tmp_path / "LA.zip")
    cfg = _cfg((tmp_path / "LA.zip").as_uri(), size, md5)
    with pytest.raises(FileNotFoundError, match="LA/ASVspoof2019_LA_dev/flac/LA_D_7777777.flac"):
        prepare_asvspoof2019(cfg, seed=1, out_dir=tmp_path / "raw", project_root=tmp_path)


def test_parse_cm_protocol_rows(tmp_path: Path) -> None:
    path = tmp_path / "p.txt"
    path.write_text("LA_0079 LA_T_1138215 - - bonafide\n\nLA_0079 LA_T_1004644 - A01 spoof\n")
    df = parse_cm_protocol(path, "train", "LA/ASVspoof2019_LA_train/flac")
    assert df.to_dict("records") == [
        {"utt_id": "LA_T_1138215", "path": "LA/ASVspoof2019_LA_train/flac/LA_T_1138215.flac",
         "label": "bonafide", "split": "train", "attack": "-", "speaker": "LA_0079"},
        {"utt_id": "LA_T_1004644", "path": "LA/ASVspoof2019_LA_train/flac/LA_T_1004644.flac",
         "label": "spoof", "split": "train", "attack": "A01", "speaker": "LA_0079"},
    ]


@pytest.mark.parametrize(
    "bad_line, reason",
    [
        ("LA_0079 LA_T_1 - A01", "expected 5 fields"),
        ("LA_0079 LA_T_1 - - genuine", "unknown key"),
        ("LA_0079 LA_T_1 - A01 bonafide", "with attack"),
        ("LA_0079 LA_T_1 - - spoof", "with attack"),
        ("LA_0079 LA_T_1000 - - bonafide", "already listed on line 1"),
        ("LA_0079 ../../etc - - bonafide", "not a plain file name"),
    ],
)
def test_malformed_protocol_line_names_file_and_line(tmp_path: Path, bad_line: str,
                                                     reason: str) -> None:
    path = tmp_path / "ASVspoof2019.LA.cm.dev.trl.txt"
    path.write_text(f"LA_0079 LA_T_1000 - - bonafide\n{bad_line}\n")
    with pytest.raises(ProtocolError, match=reason) as info:
        parse_cm_protocol(path, "dev", "x")
    assert f"{path}, line 2" in str(info.value)
