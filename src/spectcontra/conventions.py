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
# Shorter files hold no syllable to judge; tiled to a crop, a few samples become a buzz
# whose score means nothing, so they are refused as bad input too.
MIN_AUDIO_SECONDS = 0.1
# A header rate outside this range is a broken or exotic file, not speech: below 4 kHz not even
# telephone speech fits, and 384 kHz is the highest rate of any common audio interface.
MIN_AUDIO_RATE = 4_000
MAX_AUDIO_RATE = 384_000
# Frames x channels of one file, checked from its header before decoding: the decoded float32
# samples (~480 MB at this limit) must fit beside the model. 600 s of 96 kHz stereo fits; a
# 600 s, 8-channel, 384 kHz file (1.8 G samples, 7 GB) is refused instead of swapping.
MAX_AUDIO_SAMPLES = 120_000_000
# What `spectcontra detect FOLDER` picks up (lower case; matched case-insensitively). All are
# formats libsndfile reads; mp3 needs libsndfile >= 1.1, m4a/aac files are listed so that they
# are reported as unreadable rather than silently skipped.
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac",
                              ".aif", ".aiff", ".aifc", ".au", ".caf", ".w64"})
# The detection overlay: scores of sliding windows of this length and hop (plots only; the
# whole-file score is the mean over crop-length windows, see spectcontra.features.clips).
OVERLAY_WINDOW_SECONDS = 1.0
OVERLAY_HOP_SECONDS = 0.25
# The clip length the profile stage's latency targets, MACs and energy are reported for; the
# params check that profile.durations includes it.
PROFILE_REFERENCE_SECONDS = 4.0


def label_to_target(label: str) -> int:
    """Map a protocol label to the binary target: bona fide -> 1, spoof -> 0."""
    if label == BONAFIDE:
        return 1
    if label == SPOOF:
        return 0
    raise ValueError(f"unknown label {label!r}; expected one of {LABELS}")
