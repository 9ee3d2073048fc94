"""The eval split under channel conditions (ASVspoof 2021 LA/DF style), every system scored on it.

Each condition's audio is written to a folder as 16-bit FLAC at the corpus rate, so every
system reads it through its own file path, as it reads clean eval; the clean row is each
system's published eval scores (the models that score the conditions are checked to
reproduce their published dev scores, see ``experiments.systems``). Thresholds and
calibration stay those of the clean main dev split: the table shows what a deployed detector
does when the channel changes, with nothing re-tuned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf

from spectcontra.audio import load_audio
from spectcontra.config import EvaluateConfig
from spectcontra.conventions import MAX_AUDIO_SECONDS
from spectcontra.data.conditions import ChannelSettings, apply_condition
from spectcontra.data.sampling import stratified_rows
from spectcontra.evaluation.paired import paired_differences
from spectcontra.evaluation.scores import score_table
from spectcontra.evaluation.transfer import at_dev_threshold
from spectcontra.experiments.systems import MAIN, FileScorer

CLEAN = "clean"  # the eval audio as it is: the reference row
_SUBSET_TAG = 13  # the subset's own random stream
CONDITION_METRICS = ("eer", "min_dcf", "accuracy_at_dev_thr", "far_at_dev_thr", "frr_at_dev_thr")


def write_condition(index: pd.DataFrame, raw_dir: Path, out_dir: Path, name: str,
                    settings: ChannelSettings, sample_rate: int, seed: int) -> None:
    """Every ``index`` file (path under ``raw_dir``) through condition ``name``, as FLAC under
    ``out_dir`` with the same relative path."""
    for utt_id, rel in zip(index["utt_id"], index["path"], strict=True):
        wave = load_audio(Path(raw_dir) / rel, sample_rate, MAX_AUDIO_SECONDS)
        out = apply_condition(name, wave, sample_rate, settings, utt_id, seed)
        target = Path(out_dir) / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        # PCM needs [-1, 1]: a codec's overshoot past full scale is clipped, as a file would be
        sf.write(target, np.clip(out, -1.0, 1.0), sample_rate, format="FLAC", subtype="PCM_16")


def eval_subset(index: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """``n`` rows of ``index`` (every row when ``n`` is 0 or too large), drawn per speaker and
    class in proportion, so every speaker keeps its mix of bona fide and spoof."""
    if n == 0 or n >= len(index):
        return index
    strata = (index["speaker"] + "/" + index["label"]).to_numpy()
    rows = stratified_rows(strata, n, np.random.default_rng([seed, _SUBSET_TAG]))
    return index.iloc[rows]


def score_conditions(systems: Mapping[str, FileScorer], clean: Mapping[str, pd.DataFrame],
                     protocol: pd.DataFrame, raw_dir: Path, workdir: Path, names: Sequence[str],
                     settings: ChannelSettings, sample_rate: int, seed: int,
                     utterances: int = 0) -> dict[str, dict[str, pd.DataFrame]]:
    """{condition: {system: score table}} of the eval files of ``clean``, or ``utterances`` of
    them (:func:`eval_subset`; 0 = all): first ``clean`` (each system's published eval
    scores, whole files through the same models), then each of ``names`` applied to the same
    files (written under ``workdir/<condition>``) and scored by every system."""
    index = eval_subset(protocol[protocol["utt_id"].isin(set(clean[MAIN]["utt_id"]))],
                        utterances, seed)
    kept = set(index["utt_id"])
    tables: dict[str, dict[str, pd.DataFrame]] = {
        CLEAN: {n: clean[n][clean[n]["utt_id"].isin(kept)] for n in systems}}
    for condition in names:
        folder = Path(workdir) / condition
        write_condition(index, raw_dir, folder, condition, settings, sample_rate, seed)
        files = [folder / rel for rel in index["path"]]
        tables[condition] = {name: score_table(index, scorer.score_files(files))
                             for name, scorer in systems.items()}
    return tables


def conditions_metrics(tables: Mapping[str, Mapping[str, pd.DataFrame]],
                       dev: Mapping[str, pd.DataFrame], cfg: EvaluateConfig, seed: int,
                       metrics: Sequence[str] = CONDITION_METRICS) -> dict[str, dict[str, Any]]:
    """{condition: {system: metrics}} from {condition: {system: eval score table}}.

    Each system's metrics come at its clean dev threshold, with intervals; under a condition
    other than clean, ``vs_clean`` is that condition minus clean for the same system, and for
    every baseline ``paired`` is ours minus it; both are paired on the same resamples.
    """
    out: dict[str, dict[str, Any]] = {}
    for condition, by_system in tables.items():
        row: dict[str, Any] = {}
        for name, table in by_system.items():
            label = f"{name} under {condition}"
            row[name] = at_dev_threshold(dev[name], table, cfg, seed, label, metrics)
            if condition != CLEAN:
                row[name]["vs_clean"] = paired_differences(
                    table, tables[CLEAN][name], cfg, seed, (label, f"{name} clean"))
            if name != MAIN:
                row[name]["paired"] = paired_differences(
                    by_system[MAIN], table, cfg, seed, (f"{MAIN} under {condition}", label))
        out[condition] = row
    return out
