"""What drives a score: gradient-x-input saliency of one clip and per-band occlusion on eval."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import nn

from spectcontra.conventions import BONAFIDE, SPOOF
from spectcontra.evaluation.calibration import Calibration
from spectcontra.evaluation.metrics import compute_eer
from spectcontra.features.clips import window_starts
from spectcontra.features.store import Split
from spectcontra.inference.torch_detector import Detector
from spectcontra.io_utils import atomic_path
from spectcontra.models.detector import ArrayLike, score

BAND_COLUMNS = ("view", "band", "bin_low", "bin_high", "f_low_hz", "f_high_hz", "eer",
                "delta_eer", "mean_abs_delta_score")
DPI = 110
OCCLUSION_BATCH = 64  # 256 full crops of activations would take several hundred MB


# --------------------------------------------------------------------------- frequency axes


def filter_points_hz(view: str, n_bins: int, sample_rate: int) -> np.ndarray:
    """The ``n_bins + 2`` corner frequencies of a view's triangular filterbank.

    Filter ``i`` rises from ``p[i]``, peaks at ``p[i + 1]`` and falls to ``p[i + 2]``, as in
    torchaudio's ``melscale_fbanks`` (HTK mel scale, the ``MelScale`` default) and
    ``linear_fbanks``, both spanning 0 Hz to Nyquist as in :class:`FeatureExtractor`.
    """
    nyquist = sample_rate / 2
    if view == "linear":
        return np.linspace(0.0, nyquist, n_bins + 2)
    if view == "mel":
        mel = np.linspace(0.0, 2595.0 * math.log10(1.0 + nyquist / 700.0), n_bins + 2)
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    raise ValueError(f"unknown view {view!r}")


def band_centres_hz(view: str, n_bins: int, sample_rate: int) -> np.ndarray:
    return filter_points_hz(view, n_bins, sample_rate)[1:-1]


def band_table(view: str, n_bins: int, band_bins: int, sample_rate: int) -> pd.DataFrame:
    """Bands of ``band_bins`` adjacent bins (the last may be narrower) and their Hz range.

    A band's range runs from the lower corner of its first filter to the upper corner of
    its last: every frequency that feeds the band.
    """
    if band_bins < 1:
        raise ValueError(f"band_bins must be >= 1, got {band_bins}")
    points = filter_points_hz(view, n_bins, sample_rate)
    lows = np.arange(0, n_bins, band_bins)
    highs = np.minimum(lows + band_bins, n_bins)
    return pd.DataFrame({"view": view, "band": np.arange(lows.size), "bin_low": lows,
                         "bin_high": highs, "f_low_hz": points[lows],
                         "f_high_hz": points[highs + 1]})


# --------------------------------------------------------------------------- occlusion


def band_occlusion(model: nn.Module, views: Mapping[str, ArrayLike], targets: np.ndarray,
                   calibration: Calibration, sample_rate: int, band_bins: int,
                   max_utterances: int, seed: int) -> pd.DataFrame:
    """Eval EER and score change when one band of normalised features is set to the train mean.

    ``model`` maps {view: (N, bins, frames)} to logits (N,) and names its ``views``. On a
    seeded class-stratified subset of at most ``max_utterances``, each band of each view is
    occluded in turn (zero = the train mean after normalisation). ``delta_eer`` > 0 means
    the detector leans on that band; ``mean_abs_delta_score`` is in calibrated LLR units.
    """
    index = pd.DataFrame({"target": np.asarray(targets, dtype=np.int64)})
    sub = Split(index=index, views=dict(views)).stratified(max_utterances, seed)
    y = sub.targets
    base = calibration.apply(score(model, sub.views, OCCLUSION_BATCH))
    base_eer = _eer(base, y)
    rows = []
    for view in model.views:
        clean = np.asarray(sub.views[view], dtype=np.float32)
        table = band_table(view, clean.shape[1], band_bins, sample_rate)
        for band in table.itertuples(index=False):
            occluded = clean.copy()
            occluded[:, band.bin_low:band.bin_high, :] = 0.0
            scores = calibration.apply(score(model, {**sub.views, view: occluded},
                                             OCCLUSION_BATCH))
            eer = _eer(scores, y)
            rows.append({**band._asdict(), "eer": eer, "delta_eer": eer - base_eer,
                         "mean_abs_delta_score": float(np.mean(np.abs(scores - base)))})
    return pd.DataFrame(rows, columns=list(BAND_COLUMNS))


def _eer(scores: np.ndarray, targets: np.ndarray) -> float:
    return compute_eer(scores[targets == 1], scores[targets == 0])[0]


def top_bands(bands: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per view, the band whose occlusion raises EER most (ties: larger score change)."""
    out = {}
    for view, rows in bands.groupby("view", sort=False):
        best = rows.sort_values(["delta_eer", "mean_abs_delta_score"], ascending=False).iloc[0]
        out[str(view)] = {"band": int(best["band"]), "f_low_hz": round(float(best["f_low_hz"]), 1),
                          "f_high_hz": round(float(best["f_high_hz"]), 1),
                          "delta_eer": round(float(best["delta_eer"]), 6),
                          "mean_abs_delta_score": round(float(best["mean_abs_delta_score"]), 6),
                          "base_eer": round(float(best["eer"] - best["delta_eer"]), 6)}
    return out


