"""DVC stage `scale`: peak memory and time of preprocess and fine-tuning on a generated corpus
the size of ASVspoof 2019 LA, against preprocess.memory_budget_mb."""

from __future__ import annotations

import sys
from pathlib import Path

from spectcontra.config import Config
from spectcontra.io_utils import write_json_atomic
from spectcontra.profiling.scale import run_scale_study
from spectcontra.stage import Timings, parser, run_stage


def main(argv: list[str] | None = None) -> int:
    p = parser("scale", __doc__)
    p.add_argument("--scratch", type=Path, required=True,
                   help="folder for the generated corpus and its features (outside git and DVC; "
                        "emptied after the run)")
    p.add_argument("--metrics", type=Path, required=True)
    p.add_argument("--keep-scratch", action="store_true",
                   help="keep the generated corpus and features for inspection")
    args = p.parse_args(argv)

    def body(cfg: Config) -> Timings:
        metrics = run_scale_study(cfg.scale, cfg.common, cfg.preprocess, cfg.pretrain.encoder,
                                  cfg.pretrain.views, cfg.finetune, args.scratch,
                                  keep=args.keep_scratch, log=lambda m: print(m, flush=True))
        write_json_atomic(args.metrics, metrics)
        return {"generate_seconds": metrics["corpus"]["generate_seconds"],
                "preprocess_seconds": metrics["preprocess"]["seconds"],
                "finetune_seconds": metrics["finetune"]["seconds"]}

    return run_stage("scale", args, body)


if __name__ == "__main__":
    sys.exit(main())
