"""The headline model once per training seed, and the seed that ships (median dev EER).

A single training run says little about a recipe on a corpus this size: seeds move the eval EER
by several points. The pretrain and finetune stages therefore train one encoder and one detector
per seed of ``pretrain.seeds``, each in its own single-threaded worker process (independent runs
use two cores better than intra-op threads, and the result does not depend on the scheduling),
score every seed's dev and eval files through the shipped whole-file path, and ship the seed
whose *dev* EER is the median, so eval never picks the model.
"""

from __future__ import annotations

import multiprocessing
import shutil
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from spectcontra.config import FinetuneConfig, PretrainConfig
from spectcontra.data.protocol import read_protocol
from spectcontra.evaluation.scores import SCORED_SPLITS, score_path, write_scores
from spectcontra.inference.whole_file import whole_file_logits
from spectcontra.io_utils import atomic_path
from spectcontra.models.checkpoint import load_encoder, save_checkpoint, save_encoder
from spectcontra.profiling.measure import parameter_count
from spectcontra.training.recipe import (
    Features,
    Scored,
    calibrate_logits,
    checkpoint_extra,
    load_features,
    run_finetune,
    run_pretrain,
)

T = TypeVar("T")


def seed_dir(root: Path, seed: int) -> Path:
    """Where one seed's files live under a per-seed output folder."""
    return Path(root) / f"seed_{seed}"


def median_seed(dev_eers: Mapping[int, float]) -> int:
    """The seed whose dev EER is the median (the lower middle one for an even count; equal
    EERs are ordered by seed, so the choice never depends on dict order)."""
    if not dev_eers:
        raise ValueError("median_seed needs at least one seed")
    order = sorted(dev_eers, key=lambda s: (dev_eers[s], s))
    return order[(len(order) - 1) // 2]


def map_seeds(job: Callable[[int], T], seeds: Sequence[int], workers: int,
              desc: str = "seeds", progress: bool = False) -> dict[int, T]:
    """{seed: job(seed)} from ``workers`` spawned single-threaded processes.

    ``job`` must be picklable (a module-level function or a ``partial`` of one). Each run seeds
    itself, so results are the same whatever the number of workers or the finishing order.
    """
    out: dict[int, T] = {}
    bar = tqdm(total=len(seeds), desc=desc, disable=not progress)
    with ProcessPoolExecutor(max(1, min(workers, len(seeds))),
                             mp_context=multiprocessing.get_context("spawn"),
                             initializer=torch.set_num_threads, initargs=(1,)) as pool:
        futures = {pool.submit(job, s): s for s in seeds}
        for future in as_completed(futures):
            out[futures[future]] = future.result()
            bar.update(1)
    bar.close()
    return {s: out[s] for s in seeds}


def _pretrain_one(pre: PretrainConfig, features: Path, out_dir: Path,
                  seed: int) -> tuple[list[dict], int]:
    feats = load_features(features, pre.views, with_aug=pre.augment.signal_effects)
    encoder, history = run_pretrain(feats, pre, seed)
    save_encoder(seed_dir(out_dir, seed) / "encoder.pt", encoder, history)
    return [{"seed": seed, **h} for h in history], parameter_count(encoder)


def pretrain_seeds(pre: PretrainConfig, workers: int, features: Path, out_dir: Path,
                   progress: bool = False) -> pd.DataFrame:
    """Pretrain one encoder per seed of ``pre.seeds`` into ``out_dir/seed_<s>/encoder.pt`` in
    ``workers`` processes; returns every seed's per-epoch losses (columns seed, epoch, loss,
    l_sa, l_ca, lr) with ``encoder_params`` in ``DataFrame.attrs``."""
    runs = map_seeds(partial(_pretrain_one, pre, features, out_dir), pre.seeds, workers,
                     "pretrain seeds", progress)
    history = pd.DataFrame([r for seed in pre.seeds for r in runs[seed][0]],
                           columns=["seed", "epoch", "loss", "l_sa", "l_ca", "lr"])
    history.attrs["encoder_params"] = runs[pre.seeds[0]][1]
    return history


def whole_file_scored(detector: nn.Module, feats: Features, raw_dir: Path, protocol: Path,
                      calibration: str) -> Scored:
    """Dev and eval files scored whole, as ``spectcontra detect`` scores them, then calibrated
    and thresholded on dev alone."""
    logits = whole_file_logits(detector, feats.settings,
                               {"dev": feats.dev.index, "eval": feats.eval.index},
                               read_protocol(protocol), raw_dir)
    return calibrate_logits(logits["dev"], logits["eval"], feats, calibration)


def _finetune_one(pre: PretrainConfig, ft: FinetuneConfig, features: Path, raw_dir: Path,
                  protocol_path: Path, encoders: Path, out_dir: Path, seed: int) -> dict[str, Any]:
    feats = load_features(features, pre.views, with_aug=ft.augment.signal_effects)
    encoder = load_encoder(seed_dir(encoders, seed) / "encoder.pt")
    detector, history = run_finetune(encoder, feats, ft, seed)
    scored = whole_file_scored(detector, feats, raw_dir, protocol_path, ft.calibration)
    here = seed_dir(out_dir, seed)
    save_checkpoint(here / "detector.pt", detector,
                    checkpoint_extra(feats, scored, pre, ft) | {"seed": seed})
    write_scores(here, {"dev": scored.dev, "eval": scored.eval})
    return {
        "seed": seed,
        "dev_eer": scored.dev_eer,
        "dev_threshold": scored.dev_threshold,
        "selected_epoch": next((h.get("epoch") for h in history if h.get("selected")), None),
        "detector_params": parameter_count(detector),
        "trainable_params": sum(q.numel() for q in detector.parameters() if q.requires_grad),
        "history": [{"seed": seed, **h} for h in history],
    }


def finetune_seeds(pre: PretrainConfig, ft: FinetuneConfig, workers: int, features: Path,
                   raw_dir: Path, protocol: Path, encoders: Path, out_dir: Path,
                   progress: bool = False) -> dict[int, dict[str, Any]]:
    """Fine-tune, score (whole files) and calibrate one detector per seed of ``pre.seeds``,
    each on its seed's encoder, into ``out_dir/seed_<s>/`` (detector.pt, dev.csv, eval.csv);
    {seed: summary}."""
    return map_seeds(partial(_finetune_one, pre, ft, features, raw_dir, protocol, encoders,
                             out_dir), pre.seeds, workers, "finetune seeds", progress)


def ship_seed(out_dir: Path, seed: int, model: Path, scores_dir: Path) -> None:
    """Copy one seed's detector and dev/eval scores to the shipped paths."""
    here = seed_dir(out_dir, seed)
    pairs = [(here / "detector.pt", model)]
    pairs += [(score_path(here, s), score_path(scores_dir, s)) for s in SCORED_SPLITS]
    for src, dest in pairs:
        with atomic_path(dest) as tmp:
            shutil.copyfile(src, tmp)
