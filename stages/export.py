"""DVC stage `export`: the detector checkpoint as one ONNX graph, waveform -> calibrated score."""

from __future__ import annotations

import sys
from pathlib import Path

from spectcontra.config import Config
from spectcontra.inference.export import export_onnx
from spectcontra.io_utils import write_json_atomic
from spectcontra.stage import parser, run_stage


def main(argv: list[str] | None = None) -> int:
    p = parser("export", __doc__)
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--onnx", type=Path, required=True)
    p.add_argument("--settings", type=Path, required=True,
                   help="JSON for the web app (web/): windows, threshold, audio limits")
    p.add_argument("--metrics", type=Path, required=True)
    args = p.parse_args(argv)

    def body(_: Config) -> None:
        # Everything the graph needs travels in the checkpoint, so no params are read here.
        write_json_atomic(args.metrics, export_onnx(args.model, args.onnx, args.settings))

    return run_stage("export", args, body)


if __name__ == "__main__":
    sys.exit(main())
