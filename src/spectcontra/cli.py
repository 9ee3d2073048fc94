"""The ``spectcontra`` command line; ``spectcontra detect PATH...`` scores audio files."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from spectcontra.audio import Audio, AudioError, find_audio

# Only torch-free modules at the top: with an .onnx model the whole run stays torch-free
# (peak RSS ~75 MB instead of ~590 MB); torch and the torch Detector load on demand.
from spectcontra.conventions import (
    AUDIO_EXTENSIONS,
    MAX_AUDIO_SECONDS,
    OVERLAY_HOP_SECONDS,
    OVERLAY_WINDOW_SECONDS,
)
from spectcontra.inference.decisions import Detection, ModelFileError
from spectcontra.inference.report import (
    FORMATS,
    ReportError,
    partial_path,
    refuse_existing,
    streamed_report,
)
from spectcontra.profiling.memory import own_peak_rss_mb

if TYPE_CHECKING:
    from spectcontra.inference.onnx_detector import OnnxDetector
    from spectcontra.inference.torch_detector import Detector

PROG = "spectcontra"
DEFAULT_ONNX = Path("models/detector.onnx")
DEFAULT_CHECKPOINT = Path("models/detector.pt")
DEFAULT_OUT = Path("detections")
# Without a terminal a progress bar only clutters logs, unless the batch is long enough that
# a line every PROGRESS_LOG_SECONDS tells whoever reads the log how far the run got.
PROGRESS_MIN_FILES = 100
PROGRESS_LOG_SECONDS = 30.0


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
    extensions = " ".join(sorted(e.lstrip(".") for e in AUDIO_EXTENSIONS))
    detect = commands.add_parser(
        "detect", help="score audio files as bona fide or spoof",
        description="Score each audio file: calibrated LLR (higher = more bona fide), "
                    "p(bona fide), decision at the dev threshold. The report gets one row per "
                    "file, written as each file is scored; a file that fails gets its error "
                    "in its row and the others are still scored.",
        epilog="Exit status: 0 when every file was scored, 1 when any file failed, 2 for a "
               "usage error (unusable model, no input, a report already there).")
    detect.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                        help="audio files, or folders searched recursively for files ending in "
                             f"{extensions} (hidden files skipped)")
    detect.add_argument("--files-from", type=Path, metavar="LIST",
                        help="also score the paths in LIST, one per line (- reads stdin); "
                             "use it for batches too long for one command line")
    detect.add_argument("--model", type=Path, default=None,
                        help=f"{DEFAULT_ONNX} (scored through ONNX Runtime, without torch) if "
                             f"it exists, else {DEFAULT_CHECKPOINT} (torch)")
    detect.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"folder for the report and the PNGs (default: {DEFAULT_OUT})")
    detect.add_argument("--format", choices=FORMATS, default="json",
                        help="report.json (a JSON list), report.jsonl (JSON lines) or "
                             "report.csv; default: json")
    detect.add_argument("--overwrite", action="store_true",
                        help="replace an existing report (otherwise the run refuses to start)")
    detect.add_argument("--plot", action=argparse.BooleanOptionalAction, default=None,
                        help="one PNG per file with the spectrogram, window scores and saliency "
                             "maps; saliency needs torch, so it needs a .pt --model. Default: "
                             "on for a .pt model, off for an .onnx one")
    detect.add_argument("--window", type=_positive(float), default=OVERLAY_WINDOW_SECONDS,
                        metavar="S", help="sliding-window length in the plot, seconds")
    detect.add_argument("--hop", type=_positive(float), default=OVERLAY_HOP_SECONDS, metavar="S",
                        help="sliding-window hop in the plot, seconds")
    detect.add_argument("--max-seconds", type=_positive(float), default=MAX_AUDIO_SECONDS,
                        metavar="S", help="longer files are refused (default: %(default)g)")
    detect.add_argument("--threads", type=_positive(int), default=1,
                        help="torch or onnxruntime CPU threads (default: 1)")
    detect.set_defaults(run=run_detect)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


def is_onnx(model: Path) -> bool:
    return model.suffix.lower() == ".onnx"


def default_model() -> Path:
    """The ONNX export when there is one: same scores at a fraction of torch's memory."""
    return DEFAULT_ONNX if DEFAULT_ONNX.is_file() else DEFAULT_CHECKPOINT


