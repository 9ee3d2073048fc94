"""Shortcut audit: cues measured on hand-made signals, and planted shortcuts found by audit()."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.signal import butter, sosfilt

from spectcontra.conventions import BONAFIDE, SPOOF
from spectcontra.data.shortcuts import CUES, audit, cue_table, tie_neutral_eer
from spectcontra.evaluation.metrics import compute_eer

SR = 16000


def _tone(seconds: float, amp: float = 0.5, freq: float = 440.0) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * SR)) / SR)


def test_silences_and_duration_of_a_padded_tone():
    x = np.concatenate([np.zeros(int(0.3 * SR)), _tone(0.5), np.zeros(int(0.2 * SR))])
    cues = cue_table(x, SR)
    assert set(cues) == set(CUES)
    assert cues["duration_s"] == pytest.approx(1.0)
    assert cues["leading_silence_s"] == pytest.approx(0.3, abs=0.025)
    assert cues["trailing_silence_s"] == pytest.approx(0.2, abs=0.025)


def test_noisy_silence_still_counts_as_silence():
    rng = np.random.default_rng(0)
    x = np.concatenate([np.zeros(int(0.4 * SR)), _tone(0.6)]) + 0.005 * rng.standard_normal(SR)
    cues = cue_table(x, SR)
    assert cues["leading_silence_s"] == pytest.approx(0.4, abs=0.025)
    assert cues["trailing_silence_s"] < 0.02


def test_level_dc_and_clipping():
    full_scale = cue_table(_tone(1.0, amp=1.0), SR)
    assert full_scale["rms_dbfs"] == pytest.approx(-3.01, abs=0.01)
    assert cue_table(_tone(1.0) + 0.1, SR)["dc_offset"] == pytest.approx(0.1, abs=1e-3)
    driven = np.clip(_tone(1.0, amp=2.0), -1.0, 1.0)
    expected = np.mean(np.abs(driven) >= 0.99)  # brute force
    assert cue_table(driven, SR)["clip_fraction"] == pytest.approx(expected)
    assert expected > 0.5
    assert cue_table(_tone(1.0), SR)["clip_fraction"] == 0.0


def test_bandwidth_follows_a_low_pass():
    noise = np.random.default_rng(1).standard_normal(SR)
    full = cue_table(noise, SR)["bandwidth_hz"]
    assert full == pytest.approx(0.99 * SR / 2, rel=0.02)
    narrow = cue_table(sosfilt(butter(10, 3000, fs=SR, output="sos"), noise), SR)["bandwidth_hz"]
    assert 2500 < narrow < 3600


def test_cue_table_refuses_bad_input():
    with pytest.raises(ValueError, match="1-D"):
        cue_table(np.zeros((2, 100)), SR)
    with pytest.raises(ValueError, match="sample_rate"):
        cue_table(np.ones(100), 0)


def test_tie_neutral_eer():
    assert tie_neutral_eer(np.zeros(5), np.zeros(7)) == 0.5
    assert compute_eer(np.zeros(5), np.zeros(7))[0] == 1.0  # why the neutral version exists
    rng = np.random.default_rng(2)
    bona, spoof = rng.normal(1, 1, 200), rng.normal(0, 1, 300)
    assert tie_neutral_eer(bona, spoof) == pytest.approx(compute_eer(bona, spoof)[0], abs=0.01)


def _toy_cues(spoof_shorter: bool, n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for split in ("train", "dev", "eval"):
        for i in range(n):
            label = BONAFIDE if i % 2 else SPOOF
            base = rng.uniform(2.0, 4.0)
            rows.append({
                "utt_id": f"{split}{i}", "split": split, "label": label,
                "duration_s": base - (1.0 if spoof_shorter and label == SPOOF else 0.0),
                "leading_silence_s": rng.uniform(0.0, 0.5), "rms_dbfs": rng.normal(-25, 3),
                "clip_fraction": 0.0,
            })
    return pd.DataFrame(rows)


def test_audit_flags_a_planted_duration_shortcut():
    out = audit(_toy_cues(spoof_shorter=True))
    assert out["shortcut_eer_duration_s"] < 0.3 and out["shortcut_flag_duration_s"]
    assert out["shortcut_dev_eer_duration_s"] < 0.3 and out["shortcut_dev_flag_duration_s"]
    assert out["shortcut_eer_all_cues"] < 0.3 and out["shortcut_any_flag"]
    assert not out["shortcut_flag_rms_dbfs"] and not out["shortcut_dev_flag_rms_dbfs"]


def test_a_shortcut_only_dev_carries_is_flagged_too():
    cues = _toy_cues(spoof_shorter=False)
    dev_spoof = (cues["split"] == "dev") & (cues["label"] == SPOOF)
    cues.loc[dev_spoof, "duration_s"] -= 1.5  # dev spoofs shorter: train -> dev reads it
    cues.loc[cues["split"] == "train", "duration_s"] -= 1.5 * (cues["label"] == SPOOF)
    out = audit(cues)
    assert out["shortcut_dev_flag_duration_s"] and out["shortcut_any_flag"]
    assert not out["shortcut_flag_duration_s"]  # eval carries no such cue


def test_audit_of_a_fair_corpus_sits_near_chance_and_is_json_flat():
    out = audit(_toy_cues(spoof_shorter=False))
    for cue in ("duration_s", "leading_silence_s", "rms_dbfs", "all_cues"):
        assert 0.4 < out[f"shortcut_eer_{cue}"] < 0.6, cue
    assert out["shortcut_eer_clip_fraction"] == 0.5  # a constant cue carries nothing
    assert not out["shortcut_any_flag"]
    assert "shortcut_eer_bandwidth_hz" not in out  # only the cues given are audited
    assert json.loads(json.dumps(out)) == out
    assert all(isinstance(v, (float, bool)) for v in out.values())


def test_audit_needs_both_classes_in_train_and_eval():
    cues = _toy_cues(spoof_shorter=False)
    with pytest.raises(ValueError, match="eval"):
        audit(cues[~((cues["split"] == "eval") & (cues["label"] == SPOOF))])
    with pytest.raises(ValueError, match="dev"):
        audit(cues[~((cues["split"] == "dev") & (cues["label"] == SPOOF))])
    with pytest.raises(ValueError, match="split"):
        audit(cues.drop(columns="split"))
