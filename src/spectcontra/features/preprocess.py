"""Turn a protocol and its audio into the normalised feature store used for training.

The store is written split by split, a chunk of utterances at a time, straight into its
``.npy`` files, so memory does not grow with the corpus: a first pass over the (clean) train
split gathers the normalisation statistics, a second featurises every split again and writes
float16 rows already normalised. Chunks hold as many utterances as
``preprocess.memory_budget_mb`` allows.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from spectcontra.audio import AudioError, load_audio, trim_silence
from spectcontra.augment.signal import augment_signal
from spectcontra.config import VIEWS, CommonConfig, ConfigError, PreprocessConfig
from spectcontra.conventions import MAX_AUDIO_SECONDS, SPLITS, label_to_target
from spectcontra.data.protocol import ProtocolError
from spectcontra.errors import InputError
from spectcontra.features.spectral import FeatureExtractor, RunningStats, crop_or_pad, normalize
from spectcontra.features.store import AUG, INDEX_COLUMNS, ArrayWriter, array_path, index_path
from spectcontra.io_utils import write_json_atomic

# Utterances per feature-extraction call. Fixed, so features never depend on the memory
# budget: it sets how many of these batches a chunk holds before it is written.
BATCH = 64
# Beyond this a larger chunk only holds more memory: writes of ~100 MB are already efficient.
MAX_CHUNK_ROWS = 16 * BATCH
MB = 2**20

Stats = dict[str, tuple[np.ndarray, np.ndarray]]  # view -> (mean, std) per bin, float32


@dataclass
class PreprocessReport:
    kept: dict[str, int] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    chunk_rows: int = 0

    def as_metrics(self) -> dict[str, float]:
        """Counts only: they are the same on every rerun (the time goes to the timing record)."""
        out: dict[str, float] = {f"n_{k}": v for k, v in sorted(self.kept.items())}
        out["n_skipped"] = len(self.skipped)
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


# --------------------------------------------------------------------------- memory budget


def feature_frames(common: CommonConfig, cfg: PreprocessConfig) -> int:
    """Frames of one stored crop (centred STFT)."""
    return common.crop_samples // cfg.hop_length + 1


def row_bytes(common: CommonConfig, cfg: PreprocessConfig, copies: int) -> int:
    """Bytes one utterance holds in a chunk waiting to be written: float16 rows of every
    view, for ``copies`` stored copies (2 for train with ``signal_augment``)."""
    return (cfg.n_mels + cfg.n_linear) * feature_frames(common, cfg) * 2 * copies


def batch_bytes(common: CommonConfig, cfg: PreprocessConfig) -> int:
    """A generous bound on the transient memory of one extraction call of :data:`BATCH`
    utterances: the cropped waves (held, stacked, padded, augmented), the STFT (complex64) and
    its power, and per view the float32 filterbank, log and normalised features and the
    float64 copies the statistics pass makes."""
    frames = feature_frames(common, cfg)
    n_freqs = cfg.n_fft // 2 + 1
    bins = cfg.n_mels + cfg.n_linear
    per_utterance = 4 * 4 * common.crop_samples + 12 * n_freqs * frames + 24 * bins * frames
    return BATCH * per_utterance


def chunk_rows(common: CommonConfig, cfg: PreprocessConfig, copies: int = 2) -> int:
    """Utterances per chunk: as many :data:`BATCH`-sized batches as fit in
    ``preprocess.memory_budget_mb`` beside one batch's transient memory, at most
    :data:`MAX_CHUNK_ROWS`.

    The budget bounds the memory the featurising takes. The process's fixed cost (the
    interpreter and torch), the protocol table the caller holds and one decoded file (at most
    ``conventions.MAX_AUDIO_SAMPLES``) come on top of it.
    """
    budget = cfg.memory_budget_mb * MB
    per_batch = BATCH * row_bytes(common, cfg, copies)
    batches = (budget - batch_bytes(common, cfg)) // per_batch
    if batches < 1:
        need = -(-(batch_bytes(common, cfg) + per_batch) // MB)
        raise ConfigError(f"params key 'preprocess.memory_budget_mb' = {cfg.memory_budget_mb} is "
                          f"too small: one batch of {BATCH} utterances needs {need} MB")
    return int(min(batches * BATCH, MAX_CHUNK_ROWS))


# --------------------------------------------------------------------------- the two passes


def _batches(items: Iterable, size: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _extract(extractor: FeatureExtractor, waves: list[np.ndarray]) -> dict[str, np.ndarray]:
    """{view: (B, bins, frames) float32} of up to :data:`BATCH` equal-length waves."""
    with torch.no_grad():
        out = extractor(torch.from_numpy(np.stack(waves)))
    return {v: out[v].numpy() for v in VIEWS}


def _split_rows(protocol: pd.DataFrame, split: str) -> pd.DataFrame:
    rows = protocol[protocol["split"] == split]
    if rows.empty:
        raise ProtocolError(f"protocol has no {split!r} utterances")
    return rows


def train_stats(rows: pd.DataFrame, raw_dir: Path, common: CommonConfig, cfg: PreprocessConfig,
                extractor: FeatureExtractor, progress: bool) -> Stats:
    """Per-bin normalisation statistics of the un-augmented train features, batch by batch."""
    running = {v: RunningStats() for v in VIEWS}
    waves = cropped_waves(rows, raw_dir, common, cfg, PreprocessReport())  # skips: pass 2 records
    for batch in _batches(tqdm(waves, total=len(rows), desc="statistics train",
                               disable=not progress), BATCH):
        for view, feats in _extract(extractor, [w for _, _, w in batch]).items():
            running[view].update(feats)
    if running[VIEWS[0]].mean is None:
        raise InputError("every 'train' utterance was skipped as bad audio")
    return {v: running[v].result() for v in VIEWS}


class _ChunkWriter:
    """Normalised float16 rows of one stored split, gathered into chunks and appended to its
    ``{name}_{view}.npy`` files."""

    def __init__(self, out_dir: Path, name: str, stats: Stats, rows: int):
        self.stats, self.capacity = stats, rows
        self.writers = {v: ArrayWriter(array_path(out_dir, name, v), np.float16) for v in VIEWS}
        self.buffers: dict[str, np.ndarray] = {}
        self.filled = 0

    def add(self, feats: dict[str, np.ndarray]) -> None:
        n = len(feats[VIEWS[0]])
        if not self.buffers:
            self.buffers = {v: np.empty((self.capacity, *f.shape[1:]), np.float16)
                            for v, f in feats.items()}
        for view, f in feats.items():
            self.buffers[view][self.filled:self.filled + n] = normalize(f, *self.stats[view])
        self.filled += n
        if self.filled + BATCH > self.capacity:
            self.flush()

    def flush(self) -> None:
        for view, writer in self.writers.items():
            if self.filled:
                writer.append(self.buffers[view][:self.filled])
        self.filled = 0

    def close(self) -> None:
        self.flush()
        for writer in self.writers.values():
            writer.close()

    def abort(self) -> None:
        for writer in self.writers.values():
            writer.abort()


def write_split(split: str, rows: pd.DataFrame, raw_dir: Path, common: CommonConfig,
                cfg: PreprocessConfig, extractor: FeatureExtractor, stats: Stats, chunk: int,
                out_dir: Path, report: PreprocessReport, progress: bool) -> pd.DataFrame:
    """Featurise, normalise and write one split (and the train split's augmented copy);
    return its index (the kept utterances, in protocol order)."""
    augment = split == "train" and cfg.signal_augment
    outputs = {split: _ChunkWriter(out_dir, split, stats, chunk)}
    if augment:
        outputs[AUG] = _ChunkWriter(out_dir, AUG, stats, chunk)
    kept_ids: list[str] = []
    waves = cropped_waves(rows, raw_dir, common, cfg, report)
    try:
        for batch in _batches(tqdm(waves, total=len(rows), desc=f"features {split}",
                                   disable=not progress), BATCH):
            clean = [w for _, _, w in batch]
            outputs[split].add(_extract(extractor, clean))
            if augment:
                aug = [augment_signal(w, _utterance_rng(common.seed, pos, 1), common.sample_rate)
                       for (pos, _, _), w in zip(batch, clean, strict=True)]
                outputs[AUG].add(_extract(extractor, aug))
            kept_ids.extend(utt_id for _, utt_id, _ in batch)
        if not kept_ids:
            raise InputError(f"every {split!r} utterance was skipped as bad audio")
        for out in outputs.values():
            out.close()
    except BaseException:
        for out in outputs.values():
            out.abort()
        raise
    index = rows.set_index("utt_id").loc[kept_ids].reset_index()
    index["target"] = [label_to_target(lbl) for lbl in index["label"]]
    return index.loc[:, list(INDEX_COLUMNS)]


def build_feature_store(
    protocol: pd.DataFrame, raw_dir: Path, common: CommonConfig, cfg: PreprocessConfig,
    out_dir: Path, progress: bool = True,
) -> PreprocessReport:
    """Write ``{split}_{view}.npy`` (float16, normalised), ``{split}.csv``, ``settings.json``
    and ``skipped.csv`` into ``out_dir`` (the caller makes it atomic).

    Statistics for normalisation come from the (un-augmented) train split only. Memory stays
    within ``preprocess.memory_budget_mb`` beyond the process's fixed cost (see
    :func:`chunk_rows`), whatever the corpus size.
    """
    start = time.perf_counter()
    report = PreprocessReport(chunk_rows=chunk_rows(common, cfg, 2 if cfg.signal_augment else 1))
    extractor = FeatureExtractor(cfg, common.sample_rate, VIEWS).eval()
    splits = {split: _split_rows(protocol, split) for split in SPLITS}
    stats = train_stats(splits["train"], raw_dir, common, cfg, extractor, progress)
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        index = write_split(split, rows, raw_dir, common, cfg, extractor, stats,
                            report.chunk_rows, out_dir, report, progress)
        index.to_csv(index_path(out_dir, split), index=False)
        report.kept[split] = len(index)
    write_json_atomic(out_dir / "settings.json", _settings(common, cfg, stats))
    pd.DataFrame(report.skipped, columns=["utt_id", "reason"]).to_csv(out_dir / "skipped.csv",
                                                                      index=False)
    report.seconds = time.perf_counter() - start
    return report


def _settings(common: CommonConfig, cfg: PreprocessConfig, stats: Stats) -> dict:
    return {
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
        "signal_augment": cfg.signal_augment,
    }
