"""DVC stage `preprocess`: audio -> normalised log-mel and log-linear feature store."""

from __future__ import annotations

import sys
from pathlib import Path

from spectcontra.config import Config
from spectcontra.data.protocol import read_protocol
from spectcontra.features.preprocess import build_feature_store
from spectcontra.io_utils import atomic_dir, write_json_atomic
from spectcontra.stage import Timings, parser, run_stage


def main(argv: list[str] | None = None) -> int:
    p = parser("preprocess", __doc__)
    p.add_argument("--raw-dir", type=Path, required=True)
    p.add_argument("--protocol", type=Path, required=True)
    p.add_argument("--features", type=Path, required=True)
    p.add_argument("--metrics", type=Path, required=True)
    args = p.parse_args(argv)

    def body(cfg: Config) -> Timings:
        protocol = read_protocol(args.protocol)
        with atomic_dir(args.features) as tmp:
            report = build_feature_store(protocol, args.raw_dir, cfg.common, cfg.preprocess, tmp)
        write_json_atomic(args.metrics, report.as_metrics())
        return {"seconds": round(report.seconds, 2)}

    return run_stage("preprocess", args, body)


if __name__ == "__main__":
    sys.exit(main())
