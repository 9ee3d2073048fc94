"""Classic ASVspoof countermeasure: LFCC with deltas, then logistic regression or one GMM per class.

After the ASVspoof 2019/2021 LFCC-GMM baseline (Todisco et al.; Sahidullah et al. 2015 for
LFCC): 20 ms frames every 10 ms, a linear-frequency triangular filterbank, DCT, deltas and
double deltas. Scores follow spectcontra.conventions: higher = more bona fide.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch
import torchaudio.functional as AF
import torchaudio.transforms as T
from sklearn.linear_model import LogisticRegression
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from spectcontra.baselines.persist import (
    gmm_arrays,
    gmm_from_arrays,
    linear_arrays,
    linear_pipeline,
)
from spectcontra.config import ClassicBaselineConfig

WIN_S, HOP_S = 0.020, 0.010
N_FILTER = 20  # linear filters, as in the ASVspoof baseline; raised to n_lfcc if that is larger
# EM cost grows with the frame count; a seeded subset of this many frames per class keeps the
# GMM fit to about a minute on one core without changing what it models.
MAX_GMM_FRAMES = 100_000


@functools.lru_cache(maxsize=8)
def _lfcc_transform(sample_rate: int, n_lfcc: int) -> T.LFCC:
    win = int(round(WIN_S * sample_rate))
    return T.LFCC(
        sample_rate=sample_rate, n_filter=max(N_FILTER, n_lfcc), n_lfcc=n_lfcc, log_lf=True,
        speckwargs={"n_fft": int(2 ** np.ceil(np.log2(win))), "win_length": win,
                    "hop_length": int(round(HOP_S * sample_rate)), "center": True},
    )


def lfcc_frames(wave: np.ndarray, sample_rate: int, n_lfcc: int) -> np.ndarray:
    """LFCCs with deltas and double deltas of a mono wave: ``(frames, 3 * n_lfcc)`` float32."""
    if wave.ndim != 1 or wave.size == 0:
        raise ValueError(f"lfcc_frames expects a non-empty 1-D wave, got shape {wave.shape}")
    if n_lfcc < 1:
        raise ValueError(f"n_lfcc must be >= 1, got {n_lfcc}")
    with torch.no_grad():
        static = _lfcc_transform(sample_rate, n_lfcc)(torch.as_tensor(wave, dtype=torch.float32))
        delta = AF.compute_deltas(static)  # (n_lfcc, frames)
        feats = torch.cat([static, delta, AF.compute_deltas(delta)], dim=0)
    return feats.T.numpy()


def pooled(frames: np.ndarray) -> np.ndarray:
    """Utterance vector: per-dimension mean and standard deviation over frames."""
    return np.concatenate([frames.mean(axis=0), frames.std(axis=0)])


def pooled_lfcc(waves: Sequence[np.ndarray], sample_rate: int, n_lfcc: int) -> np.ndarray:
    """(N, 2 * 3 * n_lfcc) utterance vectors: frame mean and std of LFCC with deltas."""
    return np.stack([pooled(lfcc_frames(np.asarray(w, dtype=np.float32), sample_rate, n_lfcc))
                     for w in waves])


class ClassicBaseline:
    """LFCC front end with the classifier named by ``cfg.classifier``; fit, then score."""

    def __init__(self, cfg: ClassicBaselineConfig, sample_rate: int, seed: int) -> None:
        if cfg.n_lfcc < 1:
            raise ValueError(f"baselines.classic.n_lfcc must be >= 1, got {cfg.n_lfcc}")
        if cfg.classifier not in ("logreg", "gmm"):
            raise ValueError("baselines.classic.classifier must be logreg or gmm, "
                             f"got {cfg.classifier!r}")
        if cfg.classifier == "gmm" and cfg.gmm_components < 1:
            raise ValueError("baselines.classic.gmm_components must be >= 1, "
                             f"got {cfg.gmm_components}")
        self.cfg = cfg
        self.sample_rate = sample_rate
        self.seed = seed
        self._logreg: Pipeline | None = None
        self._gmms: tuple[GaussianMixture, GaussianMixture] | None = None  # (bona fide, spoof)

    def features(self, waves: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [lfcc_frames(np.asarray(w, dtype=np.float32), self.sample_rate, self.cfg.n_lfcc)
                for w in waves]

    def fit(self, waves: Sequence[np.ndarray], targets: np.ndarray) -> ClassicBaseline:
        """Train on waves with targets 1 = bona fide, 0 = spoof (conventions.label_to_target)."""
        targets = np.asarray(targets)
        if len(waves) != targets.size:
            raise ValueError(f"got {len(waves)} waves but {targets.size} targets")
        if set(np.unique(targets).tolist()) != {0, 1}:
            raise ValueError("targets must hold both 0 (spoof) and 1 (bona fide), "
                             f"got {np.unique(targets)}")
        frames = self.features(waves)
        if self.cfg.classifier == "logreg":
            self._logreg = make_pipeline(
                StandardScaler(), LogisticRegression(max_iter=2000, random_state=self.seed))
            self._logreg.fit(np.stack([pooled(f) for f in frames]), targets)
        else:
            rng = np.random.default_rng(self.seed)
            self._gmms = tuple(  # type: ignore[assignment]
                self._fit_gmm(np.concatenate([f for f, t in zip(frames, targets) if t == cls]), rng)
                for cls in (1, 0))
        return self

    def _fit_gmm(self, frames: np.ndarray, rng: np.random.Generator) -> GaussianMixture:
        if frames.shape[0] > MAX_GMM_FRAMES:
            frames = frames[np.sort(rng.choice(frames.shape[0], MAX_GMM_FRAMES, replace=False))]
        if frames.shape[0] < self.cfg.gmm_components:
            raise ValueError(f"{frames.shape[0]} frames cannot fit {self.cfg.gmm_components} "
                             "GMM components; lower baselines.classic.gmm_components")
        # reg_covar keeps components on constant frames (digital silence) from collapsing
        gmm = GaussianMixture(self.cfg.gmm_components, covariance_type="diag", reg_covar=1e-3,
                              max_iter=100, random_state=self.seed)
        return gmm.fit(frames)

    def arrays(self) -> dict[str, np.ndarray]:
        """The fitted classifier as plain arrays, to save without pickle (baselines.persist)."""
        if self._logreg is not None:
            return linear_arrays(self._logreg)
        if self._gmms is not None:
            bona, spoof = self._gmms
            return {**gmm_arrays(bona, "bonafide_"), **gmm_arrays(spoof, "spoof_")}
        raise RuntimeError("ClassicBaseline.arrays called before fit")

    @classmethod
    def from_arrays(cls, cfg: ClassicBaselineConfig, sample_rate: int, seed: int,
                    arrays: dict[str, np.ndarray]) -> ClassicBaseline:
        """The fitted baseline of :meth:`arrays`: it scores exactly as the one that was saved."""
        baseline = cls(cfg, sample_rate, seed)
        if cfg.classifier == "logreg":
            baseline._logreg = linear_pipeline(arrays)
        else:
            baseline._gmms = (gmm_from_arrays(arrays, "bonafide_"), gmm_from_arrays(arrays, "spoof_"))
        return baseline

    def score(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        """One score per wave, higher = more bona fide: logit or mean frame log-likelihood ratio."""
        frames = self.features(waves)
        if self._logreg is not None:
            return self._logreg.decision_function(np.stack([pooled(f) for f in frames]))
        if self._gmms is not None:
            bona, spoof = self._gmms
            return np.array([bona.score(f) - spoof.score(f) for f in frames])
        raise RuntimeError("ClassicBaseline.score called before fit")
