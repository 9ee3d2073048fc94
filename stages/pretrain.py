"""DVC stage `pretrain`: contrastive pretraining of the spectral encoder on two views, once per
seed of ``pretrain.seeds``."""

from __future__ import annotations

import sys
from pathlib import Path

from spectcontra.config import Config
from spectcontra.experiments.seeds import pretrain_seeds
from spectcontra.io_utils import atomic_dir, atomic_path, write_json_atomic
from spectcontra.stage import parser, run_stage


def main(argv: list[str] | None = None) -> int:
    p = parser("pretrain", __doc__)
    p.add_argument("--features", type=Path, required=True)
    p.add_argument("--encoders", type=Path, required=True, help="folder: seed_<s>/encoder.pt")
    p.add_argument("--history", type=Path, required=True, help="per-seed, per-epoch losses (CSV)")
    p.add_argument("--metrics", type=Path, required=True)
    args = p.parse_args(argv)

    def body(cfg: Config) -> None:
        with atomic_dir(args.encoders) as tmp:
            history = pretrain_seeds(cfg.pretrain, cfg.common.threads, args.features, tmp,
                                     progress=True)
        with atomic_path(args.history) as tmp:
            history.to_csv(tmp, index=False)
        last = history.groupby("seed").tail(1).set_index("seed")
        write_json_atomic(args.metrics, {
            "seeds": len(cfg.pretrain.seeds),
            "epochs": cfg.pretrain.epochs,
            "encoder_params": history.attrs["encoder_params"],
            **{f"final_{k}_mean": float(last[k].mean()) if len(last) else None
               for k in ("loss", "l_sa", "l_ca")},
            "final_loss_by_seed": {str(s): float(v) for s, v in last["loss"].items()},
        })

    return run_stage("pretrain", args, body)


if __name__ == "__main__":
    sys.exit(main())