def load_detector(model: Path, threads: int) -> Detector | OnnxDetector:
    """The torch :class:`Detector` for a checkpoint, the torch-free one for an ``.onnx`` file."""
    if is_onnx(model):
        from spectcontra.inference.onnx_detector import OnnxDetector

        return OnnxDetector.load(model, threads)
    import torch

    from spectcontra.inference.torch_detector import Detector

    torch.set_num_threads(threads)
    return Detector.load(model)


class UsageError(Exception):
    """Input the run cannot start with (exit status 2); the message says what to change."""


def input_files(paths: Sequence[Path], files_from: Path | None) -> list[Path]:
    """The files to score, in order: ``paths`` then ``files_from``'s lines, folders expanded.

    A path that is not a folder is kept as given, even when it does not exist or has no audio
    extension: the user named it, so it gets a row (with its error) rather than vanishing.
    """
    listed = list(paths)
    if files_from is not None:
        listed += read_file_list(files_from)
    files: list[Path] = []
    for path in listed:
        if not path.is_dir():
            files.append(path)
            continue
        found = find_audio(path)
        if not found:
            raise UsageError(f"folder {path} holds no audio files "
                             f"({', '.join(sorted(AUDIO_EXTENSIONS))})")
        files += found
    if not files:
        raise UsageError("no input: give audio files or folders, or --files-from LIST")
    return files


def read_file_list(source: Path) -> list[Path]:
    """One path per line (blank lines skipped, spaces kept: they may be part of a name).

    Read as bytes and decoded like the OS decodes file names, so any name round-trips.
    """
    try:
        raw = sys.stdin.buffer.read() if str(source) == "-" else source.read_bytes()
    except OSError as err:
        raise UsageError(f"--files-from {source}: {err.strerror or err}") from err
    return [Path(os.fsdecode(line)) for line in raw.splitlines() if line]


