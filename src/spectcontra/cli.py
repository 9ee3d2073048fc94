"""The ``spectcontra`` command line; ``spectcontra detect FILE...`` scores audio files."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spectcontra.audio import AudioError

# Only torch-free modules at the top: with an .onnx model the whole run stays torch-free
# (peak RSS ~75 MB instead of ~590 MB); torch, the torch Detector and pandas load on demand.
from spectcontra.conventions import (
    MAX_AUDIO_SECONDS,
    OVERLAY_HOP_SECONDS,
    OVERLAY_WINDOW_SECONDS,
)
from spectcontra.inference.decisions import Detection
from spectcontra.io_utils import atomic_path
from spectcontra.profiling.memory import own_peak_rss_mb

if TYPE_CHECKING:
    from spectcontra.inference.onnx_detector import OnnxDetector
    from spectcontra.inference.torch_detector import Detector

PROG = "spectcontra"
DEFAULT_MODEL = Path("models/detector.pt")
DEFAULT_OUT = Path("detections")
REPORT_COLUMNS = ("file", "score", "p_bonafide", "decision", "threshold", "audio_seconds",
                  "latency_ms", "peak_rss_mb", "n_parameters", "model_bytes", "plot", "error")


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its error messages
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    detect = commands.add_parser(
        "detect", help="score audio files as bona fide or spoof",
        description="Score each FILE: calibrated LLR (higher = more bona fide), p(bona fide), "
                    "decision at the dev threshold; write a report and one PNG per file.")
    detect.add_argument("files", nargs="+", type=Path, metavar="FILE")
    detect.add_argument("--model", type=Path, default=DEFAULT_MODEL,
                        help="detector checkpoint, or an exported .onnx detector scored "
                             f"without torch (needs --no-plot) (default: {DEFAULT_MODEL})")
    detect.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"folder for report.json|csv and the PNGs (default: {DEFAULT_OUT})")
    detect.add_argument("--format", choices=("json", "csv"), default="json",
                        help="report format (default: json)")
    detect.add_argument("--window", type=_positive(float), default=OVERLAY_WINDOW_SECONDS,
                        metavar="S", help="sliding-window length in the plot, seconds")
    detect.add_argument("--hop", type=_positive(float), default=OVERLAY_HOP_SECONDS, metavar="S",
                        help="sliding-window hop in the plot, seconds")
    detect.add_argument("--max-seconds", type=_positive(float), default=MAX_AUDIO_SECONDS,
                        metavar="S", help="longer files are refused (default: %(default)g)")
    detect.add_argument("--threads", type=_positive(int), default=1,
                        help="torch or onnxruntime CPU threads (default: 1)")
    detect.add_argument("--no-plot", action="store_true", help="write no PNGs")
    detect.set_defaults(run=run_detect)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


def is_onnx(model: Path) -> bool:
    return model.suffix.lower() == ".onnx"


def load_detector(model: Path, threads: int) -> Detector | OnnxDetector:
    """The torch :class:`Detector` for a checkpoint, the torch-free one for an ``.onnx`` file."""
    if is_onnx(model):
        from spectcontra.inference.onnx_detector import OnnxDetector

        return OnnxDetector.load(model, threads)
    import torch

    from spectcontra.inference.torch_detector import Detector

    torch.set_num_threads(threads)
    return Detector.load(model)


def run_detect(args: argparse.Namespace) -> int:
    """Score every file; 0 if all were scored, 1 if any failed, 2 for an unusable model."""
    if is_onnx(args.model) and not args.no_plot:
        # The PNG comes from spectcontra.explain.interpret: saliency is a gradient through the torch
        # model. Refusing beats silently dropping plots the user asked for.
        return _usage_error(f"--model {args.model}: PNG overlays need the torch checkpoint "
                            "(saliency); pass --no-plot to score with the ONNX model")
    try:
        detector = load_detector(args.model, args.threads)
    except FileNotFoundError as err:
        stage = "export" if is_onnx(args.model) else "finetune"
        return _usage_error(f"{err}: make one with `dvc repro {stage}` or pass --model PATH")
    except (OSError, ValueError) as err:
        return _usage_error(str(err))
    if not args.no_plot and args.window > detector.crop_seconds:
        return _usage_error(f"--window {args.window:g} s is longer than the model's "
                            f"{detector.crop_seconds:g} s crop")
    detector.warm_up()
    names = png_names(args.files)
    rows = [_detect_one(detector, file, None if args.no_plot else args.out / name, args)
            for file, name in zip(args.files, names)]
    report = args.out / f"report.{args.format}"
    write_report(rows, report, args.format)
    failed = sum(bool(r["error"]) for r in rows)
    print(f"{PROG} detect: {len(rows) - failed} scored, {failed} failed; report {report}",
          file=sys.stderr)
    return 1 if failed else 0


def _detect_one(detector: Detector | OnnxDetector, file: Path, png: Path | None,
                args: argparse.Namespace) -> dict[str, Any]:
    try:
        wave = detector.load_wave(file, args.max_seconds)
    except AudioError as err:
        print(f"{PROG} detect: error: {err}", file=sys.stderr)
        return report_row(file, detector, error=str(err))
    detection = detector.detect(wave)
    if png is not None:
        # Imported here so a --no-plot run (the profile stage's memory probe) never loads
        # matplotlib: its peak RSS is then the detector's, not the plotting library's.
        from spectcontra.explain.overlay import save_detection_png

        save_detection_png(png, file.name, detector, wave, detection, args.window, args.hop)
    row = report_row(file, detector, detection, own_peak_rss_mb(), png)
    print(format_line(row))
    return row


def png_names(files: Sequence[Path]) -> list[str]:
    """One PNG name per file from its stem; a taken name gets a ``-2``, ``-3``, ... suffix."""
    names: list[str] = []
    for file in files:
        stem, n = file.stem or "audio", 1
        name = f"{stem}.png"
        while name in names:
            n += 1
            name = f"{stem}-{n}.png"
        names.append(name)
    return names


def report_row(file: Path, detector: Detector | OnnxDetector,
               detection: Detection | None = None, rss_mb: float | None = None,
               png: Path | None = None, error: str = "") -> dict[str, Any]:
    """One report row; a failed file keeps its name and error, its numbers are null."""
    d = detection
    return {
        "file": str(file),
        "score": None if d is None else round(d.score, 6),
        "p_bonafide": None if d is None else round(d.p_bonafide, 6),
        "decision": None if d is None else d.decision,
        "threshold": round(detector.threshold, 6),
        "audio_seconds": None if d is None else round(d.audio_seconds, 3),
        "latency_ms": None if d is None else round(d.latency_ms, 3),
        "peak_rss_mb": rss_mb,
        "n_parameters": detector.n_parameters,
        "model_bytes": detector.model_bytes,
        "plot": "" if png is None else str(png),
        "error": error,
    }


def format_line(row: dict[str, Any]) -> str:
    return (f"{row['file']}: score {row['score']:+.3f}  p(bona fide) {row['p_bonafide']:.3f}  "
            f"{row['decision']} (threshold {row['threshold']:+.3f})  "
            f"latency {row['latency_ms']:.1f} ms  peak RAM {row['peak_rss_mb']:.1f} MB  "
            f"model {row['n_parameters']:,} params, {row['model_bytes']:,} bytes")


def write_report(rows: list[dict[str, Any]], path: Path, fmt: str) -> None:
    """The report as a JSON list or a CSV table, one row per file, written atomically."""
    with atomic_path(path) as tmp:
        if fmt == "json":
            tmp.write_text(json.dumps(rows, indent=2) + "\n")
        else:
            import pandas as pd  # here: the JSON report and the ONNX route never need it

            pd.DataFrame(rows, columns=list(REPORT_COLUMNS)).to_csv(tmp, index=False)


def _usage_error(message: str) -> int:
    print(f"{PROG} detect: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
