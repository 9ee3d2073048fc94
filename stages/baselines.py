"""DVC stage `baselines`: classic LFCC, supervised-only, Green AI (wav2vec2) and frozen
pretrained-embedding systems, scored like ours."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from spectcontra.baselines.classic import ClassicBaseline
from spectcontra.baselines.green_ai import (
    WeightsUnavailable,
    fit_select_score,
    layer_embeddings,
    load_frontend,
)
from spectcontra.baselines.persist import (
    SavedBaseline,
    checkpoint_path,
    linear_arrays,
    save_baseline,
)
from spectcontra.baselines.pretrained_embedding import embed_select_score
from spectcontra.config import Config
from spectcontra.conventions import SPLITS, label_to_target
from spectcontra.data.protocol import read_protocol
from spectcontra.evaluation.calibration import Calibration, fit_calibration
from spectcontra.evaluation.scores import score_table, write_scores, write_status
from spectcontra.features.preprocess import PreprocessReport, cropped_waves, whole_waves
from spectcontra.inference.whole_file import whole_file_logits
from spectcontra.io_utils import write_json_atomic
from spectcontra.models.checkpoint import save_checkpoint
from spectcontra.profiling.energy import result_and_energy
from spectcontra.stage import Timings, parser, run_stage
from spectcontra.training.recipe import (
    calibrate_logits,
    checkpoint_extra,
    load_features,
    run_finetune,
    run_pretrain,
)


def _calibrated(index: dict[str, pd.DataFrame], raw: dict[str, np.ndarray],
                method: str) -> tuple[dict[str, pd.DataFrame], Calibration]:
    # Baselines get the same dev-only calibration as our model, so Cllr and ECE compare fairly.
    cal = fit_calibration(method, raw["dev"], index["dev"]["target"].to_numpy())
    return {s: score_table(index[s], cal.apply(raw[s])) for s in ("dev", "eval")}, cal


def main(argv: list[str] | None = None) -> int:
    p = parser("baselines", __doc__)
    p.add_argument("--raw-dir", type=Path, required=True)
    p.add_argument("--protocol", type=Path, required=True)
    p.add_argument("--features", type=Path, required=True)
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--models-dir", type=Path, required=True,
                   help="fitted baselines, to score new audio (crosseval, conditions)")
    p.add_argument("--metrics", type=Path, required=True)
    args = p.parse_args(argv)

    def body(cfg: Config) -> Timings:
        out = args.out_dir
        out.mkdir(parents=True, exist_ok=True)
        metrics: dict[str, float | str] = {}
        not_run: dict[str, str] = {}
        timings: dict[str, dict] = {}  # wall clock and energy: the timing record, never metrics

        # Supervised-only: the same encoder and head, no contrastive term, full fine-tuning.
        sup_pretrain = dataclasses.replace(cfg.pretrain, contrastive_weight=0.0)
        sup_finetune = dataclasses.replace(cfg.finetune, strategy="full")
        feats = load_features(args.features, sup_pretrain.views,
                              with_aug=sup_finetune.augment.signal_effects)
        encoder, _ = run_pretrain(feats, sup_pretrain, cfg.common.seed)
        detector, _ = run_finetune(encoder, feats, sup_finetune, cfg.common.seed, progress=True)
        protocol = read_protocol(args.protocol)
        logits = whole_file_logits(detector, feats.settings,
                                   {"dev": feats.dev.index, "eval": feats.eval.index},
                                   protocol, args.raw_dir)
        scored = calibrate_logits(logits["dev"], logits["eval"], feats, sup_finetune.calibration)
        write_scores(out, system="supervised_only", tables={"dev": scored.dev, "eval": scored.eval})
        save_checkpoint(checkpoint_path(args.models_dir, "supervised_only"), detector,
                        checkpoint_extra(feats, scored, sup_pretrain, sup_finetune))
        metrics["supervised_only_dev_eer"] = scored.dev_eer

        # Train on the crops the features saw; score dev and eval as whole files, as ours is.
        waves, index = {}, {}
        for split in SPLITS:
            rows = protocol[protocol["split"] == split]
            read = cropped_waves if split == "train" else whole_waves
            kept = list(read(rows, args.raw_dir, cfg.common, cfg.preprocess, PreprocessReport()))
            waves[split] = [w for _, _, w in kept]
            index[split] = rows.loc[[pos for pos, _, _ in kept]].reset_index(drop=True)
            index[split]["target"] = [label_to_target(x) for x in index[split]["label"]]

        classic = ClassicBaseline(cfg.baselines.classic, cfg.common.sample_rate, cfg.common.seed)
        classic.fit(waves["train"], index["train"]["target"].to_numpy())
        raw = {s: classic.score(waves[s]) for s in ("dev", "eval")}
        name = f"lfcc_{cfg.baselines.classic.classifier}"
        tables, cal = _calibrated(index, raw, cfg.finetune.calibration)
        write_scores(out, system=name, tables=tables)
        # how the baselines read files (whole_waves): to score new audio the same way
        reader = {"sample_rate": cfg.common.sample_rate, "trim_silence": cfg.preprocess.trim_silence,
                  "trim_db": cfg.preprocess.trim_db}
        save_baseline(args.models_dir, SavedBaseline(
            name, reader, {"kind": "lfcc", **dataclasses.asdict(cfg.baselines.classic)},
            classic.arrays(), cal.as_dict()))

        green = cfg.baselines.green_ai
        if green.enabled:
            try:
                frontend = load_frontend(green.checkpoint, Path.cwd())
            except WeightsUnavailable as err:
                not_run["green_ai_wav2vec2"] = str(err)
                print(f"baselines: Green AI baseline not run: {err}", file=sys.stderr)
            else:
                emb = {s: layer_embeddings(frontend, waves[s], green.layers) for s in SPLITS}
                y = {s: index[s]["target"].to_numpy() for s in SPLITS}
                res = fit_select_score(emb["train"], y["train"], emb["dev"], y["dev"], emb["eval"],
                                       green.classifiers, cfg.common.seed)
                write_scores(out, system="green_ai_wav2vec2", tables=
                       _calibrated(index, {"dev": res.dev_scores, "eval": res.eval_scores},
                                   cfg.finetune.calibration)[0])
                metrics.update(green_ai_layer=res.layer, green_ai_dev_eer=res.dev_eer)
        else:
            not_run["green_ai_wav2vec2"] = "disabled in params (baselines.green_ai.enabled)"
        metrics["green_ai_ran"] = int("green_ai_wav2vec2" not in not_run)

        # Frozen GE2E embeddings (weights inside the resemblyzer wheel): the Green AI recipe offline.
        pre = cfg.baselines.pretrained_embedding
        if pre.enabled:
            targets = {s: index[s]["target"].to_numpy() for s in ("train", "dev")}
            sel, timings["pretrained_embedding"] = result_and_energy(
                "baseline-pretrained_embedding",
                lambda: embed_select_score(waves, targets, cfg.common.sample_rate, pre,
                                           cfg.common.seed))
            tables, cal = _calibrated(index, {"dev": sel.dev_scores, "eval": sel.eval_scores},
                                      cfg.finetune.calibration)
            write_scores(out, system="pretrained_embedding", tables=tables)
            save_baseline(args.models_dir, SavedBaseline(
                "pretrained_embedding", reader, {"kind": "pretrained_embedding"},
                linear_arrays(sel.model), cal.as_dict()))
            metrics.update(pretrained_embedding_dev_eer=sel.dev_eer,
                           pretrained_embedding_classifier=sel.classifier,
                           pretrained_embedding_c=sel.c)
        else:
            not_run["pretrained_embedding"] = ("disabled in params "
                                               "(baselines.pretrained_embedding.enabled)")
        write_status(out, not_run)
        write_json_atomic(args.metrics, metrics)
        return timings

    return run_stage("baselines", args, body)


if __name__ == "__main__":
    sys.exit(main())
