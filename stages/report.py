"""DVC stage `report`: render MODEL_CARD.md from its template and the metrics the pipeline wrote."""

from __future__ import annotations

import sys
from pathlib import Path

from spectcontra.config import Config
from spectcontra.io_utils import atomic_path
from spectcontra.reporting.render import load_metrics, render_blocks
from spectcontra.stage import parser, run_stage


def main(argv: list[str] | None = None) -> int:
    p = parser("report", __doc__)
    p.add_argument("--metrics-dir", type=Path, required=True)
    p.add_argument("--template", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)

    def body(cfg: Config) -> None:
        own = args.energy.resolve().relative_to(args.metrics_dir.resolve()).with_suffix("")
        metrics = load_metrics(args.metrics_dir, exclude=frozenset({own.as_posix()}))
        card = render_blocks(args.template.read_text(), metrics)
        with atomic_path(args.out) as tmp:
            tmp.write_text(card)

    return run_stage("report", args, body)


if __name__ == "__main__":
    sys.exit(main())
