"""DVC stage `download`: fetch or generate the corpus named by data.source."""

from __future__ import annotations

import sys
from pathlib import Path

from spectcontra.config import Config
from spectcontra.data.protocol import write_protocol
from spectcontra.io_utils import atomic_dir
from spectcontra.stage import parser, run_stage


def main(argv: list[str] | None = None) -> int:
    p = parser("download", __doc__)
    p.add_argument("--raw-dir", type=Path, required=True)
    p.add_argument("--protocol", type=Path, required=True)
    args = p.parse_args(argv)

    def body(cfg: Config) -> None:
        with atomic_dir(args.raw_dir) as tmp:
            if cfg.data.source == "synthetic":
                from spectcontra.data.synthetic import generate_corpus

                df = generate_corpus(cfg.data.synthetic, cfg.common.seed,
                                     cfg.common.sample_rate, tmp)
            elif cfg.data.source == "debian_speech":
                from spectcontra.data.copysynth import prepare_debian_speech

                df = prepare_debian_speech(cfg.data.debian_speech, cfg.common.seed,
                                           cfg.common.sample_rate, cfg.common.threads, tmp,
                                           Path.cwd())
            elif cfg.data.source == "asvspoof2019_la":
                from spectcontra.data.asvspoof import prepare_asvspoof2019

                df = prepare_asvspoof2019(cfg.data.asvspoof2019_la, cfg.common.seed, tmp, Path.cwd())
            else:
                from spectcontra.data.folder import prepare_folder

                df = prepare_folder(cfg.data.folder, cfg.common.seed, tmp, Path.cwd())
            write_protocol(df, args.protocol)

    return run_stage("download", args, body)


if __name__ == "__main__":
    sys.exit(main())
