"""Fresh-process memory probe: load a detector, score one file, print peak RSS as JSON."""

from __future__ import annotations

import sys

import torch

from spectcontra.inference import Detector
from spectcontra.memory import report_own_peak_rss


def main(argv: list[str]) -> int:
    model_path, audio_path = argv
    torch.set_num_threads(1)
    detector = Detector.load(model_path)
    detector.score_wave(detector.load_wave(audio_path))
    report_own_peak_rss()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
