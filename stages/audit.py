"""DVC stage `audit`: shortcut check of the corpus (duration, silence, level, bandwidth, ...)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from spectcontra.audio import AudioError, load_audio
from spectcontra.config import Config
from spectcontra.conventions import MAX_AUDIO_SECONDS
from spectcontra.data.protocol import read_protocol
from spectcontra.data.shortcuts import audit, cue_table
from spectcontra.data.summary import corpus_summary
from spectcontra.io_utils import atomic_path, write_json_atomic
from spectcontra.stage import parser, run_stage


def main(argv: list[str] | None = None) -> int:
    p = parser("audit", __doc__)
    p.add_argument("--raw-dir", type=Path, required=True)
    p.add_argument("--protocol", type=Path, required=True)
    p.add_argument("--cues", type=Path, required=True, help="per-utterance cue table (CSV)")
    p.add_argument("--metrics", type=Path, required=True)
    p.add_argument("--corpus", type=Path, required=True, help="clips/hours/speakers (JSON)")
    args = p.parse_args(argv)

    def body(cfg: Config) -> None:
        protocol = read_protocol(args.protocol)
        rows = []
        for row in tqdm(protocol.itertuples(), total=len(protocol), desc="shortcut cues"):
            # The audit reads the files as shipped: no trimming, no crop.
            try:
                wave = load_audio(args.raw_dir / row.path, cfg.common.sample_rate,
                                  MAX_AUDIO_SECONDS)
            except AudioError:
                if cfg.preprocess.bad_audio == "error":
                    raise
                continue  # preprocess skips it too, and counts it
            rows.append({"utt_id": row.utt_id, "split": row.split, "label": row.label,
                         **cue_table(wave, cfg.common.sample_rate)})
        cues = pd.DataFrame(rows)
        with atomic_path(args.cues) as tmp:
            cues.to_csv(tmp, index=False, float_format="%.6g")
        write_json_atomic(args.metrics, audit(cues))
        write_json_atomic(args.corpus, corpus_summary(protocol,
                                                      cues.set_index("utt_id")["duration_s"]))

    return run_stage("audit", args, body)


if __name__ == "__main__":
    sys.exit(main())
