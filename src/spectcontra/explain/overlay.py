"""The detection PNG: log-mel with sliding-window scores, and saliency maps, time-aligned."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes

# Figure + savefig draws through Agg without pyplot, so no global backend or figure state.
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from spectcontra.explain.interpret import ClipExplanation, band_centres_hz, explain_clip
from spectcontra.inference.decisions import Detection
from spectcontra.inference.torch_detector import Detector
from spectcontra.io_utils import atomic_path

DPI = 110
N_FREQ_TICKS = 6
BONAFIDE_COLOUR = "tab:green"
SPOOF_COLOUR = "tab:red"


def save_detection_png(path: str | Path, name: str, detector: Detector, wave: np.ndarray,
                       detection: Detection, window_s: float, hop_s: float) -> None:
    """Explain ``wave`` (see :func:`explain_clip`) and write its detection PNG to ``path``."""
    clip = explain_clip(detector, wave, window_s, hop_s)
    plot_detection(path, name, detection, detector.threshold, clip, detector.sample_rate)


def plot_detection(path: str | Path, name: str, detection: Detection, threshold: float,
                   clip: ClipExplanation, sample_rate: int) -> None:
    """Top: log-mel, window scores on a twin axis; below: one saliency map per model view."""
    n_rows = 1 + len(clip.saliency)
    fig = Figure(figsize=(11, 2.2 + 2.4 * n_rows), dpi=DPI, layout="constrained")
    axes = fig.subplots(n_rows, 1, sharex=True, squeeze=False)[:, 0]
    extent = (0.0, clip.log_mel.shape[1] * clip.frame_seconds)

    mel_ax = axes[0]
    image = _spectrogram(mel_ax, clip.log_mel, extent,
                         band_centres_hz("mel", clip.log_mel.shape[0], sample_rate),
                         cmap="magma")
    fig.colorbar(image, ax=mel_ax, label="log mel power", pad=0.07)
    _score_overlay(mel_ax.twinx(), clip, threshold)
    mel_ax.set_title("log-mel spectrogram and sliding-window scores", fontsize=10, loc="left")

    for ax, (view, sal) in zip(axes[1:], clip.saliency.items()):
        limit = float(np.percentile(np.abs(sal), 99)) or 1.0  # clip outliers, keep zero white
        image = _spectrogram(ax, sal, extent, clip.centres_hz[view], cmap="RdBu_r",
                             vmin=-limit, vmax=limit)
        fig.colorbar(image, ax=ax, label="grad x input\n(+ = towards bona fide)", pad=0.07)
        ax.set_title(f"saliency, {view} view (gradient x input of the calibrated score)",
                     fontsize=10, loc="left")
    axes[-1].set_xlabel("time (s)")
    axes[-1].set_xlim(0.0, clip.duration)
    fig.suptitle(f"{name}: {detection.decision.upper()}   score {detection.score:+.2f} "
                 f"(threshold {threshold:+.2f})   p(bona fide) {detection.p_bonafide:.3f}",
                 fontsize=12, color=_colour(detection.score, threshold))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def _spectrogram(ax: Axes, image: np.ndarray, extent: tuple[float, float],
                 centres_hz: np.ndarray, **kwargs: object) -> AxesImage:
    # Rows are filterbank bins (uneven in Hz for mel), so ticks name each bin's peak frequency.
    n_bins = image.shape[0]
    shown = ax.imshow(image, origin="lower", aspect="auto", interpolation="nearest",
                      extent=(*extent, -0.5, n_bins - 0.5), **kwargs)
    ticks = np.unique(np.linspace(0, n_bins - 1, N_FREQ_TICKS).round().astype(int))
    ax.set_yticks(ticks, [f"{centres_hz[t] / 1000:.1f}" for t in ticks])
    ax.set_ylabel("frequency (kHz)")
    return shown


def _score_overlay(ax: Axes, clip: ClipExplanation, threshold: float) -> None:
    t, s = clip.window_times, clip.window_scores
    ax.fill_between(t, s, threshold, where=s > threshold, interpolate=True,
                    color=BONAFIDE_COLOUR, alpha=0.35, label="above threshold (bona fide)")
    ax.fill_between(t, s, threshold, where=s <= threshold, interpolate=True,
                    color=SPOOF_COLOUR, alpha=0.35, label="below threshold (spoof)")
    ax.plot(t, s, color="white", linewidth=2.2)  # halo keeps the line visible on the image
    ax.plot(t, s, color="black", linewidth=1.2, marker="o", markersize=2.5, label="window score")
    ax.axhline(threshold, color="white", linestyle="--", linewidth=1.2, label="dev threshold")
    reach = max(1.0, float(np.max(np.abs(s - threshold)))) * 1.15
    ax.set_ylim(threshold - reach, threshold + reach)
    ax.set_ylabel("score (LLR)")
    ax.legend(loc="upper right", fontsize=7, framealpha=0.8)


def _colour(score: float, threshold: float) -> str:
    return BONAFIDE_COLOUR if score > threshold else SPOOF_COLOUR
