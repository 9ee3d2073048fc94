"""On-disk feature store: float16 (N, bins, frames) arrays per split and view, with an index."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from spectcontra.data.sampling import stratified_rows
from spectcontra.io_utils import read_json

INDEX_COLUMNS = ("utt_id", "label", "attack", "speaker", "target")
AUG = "train_aug"  # the signal-augmented copy of the train split


class FeatureStoreError(ValueError):
    """A feature folder that is missing a file or is inconsistent."""


@dataclass(frozen=True)
class Split:
    index: pd.DataFrame
    views: dict[str, np.ndarray]  # view -> (N, bins, frames), float16, normalised

    @property
    def targets(self) -> np.ndarray:
        return self.index["target"].to_numpy(dtype=np.int64)

    def take(self, rows: np.ndarray) -> Split:
        """The utterances at ``rows`` (positions), views loaded into memory."""
        return Split(index=self.index.iloc[rows].reset_index(drop=True),
                     views={v: np.asarray(a[rows]) for v, a in self.views.items()})

    def stratified(self, n: int, seed: int) -> Split:
        """A seeded class-stratified subset of ``n`` utterances (itself when n >= size)."""
        if n >= len(self.index):
            return self
        return self.take(stratified_rows(self.targets, n, np.random.default_rng(seed)))


def array_path(root: Path, split: str, view: str) -> Path:
    return Path(root) / f"{split}_{view}.npy"


def index_path(root: Path, split: str) -> Path:
    return Path(root) / f"{split}.csv"


def load_split(root: str | Path, split: str, views: tuple[str, ...], mmap: bool = False) -> Split:
    """Load one split (``train``, ``dev``, ``eval`` or :data:`AUG`) with the given views."""
    root = Path(root)
    idx_split = "train" if split == AUG else split
    ipath = index_path(root, idx_split)
    if not ipath.exists():
        raise FeatureStoreError(f"feature index {ipath} is missing: run the preprocess stage")
    index = pd.read_csv(ipath, dtype={"utt_id": str, "label": str, "attack": str, "speaker": str},
                        keep_default_na=False)
    arrays = {}
    for view in views:
        path = array_path(root, split, view)
        if not path.exists():
            raise FeatureStoreError(f"feature array {path} is missing (view {view!r}, split {split!r})")
        arr = np.load(path, mmap_mode="r" if mmap else None)
        if arr.shape[0] != len(index):
            raise FeatureStoreError(f"{path} has {arr.shape[0]} rows but {ipath} has {len(index)}")
        arrays[view] = arr
    return Split(index=index, views=arrays)


def load_settings(root: str | Path) -> dict:
    """Feature settings and train normalisation statistics written by preprocess."""
    path = Path(root) / "settings.json"
    if not path.exists():
        raise FeatureStoreError(f"{path} is missing: run the preprocess stage")
    return read_json(path)
