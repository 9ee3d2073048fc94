"""Channel conditions: each really changes the audio as its channel would, deterministically,
and the conditions stage's tables score every system under every condition."""

from __future__ import annotations

import typing

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from spectcontra.config import ConditionsConfig, ConfigError, EvaluateConfig, load_config
from spectcontra.data.conditions import CONDITIONS, ChannelSettings, apply_condition
from spectcontra.evaluation.scores import score_table
from spectcontra.experiments.conditions import (
    CLEAN,
    conditions_metrics,
    eval_subset,
    score_conditions,
)
from spectcontra.experiments.systems import MAIN

SR = 16000
SETTINGS = ChannelSettings(mp3_kbps=32, opus_kbps=12, noise_snr_db=10.0)


def _speechlike(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """Harmonics of a gliding 120-220 Hz pitch up to 7.5 kHz, with a syllable-rate envelope."""
    t = np.arange(int(seconds * SR)) / SR
    f0 = 120 + 100 * t / seconds
    phase = 2 * np.pi * np.cumsum(f0) / SR
    wave = sum(np.sin(k * phase) / k for k in range(1, int(7500 / 220)))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
    noise = 0.01 * np.random.default_rng(seed).standard_normal(t.size)
    return (0.3 * wave / np.abs(wave).max() * envelope + noise).astype(np.float32)


def _band_fraction(wave: np.ndarray, low: float, high: float) -> float:
    power = np.abs(np.fft.rfft(wave)) ** 2
    freqs = np.fft.rfftfreq(wave.size, 1 / SR)
    return float(power[(freqs >= low) & (freqs < high)].sum() / power.sum())


@pytest.mark.parametrize("name", sorted(CONDITIONS))
def test_every_condition_changes_the_audio_but_keeps_rate_length_and_alignment(name):
    clean = _speechlike()
    out = apply_condition(name, clean, SR, SETTINGS, "utt1", seed=3)
    assert out.dtype == np.float32 and out.shape == clean.shape and np.isfinite(out).all()
    assert np.abs(out - clean).max() > 1e-3, f"{name} left the audio unchanged"
    if name != "telephone":  # which drops the fundamental: see the band test below
        # still the same utterance, in time: the codecs drop their encoder delay
        assert np.corrcoef(out, clean)[0, 1] > 0.5


@pytest.mark.parametrize("name", sorted(CONDITIONS))
def test_conditions_are_deterministic(name):
    clean = _speechlike(0.7)
    first = apply_condition(name, clean, SR, SETTINGS, "utt7", seed=5)
    second = apply_condition(name, clean, SR, SETTINGS, "utt7", seed=5)
    np.testing.assert_array_equal(first, second)


def test_telephone_band_kills_energy_above_4_khz_and_below_300_hz():
    clean = _speechlike()
    assert _band_fraction(clean, 4100, SR / 2) > 0.01  # there was energy to remove
    out = apply_condition("telephone", clean, SR, SETTINGS, "utt", seed=0)
    assert _band_fraction(out, 4100, SR / 2) < 1e-3
    assert _band_fraction(out, 0, 150) < 0.5 * _band_fraction(clean, 0, 150)


def test_mp3_at_a_lower_bit_rate_loses_more():
    clean = _speechlike()
    errors = [np.mean((apply_condition("mp3", clean, SR, ChannelSettings(kbps, 12, 10.0), "u", 0)
                       - clean) ** 2) for kbps in (16, 128)]
    assert errors[0] > errors[1]


def test_noise_has_the_requested_snr_and_its_own_draw_per_utterance():
    clean = _speechlike()
    out = apply_condition("noise", clean, SR, SETTINGS, "a", seed=1)
    snr = 10 * np.log10(np.sum(clean.astype(np.float64) ** 2) / np.sum((out - clean) ** 2.0))
    assert snr == pytest.approx(10.0, abs=0.05)
    other = apply_condition("noise", clean, SR, SETTINGS, "b", seed=1)
    reseeded = apply_condition("noise", clean, SR, SETTINGS, "a", seed=2)
    assert not np.allclose(out, other) and not np.allclose(out, reseeded)


def test_unknown_condition_and_bad_wave_are_refused():
    with pytest.raises(ValueError, match="unknown channel condition 'vinyl'"):
        apply_condition("vinyl", _speechlike(0.2), SR, SETTINGS, "u", 0)
    with pytest.raises(ValueError, match="non-empty 1-D wave"):
        apply_condition("mp3", np.zeros(0, np.float32), SR, SETTINGS, "u", 0)


def test_params_names_every_condition_the_code_has():
    names_type = typing.get_type_hints(ConditionsConfig)["names"]
    assert set(typing.get_args(typing.get_args(names_type)[0])) == set(CONDITIONS)


@pytest.mark.parametrize(("section", "key", "value", "named"), [
    ("conditions", "names", ["mp3", "vinyl"], "conditions.names[1]"),
    ("conditions", "names", [], "conditions.names"),
    ("conditions", "names", ["mp3", "mp3"], "conditions.names"),
    ("conditions", "mp3_kbps", 4, "conditions.mp3_kbps"),
    ("conditions", "opus_kbps", 1000, "conditions.opus_kbps"),
    ("conditions", "utterances", 5, "conditions.utterances"),
    ("conditions", "noise_snr_db", "loud", "conditions.noise_snr_db"),
    ("crosseval", "source", "youtube", "crosseval.source"),
    ("crosseval", "synthetic_speakers", 1, "crosseval.synthetic_speakers"),
    ("crosseval", "synthetic_utterances", 5, "crosseval.synthetic_utterances"),
])
def test_bad_params_name_their_key(params_raw, write_params, section, key, value, named):
    params_raw[section][key] = value
    with pytest.raises(ConfigError) as info:
        load_config(write_params(params_raw))
    assert repr(named) in str(info.value)


class _Echo:
    """A fake system: scores a file by its RMS (louder = more bona fide)."""

    def score_files(self, paths):
        return np.array([np.sqrt(np.mean(sf.read(p)[0] ** 2)) for p in paths])


def _tiny_eval(folder, n=8) -> pd.DataFrame:
    rows = []
    for i in range(n):
        label = "bonafide" if i % 2 else "spoof"
        wave = _speechlike(0.4, seed=i) * (1.0 if label == "bonafide" else 0.5)
        sf.write(folder / f"u{i}.flac", wave, SR, subtype="PCM_16")
        rows.append({"utt_id": f"u{i}", "path": f"u{i}.flac", "label": label,
                     "attack": "-" if label == "bonafide" else "A1", "speaker": f"s{i % 4}"})
    return pd.DataFrame(rows)


def test_score_conditions_scores_every_system_under_clean_and_each_condition(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    index = _tiny_eval(raw)
    systems = {MAIN: _Echo(), "other": _Echo()}
    clean = {name: score_table(index, _Echo().score_files([raw / p for p in index["path"]]))
             for name in (MAIN, "other", "not_saved")}
    tables = score_conditions(systems, clean, index, raw, tmp_path / "work",
                              ["telephone", "noise"], SETTINGS, SR, seed=0)
    assert list(tables) == [CLEAN, "telephone", "noise"]
    assert set(tables[CLEAN]) == {MAIN, "other"}  # published tables of the scored systems only
    for condition, by_system in tables.items():
        assert set(by_system) == {MAIN, "other"}
        assert list(by_system[MAIN]["utt_id"]) == list(index["utt_id"])
    written, _ = sf.read(tmp_path / "work" / "noise" / "u0.flac")
    assert written.size == sf.info(raw / "u0.flac").frames
    assert not np.allclose(tables["noise"][MAIN]["score"], tables[CLEAN][MAIN]["score"])

    dev = tables[CLEAN][MAIN].assign(utt_id=lambda t: "dev_" + t["utt_id"])
    cfg = EvaluateConfig(n_bootstrap=20, ci_level=0.9, ece_bins=5, bootstrap_unit="speaker")
    result = conditions_metrics(tables, {MAIN: dev, "other": dev}, cfg, seed=0)
    assert "vs_clean" not in result[CLEAN][MAIN] and "paired" not in result[CLEAN][MAIN]
    assert result["noise"]["other"]["vs_clean"]["eer_diff_ci_low"] <= \
        result["noise"]["other"]["vs_clean"]["eer_diff"]
    # two identical systems: ours - other is exactly zero
    assert result["telephone"]["other"]["paired"]["eer_diff"] == 0.0
    assert {"eer", "eer_ci_low", "accuracy_at_dev_thr", "dev_eer_threshold"} <= \
        set(result["noise"][MAIN])


def test_a_subset_keeps_every_speakers_mix_and_is_seeded():
    index = pd.DataFrame({"utt_id": [f"u{i}" for i in range(120)],
                          "label": ["bonafide" if i % 3 == 0 else "spoof" for i in range(120)],
                          "speaker": [f"s{i % 4}" for i in range(120)]})
    sub = eval_subset(index, 60, seed=1)
    assert len(sub) == 60
    mix = sub.groupby(["speaker", "label"]).size()
    assert (mix == index.groupby(["speaker", "label"]).size() // 2).all()
    assert sub.equals(eval_subset(index, 60, seed=1)) and not sub.equals(eval_subset(index, 60, 2))
    assert eval_subset(index, 0, seed=1) is index and eval_subset(index, 500, 1) is index
