"""Every shipped system as a file scorer, checked against the dev scores that set its threshold.

Ours is the exported ONNX detector, read and scored as ``spectcontra detect`` does; each
baseline is the model the baselines stage saved in ``models/baselines`` (``<name>.npz``, or a
detector checkpoint ``<name>.pt``). Its dev threshold comes from its published dev scores,
so before a system scores anything new, :func:`check_reproduces` rescores some dev files
with it and refuses a model that does not give its published scores (a stale or mismatched
file would otherwise get another model's threshold).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from spectcontra.baselines.persist import CHECKPOINT_SUFFIX, load_baseline, saved_baselines
from spectcontra.baselines.rescore import SavedBaselineScorer
from spectcontra.errors import InputError
from spectcontra.evaluation.scores import (
    SCORED_SPLITS,
    baseline_files,
    read_scores,
    read_status,
    score_path,
)
from spectcontra.inference.onnx_detector import OnnxDetector
from spectcontra.inference.torch_detector import Detector

MAIN = "spectcontra"
# Rescored dev files per system, and how far a rescore may fall from the published score
# (calibrated-LLR units; the torch and ONNX routes agree to ~3e-5, score files keep 1e-6).
CHECK_FILES = 16
CHECK_TOLERANCE = 1e-3


class FileScorer(Protocol):
    def score_files(self, paths: Sequence[str | Path]) -> np.ndarray:
        """Calibrated scores (n,), higher = more bona fide, of whole audio files."""


class OnnxFileScorer:
    """The exported detector, file by file exactly as ``spectcontra detect`` scores them."""

    def __init__(self, detector: OnnxDetector) -> None:
        self.detector = detector

    def score_files(self, paths: Sequence[str | Path]) -> np.ndarray:
        return np.array([self.detector.score_wave(self.detector.load_wave(p)) for p in paths],
                        dtype=np.float64)


class CheckpointFileScorer:
    """A detector checkpoint (a network baseline): whole-file logits, then its calibration."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector

    def score_files(self, paths: Sequence[str | Path]) -> np.ndarray:
        return self.detector.calibration.apply(self.detector.file_logits(paths))


@dataclass(frozen=True)
class CheckedSystems:
    scorers: dict[str, FileScorer]
    dev: dict[str, pd.DataFrame]  # each system's published dev scores (its threshold)
    not_scored: dict[str, str]  # baselines left out, and why
    dev_gap: dict[str, float]  # largest |rescored - published| dev score of each system


class StaleModelError(InputError):
    """A saved model that does not reproduce the dev scores its threshold comes from."""


def load_systems(detector_onnx: Path, baselines_dir: Path,
                 threads: int) -> dict[str, FileScorer]:
    """Ours (ONNX) first, then every saved baseline by name."""
    systems: dict[str, FileScorer] = {MAIN: OnnxFileScorer(OnnxDetector.load(detector_onnx, threads))}
    for name, path in saved_baselines(baselines_dir).items():
        if path.suffix == CHECKPOINT_SUFFIX:
            systems[name] = CheckpointFileScorer(Detector.load(path))
        else:
            systems[name] = SavedBaselineScorer(load_baseline(path), path)
    return systems


def published_scores(scores_dir: Path, baselines_dir: Path, split: str) -> dict[str, pd.DataFrame]:
    """System name -> its published score table of ``split`` (ours and every baseline that ran)."""
    if split not in SCORED_SPLITS:
        raise ValueError(f"split must be one of {SCORED_SPLITS}, got {split!r}")
    files = {MAIN: score_path(scores_dir, split),
             **{name: f[split] for name, f in baseline_files(baselines_dir).items()}}
    return {name: read_scores(path) for name, path in files.items()}


def not_scored(systems: Mapping[str, FileScorer], published: Mapping[str, pd.DataFrame],
               not_run: Mapping[str, str]) -> dict[str, str]:
    """Baselines that cannot be scored on new audio, and why; a saved model without published
    dev scores (so without a threshold) is refused."""
    orphans = sorted(set(systems) - set(published))
    if orphans:
        raise StaleModelError(f"saved model(s) {orphans} have no published dev scores, so no "
                              "threshold: rerun the baselines stage (dvc repro baselines)")
    out = {name: f"not run ({why})" for name, why in not_run.items()}
    out.update({name: "no saved model (the baselines stage does not save this baseline)"
                for name in published if name not in systems})
    return dict(sorted(out.items()))


def check_reproduces(name: str, scorer: FileScorer, published: pd.DataFrame,
                     paths: dict[str, Path], n_files: int = CHECK_FILES,
                     tolerance: float = CHECK_TOLERANCE) -> float:
    """Rescore the first ``n_files`` utterances (by utt_id) of ``published``; return the largest
    difference, or raise :class:`StaleModelError` when it exceeds ``tolerance``."""
    rows = published.sort_values("utt_id", kind="stable").head(n_files)
    missing = [u for u in rows["utt_id"] if u not in paths]
    if missing:
        raise StaleModelError(f"{name}: published score of {missing[0]!r} has no audio in the "
                              "protocol: rerun the baselines and finetune stages")
    fresh = scorer.score_files([paths[u] for u in rows["utt_id"]])
    gap = float(np.max(np.abs(fresh - rows["score"].to_numpy(dtype=np.float64))))
    if not gap <= tolerance:
        raise StaleModelError(
            f"{name}: the saved model scores dev files up to {gap:.3g} away from its published "
            f"dev scores (tolerance {tolerance:g}), so the model and the scores come from "
            "different runs: rerun the stages that write them (dvc repro)")
    return gap


def checked_systems(detector_onnx: Path, models_dir: Path, scores_dir: Path, baselines_dir: Path,
                    protocol: pd.DataFrame, raw_dir: Path, threads: int) -> CheckedSystems:
    """Every system, each checked to reproduce its published dev scores
    (:func:`check_reproduces`), with those scores and the baselines left out."""
    systems = load_systems(detector_onnx, models_dir, threads)
    dev = published_scores(scores_dir, baselines_dir, "dev")
    skipped = not_scored(systems, dev, read_status(baselines_dir))
    paths = dict(zip(protocol["utt_id"], (Path(raw_dir) / p for p in protocol["path"]),
                     strict=True))
    gaps = {name: check_reproduces(name, scorer, dev[name], paths)
            for name, scorer in systems.items()}
    return CheckedSystems(systems, {name: dev[name] for name in systems}, skipped, gaps)
