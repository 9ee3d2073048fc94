"""Score new audio files with a baseline the baselines stage saved (``baselines.persist``).

A saved baseline is rebuilt from its arrays and scores a file as the baselines stage scored
dev and eval: the whole file read at the saved rate (and trimmed if training trimmed), the
saved front end, the saved classifier, then the dev calibration. Front ends are looked up by
the ``frontend.kind`` the file names; a kind this code does not know is an error naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from spectcontra.audio import load_audio, trim_silence
from spectcontra.baselines.classic import ClassicBaseline
from spectcontra.baselines.persist import BaselineFileError, SavedBaseline, linear_pipeline
from spectcontra.config import ClassicBaselineConfig
from spectcontra.conventions import MAX_AUDIO_SECONDS
from spectcontra.evaluation.calibration import Calibration

WaveScorer = Callable[[Sequence[np.ndarray]], np.ndarray]  # waves -> raw scores (n,)


def _lfcc(saved: SavedBaseline) -> WaveScorer:
    front = saved.frontend
    cfg = ClassicBaselineConfig(n_lfcc=int(front["n_lfcc"]), classifier=front["classifier"],
                                gmm_components=int(front["gmm_components"]))
    return ClassicBaseline.from_arrays(cfg, int(saved.reader["sample_rate"]), 0,
                                       saved.arrays).score


def _pretrained_embedding(saved: SavedBaseline) -> WaveScorer:
    # Imported here: resemblyzer pulls in librosa and numba, which only this front end needs.
    from spectcontra.baselines.pretrained_embedding import load_encoder, utterance_embeddings

    encoder, model = load_encoder(), linear_pipeline(saved.arrays)
    rate = int(saved.reader["sample_rate"])
    return lambda waves: model.decision_function(utterance_embeddings(encoder, waves, rate))


FRONTENDS: dict[str, Callable[[SavedBaseline], WaveScorer]] = {
    "lfcc": _lfcc, "pretrained_embedding": _pretrained_embedding}


class SavedBaselineScorer:
    """A saved baseline as a file scorer: paths in, calibrated scores (higher = bona fide) out."""

    def __init__(self, saved: SavedBaseline, path: Path | None = None) -> None:
        kind = saved.frontend.get("kind")
        if kind not in FRONTENDS:
            raise BaselineFileError(f"{path or saved.system}: unknown baseline front end "
                                    f"{kind!r}; this code scores {sorted(FRONTENDS)}")
        self.system = saved.system
        self.reader: dict[str, Any] = dict(saved.reader)
        self.calibration = Calibration(**saved.calibration)
        self._score = FRONTENDS[kind](saved)

    def load_wave(self, path: str | Path) -> np.ndarray:
        """The wave the baseline saw in training: its rate, trimmed if training trimmed."""
        rate = int(self.reader["sample_rate"])
        wave = load_audio(path, rate, MAX_AUDIO_SECONDS)
        if self.reader["trim_silence"]:
            wave = trim_silence(wave, rate, float(self.reader["trim_db"]))
        return wave

    def score_files(self, paths: Sequence[str | Path]) -> np.ndarray:
        """Calibrated scores (n,) of whole audio files."""
        raw = self._score([self.load_wave(p) for p in paths])
        return self.calibration.apply(np.asarray(raw, dtype=np.float64))
