"""Classic LFCC baselines: feature shapes, score direction, both classifiers on an easy task."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from spectcontra.baselines.classic import ClassicBaseline, lfcc_frames
from spectcontra.config import ClassicBaselineConfig
from spectcontra.conventions import label_to_target
from spectcontra.evaluation.metrics import compute_eer

SR = 16000


def _toy(n: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Bona fide: low-passed noise; spoof: the same plus a band of high-frequency buzz."""
    rng = np.random.default_rng(seed)
    low = butter(6, 3000, fs=SR, output="sos")
    high = butter(6, [5000, 7000], btype="band", fs=SR, output="sos")
    waves, labels = [], []
    for i in range(n):
        label = "bonafide" if i % 2 else "spoof"
        x = sosfilt(low, rng.standard_normal(int(rng.uniform(0.5, 1.0) * SR)))
        if label == "spoof":
            x = x + 0.3 * sosfilt(high, rng.standard_normal(x.size))
        waves.append((x * rng.uniform(0.05, 0.3)).astype(np.float32))
        labels.append(label)
    return waves, np.array([label_to_target(lab) for lab in labels])


def test_lfcc_frames_shape_and_values():
    feats = lfcc_frames(np.random.default_rng(0).standard_normal(SR).astype(np.float32), SR, 20)
    assert feats.shape == (101, 60)  # 10 ms hop, centred frames; static + delta + delta-delta
    assert feats.dtype == np.float32 and np.isfinite(feats).all()
    with pytest.raises(ValueError, match="n_lfcc"):
        lfcc_frames(np.zeros(SR, dtype=np.float32), SR, 0)


@pytest.mark.parametrize("classifier", ["logreg", "gmm"])
def test_separates_an_easy_problem_with_bona_fide_scoring_higher(classifier):
    cfg = ClassicBaselineConfig(n_lfcc=12, classifier=classifier, gmm_components=4)
    train_w, train_y = _toy(30, seed=1)
    test_w, test_y = _toy(20, seed=2)
    model = ClassicBaseline(cfg, SR, seed=0).fit(train_w, train_y)
    scores = model.score(test_w)
    assert scores.shape == (20,) and np.isfinite(scores).all()
    eer, _ = compute_eer(scores[test_y == 1], scores[test_y == 0])
    assert eer < 0.1
    assert scores[test_y == 1].mean() > scores[test_y == 0].mean()
    flipped = ClassicBaseline(cfg, SR, seed=0).fit(train_w, 1 - train_y).score(test_w)
    # the targets, not the classifier's class order, set which way the score points
    assert flipped[test_y == 1].mean() < flipped[test_y == 0].mean()


def test_same_seed_same_scores():
    cfg = ClassicBaselineConfig(n_lfcc=12, classifier="gmm", gmm_components=4)
    waves, y = _toy(16, seed=3)
    first, second = (ClassicBaseline(cfg, SR, seed=5).fit(waves, y).score(waves) for _ in range(2))
    np.testing.assert_array_equal(first, second)


def test_misuse_is_refused():
    cfg = ClassicBaselineConfig(n_lfcc=12, classifier="logreg", gmm_components=4)
    waves, y = _toy(6, seed=4)
    with pytest.raises(RuntimeError, match="before fit"):
        ClassicBaseline(cfg, SR, 0).score(waves)
    with pytest.raises(ValueError, match="both"):
        ClassicBaseline(cfg, SR, 0).fit(waves, np.ones(6, dtype=int))
    with pytest.raises(ValueError, match="targets"):
        ClassicBaseline(cfg, SR, 0).fit(waves, y[:3])
    with pytest.raises(ValueError, match="classifier"):
        ClassicBaseline(ClassicBaselineConfig(12, "svm", 4), SR, 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="gmm_components"):
        ClassicBaseline(ClassicBaselineConfig(12, "gmm", 0), SR, 0)
