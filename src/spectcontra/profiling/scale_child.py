"""One job of the scale study in a fresh process: preprocess a corpus, or fine-tune on a store.

``python -m spectcontra.profiling.scale_child {preprocess,finetune} CONFIG ...`` runs the
pipeline's own code (``build_feature_store``; ``load_features`` and ``run_finetune``) with
the params sections in CONFIG (JSON, written by :mod:`spectcontra.profiling.scale`). The last
stdout line is one JSON object: what the job reports, ``fixed_rss_mb`` (resident memory once
the imports and params are loaded, before any data is read) and ``peak_rss_mb`` (VmHWM: the
peak of this process image alone, see :mod:`spectcontra.profiling.memory`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

from spectcontra.config import (
    CommonConfig,
    EncoderConfig,
    FinetuneConfig,
    PreprocessConfig,
    build,
)
from spectcontra.data.protocol import read_protocol
from spectcontra.features.preprocess import build_feature_store
from spectcontra.io_utils import atomic_dir
from spectcontra.models.encoder import SpectralEncoder
from spectcontra.profiling.memory import own_peak_rss_mb
from spectcontra.seeding import seed_everything
from spectcontra.training.recipe import load_features, run_finetune


def own_rss_mb() -> float:
    """This process's resident memory now (VmRSS), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)  # kB -> MB
    raise OSError("/proc/self/status has no VmRSS line")


def preprocess_job(raw: dict[str, Any], raw_dir: Path, protocol: Path,
                   features: Path) -> dict[str, Any]:
    """The preprocess stage's body, on the generated corpus."""
    common = build(CommonConfig, raw["common"], "common")
    cfg = build(PreprocessConfig, raw["preprocess"], "preprocess")
    fixed = own_rss_mb()
    with atomic_dir(features) as tmp:
        report = build_feature_store(read_protocol(protocol), raw_dir, common, cfg, tmp)
    return {"fixed_rss_mb": fixed, **report.as_metrics(), "chunk_rows": report.chunk_rows}


def finetune_job(raw: dict[str, Any], features: Path) -> dict[str, Any]:
    """One fine-tuning run (its dev checks included) from a freshly initialised encoder."""
    common = build(CommonConfig, raw["common"], "common")
    encoder_cfg = build(EncoderConfig, raw["encoder"], "pretrain.encoder")
    views = tuple(raw["views"])
    cfg = build(FinetuneConfig, raw["finetune"], "finetune")
    fixed = own_rss_mb()
    feats = load_features(features, views, with_aug=cfg.augment.signal_effects)
    seed_everything(common.seed)
    encoder = SpectralEncoder(encoder_cfg, n_bins=feats.train.views[views[0]].shape[1])
    _, history = run_finetune(encoder, feats, cfg, common.seed, progress=True)
    n_train = len(feats.train.index)
    return {"fixed_rss_mb": fixed, "epochs": len(history),
            "steps": -(-n_train // min(cfg.batch_size, n_train)) * len(history),
            "train_utterances": n_train, "dev_utterances": len(feats.dev.index),
            "dev_eer": history[-1]["dev_eer"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spectcontra.profiling.scale_child",
                                     description=__doc__)
    parser.add_argument("job", choices=("preprocess", "finetune"))
    parser.add_argument("config", type=Path, help="params sections (JSON)")
    parser.add_argument("--raw-dir", type=Path)
    parser.add_argument("--protocol", type=Path)
    parser.add_argument("--features", type=Path, required=True)
    args = parser.parse_args(argv)
    raw = json.loads(args.config.read_text())
    torch.set_num_threads(raw["common"]["threads"])
    seed_everything(raw["common"]["seed"])
    if args.job == "preprocess":
        if args.raw_dir is None or args.protocol is None:
            parser.error("preprocess needs --raw-dir and --protocol")
        record = preprocess_job(raw, args.raw_dir, args.protocol, args.features)
    else:
        record = finetune_job(raw, args.features)
    record["peak_rss_mb"] = own_peak_rss_mb()
    print(json.dumps(record))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
