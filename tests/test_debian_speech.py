"""Tests for the Debian speech corpus on fake .deb packages built here: never any network.

The fakes follow the real layouts (ktuberling-data's language folders of Ogg/WAV words,
asterisk-core-sounds' raw G.722 voice folders), so the real fetch, verify, unpack, catalogue,
plan and render code runs end to end in a few seconds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from spectcontra.config import DebianPackage, DebianSpeechConfig, load_config
from spectcontra.conventions import BONAFIDE, NO_ATTACK, SPOOF
from spectcontra.data.codecs import (
    Channel,
    decode_file,
    encode_g722,
    matching_level,
    through_channel,
)
from spectcontra.data.copysynth import (
    SOURCE_COLUMNS,
    assign_splits,
    draw_utterances,
    match_level,
    prepare_debian_speech,
)
from spectcontra.data.debian.catalogue import eligible, list_package
from spectcontra.data.debian.packages import (
    PackageError,
    fetch_packages,
    licences,
    unpack,
)
from spectcontra.data.protocol import ProtocolError, validate
from spectcontra.data.spectral_cues import energy_above_4k
from spectcontra.data.vocoders import KNOWN_ATTACKS, UNSEEN_ATTACKS
from tests.conftest import ROOT
from tests.test_vocoders import vowel

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")

KTUBERLING = "ktuberling-data"
ASTERISK = "asterisk-core-sounds-en-g722"
VERSIONS = {KTUBERLING: "4:1.0-1", ASTERISK: "1.0-1"}
COPYRIGHT = ("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
             "Files: *\nCopyright: 2020, A Volunteer\nLicense: CC-BY-SA-3.0\n\n"
             "Files: debian/*\nCopyright: 2020, A Packager\nLicense: GPL-2+\n\n"
             "License: CC-BY-SA-3.0\n Some text.\n")


def _encoded(fmt: str, subtype: str, wave: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, wave, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def _ktuberling_files(rng: np.random.Generator) -> dict[str, bytes]:
    sounds = "usr/share/ktuberling/sounds"
    files: dict[str, bytes] = {}
    # One folder per codec the real package holds: Vorbis, 8 kHz PCM, Opus.
    for lang, fmt, subtype, rate in (("ca", "OGG", "VORBIS", 22050), ("da", "WAV", "PCM_16", 8000),
                                     ("sr", "OGG", "OPUS", 48000)):
        for i, f0 in enumerate((110.0, 180.0)):
            wave = vowel(0.3 + 0.05 * i, f0, rate, rng)
            files[f"{sounds}/{lang}/word{i}.{fmt.lower()}"] = _encoded(fmt, subtype, wave, rate)
    # Serbian in Latin script: the very same recordings, as in the real package.
    for i in range(2):
        files[f"{sounds}/sr@latin/word{i}.ogg"] = files[f"{sounds}/sr/word{i}.ogg"]
    files[f"usr/share/doc/{KTUBERLING}/copyright"] = COPYRIGHT.encode()
    return files


def _asterisk_files(rng: np.random.Generator) -> dict[str, bytes]:
    sounds = "usr/share/asterisk/sounds"
    files: dict[str, bytes] = {}
    voices = {"en_US_f_Alice": 2, "es_MX_f_Alice": 1, "fr_CA_f_Bea": 2, "it_IT_m_Carl": 2}
    for voice, n in voices.items():
        for i in range(n):
            files[f"{sounds}/{voice}/prompt{i}.g722"] = encode_g722(vowel(0.4, 150.0, 16000, rng))
        files[f"{sounds}/{voice}/beep.g722"] = encode_g722(0.3 * np.sin(np.arange(8000) / 3))
        files[f"{sounds}/{voice}/silence/1.g722"] = encode_g722(np.zeros(8000, np.float32))
    files[f"{sounds}/en_US_f_Alice/tiny.g722"] = encode_g722(np.full(1600, 0.01, np.float32))
    files[f"usr/share/doc/{ASTERISK}/copyright"] = COPYRIGHT.encode()
    return files


def build_deb(work: Path, name: str, version: str, files: dict[str, bytes], dest: Path) -> Path:
    """A real .deb of ``files`` made by ``dpkg-deb --build``."""
    tree = work / f"{name}-tree"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
        f"Maintainer: Tests <tests@example.invalid>\nDescription: fake speech for tests\n")
    for rel, data in files.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(data)
    dest.mkdir(parents=True, exist_ok=True)
    deb = dest / f"{name}.deb"  # no version in the name: the cache reads control fields
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(tree), str(deb)],
                   check=True, capture_output=True)
    return deb


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Package name -> a fake .deb, kept outside any cache folder."""
    work = tmp_path_factory.mktemp("fake-debs")
    rng = np.random.default_rng(0)
    return {
        KTUBERLING: build_deb(work, KTUBERLING, VERSIONS[KTUBERLING], _ktuberling_files(rng),
                              work / "mirror"),
        ASTERISK: build_deb(work, ASTERISK, VERSIONS[ASTERISK], _asterisk_files(rng),
                            work / "mirror"),
    }


