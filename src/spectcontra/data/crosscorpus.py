"""A second corpus for cross-corpus evaluation: the synthetic generator's eval split, or a CSV corpus.

Neither shares a speaker or an attack family with the default (Debian real-speech) corpus:
the synthetic eval split holds generated voices and the attacks A05-A08 (source-filter
spoofs, not vocoder copy-synthesis), and a user's corpus (e.g. In-the-Wild) is their own.
Every row of a CSV corpus is scored; a split column, if present, is ignored.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from threadpoolctl import threadpool_limits

from spectcontra.config import SyntheticConfig
from spectcontra.data.folder import read_corpus_csv
from spectcontra.data.protocol import ProtocolError, resolve_inside
from spectcontra.data.synthetic import plan_corpus, render_utterance, speaker_profile
from spectcontra.errors import MissingInputError

CORPUS_COLUMNS = ("utt_id", "path", "label", "attack", "speaker")  # paths relative to the root
_CROSS_TAG = 11  # the cross corpus's own seed, apart from the training corpus's


def crosscorpus_seed(seed: int) -> int:
    """The generator seed of the cross corpus: new voices and utterances even when the
    training corpus is itself synthetic (same ``seed``)."""
    return int(np.random.SeedSequence([seed, _CROSS_TAG]).generate_state(1)[0])


def synthetic_eval_corpus(cfg: SyntheticConfig, speakers: int, utterances: int, seed: int,
                          sample_rate: int, out_dir: Path) -> pd.DataFrame:
    """Render the eval split of the synthetic generator, resized, as 16-bit FLAC in ``out_dir``.

    ``cfg`` gives the class balance and durations; ``speakers`` and ``utterances`` replace its
    eval sizes and ``seed`` is the corpus seed (see :func:`crosscorpus_seed`). Train and dev
    are planned at their smallest and never rendered.
    """
    sized = dataclasses.replace(cfg, eval_speakers=speakers, eval_utterances=utterances,
                                train_utterances=2, dev_utterances=2)
    plan = plan_corpus(sized, seed)
    out_dir = Path(out_dir)
    (out_dir / "eval").mkdir(parents=True, exist_ok=True)
    voices = {}
    with threadpool_limits(limits=1):  # as generate_corpus: identical bytes on every machine
        for index, row in plan.iterrows():
            if row["split"] != "eval":
                continue
            if row["speaker"] not in voices:
                voices[row["speaker"]] = speaker_profile(seed, row["speaker"])
            wave = render_utterance(int(index), row["label"], row["attack"],
                                    voices[row["speaker"]], sized, seed, sample_rate)
            sf.write(out_dir / row["path"], wave, sample_rate, subtype="PCM_16", format="FLAC")
    return plan.loc[plan["split"] == "eval", list(CORPUS_COLUMNS)].reset_index(drop=True)


def folder_corpus(csv_path: Path, root: Path) -> pd.DataFrame:
    """Every row of a corpus CSV (``data.folder``'s layouts), its audio checked under ``root``."""
    table = read_corpus_csv(Path(csv_path))
    for line, rel in zip(table.index, table["path"], strict=True):
        try:
            target = resolve_inside(Path(root), rel)
        except ProtocolError as err:
            raise ProtocolError(f"{csv_path}, line {line}: {err}") from err
        if not target.is_file():
            raise MissingInputError(f"{csv_path}, line {line}: audio file {target} is missing")
    labels = set(table["label"])
    if len(labels) < 2:
        raise ProtocolError(f"{csv_path}: a cross-corpus evaluation needs both classes, got only "
                            f"{sorted(labels)}")
    return table.loc[:, list(CORPUS_COLUMNS)].reset_index(drop=True)
