"""Fresh-process probe: load a detector (.pt or .onnx), score one file, print JSON, then peak RSS.

An ``.onnx`` model is scored without importing torch, so the probe measures what the torch-free
route really costs. The last line is the format :func:`spectcontra.profiling.measure.peak_rss_mb`
reads.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from spectcontra.audio import AudioError
from spectcontra.conventions import MAX_AUDIO_SECONDS
from spectcontra.inference.decisions import Decisions, ModelFileError
from spectcontra.profiling.memory import report_own_peak_rss


def load_detector(model: Path) -> Decisions:
    """The ONNX Runtime scorer for ``.onnx`` files, else the torch one (one thread)."""
    if model.suffix == ".onnx":
        from spectcontra.inference.onnx_detector import OnnxDetector

        return OnnxDetector.load(model)
    import torch

    from spectcontra.inference.torch_detector import Detector

    torch.set_num_threads(1)
    return Detector.load(model)


def main(argv: Sequence[str] | None = None) -> int:
    """Exit codes as ``spectcontra detect``: 2 for an unusable model, 1 for an unusable file."""
    parser = argparse.ArgumentParser(prog="python -m spectcontra.profiling.probe",
                                     description=__doc__)
    parser.add_argument("model", type=Path, help="detector checkpoint (.pt) or exported .onnx")
    parser.add_argument("file", type=Path, help="audio file to score")
    parser.add_argument("--max-seconds", type=float, default=MAX_AUDIO_SECONDS,
                        help="longer files are refused (default: %(default)g)")
    args = parser.parse_args(argv)
    try:
        detector = load_detector(args.model)
    except (OSError, ModelFileError) as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    try:
        wave = detector.load_wave(args.file, args.max_seconds)
    except AudioError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 1
    score = detector.score_wave(wave)
    print(json.dumps({"file": str(args.file), "score": round(score, 6),
                      "p_bonafide": round(detector.prob_bonafide(score), 6),
                      "decision": detector.decide(score),
                      "threshold": round(detector.threshold, 6)}))
    report_own_peak_rss()
    return 0


if __name__ == "__main__":
    sys.exit(main())
