"""Dev and eval scored the way ``spectcontra detect`` scores a file: whole files, not stored crops."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from spectcontra.features.store import FeatureStoreError
from spectcontra.inference.torch_detector import Detector


def whole_file_logits(model: nn.Module, settings: dict[str, Any],
                      indexes: Mapping[str, pd.DataFrame], protocol: pd.DataFrame,
                      raw_dir: Path) -> dict[str, np.ndarray]:
    """{split: uncalibrated whole-file logits (n,)} in the order of each split's index.

    ``settings`` are the feature store's (sample rate, crop, normalisation, trimming), so the
    files are read, trimmed, windowed and averaged exactly as the shipped detector does.
    """
    detector = Detector.uncalibrated(model, settings)
    paths = dict(zip(protocol["utt_id"], protocol["path"], strict=True))
    missing = [u for idx in indexes.values() for u in idx["utt_id"] if u not in paths]
    if missing:
        raise FeatureStoreError(f"{len(missing)} utterance(s) of the feature store are not in "
                                f"the protocol, e.g. {missing[0]!r}: rerun preprocess")
    return {split: detector.file_logits([Path(raw_dir) / paths[u] for u in idx["utt_id"]])
            for split, idx in indexes.items()}
