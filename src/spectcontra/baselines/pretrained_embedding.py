"""Frozen pretrained speech embeddings + a light linear classifier: the Green AI recipe, offline.

The Green AI recipe (Saha, Sahidullah, Das, EUSIPCO 2024, arXiv 2403.14290) freezes a pretrained
speech model, pools it into one vector per utterance and trains a classical classifier on top.
wav2vec2 weights cannot be fetched on every machine, so this baseline uses the GE2E speaker
encoder (Wan, Wang, Papir, Lopez Moreno, ICASSP 2018, arXiv 1710.10467) whose trained weights ship
inside the ``resemblyzer`` wheel (``resemblyzer/pretrained.pt``): a 3-layer LSTM over 40-band mel
frames of 1.6 s partial utterances, averaged over the whole file into one 256-d unit vector.

Audio goes through resemblyzer's own ``preprocess_wav`` steps (resampling to 16 kHz, raising the
level to -30 dBFS, WebRTC-VAD trimming of long silences), which is the input the encoder was
trained on; two guards keep every file scorable (see :func:`prepare`). Logistic regression or a
linear SVM on standardised embeddings, and its C, are chosen on dev EER; eval is scored once,
by the chosen model.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from torch import nn

from spectcontra.config import PretrainedEmbeddingConfig
from spectcontra.conventions import SPLITS
from spectcontra.evaluation.metrics import compute_eer

EMBED_DIM = 256  # resemblyzer.hparams.model_embedding_size
ENCODER_RATE = 16000  # resemblyzer.hparams.sampling_rate
CLASSIFIERS = ("logreg", "svm")


def _resemblyzer() -> ModuleType:
    """Import resemblyzer on first use, silencing the two warnings its dependencies raise then.

    Its audio module imports ``scipy.ndimage.morphology`` (deprecated) and webrtcvad imports
    ``pkg_resources`` (deprecated); neither affects the result, and importing it also pulls in
    librosa and numba (~1.5 s), which only the stages that embed should pay for.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        import resemblyzer
        import resemblyzer.audio  # noqa: F401 - the preprocessing steps used by prepare()
    return resemblyzer


def weights_path() -> Path:
    """The pretrained GE2E weights inside the installed resemblyzer package (no network)."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("resemblyzer is not installed: run `make install`")
    path = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
    if not path.exists():
        raise FileNotFoundError(f"resemblyzer's pretrained weights are missing: {path}")
    return path


def load_encoder() -> nn.Module:
    """resemblyzer's ``VoiceEncoder`` on CPU with the wheel's weights, frozen, in eval mode."""
    encoder = _resemblyzer().VoiceEncoder(device="cpu", verbose=False, weights_fpath=weights_path())
    encoder.requires_grad_(False)
    return encoder.eval()


def prepare(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """``resemblyzer.preprocess_wav`` for an in-memory wave, with two guards.

    Digital silence has no level to raise (its dBFS is -inf, so the gain would be inf and the
    samples NaN) and no voice to keep: it goes to the encoder as it is. When the VAD keeps
    nothing, the levelled wave is kept whole rather than embedding an empty one.
    """
    if wave.ndim != 1 or wave.size == 0:
        raise ValueError(f"prepare expects a non-empty 1-D wave, got shape {wave.shape}")
    rz = _resemblyzer()
    wave = np.asarray(wave, dtype=np.float32)
    if sample_rate != ENCODER_RATE:
        import librosa  # resemblyzer's own resampler, as in preprocess_wav

        wave = librosa.resample(wave, orig_sr=sample_rate, target_sr=ENCODER_RATE)
    if not np.any(wave):
        return wave
    level = rz.audio.normalize_volume(wave, rz.hparams.audio_norm_target_dBFS, increase_only=True)
    trimmed = rz.audio.trim_long_silences(level)
    return trimmed if trimmed.size else level


def utterance_embeddings(encoder: nn.Module, waves: Sequence[np.ndarray],
                         sample_rate: int) -> np.ndarray:
    """``(N, 256)`` float32: one whole-file embedding per wave (partials averaged, L2-normed).

    An embedding the encoder cannot normalise (every ReLU output zero, e.g. on digital
    silence) is returned as zeros, a point the classifier can still score.
    """
    out = np.zeros((len(waves), EMBED_DIM), dtype=np.float32)
    with torch.inference_mode():
        for i, wave in enumerate(waves):
            emb = encoder.embed_utterance(prepare(np.asarray(wave), sample_rate))
            if np.all(np.isfinite(emb)):
                out[i] = emb
    return out


def make_classifier(name: str, c: float, seed: int) -> Pipeline:
    """Standardised features, then class-balanced logistic regression or linear SVM."""
    if name == "logreg":
        clf = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, random_state=seed)
    elif name == "svm":
        clf = LinearSVC(C=c, class_weight="balanced", max_iter=5000, random_state=seed)
    else:
        raise ValueError(f"unknown classifier {name!r}; expected one of {CLASSIFIERS}")
    return make_pipeline(StandardScaler(), clf)


@dataclass(frozen=True)
class Selection:
    """The classifier chosen on dev and its scores (higher = more bona fide)."""

    classifier: str
    c: float
    dev_eer: float
    model: Pipeline
    dev_scores: np.ndarray
    eval_scores: np.ndarray


def _check_targets(y: np.ndarray, split: str) -> None:
    if set(np.unique(y).tolist()) != {0, 1}:
        raise ValueError(f"{split} targets must hold both 0 (spoof) and 1 (bona fide), "
                         f"got {np.unique(y)}")


def select_on_dev(train: np.ndarray, y_train: np.ndarray, dev: np.ndarray, y_dev: np.ndarray,
                  eval_: np.ndarray, classifiers: Sequence[str], c_grid: Sequence[float],
                  seed: int) -> Selection:
    """Fit every classifier x C on train, keep the lowest dev EER, then score eval once.

    Eval labels are not an argument: nothing here can look at them. Ties keep the first in
    grid order, so the result does not depend on floating-point noise in later candidates.
    """
    if not classifiers or not c_grid:
        raise ValueError("the classifier grid is empty: give at least one classifier and one C")
    _check_targets(np.asarray(y_train), "train")
    _check_targets(np.asarray(y_dev), "dev")
    best: tuple[float, str, float, Pipeline, np.ndarray] | None = None
    for name in classifiers:
        for c in c_grid:
            model = make_classifier(name, c, seed).fit(train, y_train)
            dev_scores = model.decision_function(dev)  # class 1 = bona fide: higher = bona fide
            eer, _ = compute_eer(dev_scores[y_dev == 1], dev_scores[y_dev == 0])
            if best is None or eer < best[0]:
                best = (eer, name, float(c), model, dev_scores)
    assert best is not None
    eer, name, c, model, dev_scores = best
    return Selection(name, c, eer, model, dev_scores, model.decision_function(eval_))


def embed_select_score(waves: Mapping[str, Sequence[np.ndarray]],
                       targets: Mapping[str, np.ndarray], sample_rate: int,
                       cfg: PretrainedEmbeddingConfig, seed: int) -> Selection:
    """Embed train, dev and eval with the frozen encoder, choose on dev, score eval once.

    ``targets`` needs train and dev only (1 = bona fide, 0 = spoof); eval's are never read.
    """
    encoder = load_encoder()
    emb = {s: utterance_embeddings(encoder, waves[s], sample_rate) for s in SPLITS}
    return select_on_dev(emb["train"], np.asarray(targets["train"]), emb["dev"],
                         np.asarray(targets["dev"]), emb["eval"], cfg.classifiers, cfg.c_grid,
                         seed)
