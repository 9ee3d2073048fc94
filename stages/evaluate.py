"""DVC stage `evaluate`: every system's dev/eval score files through the same metric code, our
recipe across its training seeds (t-interval and pooled bootstrap of the seed mean), and every
other system against ours (the seed mean) by a paired bootstrap on the same eval resamples."""

from __future__ import annotations

import sys
from pathlib import Path

from spectcontra.config import Config
from spectcontra.evaluation.evaluate import evaluate_scores, headline_first
from spectcontra.evaluation.paired import PAIRED_METRICS, paired_differences
from spectcontra.evaluation.plots import markdown_table, paired_table, plot_all
from spectcontra.evaluation.scores import (
    SCORED_SPLITS,
    baseline_files,
    read_scores,
    read_status,
    score_path,
)
from spectcontra.evaluation.seeds import SEED_METRICS, seed_summary
from spectcontra.experiments.seeds import median_seed, seed_dir
from spectcontra.io_utils import atomic_path, write_json_atomic
from spectcontra.stage import parser, run_stage

MAIN = "spectcontra"


def _score_files(scores_dir: Path, baselines_dir: Path) -> dict[str, dict[str, Path]]:
    """System name -> {split: score file}; baselines that did not run have none."""
    main = {s: score_path(scores_dir, s) for s in SCORED_SPLITS}
    return {MAIN: main, **baseline_files(baselines_dir)}


def main(argv: list[str] | None = None) -> int:
    p = parser("evaluate", __doc__)
    p.add_argument("--scores-dir", type=Path, required=True)
    p.add_argument("--baselines-dir", type=Path, required=True)
    p.add_argument("--seeds-dir", type=Path, required=True, help="seed_<s>/{dev,eval}.csv")
    p.add_argument("--seeds-metrics", type=Path, required=True, help="per-seed metrics (JSON)")
    p.add_argument("--metrics", type=Path, required=True, help="main system, flat (JSON)")
    p.add_argument("--comparison", type=Path, required=True, help="every system (JSON)")
    p.add_argument("--table", type=Path, required=True, help="comparison table (Markdown)")
    p.add_argument("--curves-dir", type=Path, required=True, help="main system's curve CSVs")
    p.add_argument("--figures-dir", type=Path, required=True, help="comparison PNGs")
    args = p.parse_args(argv)

    def body(cfg: Config) -> None:
        flat_by_system, curves_by_system, eval_tables = {}, {}, {}
        for name, files in _score_files(args.scores_dir, args.baselines_dir).items():
            eval_tables[name] = read_scores(files["eval"])
            flat, curves = evaluate_scores(read_scores(files["dev"]), eval_tables[name],
                                           cfg.evaluate, cfg.common.seed)
            flat_by_system[name], curves_by_system[name] = flat, curves
        per_seed, seed_tables = {}, {}
        for s in cfg.pretrain.seeds:
            folder = seed_dir(args.seeds_dir, s)
            seed_tables[s] = read_scores(score_path(folder, "eval"))
            flat, _ = evaluate_scores(read_scores(score_path(folder, "dev")), seed_tables[s],
                                      cfg.evaluate, cfg.common.seed)
            per_seed[s] = {k: flat[k] for k in ("dev_eer", *SEED_METRICS)}
        summary = seed_summary(seed_tables, cfg.evaluate, cfg.common.seed)
        flat_by_system[MAIN].update(summary)
        # ours (the mean over seeds) - system on the same resamples (seed and utterances shared)
        paired = {name: paired_differences(list(seed_tables.values()), table, cfg.evaluate,
                                           cfg.common.seed, (MAIN, name))
                  for name, table in eval_tables.items() if name != MAIN}
        write_json_atomic(args.seeds_metrics, {
            "seeds": list(cfg.pretrain.seeds),
            "median_dev_seed": median_seed({s: v["dev_eer"] for s, v in per_seed.items()}),
            "per_seed": {str(s): v for s, v in per_seed.items()},
            "summary": summary,
            "ci_level": cfg.evaluate.ci_level,
            "bootstrap_unit": cfg.evaluate.bootstrap_unit,
        })
        not_run = read_status(args.baselines_dir)
        args.curves_dir.mkdir(parents=True, exist_ok=True)
        for kind, table in curves_by_system[MAIN].items():
            with atomic_path(args.curves_dir / f"{kind}.csv") as tmp:
                table.to_csv(tmp, index=False)
        args.figures_dir.mkdir(parents=True, exist_ok=True)
        plot_all(curves_by_system, args.figures_dir, flat_by_system)
        text = markdown_table(flat_by_system)
        if paired:
            text += "\n" + paired_table(paired, list(PAIRED_METRICS), f"{MAIN} (seed mean)",
                                        cfg.evaluate.bootstrap_unit, cfg.evaluate.ci_level)
        if not_run:
            text += "\n" + "\n".join(f"- {k}: not run ({why})" for k, why in sorted(not_run.items())) + "\n"
        with atomic_path(args.table) as tmp:
            tmp.write_text(text)
        comparison = {name: dict(flat) for name, flat in flat_by_system.items()}
        for name, diff in paired.items():
            comparison[name]["paired"] = diff  # spectcontra - name, *_diff[_ci_low|_ci_high]
        write_json_atomic(args.comparison, comparison)
        # key order kept: `dvc exp show` then opens with the eval EER (headline_first)
        write_json_atomic(args.metrics, headline_first(flat_by_system[MAIN]), sort_keys=False)

    return run_stage("evaluate", args, body)


if __name__ == "__main__":
    sys.exit(main())
