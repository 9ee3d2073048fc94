"""Band occlusion, band edges, example picking, saliency and the explain stage."""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
import torchaudio
from torch import Tensor, nn

import spectcontra.stage
from spectcontra.conventions import BONAFIDE, SPOOF
from spectcontra.explain.interpret import (
    BAND_COLUMNS,
    band_occlusion,
    band_table,
    explain_clip,
    filter_points_hz,
    pick_examples,
    plot_band_importance,
    saliency,
    top_bands,
)
from spectcontra.features.spectral import crop_or_pad
from spectcontra.inference.torch_detector import Detector
from spectcontra.training.recipe import Calibration
from tests.test_inference import (
    CROP,
    N_BINS,
    SR,
    feature_settings,
    make_checkpoint,
    speech_like,
)

torch.set_num_threads(1)

BAND = (8, 12)  # the only bins the toy detector reads
LOGISTIC = Calibration("logistic", a=2.0, b=1.0)


class OneBandDetector(nn.Module):
    """Logit = mean over time of mel bins 8..11: linear, no bias, blind to everything else."""

    views = ("mel", "linear")

    def forward(self, views: dict[str, Tensor]) -> Tensor:
        return views["mel"][:, BAND[0]:BAND[1]].mean(dim=(1, 2))  # (B,)


