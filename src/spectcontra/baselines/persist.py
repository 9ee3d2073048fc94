"""Fitted baselines saved without pickle: a JSON header and float arrays in one ``.npz`` file.

The baselines stage saves every baseline it fits, so later stages (cross-corpus, channel
conditions) can score new audio with the very models whose dev scores set the thresholds.
A file holds the system name, how a file becomes a wave (``reader``), how a wave becomes the
classifier's input (``frontend``), the classifier's arrays and the dev calibration. It is
read with ``numpy.load(allow_pickle=False)``, so a tampered file cannot run code; fitted
scikit-learn estimators are rebuilt from their arrays (:func:`linear_arrays`,
:func:`gmm_arrays`). A baseline that is a network is saved as a detector checkpoint
(``<system>.pt``, ``spectcontra.models.checkpoint``) beside these files instead.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from spectcontra.errors import InputError
from spectcontra.io_utils import atomic_path

FORMAT = "spectcontra-baseline"
VERSION = 1
ARRAYS_SUFFIX = ".npz"  # a baseline saved by this module
CHECKPOINT_SUFFIX = ".pt"  # a network baseline saved as a detector checkpoint
_HEADER = "header"  # the npz key of the JSON header; array names may not use it
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry


class BaselineFileError(InputError):
    """A file that is not a readable saved baseline: the message names the file and why."""


@dataclass(frozen=True)
class SavedBaseline:
    """One fitted baseline as plain data (see the module docstring)."""

    system: str
    reader: dict[str, Any]  # sample_rate, trim_silence, trim_db: how a file becomes a wave
    frontend: dict[str, Any]  # {"kind": ..., settings}: how a wave becomes classifier input
    arrays: dict[str, np.ndarray]  # the fitted classifier
    calibration: dict[str, Any]  # Calibration.as_dict() fitted on dev


def save_baseline(folder: Path, saved: SavedBaseline) -> Path:
    """Write ``folder/<system>.npz`` atomically (same content, same bytes) and return its path."""
    if _HEADER in saved.arrays:
        raise ValueError(f"array name {_HEADER!r} is reserved for the header")
    header = {"format": FORMAT, "version": VERSION, "system": saved.system,
              "reader": saved.reader, "frontend": saved.frontend,
              "calibration": saved.calibration}
    path = Path(folder) / f"{saved.system}{ARRAYS_SUFFIX}"
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = {_HEADER: np.array(json.dumps(header, sort_keys=True)), **saved.arrays}
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as archive:
        for name in sorted(entries):
            # np.savez stamps each entry with the current time; a fixed stamp keeps identical
            # models at identical bytes (and DVC hashes) from run to run.
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_TIME)
            with archive.open(info, "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, np.asarray(entries[name]), allow_pickle=False)
    return path


def load_baseline(path: Path) -> SavedBaseline:
    """Read a file written by :func:`save_baseline`, refusing pickled content."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as err:
        raise BaselineFileError(f"{path} is not a readable saved baseline: {err}") from err
    try:
        header = json.loads(str(arrays.pop(_HEADER)))
    except (KeyError, json.JSONDecodeError) as err:
        raise BaselineFileError(f"{path} has no readable {_HEADER!r} entry: {err}") from err
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise BaselineFileError(f"{path} is not a {FORMAT} file of version {VERSION} (found "
                                f"{header.get('format')!r} version {header.get('version')!r})")
    try:
        return SavedBaseline(header["system"], header["reader"], header["frontend"], arrays,
                             header["calibration"])
    except KeyError as err:
        raise BaselineFileError(f"{path} header lacks {err}") from err


def checkpoint_path(folder: Path, system: str) -> Path:
    """Where a network baseline's detector checkpoint goes: ``folder/<system>.pt``."""
    return Path(folder) / f"{system}{CHECKPOINT_SUFFIX}"


def saved_baselines(folder: Path) -> dict[str, Path]:
    """System name -> saved file (``.npz`` or ``.pt``) for every baseline saved in ``folder``."""
    files = sorted(p for p in Path(folder).glob("*")
                   if p.suffix in (ARRAYS_SUFFIX, CHECKPOINT_SUFFIX) and p.is_file())
    out: dict[str, Path] = {}
    for path in files:
        if path.stem in out:
            raise BaselineFileError(f"baseline {path.stem!r} is saved twice in {folder}: "
                                    f"{out[path.stem].name} and {path.name}")
        out[path.stem] = path
    return out


# ------------------------------------------------------------- scikit-learn <-> arrays

_LINEAR = {"logreg": LogisticRegression, "svm": LinearSVC}


def linear_arrays(pipeline: Pipeline) -> dict[str, np.ndarray]:
    """The arrays of a fitted ``make_pipeline(StandardScaler(), LogisticRegression|LinearSVC)``."""
    steps = [step for _, step in pipeline.steps]
    kinds = [name for name, cls in _LINEAR.items() if isinstance(steps[-1], cls)]
    if len(steps) != 2 or not isinstance(steps[0], StandardScaler) or not kinds:
        raise TypeError(f"expected StandardScaler then a linear classifier, got {pipeline}")
    scaler, clf = steps
    return {"linear_kind": np.array(kinds[0]), "mean": scaler.mean_, "scale": scaler.scale_,
            "coef": clf.coef_, "intercept": clf.intercept_, "classes": clf.classes_}


def linear_pipeline(arrays: dict[str, np.ndarray]) -> Pipeline:
    """The fitted pipeline of :func:`linear_arrays`: the same decision_function, bit for bit."""
    scaler = StandardScaler()
    scaler.mean_, scaler.scale_ = arrays["mean"], arrays["scale"]
    scaler.var_ = arrays["scale"] ** 2
    scaler.n_features_in_ = arrays["mean"].size
    scaler.n_samples_seen_ = 0
    clf = _LINEAR[str(arrays["linear_kind"])]()
    clf.coef_, clf.intercept_, clf.classes_ = arrays["coef"], arrays["intercept"], arrays["classes"]
    clf.n_features_in_ = arrays["coef"].shape[1]
    return make_pipeline(scaler, clf)


_GMM_ARRAYS = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def gmm_arrays(gmm: GaussianMixture, prefix: str) -> dict[str, np.ndarray]:
    """A fitted GaussianMixture's parameters, keyed ``<prefix><attribute>``."""
    out = {f"{prefix}{a}": getattr(gmm, a) for a in _GMM_ARRAYS}
    out[f"{prefix}covariance_type"] = np.array(gmm.covariance_type)
    return out


def gmm_from_arrays(arrays: dict[str, np.ndarray], prefix: str) -> GaussianMixture:
    """The fitted GaussianMixture of :func:`gmm_arrays`: the same ``score``."""
    weights = arrays[f"{prefix}weights_"]
    gmm = GaussianMixture(weights.size, covariance_type=str(arrays[f"{prefix}covariance_type"]))
    for attribute in _GMM_ARRAYS:
        setattr(gmm, attribute, arrays[f"{prefix}{attribute}"])
    gmm.n_features_in_ = gmm.means_.shape[1]
    return gmm
