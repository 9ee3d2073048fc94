"""DVC stage `explain`: example detections with saliency overlays, and per-band occlusion."""

from __future__ import annotations

import sys
from pathlib import Path

from spectcontra.config import Config
from spectcontra.conventions import (
    MAX_AUDIO_SECONDS,
    OVERLAY_HOP_SECONDS,
    OVERLAY_WINDOW_SECONDS,
)
from spectcontra.data.protocol import read_protocol
from spectcontra.explain.interpret import (
    band_occlusion,
    pick_examples,
    plot_band_importance,
    top_bands,
)
from spectcontra.explain.overlay import save_detection_png
from spectcontra.features.store import load_split
from spectcontra.inference.torch_detector import Detector
from spectcontra.io_utils import atomic_dir, atomic_path, write_json_atomic
from spectcontra.models.detector import score
from spectcontra.stage import Timings, parser, run_stage


def main(argv: list[str] | None = None) -> int:
    p = parser("explain", __doc__)
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--features", type=Path, required=True)
    p.add_argument("--protocol", type=Path, required=True)
    p.add_argument("--raw-dir", type=Path, required=True)
    p.add_argument("--detect-dir", type=Path, required=True, help="PNGs and examples.json")
    p.add_argument("--bands-csv", type=Path, required=True)
    p.add_argument("--bands-png", type=Path, required=True)
    p.add_argument("--metrics", type=Path, required=True)
    args = p.parse_args(argv)

    def body(cfg: Config) -> Timings:
        detector = Detector.load(args.model)
        evals = load_split(args.features, "eval", detector.views, mmap=True)
        store_scores = detector.calibration.apply(score(detector.model, evals.views))
        picks = pick_examples(evals.index, store_scores, detector.threshold,
                              cfg.detect.examples_per_class)
        # store_score: the feature store's crop, as evaluate scored it; file_score: the whole file.
        picks = picks.rename(columns={"score": "store_score"})
        paths = read_protocol(args.protocol).set_index("utt_id")["path"]
        examples, latency_ms = [], {}
        # A model trained on crops shorter than the overlay window is shown its own crop.
        window = min(OVERLAY_WINDOW_SECONDS, detector.crop_seconds)
        with atomic_dir(args.detect_dir) as tmp:
            for pick in picks.to_dict("records"):
                wave = detector.load_wave(args.raw_dir / paths[pick["utt_id"]],
                                          MAX_AUDIO_SECONDS)
                found = detector.detect(wave)
                save_detection_png(tmp / f"{pick['utt_id']}.png", pick["utt_id"], detector,
                                   wave, found, window, OVERLAY_HOP_SECONDS)
                examples.append({**pick, "file_score": found.score, "p_bonafide": found.p_bonafide,
                                 "decision": found.decision, "audio_seconds": found.audio_seconds})
                latency_ms[pick["utt_id"]] = round(found.latency_ms, 3)
            write_json_atomic(tmp / "examples.json", examples)

        bands = band_occlusion(detector.model, evals.views, evals.targets, detector.calibration,
                               detector.sample_rate, cfg.detect.band_bins,
                               cfg.detect.occlusion_utterances, cfg.common.seed)
        with atomic_path(args.bands_csv) as tmp:
            bands.round(6).to_csv(tmp, index=False)
        plot_band_importance(bands, args.bands_png)
        # The figures' names, so the README can show one without typing an utterance id.
        figures = [{"png": (args.detect_dir / f"{e['utt_id']}.png").as_posix(),
                    "label": e["label"], "attack": e["attack"], "decision": e["decision"],
                    "role": e["role"]} for e in examples]
        write_json_atomic(args.metrics, {"top_band": top_bands(bands), "figures": figures})
        # Wall clock goes to the timing record (--energy): the outputs above rerun byte for byte.
        return {"example_latency_ms": latency_ms}

    return run_stage("explain", args, body)


if __name__ == "__main__":
    sys.exit(main())
