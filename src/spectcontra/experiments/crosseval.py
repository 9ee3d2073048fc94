"""Cross-corpus evaluation: every shipped system on a corpus that shares no speaker or attack
family with training, at the thresholds and calibration chosen on the main dev split."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from spectcontra.config import CrossevalConfig, EvaluateConfig, SyntheticConfig
from spectcontra.conventions import BONAFIDE, SPOOF
from spectcontra.data.crosscorpus import crosscorpus_seed, folder_corpus, synthetic_eval_corpus
from spectcontra.evaluation.paired import paired_differences
from spectcontra.evaluation.scores import score_table
from spectcontra.evaluation.transfer import at_dev_threshold
from spectcontra.experiments.systems import MAIN, FileScorer


@dataclass(frozen=True)
class Corpus:
    """Utterances to score: ``index`` (utt_id, path, label, attack, speaker), paths under ``root``."""

    index: pd.DataFrame
    root: Path
    description: dict[str, Any]  # what it is, for the metrics file


def cross_corpus(cfg: CrossevalConfig, synthetic: SyntheticConfig, training_source: str,
                 sample_rate: int, seed: int, workdir: Path, project_root: Path) -> Corpus:
    """The corpus ``crosseval.source`` names; a synthetic one is rendered into ``workdir``.

    When training itself used the synthetic generator, its eval split is still new voices and
    unseen attacks, but from the same generator: ``cross_corpus`` is then false.
    """
    if cfg.source == "synthetic":
        corpus_seed = crosscorpus_seed(seed)
        index = synthetic_eval_corpus(synthetic, cfg.synthetic_speakers, cfg.synthetic_utterances,
                                      corpus_seed, sample_rate, workdir)
        return Corpus(index, Path(workdir), {
            "source": "synthetic", "cross_corpus": training_source != "synthetic",
            "generator_seed": corpus_seed})
    root = Path(project_root) / cfg.folder.root
    index = folder_corpus(Path(project_root) / cfg.folder.csv, root)
    return Corpus(index, root, {"source": "folder", "cross_corpus": True,
                                "csv": cfg.folder.csv})


def score_corpus(systems: Mapping[str, FileScorer], corpus: Corpus) -> dict[str, pd.DataFrame]:
    """System name -> score table (``evaluation.scores`` columns) of every corpus utterance."""
    paths = [corpus.root / p for p in corpus.index["path"]]
    return {name: score_table(corpus.index, scorer.score_files(paths))
            for name, scorer in systems.items()}


def describe(index: pd.DataFrame) -> dict[str, Any]:
    """Class, speaker and attack counts of a corpus index."""
    spoof = index[index["label"] == SPOOF]
    return {"n_bonafide": int((index["label"] == BONAFIDE).sum()), "n_spoof": len(spoof),
            "n_speakers": int(index["speaker"].nunique()),
            "attacks": {str(a): int(n) for a, n in spoof["attack"].value_counts().sort_index().items()}}


def crosseval_metrics(tables: Mapping[str, pd.DataFrame], dev: Mapping[str, pd.DataFrame],
                      cfg: EvaluateConfig, seed: int) -> dict[str, dict[str, Any]]:
    """Per system: metrics at its main-corpus dev threshold with intervals, and for every
    baseline ``paired``, ours - it on the same resamples (EER, minDCF, Cllr)."""
    out: dict[str, dict[str, Any]] = {}
    for name, table in tables.items():
        out[name] = at_dev_threshold(dev[name], table, cfg, seed, f"{name} cross-corpus")
        if name != MAIN:
            out[name]["paired"] = paired_differences(tables[MAIN], table, cfg, seed, (MAIN, name))
    return out