def plot_band_importance(bands: pd.DataFrame, path: str | Path) -> None:
    """Bars of delta EER (top) and mean |delta score| (bottom), one column per view."""
    views = list(dict.fromkeys(bands["view"]))
    fig = Figure(figsize=(5.5 * len(views), 6.5), dpi=DPI, layout="constrained")
    axes = fig.subplots(2, len(views), squeeze=False, sharey="row")
    for col, view in enumerate(views):
        rows = bands[bands["view"] == view]
        x = np.arange(len(rows))
        labels = [f"{lo:.0f}-{hi:.0f}" for lo, hi in zip(rows["f_low_hz"], rows["f_high_hz"])]
        delta = rows["delta_eer"].to_numpy() * 100
        axes[0, col].bar(x, delta, color=np.where(delta >= 0, "tab:red", "tab:blue"))
        axes[0, col].axhline(0, color="0.3", linewidth=0.8)
        base = float((rows["eer"] - rows["delta_eer"]).iloc[0]) * 100
        axes[0, col].set_title(f"{view} view: occlude one band (eval EER {base:.1f}% intact)")
        axes[1, col].bar(x, rows["mean_abs_delta_score"], color="tab:gray")
        for ax in axes[:, col]:
            ax.set_xticks(x, labels, rotation=40, ha="right", fontsize=8)
            ax.grid(axis="y", alpha=0.3)
        axes[1, col].set_xlabel("band (Hz)")
    axes[0, 0].set_ylabel("delta eval EER (points)\nred: band relied on")
    axes[1, 0].set_ylabel("mean |delta score| (LLR)")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


# --------------------------------------------------------------------------- examples


def pick_examples(index: pd.DataFrame, scores: np.ndarray, threshold: float,
                  per_class: int) -> pd.DataFrame:
    """Per class, the ceil(k/2) best and floor(k/2) worst scored rows, by margin.

    The margin is the score's distance from the threshold towards the true class: the best
    is the most confidently right, the worst the most wrongly scored (the least confident
    hit when a class has no error). Stable sorts keep the choice deterministic under ties.
    """
    scores = np.asarray(scores, dtype=np.float64)
    picks = []
    for label, sign in ((BONAFIDE, 1.0), (SPOOF, -1.0)):
        rows = np.flatnonzero(index["label"].to_numpy() == label)
        margin = sign * (scores[rows] - threshold)
        order = rows[np.argsort(-margin, kind="stable")]
        n_best = math.ceil(per_class / 2)
        best = list(order[:n_best])
        worst = [r for r in order[::-1] if r not in best][:per_class - n_best]
        for role, chosen in (("best", best), ("worst", worst)):
            for r in chosen:
                margin = float(sign * (scores[r] - threshold))
                # A score equal to the threshold is decided spoof (decision: score > threshold).
                correct = margin > 0 if label == BONAFIDE else margin >= 0
                picks.append({"utt_id": index["utt_id"].iloc[r], "label": label,
                              "attack": index["attack"].iloc[r], "score": float(scores[r]),
                              "margin": margin, "role": role, "correct": correct})
    return pd.DataFrame(picks)


