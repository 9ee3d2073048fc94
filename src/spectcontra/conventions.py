"""Project-wide conventions, written once: labels, splits and which way a score points.

Score convention (as in ASVspoof): a higher score means *more bona fide*. Bona fide is the
target (positive) class, encoded as 1; spoof is 0. Every score file, metric and plot in this
project follows it; calibrated scores are log-likelihood ratios log p(x|bona fide)/p(x|spoof).
The sample rate and crop length live in ``params.yaml`` (section ``common``) and nowhere else.
"""

from __future__ import annotations

BONAFIDE = "bonafide"
SPOOF = "spoof"
LABELS = (BONAFIDE, SPOOF)
SPLITS = ("train", "dev", "eval")
NO_ATTACK = "-"  # attack id of bona fide utterances, as in the ASVspoof protocols

# Audio policy shared by every reader (preprocess, audit, explain, detectors, the CLI).
MAX_AUDIO_SECONDS = 600.0  # longer files are refused as bad input
# The detection overlay: scores of sliding windows of this length and hop (plots only; the
# whole-file score is the mean over crop-length windows, see spectcontra.features.clips).
OVERLAY_WINDOW_SECONDS = 1.0
OVERLAY_HOP_SECONDS = 0.25


def label_to_target(label: str) -> int:
    """Map a protocol label to the binary target: bona fide -> 1, spoof -> 0."""
    if label == BONAFIDE:
        return 1
    if label == SPOOF:
        return 0
    raise ValueError(f"unknown label {label!r}; expected one of {LABELS}")
