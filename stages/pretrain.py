"""DVC stage `pretrain`: contrastive pretraining of the spectral encoder on two views."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from spectcontra.config import Config
from spectcontra.io_utils import atomic_path, write_json_atomic
from spectcontra.models.checkpoint import save_encoder
from spectcontra.profiling.measure import parameter_count
from spectcontra.stage import parser, run_stage
from spectcontra.training.recipe import load_features, run_pretrain


def main(argv: list[str] | None = None) -> int:
    p = parser("pretrain", __doc__)
    p.add_argument("--features", type=Path, required=True)
    p.add_argument("--encoder", type=Path, required=True)
    p.add_argument("--history", type=Path, required=True, help="per-epoch losses (CSV)")
    p.add_argument("--metrics", type=Path, required=True)
    args = p.parse_args(argv)

    def body(cfg: Config) -> None:
        feats = load_features(args.features, cfg.pretrain.views,
                              with_aug=cfg.pretrain.augment.signal_effects)
        encoder, history = run_pretrain(feats, cfg.pretrain, cfg.common.seed, progress=True)
        save_encoder(args.encoder, encoder, history)
        with atomic_path(args.history) as tmp:
            pd.DataFrame(history, columns=["epoch", "loss", "l_sa", "l_ca", "lr"]).to_csv(tmp, index=False)
        last = history[-1] if history else {}
        write_json_atomic(args.metrics, {
            "epochs": len(history),
            "final_loss": last.get("loss"),
            "final_l_sa": last.get("l_sa"),
            "final_l_ca": last.get("l_ca"),
            "encoder_params": parameter_count(encoder),
        })

    return run_stage("pretrain", args, body)


if __name__ == "__main__":
    sys.exit(main())
