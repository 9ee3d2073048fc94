"""DVC stage `conditions`: the eval split through MP3, Opus, a telephone line and added noise,
scored by ours (the exported ONNX detector) and every saved baseline at their clean dev
thresholds (ASVspoof 2021 LA/DF-style channel conditions)."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from spectcontra.config import Config
from spectcontra.data.conditions import ChannelSettings
from spectcontra.data.protocol import read_protocol
from spectcontra.experiments.conditions import CLEAN, conditions_metrics, score_conditions
from spectcontra.experiments.systems import MAIN, checked_systems, published_scores
from spectcontra.io_utils import write_json_atomic
from spectcontra.stage import Timings, parser, run_stage


def main(argv: list[str] | None = None) -> int:
    p = parser("conditions", __doc__)
    p.add_argument("--detector", type=Path, required=True, help="exported ONNX detector")
    p.add_argument("--models-dir", type=Path, required=True, help="saved baselines")
    p.add_argument("--scores-dir", type=Path, required=True, help="our dev scores")
    p.add_argument("--baselines-dir", type=Path, required=True, help="baselines' dev scores")
    p.add_argument("--raw-dir", type=Path, required=True)
    p.add_argument("--protocol", type=Path, required=True)
    p.add_argument("--metrics", type=Path, required=True)
    args = p.parse_args(argv)

    def body(cfg: Config) -> Timings:
        start = time.perf_counter()
        protocol = read_protocol(args.protocol)
        checked = checked_systems(args.detector, args.models_dir, args.scores_dir,
                                  args.baselines_dir, protocol, args.raw_dir,
                                  cfg.common.threads)
        settings = ChannelSettings(cfg.conditions.mp3_kbps, cfg.conditions.opus_kbps,
                                   cfg.conditions.noise_snr_db)
        clean = published_scores(args.scores_dir, args.baselines_dir, "eval")
        with tempfile.TemporaryDirectory(prefix="conditions.") as workdir:
            tables = score_conditions(checked.scorers, clean, protocol, args.raw_dir, Path(workdir),
                                      cfg.conditions.names, settings, cfg.common.sample_rate,
                                      cfg.common.seed, cfg.conditions.utterances)
        scored = time.perf_counter()
        write_json_atomic(args.metrics, {
            "conditions": [CLEAN, *cfg.conditions.names],
            "n_files": len(tables[CLEAN][MAIN]),
            "settings": {"mp3_kbps": cfg.conditions.mp3_kbps,
                         "opus_kbps": cfg.conditions.opus_kbps,
                         "noise_snr_db": cfg.conditions.noise_snr_db},
            "thresholds": "each system's dev EER threshold on the clean main dev split",
            "bootstrap_unit": cfg.evaluate.bootstrap_unit, "ci_level": cfg.evaluate.ci_level,
            "results": conditions_metrics(tables, checked.dev, cfg.evaluate, cfg.common.seed),
            "not_scored": checked.not_scored,
            "dev_rescore_max_abs_diff": checked.dev_gap,
        })
        # wall clock goes to the timing record, never into the metrics file
        return {"audio_and_scoring_s": round(scored - start, 1),
                "bootstrap_s": round(time.perf_counter() - scored, 1)}

    return run_stage("conditions", args, body)


if __name__ == "__main__":
    sys.exit(main())
