"""DVC stage `ablate_variant@<name>`: one ablation variant over every ablation seed.

One stage per entry of ``ablate.variants`` (a DVC ``foreach``), so adding a variant to the
params trains that variant alone; `ablate` then summarises every variant's record.
"""

from __future__ import annotations

import sys
from pathlib import Path

from spectcontra.config import Config
from spectcontra.experiments.ablation import Audio, rows_seconds, run_variant, variant_record
from spectcontra.io_utils import write_json_atomic
from spectcontra.stage import Timings, parser, run_stage


def main(argv: list[str] | None = None) -> int:
    p = parser("ablate_variant", __doc__)
    p.add_argument("--variant", required=True, help="a name in params.yaml ablate.variants")
    p.add_argument("--features", type=Path, required=True)
    p.add_argument("--raw-dir", type=Path, required=True, help="the corpus's audio (data/raw)")
    p.add_argument("--protocol", type=Path, required=True, help="data/protocol.csv")
    p.add_argument("--encoders", type=Path, required=True,
                   help="the pretrain stage's encoders, reused at scale full (seed_<s>/encoder.pt)")
    p.add_argument("--out", type=Path, required=True,
                   help="the variant's record: one row per seed, with its eval scores (JSON)")
    args = p.parse_args(argv)

    def body(cfg: Config) -> Timings:
        # The variant overrides keys of cfg.pretrain and cfg.finetune and runs under
        # cfg.ablate.seeds, cfg.ablate.scale, the caps cfg.ablate.small_train_utterances,
        # cfg.ablate.small_dev_utterances, cfg.ablate.small_eval_utterances and
        # cfg.ablate.small_epochs, and its own entry of cfg.ablate.variants; the record's
        # fingerprint reads cfg.common too (run_stage reads it as well).
        print(f"ablate_variant: {args.variant} x {len(cfg.ablate.seeds)} seeds, "
              f"scale {cfg.ablate.scale}", file=sys.stderr)
        # dev and eval files scored whole, as the shipped detector scores them
        rows = run_variant(cfg, args.variant, args.features, progress=True,
                           encoders=args.encoders, audio=Audio(args.raw_dir, args.protocol))
        # keys in the runs table's column order, which the summary stage keeps
        write_json_atomic(args.out, variant_record(cfg, args.variant, rows), sort_keys=False)
        return rows_seconds(rows)  # wall clock: to the timing record (--energy), not the results

    return run_stage(f"ablate_variant@{args.variant}", args, body)


if __name__ == "__main__":
    sys.exit(main())