def _pins(mirror: dict[str, Path]) -> tuple[DebianPackage, ...]:
    return tuple(DebianPackage(name, VERSIONS[name], hashlib.sha256(deb.read_bytes()).hexdigest())
                 for name, deb in mirror.items())


def _cfg(mirror: dict[str, Path], **changes: object) -> DebianSpeechConfig:
    cfg = DebianSpeechConfig(
        deb_dir="debs", packages=_pins(mirror), skip=("silence/*", "beep.*"), min_seconds=0.2,
        max_seconds=4.0, bonafide_utterances=13, spoofs_per_utterance=1, dev_fraction=0.2,
        eval_fraction=0.3)
    return dataclasses.replace(cfg, **changes)


def _cached(project: Path, mirror: dict[str, Path]) -> Path:
    """A project whose .deb cache already holds the fake packages."""
    debs = project / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    for deb in mirror.values():
        shutil.copy(deb, debs / deb.name)
    return project


def _path_with(tmp_path: Path, tools: dict[str, str | None]) -> str:
    """A PATH holding only ``tools``: name -> existing program, or a shell script body."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in tools.items():
        if body is None:
            os.symlink(shutil.which(name), bin_dir / name)
        else:
            (bin_dir / name).write_text("#!/bin/sh\n" + body)
            (bin_dir / name).chmod(stat.S_IRWXU)
    return str(bin_dir)


# --------------------------------------------------------------------------- fetch and verify


def test_cached_debs_are_found_by_control_fields_without_apt(tmp_path, mirror, monkeypatch):
    project = _cached(tmp_path, mirror)
    # Only dpkg-deb and the tar it runs: apt-get is absent and must not be needed.
    monkeypatch.setenv("PATH", _path_with(tmp_path, {"dpkg-deb": None, "tar": None}))
    found = fetch_packages(_pins(mirror), project / "debs")
    assert found == {name: project / "debs" / deb.name for name, deb in mirror.items()}


def test_sha256_mismatch_names_package_expected_and_got(tmp_path, mirror):
    project = _cached(tmp_path, mirror)
    pins = list(_pins(mirror))
    pins[0] = dataclasses.replace(pins[0], sha256="0" * 64)
    with pytest.raises(PackageError) as err:
        fetch_packages(pins, project / "debs")
    message = str(err.value)
    assert f"{KTUBERLING}={VERSIONS[KTUBERLING]}" in message
    assert "0" * 64 in message and _pins(mirror)[0].sha256 in message
    assert (project / "debs" / mirror[KTUBERLING].name).exists()  # kept, never overwritten


def test_missing_apt_get_names_the_packages_and_the_alternatives(tmp_path, mirror, monkeypatch):
    monkeypatch.setenv("PATH", _path_with(tmp_path, {}))
    with pytest.raises(PackageError) as err:
        fetch_packages(_pins(mirror), tmp_path / "debs")
    message = str(err.value)
    assert "apt-get is not on PATH" in message
    assert f"{ASTERISK}={VERSIONS[ASTERISK]}" in message
    assert "data.source: synthetic" in message and str(tmp_path / "debs") in message


def test_apt_get_errors_are_passed_on(tmp_path, mirror, monkeypatch):
    fake = ("echo 'W: a warning' >&2\n"
            "echo \"E: Version '4:1.0-1' for 'ktuberling-data' was not found\" >&2\nexit 100\n")
    monkeypatch.setenv("PATH", _path_with(tmp_path, {"apt-get": fake}) + os.pathsep
                       + os.environ["PATH"])
    with pytest.raises(PackageError, match="E: Version '4:1.0-1' for 'ktuberling-data' was not "
                                           "found.*apt-get update.*data.source: synthetic"):
        fetch_packages(_pins(mirror), tmp_path / "debs")


def test_apt_get_download_lands_verified_in_the_cache(tmp_path, mirror, monkeypatch):
    # A stand-in apt-get that "downloads" into its working folder, naming files as apt does.
    copies = "\n".join(f"cp {deb} ./{name}_{VERSIONS[name].replace(':', '%3a')}_all.deb"
                       for name, deb in mirror.items())
    monkeypatch.setenv("PATH", _path_with(tmp_path, {"apt-get": copies + "\n"}) + os.pathsep
                       + os.environ["PATH"])
    found = fetch_packages(_pins(mirror), tmp_path / "debs")
    assert found[KTUBERLING] == tmp_path / "debs" / "ktuberling-data_4%3a1.0-1_all.deb"
    assert sorted(p.name for p in (tmp_path / "debs").iterdir()) == sorted(
        p.name for p in found.values())  # the temporary download folder is gone


def test_an_unreadable_deb_in_the_cache_is_named(tmp_path, mirror):
    project = _cached(tmp_path, mirror)
    (project / "debs" / "broken.deb").write_bytes(b"not a deb")
    with pytest.raises(PackageError, match="broken.deb is not a readable .deb"):
        fetch_packages(_pins(mirror), project / "debs")


def test_licences_lists_each_declared_licence_once() -> None:
    assert licences(COPYRIGHT) == ("CC-BY-SA-3.0", "GPL-2+")


# --------------------------------------------------------------------------- catalogue


@pytest.fixture(scope="module")
def catalogue(mirror, tmp_path_factory) -> pd.DataFrame:
    root = tmp_path_factory.mktemp("unpacked")
    return pd.concat([list_package(unpack(deb, root / name), name) for name, deb in mirror.items()],
                     ignore_index=True)


def test_catalogue_reads_speakers_languages_and_codecs(catalogue: pd.DataFrame) -> None:
    kt = catalogue[catalogue["package"] == KTUBERLING].set_index("member")
    sounds = "usr/share/ktuberling/sounds"
    assert kt.loc[f"{sounds}/ca/word0.ogg", ["speaker", "language", "codec", "sample_rate"]].tolist() \
        == ["ktuberling-ca", "ca", "vorbis", 22050]
    assert kt.loc[f"{sounds}/da/word1.wav", "codec"] == "pcm16"
    assert kt.loc[f"{sounds}/sr/word0.ogg", "codec"] == "opus"
    assert kt.loc[f"{sounds}/sr@latin/word0.ogg", "speaker"] == "ktuberling-sr"  # script variant
    ast = catalogue[catalogue["package"] == ASTERISK].set_index("member")
    alice = ast[ast["speaker"] == "asterisk-Alice"]
    assert set(alice["language"]) == {"en-US", "es-MX"}  # one voice, two languages
    prompt = ast.loc["usr/share/asterisk/sounds/fr_CA_f_Bea/prompt0.g722"]
    assert prompt["rel"] == "prompt0.g722"
    decoded, rate = decode_file(prompt["file"], "g722")
    assert rate == 16000 and decoded.size / rate == pytest.approx(prompt["seconds"])


def test_eligible_drops_non_speech_short_and_repeated_files(catalogue: pd.DataFrame) -> None:
    kept = eligible(catalogue, ("silence/*", "beep.*"), 0.2, 4.0)
    assert not kept["rel"].str.contains("silence/|beep").any()
    assert "tiny.g722" not in set(kept["rel"])  # a 0.2 s floor drops the near-empty prompt
    assert not kept["member"].str.contains("sr@latin").any()  # byte copies of sr/
    assert kept["sha256"].is_unique and len(kept) == 13


def test_an_unknown_package_layout_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="no known recording layout for package 'espeak-data'"):
        list_package(tmp_path, "espeak-data")


# --------------------------------------------------------------------------- channels


def test_a_narrowband_channel_removes_the_upper_band() -> None:
    x = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    out = through_channel(x, 16000, Channel("pcm16", 8000))
    assert out.shape == x.shape and out.dtype == np.float32
    assert energy_above_4k(x, 16000) > 0.4 and energy_above_4k(out, 16000) < 0.01


@pytest.mark.parametrize("channel", [Channel("g722", 16000), Channel("vorbis", 44100, 0.5),
                                     Channel("opus", 48000, 0.5)], ids=lambda c: c.codec)
def test_lossy_channels_keep_length_and_speech(channel: Channel) -> None:
    x = vowel(0.5, 150.0, 16000, np.random.default_rng(0))
    out = through_channel(x, 16000, channel)
    assert out.shape == x.shape and np.isfinite(out).all()
    assert np.std(out) == pytest.approx(np.std(x), rel=0.2)


def test_matching_level_follows_the_source_file_size() -> None:
    x = vowel(1.0, 150.0, 44100, np.random.default_rng(0))
    small, large = (matching_level(x, "vorbis", 44100, n) for n in (6_000, 30_000))
    assert 0.0 <= large < small <= 1.0
    assert matching_level(x, "pcm16", 44100, 1) == 0.0


def test_channel_refuses_bad_settings() -> None:
    with pytest.raises(ValueError, match="unknown codec 'mp3'"):
        Channel("mp3", 16000)
    with pytest.raises(ValueError, match="G.722 runs at 16000 Hz"):
        Channel("g722", 8000)


def test_match_level_copies_rms_and_dc_of_the_reference() -> None:
    rng = np.random.default_rng(0)
    ref = (0.2 * rng.standard_normal(1000) + 0.01).astype(np.float32)
    out = match_level(3.0 * rng.standard_normal(1000).astype(np.float32), ref)
    assert out.mean() == pytest.approx(ref.mean(), abs=1e-6)
    assert out.std() == pytest.approx(ref.std(), rel=1e-5)


# --------------------------------------------------------------------------- corpus


def _build(project: Path, mirror, seed: int = 7, workers: int = 1, **changes) -> pd.DataFrame:
    out = project / "raw"
    out.mkdir(parents=True, exist_ok=True)
    return prepare_debian_speech(_cfg(mirror, **changes), seed, 16000, workers, out, project)


@pytest.fixture(scope="module")
def corpus(mirror, tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    project = _cached(tmp_path_factory.mktemp("project"), mirror)
    return project / "raw", _build(project, mirror)


def test_corpus_protocol_is_valid_and_traces_its_sources(corpus) -> None:
    raw, df = corpus
    validate(df)
    assert set(SOURCE_COLUMNS) <= set(df.columns)
    assert (df["label"] == BONAFIDE).sum() == (df["label"] == SPOOF).sum() == 13
    for row in df.itertuples():
        info = sf.info(str(raw / row.path))
        assert info.samplerate == 16000 and info.subtype == "PCM_16"
    # Each spoof copies a bona fide recording of its own split, sample for sample in length.
    bona = df[df["label"] == BONAFIDE].set_index("source_file")
    for row in df[df["label"] == SPOOF].itertuples():
        twin = bona.loc[row.source_file]
        assert twin["split"] == row.split and twin["speaker"] == row.speaker
        assert sf.info(str(raw / row.path)).frames == sf.info(str(raw / twin["path"])).frames


def test_speakers_never_span_splits_and_every_split_has_both_collections(corpus) -> None:
    _, df = corpus
    assert (df.groupby("speaker")["split"].nunique() == 1).all()
    for split, rows in df.groupby("split"):
        assert set(rows["source_package"]) == {KTUBERLING, ASTERISK}, split
    alice = df[df["speaker"] == "asterisk-Alice"]
    assert set(alice["language"]) == {"en-US", "es-MX"}


def test_eval_only_families_appear_in_eval_alone(corpus) -> None:
    _, df = corpus
    spoof = df[df["label"] == SPOOF]
    assert set(spoof.loc[spoof["split"] != "eval", "attack"]) <= set(KNOWN_ATTACKS)
    assert set(spoof.loc[spoof["split"] == "eval", "attack"]) <= set(UNSEEN_ATTACKS)
    assert (df.loc[df["label"] == BONAFIDE, "attack"] == NO_ATTACK).all()


def test_corpus_carries_the_package_licences(corpus, mirror) -> None:
    raw, _ = corpus
    sources = json.loads((raw / "sources.json").read_text())
    assert [s["package"] for s in sources] == list(mirror)
    assert sources[0]["licenses"] == ["CC-BY-SA-3.0", "GPL-2+"]
    assert (raw / sources[0]["copyright"]).read_text() == COPYRIGHT


def _audio_bytes(raw: Path) -> dict[str, bytes]:
    return {p.relative_to(raw).as_posix(): p.read_bytes() for p in sorted(raw.rglob("*.flac"))}


def test_same_seed_same_bytes_whatever_the_worker_count(corpus, mirror, tmp_path) -> None:
    raw, df = corpus
    project = _cached(tmp_path, mirror)
    again = _build(project, mirror, workers=2)
    pd.testing.assert_frame_equal(again, df)
    assert _audio_bytes(project / "raw") == _audio_bytes(raw)


def test_another_seed_gives_another_corpus(corpus, mirror, tmp_path) -> None:
    _, df = corpus
    other = _build(_cached(tmp_path, mirror), mirror, seed=8)
    assert not other[["source_file", "split", "attack"]].equals(df[["source_file", "split", "attack"]])


def test_asking_for_more_recordings_than_eligible_names_the_key(catalogue) -> None:
    with pytest.raises(ValueError, match="bonafide_utterances = 99, but only 13"):
        draw_utterances(eligible(catalogue, ("silence/*", "beep.*"), 0.2, 4.0), 99, 0)


def test_a_collection_with_too_few_speakers_to_split_is_named() -> None:
    chosen = pd.DataFrame({"collection": ["asterisk"] * 4,
                           "speaker": ["asterisk-Alice"] * 2 + ["asterisk-Bea"] * 2})
    with pytest.raises(ProtocolError, match="asterisk recordings: cannot split 2 speaker"):
        assign_splits(chosen, 0.2, 0.3, 0)


def test_params_pin_every_package_by_version_and_sha256() -> None:
    cfg = load_config(ROOT / "params.yaml").data.debian_speech
    names = {p.name for p in cfg.packages}
    assert "ktuberling-data" in names
    assert {f"asterisk-core-sounds-{lang}-g722" for lang in ("en", "es", "fr", "it", "ru")} <= names
