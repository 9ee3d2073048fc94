"""DVC stage `ablate`: every ablation variant over several seeds -> summary, runs table, figure."""

from __future__ import annotations

import sys
from pathlib import Path

from spectcontra.config import Config
from spectcontra.experiments.ablation import Audio, run_ablation
from spectcontra.experiments.ablation_report import plot_ablation
from spectcontra.io_utils import atomic_path, write_json_atomic
from spectcontra.stage import Timings, parser, run_stage


def main(argv: list[str] | None = None) -> int:
    p = parser("ablate", __doc__)
    p.add_argument("--features", type=Path, required=True)
    p.add_argument("--raw-dir", type=Path, required=True, help="the corpus's audio (data/raw)")
    p.add_argument("--protocol", type=Path, required=True, help="data/protocol.csv")
    p.add_argument("--encoders", type=Path, required=True,
                   help="the pretrain stage's encoders, reused at scale full (seed_<s>/encoder.pt)")
    p.add_argument("--metrics", type=Path, required=True, help="summary per variant (JSON)")
    p.add_argument("--runs", type=Path, required=True, help="one row per variant and seed (CSV)")
    p.add_argument("--plot", type=Path, required=True, help="eval EER per variant (PNG)")
    args = p.parse_args(argv)

    def body(cfg: Config) -> Timings:
        # Each variant overrides keys of cfg.pretrain and cfg.finetune, run under cfg.ablate
        # (seeds, scale, caps, variants); run_stage reads cfg.common; the paired intervals
        # take cfg.evaluate.n_bootstrap replicates. dvc.yaml lists all five.
        print(f"ablate: {len(cfg.ablate.variants)} variants x {len(cfg.ablate.seeds)} seeds, "
              f"scale {cfg.ablate.scale}", file=sys.stderr)
        # dev and eval files scored whole, as the shipped detector scores them
        runs, summary, seconds = run_ablation(cfg, args.features, progress=True,
                                              encoders=args.encoders,
                                              audio=Audio(args.raw_dir, args.protocol),
                                              n_boot=cfg.evaluate.n_bootstrap)
        with atomic_path(args.runs) as tmp:
            runs.to_csv(tmp, index=False)
        plot_ablation(runs, summary, args.plot)
        write_json_atomic(args.metrics, summary)
        return seconds  # wall clock: to the timing record (--energy), not the results

    return run_stage("ablate", args, body)


if __name__ == "__main__":
    sys.exit(main())
