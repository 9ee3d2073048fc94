"""Corpus summary: clips, hours, speakers per split and attack, from a protocol."""

from __future__ import annotations

import pandas as pd

from spectcontra.data.summary import corpus_summary


def test_counts_hours_and_speakers_per_split_and_attack():
    protocol = pd.DataFrame({
        "utt_id": ["a", "b", "c", "d", "e"],
        "label": ["bonafide", "spoof", "spoof", "bonafide", "spoof"],
        "split": ["train", "train", "train", "eval", "eval"],
        "attack": ["-", "V01", "V02", "-", "V05"],
        "speaker": ["s1", "s1", "s2", "s3", "s3"],
        "language": ["en", "en", "fr", "ru", "ru"],
    })
    durations = pd.Series({"a": 1800.0, "b": 1800.0, "c": 3600.0, "d": 360.0})  # e: skipped
    out = corpus_summary(protocol, durations)
    train, ev = out["splits"]["train"], out["splits"]["eval"]
    assert (train["clips"], train["hours"], train["speakers"]) == (3, 2.0, 2)
    assert (train["bonafide"], train["spoof"], train["attacks"]) == (1, 2, {"V01": 1, "V02": 1})
    assert (ev["clips"], ev["hours"], ev["attacks"]) == (2, 0.1, {"V05": 1})
    assert out["splits"]["dev"]["clips"] == 0
    assert out["languages"] == {"en": 2, "fr": 1, "ru": 2}
    assert (out["total_clips"], out["total_hours"], out["total_speakers"]) == (5, 2.1, 3)