def run_detect(args: argparse.Namespace) -> int:
    """Score every file; 0 if all were scored, 1 if any failed, 2 for a usage error."""
    model = args.model if args.model is not None else default_model()
    plot = not is_onnx(model) if args.plot is None else args.plot
    report = args.out / f"report.{args.format}"
    try:
        if plot and is_onnx(model):
            # The PNG's saliency is a gradient through the torch model. Refusing beats
            # silently dropping plots the user asked for.
            raise UsageError(f"--model {model}: PNG overlays need the torch checkpoint "
                             "(saliency); drop --plot to score with the ONNX model")
        files = input_files(args.paths, args.files_from)
        if not args.overwrite:
            refuse_existing(report)  # before the model loads; checked again when it opens
        detector = _load(model, args.threads)
        if plot and args.window > detector.crop_seconds:
            raise UsageError(f"--window {args.window:g} s is longer than the model's "
                             f"{detector.crop_seconds:g} s crop")
        detector.warm_up()
        return _score_all(detector, files, report, plot, args)
    except (UsageError, ReportError) as err:
        print(f"{PROG} detect: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        partial = partial_path(report)
        kept = f"; the rows finished so far are in {partial}" if partial.exists() else ""
        print(f"{PROG} detect: interrupted{kept}", file=sys.stderr)
        return 130


def _load(model: Path, threads: int) -> Detector | OnnxDetector:
    try:
        return load_detector(model, threads)
    except FileNotFoundError as err:
        stage = "export" if is_onnx(model) else "finetune"
        raise UsageError(f"{err}: make one with `dvc repro {stage}` or pass --model PATH") from err
    except (OSError, ModelFileError) as err:
        raise UsageError(str(err)) from err


def _score_all(detector: Detector | OnnxDetector, files: list[Path], report: Path, plot: bool,
               args: argparse.Namespace) -> int:
    pngs = [args.out / name if plot else None for name in png_names(files)]
    failed = 0
    with (
        streamed_report(report, args.format, args.overwrite) as write,
        tqdm(total=len(files), desc=f"{PROG} detect", unit="file", file=sys.stderr,
             disable=not show_progress(len(files), sys.stderr),
             mininterval=0.5 if sys.stderr.isatty() else PROGRESS_LOG_SECONDS) as bar,
    ):
        for file, png in zip(files, pngs, strict=True):
            row = detect_one(detector, file, png, args)
            write(row)
            if row["error"]:
                failed += 1
                tqdm.write(f"{PROG} detect: error: {row['error']}", file=sys.stderr)
            else:
                tqdm.write(format_line(row), file=sys.stdout)
            bar.update()
    print(f"{PROG} detect: {len(files) - failed} scored, {failed} failed; report {report}",
          file=sys.stderr)
    return 1 if failed else 0


def show_progress(n_files: int, stream: Any) -> bool:
    return n_files > 1 and (stream.isatty() or n_files >= PROGRESS_MIN_FILES)


def detect_one(detector: Detector | OnnxDetector, file: Path, png: Path | None,
               args: argparse.Namespace) -> dict[str, Any]:
    """The file's report row. Any failure stays this file's: it is reported, the batch goes on.

    Unusable audio (:class:`AudioError`) is the user's input; anything else is a fault in
    this program or the machine (out of memory), so its type leads the message and its
    traceback goes to stderr for a bug report.
    """
    try:
        audio = detector.read(file, args.max_seconds)
        detection = detector.detect(audio.wave)
    except AudioError as err:
        return report_row(file, detector, error=str(err), error_type=type(err).__name__)
    except Exception as err:  # one file's fault must not lose the batch
        return report_row(file, detector, error=_internal(err, file, "scoring"),
                          error_type=type(err).__name__)
    if png is None:
        return report_row(file, detector, detection, audio, own_peak_rss_mb())
    try:
        # Imported here so a plot-free run (the ONNX route, the profile stage's memory probe)
        # never loads matplotlib: its peak RSS is then the detector's, not the plotting library's.
        from spectcontra.explain.overlay import save_detection_png

        # readable(): matplotlib cannot draw a title holding a non-UTF-8 name's escapes.
        save_detection_png(png, readable(file.name), detector, audio.wave, detection,
                           args.window, args.hop)
    except Exception as err:  # the score stands; the plot failure is reported
        return report_row(file, detector, detection, audio, own_peak_rss_mb(),
                          error=_internal(err, file, "plotting"), error_type=type(err).__name__)
    return report_row(file, detector, detection, audio, own_peak_rss_mb(), png)


def _internal(err: Exception, file: Path, doing: str) -> str:
    traceback.print_exception(err, file=sys.stderr)
    return (f"internal error while {doing} {file}: {type(err).__name__}: {err} "
            "(traceback on stderr)")


def png_names(files: Sequence[Path]) -> list[str]:
    """One PNG name per file from its stem; a taken name gets a ``-2``, ``-3``, ... suffix."""
    names: list[str] = []
    taken: set[str] = set()
    for file in files:
        stem, n = file.stem or "audio", 1
        name = f"{stem}.png"
        while name in taken:
            n += 1
            name = f"{stem}-{n}.png"
        names.append(name)
        taken.add(name)
    return names


def readable(text: str | Path) -> str:
    """``text`` as valid UTF-8: file-name bytes that are not UTF-8 (which Python keeps as
    surrogate escapes, unprintable and unencodable) show as ``\\xNN``."""
    return str(text).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def report_row(file: Path, detector: Detector | OnnxDetector,
               detection: Detection | None = None, audio: Audio | None = None,
               rss_mb: float | None = None, png: Path | None = None, error: str = "",
               error_type: str = "") -> dict[str, Any]:
    """One report row; a failed file keeps its name and error, its numbers are null."""
    d = detection
    return {
        "file": readable(file),
        "score": None if d is None else round(d.score, 6),
        "p_bonafide": None if d is None else round(d.p_bonafide, 6),
        "decision": None if d is None else d.decision,
        "threshold": round(detector.threshold, 6),
        "audio_seconds": None if d is None else round(d.audio_seconds, 3),
        "upsampled": None if audio is None else audio.upsampled,
        "latency_ms": None if d is None else round(d.latency_ms, 3),
        "peak_rss_mb": rss_mb,
        "n_parameters": detector.n_parameters,
        "model_bytes": detector.model_bytes,
        "plot": "" if png is None else readable(png),
        "error": readable(error),
        "error_type": error_type,
    }


def format_line(row: dict[str, Any]) -> str:
    upsampled = "  (upsampled: its top band is empty)" if row["upsampled"] else ""
    return (f"{row['file']}: score {row['score']:+.3f}  p(bona fide) {row['p_bonafide']:.3f}  "
            f"{row['decision']} (threshold {row['threshold']:+.3f})  "
            f"latency {row['latency_ms']:.1f} ms  peak RAM {row['peak_rss_mb']:.1f} MB  "
            f"model {row['n_parameters']:,} params, {row['model_bytes']:,} bytes{upsampled}")


if __name__ == "__main__":
    sys.exit(main())
