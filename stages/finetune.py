"""DVC stage `finetune`: a head on each seed's pretrained encoder; whole-file dev/eval scores,
calibrated on dev; the seed with the median dev EER is shipped."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from spectcontra.config import Config
from spectcontra.experiments.seeds import finetune_seeds, median_seed, ship_seed
from spectcontra.io_utils import atomic_dir, atomic_path, write_json_atomic
from spectcontra.stage import parser, run_stage


def main(argv: list[str] | None = None) -> int:
    p = parser("finetune", __doc__)
    p.add_argument("--features", type=Path, required=True)
    p.add_argument("--raw-dir", type=Path, required=True, help="audio, scored as whole files")
    p.add_argument("--protocol", type=Path, required=True)
    p.add_argument("--encoders", type=Path, required=True, help="folder: seed_<s>/encoder.pt")
    p.add_argument("--seeds-dir", type=Path, required=True,
                   help="folder: seed_<s>/{detector.pt,dev.csv,eval.csv}")
    p.add_argument("--model", type=Path, required=True, help="the shipped detector")
    p.add_argument("--scores-dir", type=Path, required=True, help="the shipped seed's scores")
    p.add_argument("--history", type=Path, required=True, help="per-seed, per-epoch dev EER (CSV)")
    p.add_argument("--metrics", type=Path, required=True)
    args = p.parse_args(argv)

    def body(cfg: Config) -> None:
        with atomic_dir(args.seeds_dir) as tmp:
            runs = finetune_seeds(cfg.pretrain, cfg.finetune, cfg.common.threads, args.features,
                                  args.raw_dir, args.protocol, args.encoders, tmp, progress=True)
        shipped = median_seed({s: r["dev_eer"] for s, r in runs.items()})
        ship_seed(args.seeds_dir, shipped, args.model, args.scores_dir)
        with atomic_path(args.history) as tmp:
            pd.DataFrame([h for r in runs.values() for h in r["history"]]).to_csv(tmp, index=False)
        ship = runs[shipped]
        write_json_atomic(args.metrics, {
            "shipped_seed": shipped,
            "selection": "median dev EER across seeds",
            "dev_eer": ship["dev_eer"],
            "dev_threshold": ship["dev_threshold"],
            "selected_epoch": ship["selected_epoch"],
            "detector_params": ship["detector_params"],
            "trainable_params": ship["trainable_params"],
            "model_bytes": args.model.stat().st_size,
            "dev_eer_by_seed": {str(s): r["dev_eer"] for s, r in runs.items()},
            "selected_epoch_by_seed": {str(s): r["selected_epoch"] for s, r in runs.items()},
        })

    return run_stage("finetune", args, body)


if __name__ == "__main__":
    sys.exit(main())