# --------------------------------------------------------------------------- saliency


@dataclass(frozen=True)
class ClipExplanation:
    """Time-aligned arrays of one clip for the detection overlay."""

    log_mel: np.ndarray  # (n_mels, frames), un-normalised
    frame_seconds: float  # STFT hop in seconds
    window_times: np.ndarray  # (windows,) centre times, seconds
    window_scores: np.ndarray  # (windows,) calibrated
    saliency: dict[str, np.ndarray]  # view -> (bins, frames)
    centres_hz: dict[str, np.ndarray]  # view -> (bins,) filter peak frequencies
    duration: float  # seconds


def saliency(detector: Detector, wave: np.ndarray, batch: int = 8) -> dict[str, np.ndarray]:
    """Gradient x input of the calibrated clip score w.r.t. the normalised features (bins, frames).

    The clip's own frames are windowed (crop-length windows every half crop, mean logit) or,
    if shorter than a crop, tiled along time; the score differs from ``score_wave``, which
    cuts the waveform instead, by STFT edge effects only, and every value maps to one real
    frame. Zero input is the train mean, so positive cells pushed towards bona fide relative
    to an average input. Windows go through in batches: memory stays bounded.
    """
    feats = {v: f[0].clone().requires_grad_(True) for v, f in detector.features(wave).items()}
    n_frames, crop = feats[detector.views[0]].shape[1], detector.crop_frames
    if n_frames <= crop:
        idx = torch.arange(crop).remainder(n_frames)[None]  # (1, crop)
    else:
        starts = torch.from_numpy(window_starts(n_frames, crop, crop // 2))
        idx = starts[:, None] + torch.arange(crop)[None]  # (windows, crop)
    grads = {v: torch.zeros_like(f) for v, f in feats.items()}
    with torch.enable_grad():
        for i in range(0, idx.shape[0], batch):
            rows = idx[i:i + batch]
            inputs = {v: f[:, rows].permute(1, 0, 2) for v, f in feats.items()}  # (B, F, crop)
            mean_logit = detector.model(inputs).sum() / idx.shape[0]
            # A view the model ignores gets zeros instead of an error.
            grads_now = torch.autograd.grad(mean_logit, list(feats.values()),
                                            allow_unused=True, materialize_grads=True)
            for v, g in zip(feats, grads_now):
                grads[v] += g
    slope = detector.calibration_slope
    return {v: (slope * grads[v] * feats[v]).detach().numpy() for v in feats}


def explain_clip(detector: Detector, wave: np.ndarray, window_s: float,
                 hop_s: float) -> ClipExplanation:
    """Everything the detection PNG shows: log-mel, sliding-window scores, saliency."""
    times, scores = detector.window_scores(wave, window_s, hop_s)
    log_mel = detector.log_spectrograms(wave)["mel"][0].numpy()
    sal = saliency(detector, wave)
    return ClipExplanation(
        log_mel=log_mel, frame_seconds=detector.hop_length / detector.sample_rate,
        window_times=times, window_scores=scores, saliency=sal,
        centres_hz={v: band_centres_hz(v, s.shape[0], detector.sample_rate)
                    for v, s in sal.items()},
        duration=wave.size / detector.sample_rate,
    )
