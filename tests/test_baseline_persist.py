"""Saved baselines: no pickle, identical bytes for an identical model, identical scores after loading."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import butter, sosfilt

from spectcontra.baselines.classic import ClassicBaseline
from spectcontra.baselines.persist import (
    BaselineFileError,
    SavedBaseline,
    checkpoint_path,
    load_baseline,
    save_baseline,
    saved_baselines,
)
from spectcontra.baselines.rescore import SavedBaselineScorer
from spectcontra.config import ClassicBaselineConfig
from spectcontra.evaluation.calibration import Calibration

SR = 16000
READER = {"sample_rate": SR, "trim_silence": False, "trim_db": 40.0}
CAL = Calibration("logistic", a=0.5, b=-1.0)


def _toy(n: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Bona fide (1): low-passed noise; spoof (0): the same plus a high band of buzz."""
    rng = np.random.default_rng(seed)
    low = butter(6, 3000, fs=SR, output="sos")
    high = butter(6, [5000, 7000], btype="band", fs=SR, output="sos")
    waves, targets = [], []
    for i in range(n):
        x = sosfilt(low, rng.standard_normal(int(0.4 * SR)))
        if i % 2 == 0:
            x = x + 0.3 * sosfilt(high, rng.standard_normal(x.size))
        waves.append((0.2 * x / np.abs(x).max()).astype(np.float32))
        targets.append(i % 2)
    return waves, np.array(targets)


@pytest.mark.parametrize("classifier", ["logreg", "gmm"])
def test_a_saved_lfcc_baseline_scores_files_exactly_as_the_fitted_one(tmp_path, classifier):
    cfg = ClassicBaselineConfig(n_lfcc=8, classifier=classifier, gmm_components=2)
    waves, y = _toy(12, seed=1)
    fitted = ClassicBaseline(cfg, SR, seed=0).fit(waves, y)
    saved = SavedBaseline(f"lfcc_{classifier}", READER,
                          {"kind": "lfcc", "n_lfcc": 8, "classifier": classifier,
                           "gmm_components": 2}, fitted.arrays(), CAL.as_dict())
    path = save_baseline(tmp_path, saved)
    files = []
    for i, wave in enumerate(waves):
        files.append(tmp_path / f"{i}.wav")
        sf.write(files[-1], wave, SR, subtype="FLOAT")  # exact samples: scores must match
    scorer = SavedBaselineScorer(load_baseline(path), path)
    np.testing.assert_allclose(scorer.score_files(files), CAL.apply(fitted.score(waves)),
                               rtol=0, atol=1e-9)
    assert saved_baselines(tmp_path) == {saved.system: path}


def test_the_same_model_saves_to_the_same_bytes(tmp_path):
    arrays = {"mean": np.arange(3.0), "scale": np.ones(3)}
    saved = SavedBaseline("x", READER, {"kind": "lfcc"}, arrays, CAL.as_dict())
    first = save_baseline(tmp_path / "a", saved).read_bytes()
    second = save_baseline(tmp_path / "b", saved).read_bytes()
    assert first == second


def test_pickled_or_foreign_files_are_refused(tmp_path):
    evil = tmp_path / "evil.npz"
    np.savez(evil, header=np.array([{"format": "spectcontra-baseline"}], dtype=object))
    with pytest.raises(BaselineFileError, match="not a readable saved baseline"):
        load_baseline(evil)
    other = tmp_path / "other.npz"
    np.savez(other, header=np.array('{"format": "something-else", "version": 1}'))
    with pytest.raises(BaselineFileError, match="not a spectcontra-baseline file"):
        load_baseline(other)
    with pytest.raises(BaselineFileError, match="not a readable saved baseline"):
        load_baseline(tmp_path / "missing.npz")


def test_unknown_front_end_and_duplicate_names_are_errors(tmp_path):
    saved = SavedBaseline("odd", READER, {"kind": "mfcc"}, {"w": np.ones(2)}, CAL.as_dict())
    with pytest.raises(BaselineFileError, match="unknown baseline front end 'mfcc'"):
        SavedBaselineScorer(saved)
    save_baseline(tmp_path, saved)
    checkpoint_path(tmp_path, "odd").write_bytes(b"")
    with pytest.raises(BaselineFileError, match="saved twice"):
        saved_baselines(tmp_path)
