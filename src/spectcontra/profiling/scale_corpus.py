"""A synthetic corpus the size of ASVspoof 2019 LA, cheap enough to generate on a laptop.

The synthetic generator (``data.synthetic``) renders one utterance in ~35 ms, 70 minutes for
LA's 121,461 on one core. Here it renders ``distinct_utterances`` per split, with its own
plan (classes, attacks and speakers balanced per split, unseen attacks and speakers in eval),
and every utterance of the full-size corpus is a copy of one of them, in turn, with its own
gain, onset and noise floor: unique 16-bit FLAC files of the same lengths, format and labels,
at ~2 ms each. Features and training cost the same per file as for rendered audio; what the
copies cannot give is new content, so the study measures memory and time, not accuracy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from threadpoolctl import threadpool_limits

from spectcontra.config import ScaleConfig, SyntheticConfig
from spectcontra.conventions import SPLITS
from spectcontra.data.protocol import COLUMNS, write_protocol
from spectcontra.data.synthetic import plan_corpus, render_utterance, speaker_profile

_COPY_TAG = 4  # after data.synthetic's speaker, plan and utterance streams
SPLIT_CODES = {"train": "T", "dev": "D", "eval": "E"}
MAX_ONSET_SECONDS = 0.1  # each copy starts up to this much later into its source
GAIN_DB = (-6.0, 0.0)  # never louder than the source: no new clipping
NOISE_DBFS = (-70.0, -50.0)  # RMS of the white noise floor added to each copy


@dataclass(frozen=True)
class CorpusSummary:
    utterances: dict[str, int]  # per split
    seconds: float  # total audio
    audio_bytes: int
    distinct_utterances: int  # rendered by the synthetic generator, all splits

    def as_dict(self) -> dict[str, float | int]:
        return {"utterances": sum(self.utterances.values()),
                **{f"{s}_utterances": n for s, n in self.utterances.items()},
                "hours": round(self.seconds / 3600, 3), "audio_bytes": self.audio_bytes,
                "distinct_utterances": self.distinct_utterances}


def source_config(cfg: ScaleConfig) -> SyntheticConfig:
    """The synthetic generator's settings for the distinct utterances of every split."""
    return SyntheticConfig(
        train_speakers=cfg.train_speakers, dev_speakers=cfg.dev_speakers,
        eval_speakers=cfg.eval_speakers,
        train_utterances=min(cfg.distinct_utterances, cfg.train_utterances),
        dev_utterances=min(cfg.distinct_utterances, cfg.dev_utterances),
        eval_utterances=min(cfg.distinct_utterances, cfg.eval_utterances),
        bonafide_fraction=cfg.bonafide_fraction, min_seconds=cfg.min_seconds,
        max_seconds=cfg.max_seconds)


def plan_scale_corpus(cfg: ScaleConfig, seed: int) -> pd.DataFrame:
    """Protocol rows of the full corpus plus ``source``, the row of the rendered plan
    (:func:`~spectcontra.data.synthetic.plan_corpus`) each utterance copies; label, attack
    and speaker are the source's."""
    sources = plan_corpus(source_config(cfg), seed)
    parts = []
    for split in SPLITS:
        pool = np.flatnonzero(sources["split"].to_numpy() == split)
        n = getattr(cfg, f"{split}_utterances")
        picked = pool[np.arange(n) % pool.size]
        part = sources.iloc[picked].reset_index(drop=True)
        part["source"] = picked
        part["utt_id"] = [f"SCALE_{SPLIT_CODES[split]}_{i:07d}" for i in range(n)]
        part["path"] = [f"{split}/{u}.flac" for u in part["utt_id"]]
        parts.append(part)
    return pd.concat(parts, ignore_index=True).loc[:, [*COLUMNS, "source"]]


def vary(wave: np.ndarray, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """A copy of ``wave`` with its own onset, gain and noise floor (float32 in [-1, 1])."""
    onset = int(rng.integers(0, int(MAX_ONSET_SECONDS * sample_rate) + 1))
    onset = min(onset, wave.size // 4)  # keep most of a short source
    x = wave[onset:] * np.float32(10 ** (rng.uniform(*GAIN_DB) / 20))
    noise_rms = np.float32(10 ** (rng.uniform(*NOISE_DBFS) / 20))
    x = x + noise_rms * rng.standard_normal(x.size, dtype=np.float32)
    return np.clip(x, -1.0, 1.0)


def generate_scale_corpus(cfg: ScaleConfig, seed: int, sample_rate: int, out_dir: Path,
                          protocol_path: Path,
                          log: Callable[[str], None] = lambda _: None) -> CorpusSummary:
    """Write every utterance of :func:`plan_scale_corpus` under ``out_dir`` (FLAC, paths as in
    the protocol) and the protocol to ``protocol_path``; one split's sources in memory at a
    time. The same seed gives the same files."""
    out_dir = Path(out_dir)
    plan = plan_scale_corpus(cfg, seed)
    syn = source_config(cfg)
    sources = plan_corpus(syn, seed)
    seconds, audio_bytes, counts = 0.0, 0, {}
    with threadpool_limits(limits=1):  # as data.synthetic: rendering is then byte-reproducible
        for split_idx, split in enumerate(SPLITS):
            rows = plan[plan["split"] == split]
            (out_dir / split).mkdir(parents=True, exist_ok=True)
            rendered, voices = {}, {}
            for src in np.unique(rows["source"].to_numpy()):
                row = sources.iloc[src]
                if row["speaker"] not in voices:
                    voices[row["speaker"]] = speaker_profile(seed, row["speaker"])
                rendered[src] = render_utterance(int(src), row["label"], row["attack"],
                                                 voices[row["speaker"]], syn, seed, sample_rate)
            log(f"{split}: {len(rendered)} distinct utterances rendered, writing {len(rows)}")
            for i, (path, src) in enumerate(zip(rows["path"], rows["source"], strict=True)):
                rng = np.random.default_rng([seed, _COPY_TAG, split_idx, i])
                wave = vary(rendered[src], rng, sample_rate)
                sf.write(out_dir / path, wave, sample_rate, subtype="PCM_16", format="FLAC")
                seconds += wave.size / sample_rate
                audio_bytes += (out_dir / path).stat().st_size
            counts[split] = len(rows)
    write_protocol(plan.loc[:, list(COLUMNS)], protocol_path)
    return CorpusSummary(counts, seconds, audio_bytes, int(plan["source"].nunique()))
