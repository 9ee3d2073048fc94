"""DVC stage `evaluate`: every system's dev/eval score files through the same metric code, and
every other system against ours by a paired bootstrap on the same eval resamples."""

from __future__ import annotations

import sys
from pathlib import Path

from spectcontra.config import Config
from spectcontra.evaluation.evaluate import evaluate_scores
from spectcontra.evaluation.paired import PAIRED_METRICS, paired_differences
from spectcontra.evaluation.plots import markdown_table, paired_table, plot_all
from spectcontra.evaluation.scores import (
    SCORED_SPLITS,
    baseline_files,
    read_scores,
    read_status,
    score_path,
)
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
        # ours - system on the same resamples (the seed and utterances are shared)
        paired = {name: paired_differences(eval_tables[MAIN], table, cfg.evaluate,
                                           cfg.common.seed, (MAIN, name))
                  for name, table in eval_tables.items() if name != MAIN}
        not_run = read_status(args.baselines_dir)
        args.curves_dir.mkdir(parents=True, exist_ok=True)
        for kind, table in curves_by_system[MAIN].items():
            with atomic_path(args.curves_dir / f"{kind}.csv") as tmp:
                table.to_csv(tmp, index=False)
        args.figures_dir.mkdir(parents=True, exist_ok=True)
        plot_all(curves_by_system, args.figures_dir, flat_by_system)
        text = markdown_table(flat_by_system)
        if paired:
            text += "\n" + paired_table(paired, list(PAIRED_METRICS), MAIN,
                                        cfg.evaluate.bootstrap_unit, cfg.evaluate.ci_level)
        if not_run:
            text += "\n" + "\n".join(f"- {k}: not run ({why})" for k, why in sorted(not_run.items())) + "\n"
        with atomic_path(args.table) as tmp:
            tmp.write_text(text)
        comparison = {name: dict(flat) for name, flat in flat_by_system.items()}
        for name, diff in paired.items():
            comparison[name]["paired"] = diff  # spectcontra - name, *_diff[_ci_low|_ci_high]
        write_json_atomic(args.comparison, comparison)
        write_json_atomic(args.metrics, flat_by_system[MAIN])

    return run_stage("evaluate", args, body)


if __name__ == "__main__":
    sys.exit(main())
