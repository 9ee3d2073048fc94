"""DVC stage `profile`: CPU latency, memory, size, MACs, energy; ours (torch, ONNX) vs wav2vec2
and the baselines."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import numpy as np
import torch

from spectcontra.baselines.classic import ClassicBaseline
from spectcontra.config import Config
from spectcontra.evaluation.metrics import compute_eer
from spectcontra.features.store import load_split
from spectcontra.inference.onnx_detector import OnnxDetector
from spectcontra.inference.torch_detector import Detector
from spectcontra.io_utils import write_json_atomic
from spectcontra.models.detector import score
from spectcontra.profiling.benchmark import (
    latency_grid,
    model_size,
    noise_clip,
    onnx_latency_grid,
    quantized_copy,
    rss_probes,
    target_checks,
    wav2vec2_call,
    wav2vec2_frontend,
)
from spectcontra.profiling.embedding_cost import embedding_cost
from spectcontra.profiling.energy import energy_of
from spectcontra.profiling.measure import count_macs, cpu_model, threads, time_calls
from spectcontra.stage import parser, run_stage
from web.browser import BrowserUnavailable, measure_latency

ENERGY_CALLS = {"ours": 500, "onnx": 500, "wav2vec2": 20}  # 4 s clips per energy measurement


def _flat(prefix: str, d: dict) -> dict:
    return {f"{prefix}_{k}": v for k, v in d.items()}


def browser_latency(onnx: Path, runs: int, warmup: int) -> dict:
    """The same graph in headless Chromium (onnxruntime-web, wasm, 1 thread) on a 4 s clip,
    or why it could not run (no Chromium, Playwright or npm files on this machine)."""
    try:
        res = measure_latency(onnx, seconds=4.0, runs=runs, warmup=warmup)
    except BrowserUnavailable as err:
        return {"browser_status": f"not run: {err}"}
    return {"browser_4s_1t_p50_ms": res["p50_ms"], "browser_4s_1t_mean_ms": res["mean_ms"],
            "browser_version": res["browser"]}


def main(argv: list[str] | None = None) -> int:
    p = parser("profile", __doc__)
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--onnx", type=Path, required=True, help="the export stage's ONNX file")
    p.add_argument("--features", type=Path, required=True)
    p.add_argument("--metrics", type=Path, required=True)
    args = p.parse_args(argv)

    def body(cfg: Config) -> None:
        seed = cfg.common.seed
        det = Detector.load(args.model)
        sr = det.sample_rate
        counts = sorted({1, cfg.common.threads})
        clip4 = noise_clip(4.0, sr, seed)
        out: dict = {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(),
                     "torch_version": torch.__version__,
                     "python_version": platform.python_version(), "threads_all": cfg.common.threads,
                     "runs": cfg.profile.runs, "warmup": cfg.profile.warmup}

        def ours_call(wave: np.ndarray):
            return lambda: det.score_wave(wave)

        out.update(_flat("ours", latency_grid(ours_call, cfg.profile.durations, counts, sr,
                                              cfg.profile.warmup, cfg.profile.runs, seed)))
        out.update(_flat("ours", model_size(det.model)))
        out["ours_checkpoint_bytes"] = det.model_bytes
        out["ours_macs_per_audio_s"] = round(count_macs(lambda: det.score_wave(clip4)) / 4.0)

        # The same clips through the exported graph on ONNX Runtime (features included).
        out.update(_flat("onnx", onnx_latency_grid(args.onnx, cfg.profile.durations, counts,
                                                   cfg.profile.warmup, cfg.profile.runs, seed)))
        out["onnx_bytes"] = args.onnx.stat().st_size
        out.update(browser_latency(args.onnx, cfg.profile.runs, cfg.profile.warmup))

        with threads(cfg.common.threads):
            n_batch = cfg.profile.batch_size
            batch = np.stack([noise_clip(4.0, sr, seed + i) for i in range(n_batch)])
            ms = time_calls(lambda: det.model(det.features(batch)), cfg.profile.warmup,
                            max(3, cfg.profile.runs // 10))
        out["ours_throughput_utt_per_s_4s"] = round(n_batch / (np.median(ms) / 1e3), 1)

        # Classic LFCC baseline: fitted on seeded noise; its cost does not depend on the fit.
        classic = ClassicBaseline(cfg.baselines.classic, sr, seed)
        classic.fit([noise_clip(2.0, sr, seed + i) for i in range(16)], np.arange(16) % 2)
        out.update(_flat("classic", latency_grid(lambda w: (lambda: classic.score([w])),
                                                 cfg.profile.durations, counts, sr,
                                                 cfg.profile.warmup, cfg.profile.runs, seed)))
        if cfg.baselines.pretrained_embedding.enabled:
            out.update(embedding_cost(cfg.profile.durations, counts, sr, cfg.profile.warmup,
                                      cfg.profile.runs, seed))

        if cfg.profile.quantize:
            qdet = Detector(quantized_copy(det.model), det.settings, det.calibration,
                            det.threshold, det.model_bytes)
            with threads(1):
                out["int8_4s_1t_p50_ms"] = round(float(np.median(
                    time_calls(lambda: qdet.score_wave(clip4), cfg.profile.warmup,
                               cfg.profile.runs))), 3)
            ev = load_split(args.features, "eval", det.views)
            y = ev.targets
            for name, model in (("float32", det.model), ("int8", qdet.model)):
                s = score(model, ev.views)
                out[f"{name}_eval_eer"] = round(compute_eer(s[y == 1], s[y == 0])[0], 5)
            out["int8_eer_cost"] = round(out["int8_eval_eer"] - out["float32_eval_eer"], 5)
            out.update(_flat("int8", model_size(qdet.model)))

        if cfg.profile.wav2vec2:
            w2v = wav2vec2_frontend()
            few = max(3, cfg.profile.runs // 10)  # ~100x slower per call: fewer timed runs
            out.update(_flat("wav2vec2", latency_grid(wav2vec2_call(w2v), cfg.profile.durations,
                                                      counts, sr, 1, few, seed)))
            out.update(_flat("wav2vec2", model_size(w2v)))
            x4 = torch.from_numpy(clip4)[None]
            w2v_macs = count_macs(lambda: w2v.extract_features(x4))
            out["wav2vec2_macs_per_audio_s"] = round(w2v_macs / 4.0)
            onnx1 = OnnxDetector.load(args.onnx, threads=1)
            with threads(1):
                for name, fn in (("ours", lambda: det.score_wave(clip4)),
                                 ("onnx", lambda: onnx1.score_wave(clip4)),
                                 ("wav2vec2", wav2vec2_call(w2v)(clip4))):
                    n = ENERGY_CALLS[name]
                    rec = energy_of(f"inference-{name}", lambda: [fn() for _ in range(n)])
                    if rec.get("measured"):
                        out[f"{name}_energy_kwh_per_1000_utt"] = rec["energy_kwh"] * 1000 / n
                        out["energy_power_source"] = rec["power_source"]
                    else:
                        out[f"{name}_energy_status"] = rec["reason"]
        out.update(rss_probes(args.model, sr, cfg.profile.wav2vec2, onnx_path=args.onnx))
        out.update(target_checks(out))
        write_json_atomic(args.metrics, out)

    return run_stage("profile", args, body)


if __name__ == "__main__":
    sys.exit(main())
