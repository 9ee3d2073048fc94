"""DVC stage `crosseval`: ours (the exported ONNX detector) and every saved baseline on a second
corpus that shares no speaker or attack family with training, at thresholds chosen on the
main dev split."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from spectcontra.config import Config
from spectcontra.data.protocol import read_protocol
from spectcontra.experiments.crosseval import (
    cross_corpus,
    crosseval_metrics,
    describe,
    score_corpus,
)
from spectcontra.experiments.systems import checked_systems
from spectcontra.io_utils import write_json_atomic
from spectcontra.stage import Timings, parser, run_stage


def main(argv: list[str] | None = None) -> int:
    p = parser("crosseval", __doc__)
    p.add_argument("--detector", type=Path, required=True, help="exported ONNX detector")
    p.add_argument("--models-dir", type=Path, required=True, help="saved baselines")
    p.add_argument("--scores-dir", type=Path, required=True, help="our dev scores")
    p.add_argument("--baselines-dir", type=Path, required=True, help="baselines' dev scores")
    p.add_argument("--raw-dir", type=Path, required=True, help="main corpus (dev files checked)")
    p.add_argument("--protocol", type=Path, required=True)
    p.add_argument("--metrics", type=Path, required=True)
    args = p.parse_args(argv)

    def body(cfg: Config) -> Timings:
        start = time.perf_counter()
        checked = checked_systems(args.detector, args.models_dir, args.scores_dir,
                                  args.baselines_dir, read_protocol(args.protocol),
                                  args.raw_dir, cfg.common.threads)
        with tempfile.TemporaryDirectory(prefix="crosseval.") as workdir:
            corpus = cross_corpus(cfg.crosseval, cfg.data.synthetic, cfg.data.source,
                                  cfg.common.sample_rate, cfg.common.seed, Path(workdir),
                                  Path.cwd())
            tables = score_corpus(checked.scorers, corpus)
        scored = time.perf_counter()
        write_json_atomic(args.metrics, {
            "corpus": {**corpus.description, **describe(corpus.index)},
            "thresholds": "each system's dev EER threshold on the main corpus (never tuned here)",
            "bootstrap_unit": cfg.evaluate.bootstrap_unit, "ci_level": cfg.evaluate.ci_level,
            "systems": crosseval_metrics(tables, checked.dev, cfg.evaluate, cfg.common.seed),
            "not_scored": checked.not_scored,
            "dev_rescore_max_abs_diff": checked.dev_gap,
        })
        # wall clock goes to the timing record, never into the metrics file
        return {"audio_and_scoring_s": round(scored - start, 1),
                "bootstrap_s": round(time.perf_counter() - scored, 1)}

    return run_stage("crosseval", args, body)


if __name__ == "__main__":
    sys.exit(main())
