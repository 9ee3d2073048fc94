"""DVC stage `finetune`: head on the pretrained encoder; whole-file dev/eval scores, calibrated on dev."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from spectcontra.config import Config
from spectcontra.data.protocol import read_protocol
from spectcontra.evaluation.scores import write_scores
from spectcontra.inference.whole_file import whole_file_logits
from spectcontra.io_utils import atomic_path, write_json_atomic
from spectcontra.models.checkpoint import load_encoder, save_checkpoint
from spectcontra.profiling.measure import parameter_count
from spectcontra.stage import parser, run_stage
from spectcontra.training.recipe import (
    calibrate_logits,
    checkpoint_extra,
    load_features,
    run_finetune,
)


def main(argv: list[str] | None = None) -> int:
    p = parser("finetune", __doc__)
    p.add_argument("--features", type=Path, required=True)
    p.add_argument("--raw-dir", type=Path, required=True, help="audio, scored as whole files")
    p.add_argument("--protocol", type=Path, required=True)
    p.add_argument("--encoder", type=Path, required=True)
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--scores-dir", type=Path, required=True)
    p.add_argument("--history", type=Path, required=True, help="per-epoch dev EER (CSV)")
    p.add_argument("--metrics", type=Path, required=True)
    args = p.parse_args(argv)

    def body(cfg: Config) -> None:
        feats = load_features(args.features, cfg.pretrain.views,
                              with_aug=cfg.finetune.augment.signal_effects)
        encoder = load_encoder(args.encoder)
        detector, history = run_finetune(encoder, feats, cfg.finetune, cfg.common.seed, progress=True)
        logits = whole_file_logits(detector, feats.settings,
                                   {"dev": feats.dev.index, "eval": feats.eval.index},
                                   read_protocol(args.protocol), args.raw_dir)
        scored = calibrate_logits(logits["dev"], logits["eval"], feats, cfg.finetune.calibration)
        save_checkpoint(args.model, detector,
                        checkpoint_extra(feats, scored, cfg.pretrain, cfg.finetune))
        write_scores(args.scores_dir, {"dev": scored.dev, "eval": scored.eval})
        with atomic_path(args.history) as tmp:
            pd.DataFrame(history).to_csv(tmp, index=False)
        write_json_atomic(args.metrics, {
            "dev_eer": scored.dev_eer,
            "dev_threshold": scored.dev_threshold,
            "selected_epoch": next((h.get("epoch") for h in history if h.get("selected")), None),
            "detector_params": parameter_count(detector),
            "trainable_params": sum(q.numel() for q in detector.parameters() if q.requires_grad),
            "model_bytes": args.model.stat().st_size,
        })

    return run_stage("finetune", args, body)


if __name__ == "__main__":
    sys.exit(main())
