"""Green AI baseline (Saha, Sahidullah, Das, EUSIPCO 2024, arXiv 2403.14290).

A frozen wav2vec 2.0 base model; the hidden states of one transformer layer are averaged over
time into one 768-dim vector per utterance, and a classical classifier (logistic regression or
linear SVM) is trained on them. The layer and classifier are chosen on dev.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torchaudio
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from torch import nn

from spectcontra.evaluation.metrics import compute_eer

WAV2VEC2_RATE = 16000
C_GRID = (0.01, 0.1, 1.0)


class WeightsUnavailable(RuntimeError):
    """No pretrained wav2vec2 weights could be loaded (no network and no local checkpoint)."""


def load_frontend(checkpoint: str, root: Path,
                  builder: Callable[[], nn.Module] = torchaudio.models.wav2vec2_base) -> nn.Module:
    """wav2vec2-base with pretrained weights: a local state_dict, or torchaudio's bundle."""
    if checkpoint:
        path = (root / checkpoint) if not Path(checkpoint).is_absolute() else Path(checkpoint)
        if not path.exists():
            raise WeightsUnavailable(f"wav2vec2 checkpoint {path} does not exist")
        model = builder()
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model.eval()
    try:
        return torchaudio.pipelines.WAV2VEC2_BASE.get_model().eval()
    except (OSError, RuntimeError) as err:  # URLError is an OSError
        raise WeightsUnavailable(
            f"torchaudio's WAV2VEC2_BASE weights could not be downloaded ({err}); "
            "set baselines.green_ai.checkpoint to a local wav2vec2-base state_dict"
        ) from err


def layer_embeddings(model: nn.Module, waves: Sequence[np.ndarray],
                     layers: Sequence[int]) -> dict[int, np.ndarray]:
    """Time-averaged output of each transformer layer (1-based), one (N, dim) array per layer."""
    if min(layers) < 1:
        # hidden[k - 1] with k = 0 would silently read the last extracted layer.
        raise ValueError(f"transformer layers are numbered from 1, got {sorted(layers)}")
    top = max(layers)
    out: dict[int, list[np.ndarray]] = {k: [] for k in layers}
    with torch.no_grad():
        for wave in waves:
            hidden, _ = model.extract_features(torch.from_numpy(wave)[None], num_layers=top)
            for k in layers:
                out[k].append(hidden[k - 1].mean(dim=1)[0].numpy())  # (dim,)
    return {k: np.stack(v) for k, v in out.items()}


def _classifier(name: str, c: float, seed: int):
    if name == "logreg":
        clf = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, random_state=seed)
    elif name == "svm":
        clf = LinearSVC(C=c, class_weight="balanced", max_iter=5000, random_state=seed)
    else:
        raise ValueError(f"unknown Green AI classifier {name!r}; expected 'logreg' or 'svm'")
    return make_pipeline(StandardScaler(), clf)


@dataclass(frozen=True)
class GreenAiResult:
    layer: int
    classifier: str
    c: float
    dev_eer: float
    dev_scores: np.ndarray
    eval_scores: np.ndarray


def fit_select_score(train: dict[int, np.ndarray], y_train: np.ndarray,
                     dev: dict[int, np.ndarray], y_dev: np.ndarray,
                     eval_: dict[int, np.ndarray], classifiers: Sequence[str],
                     seed: int) -> GreenAiResult:
    """Grid over layer x classifier x C on the predefined train/dev split; score eval once."""
    best: GreenAiResult | None = None
    for layer in sorted(train):
        for name in classifiers:
            for c in C_GRID:
                clf = _classifier(name, c, seed).fit(train[layer], y_train)
                dev_scores = clf.decision_function(dev[layer])  # higher = bona fide (class 1)
                eer, _ = compute_eer(dev_scores[y_dev == 1], dev_scores[y_dev == 0])
                if best is None or eer < best.dev_eer:
                    best = GreenAiResult(layer, name, c, eer, dev_scores,
                                         clf.decision_function(eval_[layer]))
    if best is None:
        raise ValueError("Green AI grid is empty: give at least one layer and classifier")
    return best
