"""The embedded synthetic corpus: determinism, split structure, and class-independent recording."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from spectcontra.config import ConfigError, SyntheticConfig
from spectcontra.conventions import BONAFIDE, NO_ATTACK, SPLITS, SPOOF
from spectcontra.data.attacks import (
    ATTACKS,
    KNOWN_ATTACKS,
    UNSEEN_ATTACKS,
    apply_attack,
)
from spectcontra.data.dsp import istft, stft
from spectcontra.data.protocol import COLUMNS, validate
from spectcontra.data.speech_synth import draw_speaker, synthesize
from spectcontra.data.synthetic import (
    generate_corpus,
    plan_corpus,
    render_utterance,
    speaker_profile,
)

SR = 16000
TINY = SyntheticConfig(train_speakers=2, dev_speakers=2, eval_speakers=2, train_utterances=10,
                       dev_utterances=10, eval_utterances=12, bonafide_fraction=0.4,
                       min_seconds=0.5, max_seconds=0.9)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("corpus")
    return out, generate_corpus(TINY, 7, SR, out)


def _bytes(root: Path, paths) -> list[bytes]:
    return [(root / p).read_bytes() for p in paths]


def test_same_seed_gives_identical_bytes_and_other_seed_differs(corpus, tmp_path):
    root, df = corpus
    again = generate_corpus(TINY, 7, SR, tmp_path / "again")
    assert again.equals(df)
    assert _bytes(root, df["path"]) == _bytes(tmp_path / "again", again["path"])
    other = generate_corpus(TINY, 8, SR, tmp_path / "other")
    pairs = zip(_bytes(root, df["path"]), _bytes(tmp_path / "other", other["path"]))
    assert all(a != b for a, b in pairs)


def test_protocol_columns_paths_and_schema(corpus):
    root, df = corpus
    assert tuple(df.columns) == COLUMNS
    validate(df)
    assert all((root / p).is_file() and not Path(p).is_absolute() for p in df["path"])
    assert (df.loc[df["label"] == BONAFIDE, "attack"] == NO_ATTACK).all()


def test_splits_classes_speakers_and_attacks(corpus):
    _, df = corpus
    by = {s: df[df["split"] == s] for s in SPLITS}
    for split, part in by.items():
        assert set(part["label"]) == {BONAFIDE, SPOOF}, split
        assert len(part) == getattr(TINY, f"{split}_utterances")
        assert part["speaker"].nunique() == getattr(TINY, f"{split}_speakers")
    spk = {s: set(p["speaker"]) for s, p in by.items()}
    assert not spk["eval"] & (spk["train"] | spk["dev"]) and not spk["train"] & spk["dev"]
    att = {s: set(p.loc[p["label"] == SPOOF, "attack"]) for s, p in by.items()}
    assert att["train"] == att["dev"] == set(KNOWN_ATTACKS)
    assert att["eval"] == set(UNSEEN_ATTACKS)
    assert not att["eval"] & att["train"]
    bona_share = (by["train"]["label"] == BONAFIDE).mean()
    assert bona_share == pytest.approx(TINY.bonafide_fraction, abs=0.05)


def test_files_are_16bit_mono_and_durations_in_range(corpus):
    root, df = corpus
    for path in df["path"]:
        info = sf.info(str(root / path))
        assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_16")
        assert TINY.min_seconds - 1e-3 <= info.frames / SR <= TINY.max_seconds + 1e-3


def _dbfs(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x.astype(float) ** 2)))


def test_recording_conditions_do_not_depend_on_the_class():
    speaker = speaker_profile(3, "SYN_S001")
    bona = render_utterance(5, BONAFIDE, NO_ATTACK, speaker, TINY, 3, SR)
    for attack in KNOWN_ATTACKS:
        spoof = render_utterance(5, SPOOF, attack, speaker, TINY, 3, SR)
        assert spoof.shape == bona.shape  # same drawn duration and silences
        assert _dbfs(spoof) == pytest.approx(_dbfs(bona), abs=0.5)
        assert not np.array_equal(spoof, bona)


def _clean(n_samples: int):
    speaker = draw_speaker(np.random.default_rng(1), female=False)
    return synthesize(np.random.default_rng(0), speaker, n_samples, SR)


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_every_attack_keeps_length_and_level_and_changes_the_wave(attack):
    clean = _clean(8000)
    out = apply_attack(attack, clean, np.random.default_rng(2), SR)
    assert out.shape == clean.wave.shape and np.isfinite(out).all()
    assert np.sqrt(np.mean(out**2)) == pytest.approx(np.sqrt(np.mean(clean.wave**2)), rel=1e-6)
    assert np.corrcoef(out, clean.wave)[0, 1] < 0.999


def test_clean_speech_has_voicing_pauses_and_speaker_pitch():
    low = draw_speaker(np.random.default_rng(4), female=False)
    clean = synthesize(np.random.default_rng(5), low, 2 * SR, SR)
    voiced = clean.f0_hz > 0
    assert 0.2 < voiced.mean() < 0.95  # voiced and unvoiced stretches
    assert np.median(clean.f0_hz[voiced]) == pytest.approx(low.f0_hz, rel=0.3)
    assert np.std(clean.f0_hz[voiced]) > 1.0  # the pitch contour moves


def test_stft_round_trip_is_exact():
    x = np.random.default_rng(0).standard_normal(1234)
    np.testing.assert_allclose(istft(stft(x, 256), 256, x.size), x, atol=1e-10)


def test_bad_sizes_are_refused_by_name():
    with pytest.raises(ConfigError, match="'data.synthetic.eval_utterances' = 1"):
        SyntheticConfig(**{**TINY.__dict__, "eval_utterances": 1})
    with pytest.raises(ValueError, match="min_seconds"):
        plan_corpus(SyntheticConfig(**{**TINY.__dict__, "min_seconds": 0.1}), 0)
    with pytest.raises(ValueError, match="unknown attack"):
        apply_attack("A99", _clean(4000), np.random.default_rng(0), SR)
