"""DVC stage `evaluate`: every system's dev/eval score files through the same metric code."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from spectcontra.config import Config
from spectcontra.evaluation import evaluate_scores
from spectcontra.io_utils import atomic_path, read_json, write_json_atomic
from spectcontra.plots import markdown_table, plot_all
from spectcontra.stage import parser, run_stage

MAIN = "spectcontra"


def _score_files(scores_dir: Path, baselines_dir: Path) -> dict[str, tuple[Path, Path]]:
    """System name -> (dev, eval) score files; baselines that did not run have none."""
    systems = {MAIN: (scores_dir / "dev.csv", scores_dir / "eval.csv")}
    for dev in sorted(baselines_dir.glob("*_dev.csv")):
        name = dev.name.removesuffix("_dev.csv")
        systems[name] = (dev, baselines_dir / f"{name}_eval.csv")
    return systems


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
        flat_by_system, curves_by_system = {}, {}
        for name, (dev, eval_) in _score_files(args.scores_dir, args.baselines_dir).items():
            flat, curves = evaluate_scores(pd.read_csv(dev, dtype={"utt_id": str, "attack": str}),
                                           pd.read_csv(eval_, dtype={"utt_id": str, "attack": str}),
                                           cfg.evaluate, cfg.common.seed)
            flat_by_system[name], curves_by_system[name] = flat, curves
        status = args.baselines_dir / "status.json"
        not_run = read_json(status).get("not_run", {}) if status.exists() else {}
        args.curves_dir.mkdir(parents=True, exist_ok=True)
        for kind, table in curves_by_system[MAIN].items():
            with atomic_path(args.curves_dir / f"{kind}.csv") as tmp:
                table.to_csv(tmp, index=False)
        args.figures_dir.mkdir(parents=True, exist_ok=True)
        plot_all(curves_by_system, args.figures_dir, flat_by_system)
        table = markdown_table(flat_by_system)
        if not_run:
            table += "\n" + "\n".join(f"- {k}: not run ({why})" for k, why in sorted(not_run.items())) + "\n"
        with atomic_path(args.table) as tmp:
            tmp.write_text(table)
        write_json_atomic(args.comparison, flat_by_system)
        write_json_atomic(args.metrics, flat_by_system[MAIN])

    return run_stage("evaluate", args, body)


if __name__ == "__main__":
    sys.exit(main())
