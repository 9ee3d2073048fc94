"""DVC stage `label_efficiency`: EER vs labelled fraction for every arm, paired seeds."""

from __future__ import annotations

import sys
from pathlib import Path

from spectcontra.baselines.classic import pooled_lfcc
from spectcontra.config import Config
from spectcontra.data.protocol import read_protocol
from spectcontra.experiments.label_efficiency import ARMS, check_study_seeds, run_study, summarise
from spectcontra.experiments.label_efficiency_report import plot_label_efficiency
from spectcontra.features.preprocess import PreprocessReport, cropped_waves
from spectcontra.features.store import load_split
from spectcontra.io_utils import atomic_path, write_json_atomic
from spectcontra.stage import parser, run_stage


def main(argv: list[str] | None = None) -> int:
    p = parser("label_efficiency", __doc__)
    p.add_argument("--features", type=Path, required=True)
    p.add_argument("--encoders", type=Path, required=True, help="the pretrain stage's, per seed")
    p.add_argument("--raw-dir", type=Path, required=True)
    p.add_argument("--protocol", type=Path, required=True)
    p.add_argument("--metrics", type=Path, required=True, help="summary per fraction and arm")
    p.add_argument("--runs", type=Path, required=True, help="one row per seed, fraction, arm")
    p.add_argument("--plot", type=Path, required=True)
    args = p.parse_args(argv)

    def body(cfg: Config) -> None:
        check_study_seeds(cfg)
        # LFCC vectors of the very crops the feature store holds, in its row order.
        protocol = read_protocol(args.protocol)
        lfcc, index = {}, {}
        for split in ("train", "dev", "eval"):
            index[split] = load_split(args.features, split, cfg.pretrain.views[:1]).index
            rows = protocol[protocol["utt_id"].isin(set(index[split]["utt_id"]))]
            waves = {u: w for _, u, w in cropped_waves(rows, args.raw_dir, cfg.common,
                                                       cfg.preprocess, PreprocessReport())}
            lfcc[split] = pooled_lfcc([waves[u] for u in index[split]["utt_id"]],
                                      cfg.common.sample_rate, cfg.baselines.classic.n_lfcc)
        # Every run uses cfg.pretrain and cfg.finetune as they stand (the study changes only
        # the strategy, the epochs for its step budget and the labelled rows).
        study = cfg.label_efficiency
        print(f"label_efficiency: {len(study.fractions)} fractions x {len(ARMS)} arms x "
              f"{len(study.seeds)} seeds, {study.steps} steps per run", file=sys.stderr)
        runs = run_study(cfg, args.features, args.encoders, lfcc, progress=True)
        ev = index["eval"]
        summary = summarise(runs, ev["target"].to_numpy(), ev["speaker"].to_numpy(),
                            study.n_bootstrap, cfg.evaluate.ci_level, cfg.common.seed)
        with atomic_path(args.runs) as tmp:
            runs.drop(columns=["scores"]).to_csv(tmp, index=False)
        plot_label_efficiency(summary, args.plot)
        write_json_atomic(args.metrics, {"fractions": summary, "steps": study.steps,
                                         "seeds": list(study.seeds),
                                         "resampling": "eval speakers x training seeds"})

    return run_stage("label_efficiency", args, body)


if __name__ == "__main__":
    sys.exit(main())
