"""Shortcut audit: can a trivial cue (silence, duration, level...) tell the classes apart?

Müller et al. 2021 (arXiv 2106.12914) found that leading silence alone scores 15.1% EER on
ASVspoof 2019 LA. Each cue here gets a tiny classifier fitted on train and an EER on eval; a cue
that does much better than chance is reported as a shortcut the benchmark leaks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from spectcontra.audio import frame_energy_db
from spectcontra.conventions import label_to_target
from spectcontra.data.spectral_cues import SPECTRAL_CUES
from spectcontra.evaluation.metrics import compute_eer

CUES = ("duration_s", "leading_silence_s", "trailing_silence_s", "rms_dbfs", "bandwidth_hz",
        "dc_offset", "clip_fraction", *SPECTRAL_CUES)
# Where each audit fits (train) and tests: the unseen-attack eval split, and dev (seen attacks).
AUDITS = {"eval": "shortcut_", "dev": "shortcut_dev_"}
CLIP_LEVEL = 0.99  # |x| at or above this counts as clipped (16-bit full scale is 0.99997)
BANDWIDTH_ENERGY = 0.99
DIGITAL_SILENCE_DB = -150.0  # frame energy below this is numerical zero, not a quiet room
SHORTCUT_EER = 0.35  # default verdict threshold: a single cue below this is a shortcut


def cue_table(wave: np.ndarray, sample_rate: int, top_db: float = 40.0) -> dict[str, float]:
    """Per-utterance cues of a mono wave (float, full scale 1.0), keyed by :data:`CUES`.

    Silence: a 25 ms frame (10 ms hop) is speech when its energy is within ``top_db`` of the
    loudest frame and above 30% of the way from the noise floor (10th percentile) to the peak,
    so noisy silences count as silence too. Bandwidth: the frequency below which 99% of the
    spectral energy of the DC-removed wave lies.
    """
    if wave.ndim != 1 or wave.size == 0:
        raise ValueError(f"cue_table expects a non-empty 1-D wave, got shape {wave.shape}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be > 0, got {sample_rate}")
    x = np.asarray(wave, dtype=np.float64)
    duration = x.size / sample_rate
    energy_db, frame, hop = frame_energy_db(x - x.mean(), sample_rate)
    peak, floor = energy_db.max(), np.percentile(energy_db, 10)
    active = np.flatnonzero(energy_db >= max(peak - top_db, floor + 0.3 * (peak - floor)))
    if peak <= DIGITAL_SILENCE_DB:  # nothing but a constant: all of it is silence
        lead = trail = duration
    else:
        lead = min(duration, active[0] * hop / sample_rate)
        trail = max(0.0, duration - (active[-1] * hop + frame) / sample_rate)
    power = np.abs(np.fft.rfft(x - x.mean())) ** 2
    cumulative = np.cumsum(power)
    edge = int(np.searchsorted(cumulative, BANDWIDTH_ENERGY * cumulative[-1]))
    bin_hz = sample_rate / x.size
    return {
        "duration_s": duration,
        "leading_silence_s": float(lead),
        "trailing_silence_s": float(trail),
        "rms_dbfs": float(10 * np.log10(np.mean(x**2) + 1e-20)),
        "bandwidth_hz": float(edge * bin_hz) if cumulative[-1] > 0 else 0.0,
        "dc_offset": float(x.mean()),
        "clip_fraction": float(np.mean(np.abs(x) >= CLIP_LEVEL)),
        **{name: float(cue(x, sample_rate)) for name, cue in SPECTRAL_CUES.items()},
    }


def tie_neutral_eer(bonafide: np.ndarray, spoof: np.ndarray) -> float:
    """EER with tied scores split evenly between the classes.

    The official rule (metrics.compute_eer) counts ties against the detector, so a constant
    cue would read 100% EER. Averaging it with the opposite tie order (bona fide lifted above
    tied spoofs by less than the smallest gap between distinct scores) gives 50% for a
    constant and leaves untied scores unchanged.
    """
    bona, spf = np.asarray(bonafide, dtype=float), np.asarray(spoof, dtype=float)
    gaps = np.diff(np.unique(np.concatenate([bona, spf])))
    lift = 0.5 * gaps.min() if gaps.size else 1.0
    pessimistic, _ = compute_eer(bona, spf)
    optimistic, _ = compute_eer(bona + lift, spf)
    return 0.5 * (pessimistic + optimistic)


def _design(values: np.ndarray) -> np.ndarray:
    # x and x^2: a cue can betray the class by its spread (e.g. one narrow band), not only its sign
    return np.concatenate([values, values**2], axis=1)


def _cue_eer(train: pd.DataFrame, test: pd.DataFrame, columns: list[str]) -> float:
    scaler = StandardScaler().fit(train[columns].to_numpy(dtype=float))
    z_train = scaler.transform(train[columns].to_numpy(dtype=float))
    z_test = scaler.transform(test[columns].to_numpy(dtype=float))
    y_train = train["label"].map(label_to_target).to_numpy()
    y_test = test["label"].map(label_to_target).to_numpy()
    model = LogisticRegression(max_iter=1000).fit(_design(z_train), y_train)
    scores = model.decision_function(_design(z_test))
    return tie_neutral_eer(scores[y_test == 1], scores[y_test == 0])


def audit(cues: pd.DataFrame, threshold: float = SHORTCUT_EER) -> dict[str, float | bool]:
    """Fit each cue (and all cues together) on train; report its EER on eval and on dev.

    ``cues`` holds ``utt_id``, ``split``, ``label`` and any of :data:`CUES`. Returns a flat
    dict: ``shortcut_eer_<cue>`` and ``shortcut_flag_<cue>`` (EER below ``threshold``) for
    train -> eval, ``shortcut_dev_eer_<cue>`` and ``shortcut_dev_flag_<cue>`` for train -> dev,
    the same for ``all_cues``, ``shortcut_threshold`` and ``shortcut_any_flag`` (any flag in
    either audit).
    """
    missing = [c for c in ("utt_id", "split", "label") if c not in cues.columns]
    if missing:
        raise ValueError(f"cue table lacks column(s) {missing}")
    present = [c for c in CUES if c in cues.columns]
    if not present:
        raise ValueError(f"cue table has none of the cue columns {CUES}")
    train = cues[cues["split"] == "train"]
    out: dict[str, float | bool] = {"shortcut_threshold": float(threshold)}
    for split, prefix in AUDITS.items():
        test = cues[cues["split"] == split]
        for name, part in (("train", train), (split, test)):
            labels = set(part["label"])
            if len(labels) < 2:
                raise ValueError(f"cue table split {name!r} needs both classes, has {sorted(labels)}")
        for column in [*present, "all_cues"]:
            eer = _cue_eer(train, test, present if column == "all_cues" else [column])
            out[f"{prefix}eer_{column}"] = round(eer, 4)
            out[f"{prefix}flag_{column}"] = bool(eer < threshold)
    out["shortcut_any_flag"] = any(v for k, v in out.items() if "_flag_" in k)
    return out
