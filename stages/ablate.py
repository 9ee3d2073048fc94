"""DVC stage `ablate`: every ablation variant's record (`ablate_variant@<name>`) -> summary,
runs table, figure."""

from __future__ import annotations

import sys
from pathlib import Path

from spectcontra.config import Config
from spectcontra.experiments.ablation import collect, read_variant_records
from spectcontra.experiments.ablation_report import plot_ablation
from spectcontra.io_utils import atomic_path, write_json_atomic
from spectcontra.stage import Timings, parser, run_stage


def main(argv: list[str] | None = None) -> int:
    p = parser("ablate", __doc__)
    p.add_argument("--runs-dir", type=Path, required=True,
                   help="the variants' records (<variant>.json, from ablate_variant)")
    p.add_argument("--features", type=Path, required=True,
                   help="the feature store, for the eval index (speakers and labels)")
    p.add_argument("--metrics", type=Path, required=True, help="summary per variant (JSON)")
    p.add_argument("--runs", type=Path, required=True, help="one row per variant and seed (CSV)")
    p.add_argument("--plot", type=Path, required=True, help="eval EER per variant (PNG)")
    args = p.parse_args(argv)

    def body(cfg: Config) -> Timings:
        # Every variant of cfg.ablate, its record checked against cfg.pretrain, cfg.finetune
        # and cfg.common (the fingerprint); the paired intervals take
        # cfg.evaluate.n_bootstrap replicates. dvc.yaml lists all five.
        rows = read_variant_records(cfg, args.runs_dir)
        runs, summary, _ = collect(cfg, rows, args.features, cfg.evaluate.n_bootstrap)
        with atomic_path(args.runs) as tmp:
            runs.to_csv(tmp, index=False)
        plot_ablation(runs, summary, args.plot)
        write_json_atomic(args.metrics, summary)
        return None  # the runs' seconds are in each ablate_variant@<name> timing record

    return run_stage("ablate", args, body)


if __name__ == "__main__":
    sys.exit(main())
