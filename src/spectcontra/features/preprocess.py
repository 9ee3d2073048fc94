"""Turn a protocol and its audio into the normalised feature store used for training."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from spectcontra.audio import AudioError, load_audio, trim_silence
from spectcontra.augment.signal import augment_signal
from spectcontra.config import VIEWS, CommonConfig, PreprocessConfig
from spectcontra.conventions import MAX_AUDIO_SECONDS, SPLITS, label_to_target
from spectcontra.features.spectral import (
    FeatureExtractor,
    compute_stats,
    crop_or_pad,
    normalize,
)
from spectcontra.features.store import AUG, INDEX_COLUMNS, array_path, index_path
from spectcontra.io_utils import write_json_atomic

BATCH = 64


@dataclass
class PreprocessReport:
    kept: dict[str, int] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def as_metrics(self) -> dict[str, float]:
        out: dict[str, float] = {f"n_{k}": v for k, v in sorted(self.kept.items())}
        out["n_skipped"] = len(self.skipped)
        out["seconds"] = round(self.seconds, 2)
        return out


def _utterance_rng(seed: int, utt_index: int, purpose: int) -> np.random.Generator:
    # One stream per (utterance, purpose): crops and augmentations do not shift when
    # another file is skipped or the corpus order changes elsewhere.
    return np.random.default_rng([seed, utt_index, purpose])


def cropped_waves(
    rows: pd.DataFrame, raw_dir: Path, common: CommonConfig, cfg: PreprocessConfig,
    report: PreprocessReport,
) -> Iterator[tuple[int, str, np.ndarray]]:
    """Yield (protocol row, utt_id, fixed-length waveform) for every readable utterance.

    Bad audio raises (``bad_audio: error``) or is skipped and recorded in ``report``
    (``skip``). The crop offset is seeded by the protocol row, so every consumer (features,
    classic baseline) sees the same samples of the same utterance.
    """
    for pos, utt_id, wave in whole_waves(rows, raw_dir, common, cfg, report):
        yield pos, utt_id, crop_or_pad(wave, common.crop_samples, _utterance_rng(common.seed, pos, 0))


def whole_waves(
    rows: pd.DataFrame, raw_dir: Path, common: CommonConfig, cfg: PreprocessConfig,
    report: PreprocessReport,
) -> Iterator[tuple[int, str, np.ndarray]]:
    """Yield (protocol row, utt_id, whole waveform, trimmed if configured) per readable file;
    bad audio as in :func:`cropped_waves`."""
    for pos, row in rows.iterrows():
        path = raw_dir / row["path"]
        try:
            wave = load_audio(path, common.sample_rate, MAX_AUDIO_SECONDS)
        except AudioError as err:
            if cfg.bad_audio == "error":
                raise
            report.skipped.append({"utt_id": row["utt_id"], "reason": str(err)})
            continue
        if cfg.trim_silence:
            wave = trim_silence(wave, common.sample_rate, cfg.trim_db)
        yield int(pos), row["utt_id"], wave


def build_feature_store(
    protocol: pd.DataFrame, raw_dir: Path, common: CommonConfig, cfg: PreprocessConfig,
    out_dir: Path, progress: bool = True,
) -> PreprocessReport:
    """Write ``{split}_{view}.npy`` (float16, normalised), ``{split}.csv`` and ``settings.json``.

    Statistics for normalisation come from the (un-augmented) train split only.
    """
    start = time.perf_counter()
    extractor = FeatureExtractor(cfg, common.sample_rate, VIEWS).eval()
    report = PreprocessReport()
    raw: dict[str, dict[str, np.ndarray]] = {}
    indices: dict[str, pd.DataFrame] = {}
    for split in SPLITS:
        rows = protocol[protocol["split"] == split]
        if rows.empty:
            raise ValueError(f"protocol has no {split!r} utterances")
        kept_ids, feats, aug_feats = [], {v: [] for v in VIEWS}, {v: [] for v in VIEWS}
        batch, aug_batch = [], []

        def flush() -> None:
            for store, waves in ((feats, batch), (aug_feats, aug_batch)):
                if waves:
                    with torch.no_grad():
                        out = extractor(torch.from_numpy(np.stack(waves)))
                    for view in VIEWS:
                        store[view].append(out[view].numpy())
            batch.clear()
            aug_batch.clear()

        waves = cropped_waves(rows, raw_dir, common, cfg, report)
        for pos, utt_id, wave in tqdm(waves, total=len(rows), desc=f"features {split}",
                                      disable=not progress):
            kept_ids.append(utt_id)
            batch.append(wave)
            if split == "train" and cfg.signal_augment:
                aug = augment_signal(batch[-1], _utterance_rng(common.seed, pos, 1), common.sample_rate)
                aug_batch.append(aug)
            if len(batch) >= BATCH:
                flush()
        flush()
        if not kept_ids:
            raise ValueError(f"every {split!r} utterance was skipped as bad audio")
        index = rows.set_index("utt_id").loc[kept_ids].reset_index()
        index["target"] = [label_to_target(lbl) for lbl in index["label"]]
        indices[split] = index.loc[:, list(INDEX_COLUMNS)]
        raw[split] = {v: np.concatenate(feats[v]) for v in VIEWS}
        if aug_feats[VIEWS[0]]:
            raw[AUG] = {v: np.concatenate(aug_feats[v]) for v in VIEWS}
        report.kept[split] = len(kept_ids)

    stats = {v: compute_stats(raw["train"][v]) for v in VIEWS}
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, arrays in raw.items():
        for view, arr in arrays.items():
            mean, std = stats[view]
            np.save(array_path(out_dir, split, view), normalize(arr, mean, std).astype(np.float16))
    for split, index in indices.items():
        index.to_csv(index_path(out_dir, split), index=False)
    settings = {
        "sample_rate": common.sample_rate,
        "crop_seconds": common.crop_seconds,
        "n_fft": cfg.n_fft,
        "hop_length": cfg.hop_length,
        "n_mels": cfg.n_mels,
        "n_linear": cfg.n_linear,
        "trim_silence": cfg.trim_silence,
        "trim_db": cfg.trim_db,
        "views": list(VIEWS),
        "stats": {v: {"mean": m.tolist(), "std": s.tolist()} for v, (m, s) in stats.items()},
        "signal_augment": AUG in raw,
    }
    write_json_atomic(out_dir / "settings.json", settings)
    pd.DataFrame(report.skipped, columns=["utt_id", "reason"]).to_csv(out_dir / "skipped.csv",
                                                                      index=False)
    report.seconds = time.perf_counter() - start
    return report
