"""Crop/pad policy, feature shapes, train-only normalisation, and the streamed feature store."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from spectcontra.augment.signal import augment_signal
from spectcontra.config import (
    VIEWS,
    ConfigError,
    EncoderConfig,
    PreprocessConfig,
    SyntheticConfig,
    load_config,
)
from spectcontra.conventions import SPLITS
from spectcontra.data.synthetic import generate_corpus
from spectcontra.features.preprocess import (
    BATCH,
    MAX_CHUNK_ROWS,
    MB,
    PreprocessReport,
    batch_bytes,
    build_feature_store,
    chunk_rows,
    cropped_waves,
    row_bytes,
)
from spectcontra.features.spectral import (
    STD_FLOOR,
    FeatureExtractor,
    RunningStats,
    compute_stats,
    crop_or_pad,
    normalize,
)
from spectcontra.features.store import (
    AUG,
    ArrayWriter,
    FeatureStoreError,
    Split,
    StoredArray,
    array_path,
    load_settings,
    load_split,
)
from spectcontra.models.encoder import SpectralEncoder
from spectcontra.training.recipe import Features, load_features, run_finetune
from tests.conftest import ROOT

CFG = load_config(ROOT / "params.yaml")


@pytest.mark.parametrize("length", [1, 999, 1000, 1001, 5000])
def test_crop_or_pad_always_gives_the_crop_length(length: int) -> None:
    wave = np.arange(length, dtype=np.float32) + 1
    out = crop_or_pad(wave, 1000, np.random.default_rng(0))
    assert out.shape == (1000,)


def test_short_clips_are_tiled_not_zero_padded() -> None:
    wave = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    np.testing.assert_array_equal(crop_or_pad(wave, 7, None), [1, 2, 3, 1, 2, 3, 1])


def test_exact_length_is_returned_unchanged_even_with_random_crop() -> None:
    wave = np.random.default_rng(1).standard_normal(1000).astype(np.float32)
    for seed in range(5):
        np.testing.assert_array_equal(crop_or_pad(wave, 1000, np.random.default_rng(seed)), wave)


def test_long_clips_are_cropped_deterministically_from_the_seed() -> None:
    wave = np.arange(5000, dtype=np.float32)
    a = crop_or_pad(wave, 1000, np.random.default_rng(3))
    b = crop_or_pad(wave, 1000, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert np.all(np.diff(a) == 1)  # a contiguous window
    centred = crop_or_pad(wave, 1000, None)
    assert centred[0] == 2000


@pytest.mark.parametrize("bad", [np.zeros(0, np.float32), np.zeros((2, 10), np.float32)])
def test_crop_rejects_empty_and_multichannel(bad) -> None:
    with pytest.raises(ValueError, match="1-D waveform"):
        crop_or_pad(bad, 10, None)


def test_feature_views_shapes_and_finiteness() -> None:
    sr = CFG.common.sample_rate
    extractor = FeatureExtractor(CFG.preprocess, sr)
    wave = torch.zeros(2, sr)  # digital silence must still give finite features
    wave[1] = torch.randn(sr)
    views = extractor(wave)
    frames = sr // CFG.preprocess.hop_length + 1
    assert views["mel"].shape == (2, CFG.preprocess.n_mels, frames)
    assert views["linear"].shape == (2, CFG.preprocess.n_linear, frames)
    assert all(torch.isfinite(v).all() for v in views.values())


def test_linear_view_sees_high_frequencies_the_mel_view_blurs() -> None:
    sr = CFG.common.sample_rate
    t = torch.arange(sr) / sr
    extractor = FeatureExtractor(CFG.preprocess, sr)
    lo = extractor(torch.sin(2 * torch.pi * 7000 * t))
    hi = extractor(torch.sin(2 * torch.pi * 7300 * t))
    peak = lambda v: int(v.mean(-1).argmax())  # noqa: E731
    # 300 Hz apart at 7 kHz: distinct linear bands (125 Hz wide), the same or adjacent mel band.
    assert peak(hi["linear"][0]) - peak(lo["linear"][0]) >= 2
    assert peak(hi["mel"][0]) - peak(lo["mel"][0]) <= 1


def test_normalisation_uses_given_stats() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(3.0, 2.0, size=(20, 4, 50)).astype(np.float32)
    mean, std = compute_stats(train)
    z = normalize(train, mean, std)
    np.testing.assert_allclose(z.mean(axis=(0, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(z.std(axis=(0, 2)), 1, atol=1e-3)
    other = normalize(torch.from_numpy(train[:2]), mean, std)
    np.testing.assert_allclose(other.numpy(), z[:2], atol=1e-5)


def test_unknown_view_is_refused() -> None:
    with pytest.raises(ValueError, match="views must be"):
        FeatureExtractor(CFG.preprocess, 16000, ("mel", "cqt"))


# --------------------------------------------------------------------------- streaming statistics


def test_running_stats_match_the_whole_array_computation() -> None:
    rng = np.random.default_rng(4)
    # Log-spectrogram-like values: a large common offset over a small spread, where a naive
    # running sum of squares would lose digits.
    batches = [rng.normal(-9.0, 0.5, size=(n, 6, 30)).astype(np.float32) for n in (5, 1, 64, 17)]
    running = RunningStats()
    for batch in batches:
        running.update(batch)
    mean, std = running.result()
    ref_mean, ref_std = compute_stats(np.concatenate(batches))
    assert mean.dtype == std.dtype == np.float32
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-6)
    np.testing.assert_allclose(std, ref_std, rtol=1e-6)


def test_running_stats_floor_a_constant_bin_and_refuse_no_data() -> None:
    running = RunningStats()
    with pytest.raises(ValueError, match="no features"):
        running.result()
    running.update(np.zeros((3, 2, 4), np.float32))
    np.testing.assert_allclose(running.result()[1], STD_FLOOR)


# --------------------------------------------------------------------------- on-disk arrays


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> tuple[np.ndarray, StoredArray]:
    arr = np.random.default_rng(0).standard_normal((23, 3, 5)).astype(np.float16)
    path = tmp_path_factory.mktemp("stored") / "a.npy"
    np.save(path, arr)
    return arr, StoredArray(path)


@pytest.mark.parametrize("key", [
    0, 22, -1, np.int64(7), slice(None), slice(3, 9), slice(20, 40), slice(None, None, 3),
    slice(None, None, -2), [5, 1, 1, 22, 0, -3], np.array([], dtype=np.int64),
    np.arange(23) % 2 == 0, (slice(2, 6), 1), (4, slice(None), 2), torch.tensor([3, 2, 4]).numpy(),
])
def test_stored_array_rows_equal_numpy_indexing(stored, key) -> None:
    arr, lazy = stored
    got = lazy[key]
    assert isinstance(got, np.ndarray) and got.dtype == arr.dtype
    np.testing.assert_array_equal(got, arr[key])


def test_stored_array_behaves_like_the_array_it_stores(stored) -> None:
    arr, lazy = stored
    assert lazy.shape == arr.shape and len(lazy) == len(arr) and lazy.ndim == 3
    np.testing.assert_array_equal(np.asarray(lazy), arr)
    np.testing.assert_array_equal(np.asarray(lazy, dtype=np.float32), arr.astype(np.float32))
    for bad in (23, -24, [0, 23], np.array([[1]])):
        with pytest.raises(IndexError):
            lazy[bad]


def test_stored_array_refuses_a_truncated_file(tmp_path) -> None:
    path = tmp_path / "t.npy"
    np.save(path, np.zeros((4, 8), np.float16))
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(FeatureStoreError, match="truncated"):
        StoredArray(path)


def test_array_writer_writes_what_np_save_writes(tmp_path) -> None:
    arr = np.random.default_rng(1).standard_normal((150, 4, 7)).astype(np.float32)
    writer = ArrayWriter(tmp_path / "w.npy", np.float16)
    for lo in (0, 64, 128, 140):
        writer.append(arr[lo:lo + {0: 64, 64: 64, 128: 12, 140: 10}[lo]])
    assert writer.close() == 150
    np.save(tmp_path / "ref.npy", arr.astype(np.float16))
    assert (tmp_path / "w.npy").read_bytes() == (tmp_path / "ref.npy").read_bytes()


# --------------------------------------------------------------------------- the feature store


TINY_COMMON = dataclasses.replace(CFG.common, crop_seconds=0.25, threads=1)


def tiny_preprocess(budget_mb: int) -> PreprocessConfig:
    return dataclasses.replace(CFG.preprocess, bad_audio="skip", signal_augment=True,
                               memory_budget_mb=budget_mb)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[pd.DataFrame, Path]:
    """150 train utterances (3 extraction batches), 20 dev, 20 eval; one train file broken."""
    raw = tmp_path_factory.mktemp("corpus")
    syn = SyntheticConfig(train_speakers=3, dev_speakers=2, eval_speakers=2,
                          train_utterances=150, dev_utterances=20, eval_utterances=20,
                          bonafide_fraction=0.4, min_seconds=0.3, max_seconds=0.5)
    protocol = generate_corpus(syn, 7, TINY_COMMON.sample_rate, raw)
    (raw / protocol.loc[3, "path"]).write_bytes(b"not audio")
    return protocol, raw


def reference_store(protocol: pd.DataFrame, raw: Path, cfg: PreprocessConfig) -> dict:
    """The store as it was built before streaming: every split in memory, then normalised."""
    extractor = FeatureExtractor(cfg, TINY_COMMON.sample_rate).eval()
    feats, ids = {}, {}
    for split in SPLITS:
        rows = protocol[protocol["split"] == split]
        kept = list(cropped_waves(rows, raw, TINY_COMMON, cfg, PreprocessReport()))
        ids[split] = [u for _, u, _ in kept]
        copies = {split: [w for _, _, w in kept]}
        if split == "train":
            copies[AUG] = [augment_signal(w, np.random.default_rng([TINY_COMMON.seed, pos, 1]),
                                          TINY_COMMON.sample_rate) for pos, _, w in kept]
        for name, waves in copies.items():
            parts = [extractor(torch.from_numpy(np.stack(waves[i:i + BATCH])))
                     for i in range(0, len(waves), BATCH)]
            feats[name] = {v: np.concatenate([p[v].detach().numpy() for p in parts])
                           for v in VIEWS}
    stats = {v: compute_stats(feats["train"][v]) for v in VIEWS}
    arrays = {(name, v): normalize(f[v], *stats[v]).astype(np.float16)
              for name, f in feats.items() for v in VIEWS}
    return {"stats": stats, "arrays": arrays, "ids": ids}


@pytest.fixture(scope="module")
def stores(corpus, tmp_path_factory) -> dict[int, tuple[Path, PreprocessReport]]:
    protocol, raw = corpus
    out = {}
    for budget in (15, 1024):  # 15 MB: chunks of one batch; 1024 MB: the whole split
        root = tmp_path_factory.mktemp(f"store{budget}")
        out[budget] = root, build_feature_store(protocol, raw, TINY_COMMON,
                                                tiny_preprocess(budget), root, progress=False)
    return out


def test_streamed_store_equals_the_in_memory_reference(corpus, stores) -> None:
    protocol, raw = corpus
    ref = reference_store(protocol, raw, tiny_preprocess(1024))
    root, report = stores[15]
    assert report.chunk_rows == BATCH  # several chunks per split: the streaming path
    settings = load_settings(root)
    for view in VIEWS:
        np.testing.assert_allclose(settings["stats"][view]["mean"], ref["stats"][view][0],
                                   rtol=1e-6)
        np.testing.assert_allclose(settings["stats"][view]["std"], ref["stats"][view][1],
                                   rtol=1e-6)
    for (name, view), expected in ref["arrays"].items():
        got = np.load(array_path(root, name, view))
        assert got.dtype == np.float16 and got.shape == expected.shape
        np.testing.assert_allclose(got.astype(np.float32), expected.astype(np.float32),
                                   rtol=1e-3, atol=1e-3)  # float16 resolution
    for split in SPLITS:
        assert load_split(root, split, VIEWS).index["utt_id"].tolist() == ref["ids"][split]
    assert report.kept == {s: len(ref["ids"][s]) for s in SPLITS} and report.kept["train"] == 149
    skipped = pd.read_csv(root / "skipped.csv")
    assert skipped["utt_id"].tolist() == [protocol.loc[3, "utt_id"]]


def test_the_memory_budget_changes_chunks_never_the_store(stores) -> None:
    (small, small_report), (large, large_report) = stores[15], stores[1024]
    assert small_report.chunk_rows < large_report.chunk_rows
    names = sorted(p.name for p in small.iterdir())
    assert names == sorted(p.name for p in large.iterdir())
    for name in names:
        assert (small / name).read_bytes() == (large / name).read_bytes(), name


def test_chunk_size_follows_the_budget() -> None:
    cfg = CFG.preprocess
    sizes = []
    for budget in (150, 200, 300, 600, 1024, 4096):
        rows = chunk_rows(CFG.common, dataclasses.replace(cfg, memory_budget_mb=budget))
        assert rows % BATCH == 0 and BATCH <= rows <= MAX_CHUNK_ROWS
        assert batch_bytes(CFG.common, cfg) + rows * row_bytes(CFG.common, cfg, 2) <= budget * MB
        sizes.append(rows)
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1] == MAX_CHUNK_ROWS
    with pytest.raises(ConfigError, match="preprocess.memory_budget_mb"):
        chunk_rows(CFG.common, dataclasses.replace(cfg, memory_budget_mb=50))


def test_training_reads_the_same_batches_from_disk_as_from_memory(stores) -> None:
    root, _ = stores[1024]
    lazy = load_features(root, VIEWS, with_aug=True)
    assert all(isinstance(a, StoredArray) for a in lazy.train.views.values())

    def whole(split: Split) -> Split:  # as load_features gave them before: in memory
        return Split(split.index, {v: np.asarray(a) for v, a in split.views.items()})

    loaded = Features(whole(lazy.train), whole(lazy.train_aug), whole(lazy.dev),
                      whole(lazy.eval), lazy.settings)
    enc_cfg = EncoderConfig(channels=(8,), embed_dim=16, heads=2, dropout=0.1)
    ft = dataclasses.replace(CFG.finetune, epochs=2, batch_size=16, patience=0)
    states = []
    for feats in (lazy, loaded):
        torch.manual_seed(0)
        encoder = SpectralEncoder(enc_cfg, n_bins=CFG.preprocess.n_mels)
        detector, history = run_finetune(encoder, feats, ft, seed=3)
        states.append((detector.state_dict(), history))
    (a, hist_a), (b, hist_b) = states
    assert hist_a == hist_b
    assert all(torch.equal(a[k], b[k]) for k in a)