def toy_eval_set(n: int = 200, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    targets = (np.arange(n) % 3 == 0).astype(np.int64)
    views = {v: rng.standard_normal((n, N_BINS, 20)).astype(np.float16) for v in ("mel", "linear")}
    views["mel"][:, BAND[0]:BAND[1]] += (0.8 * targets)[:, None, None].astype(np.float16)
    return views, targets


# --------------------------------------------------------------------------- band edges


@pytest.mark.parametrize("view", ["mel", "linear"])
def test_band_edges_are_monotonic_and_contain_torchaudio_filters(view):
    n_freqs = 129
    bands = band_table(view, N_BINS, 3, SR)
    assert bands["bin_low"].tolist() == [0, 3, 6, 9, 12, 15]
    assert bands["bin_high"].tolist() == [3, 6, 9, 12, 15, 16]  # the last band is narrower
    for col in ("f_low_hz", "f_high_hz"):
        assert np.all(np.diff(bands[col]) > 0)
    assert (bands["f_low_hz"] < bands["f_high_hz"]).all()
    assert bands["f_low_hz"].iloc[0] == 0 and bands["f_high_hz"].iloc[-1] == pytest.approx(SR / 2)
    if view == "mel":
        fb = torchaudio.functional.melscale_fbanks(n_freqs, 0.0, SR / 2, N_BINS, SR)
    else:
        fb = torchaudio.functional.linear_fbanks(n_freqs, 0.0, SR / 2, N_BINS, SR)
    freqs = np.linspace(0, SR / 2, n_freqs)
    for band in bands.itertuples():
        fed = freqs[(fb[:, band.bin_low:band.bin_high] > 0).any(dim=1).numpy()]
        assert band.f_low_hz <= fed.min() and fed.max() <= band.f_high_hz
    peaks = freqs[fb.argmax(dim=0).numpy()]
    centres = filter_points_hz(view, N_BINS, SR)[1:-1]
    assert np.abs(peaks - centres).max() <= freqs[1]  # within one STFT bin


# --------------------------------------------------------------------------- occlusion


def test_occluding_the_only_band_the_detector_reads_matters_most():
    views, targets = toy_eval_set()
    bands = band_occlusion(OneBandDetector(), views, targets, LOGISTIC, SR, band_bins=4,
                           max_utterances=120, seed=1)
    assert list(bands.columns) == list(BAND_COLUMNS)
    assert len(bands) == 2 * 4 and set(bands["view"]) == {"mel", "linear"}
    hit = (bands["view"] == "mel") & (bands["bin_low"] == BAND[0])
    key = bands.loc[hit].iloc[0]
    # Occluded, every score ties at b: EER 1.0 by the official rule.
    assert key["eer"] == 1.0 and key["delta_eer"] > 0.5
    assert key["mean_abs_delta_score"] > 0.5
    others = bands.loc[~hit]
    assert (others["delta_eer"] == 0).all() and (others["mean_abs_delta_score"] == 0).all()
    top = top_bands(bands)
    assert top["mel"]["band"] == 2 and top["mel"]["delta_eer"] == pytest.approx(key["delta_eer"])
    assert top["mel"]["base_eer"] < 0.3


def test_occlusion_uses_a_seeded_stratified_subset():
    views, targets = toy_eval_set()
    a = band_occlusion(OneBandDetector(), views, targets, LOGISTIC, SR, 8, 60, seed=1)
    b = band_occlusion(OneBandDetector(), views, targets, LOGISTIC, SR, 8, 60, seed=1)
    c = band_occlusion(OneBandDetector(), views, targets, LOGISTIC, SR, 8, 60, seed=2)
    pd.testing.assert_frame_equal(a, b)
    assert not a["mean_abs_delta_score"].equals(c["mean_abs_delta_score"])


def test_band_importance_plot_is_written(tmp_path):
    views, targets = toy_eval_set(60)
    bands = band_occlusion(OneBandDetector(), views, targets, LOGISTIC, SR, 4, 60, seed=0)
    plot_band_importance(bands, tmp_path / "bands.png")
    assert (tmp_path / "bands.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- examples


def test_pick_examples_takes_confident_hits_then_worst_errors():
    index = pd.DataFrame({"utt_id": [f"u{i}" for i in range(8)],
                          "label": [BONAFIDE] * 4 + [SPOOF] * 4, "attack": ["-"] * 4 + ["A1"] * 4})
    scores = np.array([3.0, -2.0, 1.0, 0.5, -4.0, 2.5, -1.0, 0.2])
    picks = pick_examples(index, scores, 0.0, 2)
    assert picks["utt_id"].tolist() == ["u0", "u1", "u4", "u5"]
    assert picks["role"].tolist() == ["best", "worst"] * 2
    assert picks["margin"].tolist() == [3.0, -2.0, 4.0, -2.5]
    assert picks["correct"].tolist() == [True, False, True, False]
    three = pick_examples(index, scores, 0.0, 3)
    assert three["utt_id"].tolist() == ["u0", "u2", "u1", "u4", "u6", "u5"]
    every = pick_examples(index, scores, 0.0, 9)
    assert sorted(every["utt_id"]) == sorted(index["utt_id"])  # no row twice


# --------------------------------------------------------------------------- saliency


def _toy_detector() -> Detector:
    return Detector(OneBandDetector(), feature_settings(), LOGISTIC, threshold=0.0)


def _frame_domain_logit(mel: np.ndarray, crop_frames: int) -> float:
    """The toy's logit over the clip's frames: tiled when short, else mean over half-hop windows."""
    n = mel.shape[1]
    band = mel[BAND[0]:BAND[1]]
    if n <= crop_frames:
        return float(band[:, np.arange(crop_frames) % n].mean())
    starts = list(range(0, n - crop_frames + 1, crop_frames // 2))
    if starts[-1] + crop_frames < n:
        starts.append(n - crop_frames)
    return float(np.mean([band[:, s:s + crop_frames].mean() for s in starts]))


@pytest.mark.parametrize("seconds", [0.2, 1.7])
def test_saliency_of_a_linear_detector_sums_to_its_calibrated_logit(seconds):
    # For a bias-free linear model, gradient x input sums exactly to the output (Euler).
    det = _toy_detector()
    wave = speech_like(seconds)
    sal = saliency(det, wave, batch=2)  # several batches for the long clip
    mel = det.features(wave)["mel"][0].numpy()
    assert sal["mel"].shape == mel.shape and sal["linear"].shape == mel.shape
    expected = LOGISTIC.a * _frame_domain_logit(mel, det.crop_frames)
    assert sal["mel"].sum() == pytest.approx(expected, rel=1e-4, abs=1e-5)
    outside = np.ones(N_BINS, bool)
    outside[BAND[0]:BAND[1]] = False
    assert not sal["mel"][outside].any() and not sal["linear"].any()


def test_explain_clip_is_time_aligned(tmp_path):
    det = Detector.load(make_checkpoint(tmp_path / "d.pt"))
    wave = speech_like(1.3)
    clip = explain_clip(det, wave, 0.25, 0.1)
    n_frames = 1 + wave.size // det.hop_length
    assert clip.log_mel.shape == (N_BINS, n_frames)
    assert {v: s.shape for v, s in clip.saliency.items()} == {
        "mel": (N_BINS, n_frames), "linear": (N_BINS, n_frames)}
    assert all(np.isfinite(s).all() and np.abs(s).max() > 0 for s in clip.saliency.values())
    assert clip.window_times[-1] <= clip.duration == pytest.approx(1.3)
    assert CROP == det.crop_samples


# --------------------------------------------------------------------------- the stage


def test_explain_stage_writes_every_output(tmp_path, monkeypatch, params_raw, write_params):
    from stages import explain

    # CodeCarbon's tracker is the stage runner's business (tests/test_energy.py), not ours.
    timings: dict = {}
    monkeypatch.setattr(spectcontra.stage, "track_energy",
                        lambda stage, path: contextlib.nullcontext(timings))
    det = Detector.load(make_checkpoint(tmp_path / "detector.pt"))
    raw, feats = tmp_path / "raw", tmp_path / "features"
    raw.mkdir()
    feats.mkdir()
    rows = []
    for i in range(8):
        label = BONAFIDE if i % 2 else SPOOF
        sf.write(raw / f"e{i}.wav", speech_like(0.3 + 0.1 * i, seed=i), SR)
        rows.append({"utt_id": f"e{i}", "path": f"e{i}.wav", "label": label, "split": "eval",
                     "attack": "-" if label == BONAFIDE else "A1", "speaker": "s"})
    protocol = pd.DataFrame(rows)
    protocol.to_csv(tmp_path / "protocol.csv", index=False)
    index = protocol.drop(columns=["path", "split"]).assign(target=[i % 2 for i in range(8)])
    index.to_csv(feats / "eval.csv", index=False)
    crops = np.stack([crop_or_pad(det.load_wave(raw / r["path"]), CROP, None) for r in rows])
    for view, x in det.features(crops).items():
        np.save(feats / f"eval_{view}.npy", x.numpy().astype(np.float16))
    params_raw["common"]["threads"] = 1
    params_raw["detect"].update(examples_per_class=2,
                                band_bins=8, occlusion_utterances=8)
    out = {name: tmp_path / "out" / name for name in
           ("detect", "bands.csv", "bands.png", "explain.json", "energy.json")}
    code = explain.main([
        "--params", str(write_params(params_raw)), "--model", str(tmp_path / "detector.pt"),
        "--features", str(feats), "--protocol", str(tmp_path / "protocol.csv"),
        "--raw-dir", str(raw), "--detect-dir", str(out["detect"]),
        "--bands-csv", str(out["bands.csv"]), "--bands-png", str(out["bands.png"]),
        "--metrics", str(out["explain.json"]), "--energy", str(out["energy.json"])])
    assert code == 0
    examples = json.loads((out["detect"] / "examples.json").read_text())
    assert [e["label"] for e in examples] == [BONAFIDE, BONAFIDE, SPOOF, SPOOF]
    # wall clock goes to the timing record, so examples.json reruns byte for byte
    assert not any("latency" in key for e in examples for key in e)
    assert set(timings["example_latency_ms"]) == {e["utt_id"] for e in examples}
    assert sorted(p.name for p in out["detect"].glob("*.png")) == sorted(
        f"{e['utt_id']}.png" for e in examples)
    # A clip within one crop is tiled alike in the store and in the file path: the scores
    # agree up to the store's float16 rounding.
    short = [e for e in examples if e["audio_seconds"] <= CROP / SR]
    assert short
    for e in short:
        assert e["file_score"] == pytest.approx(e["store_score"], abs=1e-3)
    bands = pd.read_csv(out["bands.csv"])
    assert list(bands.columns) == list(BAND_COLUMNS) and len(bands) == 2 * N_BINS // 8
    metrics = json.loads(out["explain.json"].read_text())
    assert set(metrics["top_band"]) == {"mel", "linear"}
