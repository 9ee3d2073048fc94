"""What a corpus holds: clips, hours and speakers per split and attack, from its protocol."""

from __future__ import annotations

from typing import Any

import pandas as pd

from spectcontra.conventions import SPLITS


def corpus_summary(protocol: pd.DataFrame, durations: pd.Series) -> dict[str, Any]:
    """{"splits": {split: {clips, hours, speakers, bonafide, spoof, attacks: {id: clips}}},
    "languages": {language: clips} (when the protocol has them), "total_*"}.

    ``durations`` holds seconds per ``utt_id`` (index); utterances without one (skipped as
    bad audio) count as clips with no duration.
    """
    seconds = protocol["utt_id"].map(durations).fillna(0.0)
    out: dict[str, Any] = {"splits": {}}
    for split in SPLITS:
        rows = protocol["split"] == split
        part = protocol[rows]
        out["splits"][split] = {
            "clips": int(rows.sum()), "hours": round(float(seconds[rows].sum()) / 3600, 3),
            "speakers": int(part["speaker"].nunique()),
            "bonafide": int((part["label"] == "bonafide").sum()),
            "spoof": int((part["label"] == "spoof").sum()),
            "attacks": {a: int(n) for a, n in part.loc[part["label"] == "spoof", "attack"]
                        .value_counts().sort_index().items()},
        }
    if "language" in protocol.columns:
        out["languages"] = {k: int(v) for k, v in protocol["language"].value_counts()
                            .sort_index().items()}
    out["total_clips"] = int(len(protocol))
    out["total_hours"] = round(float(seconds.sum()) / 3600, 3)
    out["total_speakers"] = int(protocol["speaker"].nunique())
    return out
