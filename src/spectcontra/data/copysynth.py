"""The Debian speech corpus: real recordings and their copy-synthesis spoofs, split by speaker.

Every spoof is a vocoded copy of a bona fide recording of the same split, so text, speaker,
duration and silences match by construction. Its level and DC offset are set to the source's,
and both classes then leave through the source's own channel (rate and codec, see
:mod:`spectcontra.data.codecs`): the vocoder is the only difference left.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import torch
from threadpoolctl import threadpool_limits

from spectcontra.audio import resample
from spectcontra.config import ConfigError, DebianSpeechConfig
from spectcontra.conventions import BONAFIDE, NO_ATTACK, SPLITS, SPOOF
from spectcontra.data.codecs import Channel, decode_file, matching_level, through_channel
from spectcontra.data.debian.catalogue import eligible, list_package
from spectcontra.data.debian.packages import COPYRIGHT, fetch_packages, licences, unpack
from spectcontra.data.folder import speaker_disjoint_split
from spectcontra.data.protocol import COLUMNS, ProtocolError
from spectcontra.data.vocoders import KNOWN_ATTACKS, UNSEEN_ATTACKS, vocode

SPLIT_CODES = {"train": "T", "dev": "D", "eval": "E"}
SPLIT_ATTACKS = {"train": KNOWN_ATTACKS, "dev": KNOWN_ATTACKS, "eval": UNSEEN_ATTACKS}
# Columns beyond the protocol schema that say where each utterance comes from.
SOURCE_COLUMNS = ("language", "source_package", "source_file")
# Domain tags keep the plan's and the renderer's random streams apart for one seed.
_PLAN_TAG, _RENDER_TAG = 1, 2


# --------------------------------------------------------------------------- plan


def draw_utterances(pool: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """A seeded draw of ``n`` recordings from the eligible ``pool``, in pool order."""
    if n > len(pool):
        raise ConfigError(f"data.debian_speech.bonafide_utterances = {n}, but only {len(pool)} "
                          f"recordings are eligible (see skip, min_seconds, max_seconds)")
    rng = np.random.default_rng([seed, _PLAN_TAG, 0])
    return pool.iloc[np.sort(rng.choice(len(pool), n, replace=False))].reset_index(drop=True)


def assign_splits(chosen: pd.DataFrame, dev_fraction: float, eval_fraction: float,
                  seed: int) -> np.ndarray:
    """Split of each chosen recording: speakers never span splits, and within each collection
    (ktuberling words, Asterisk prompts) every split gets speakers, so every split holds both
    recording channels."""
    splits = np.empty(len(chosen), dtype=object)
    for collection, group in chosen.groupby("collection", sort=True):
        # Every recording gives a bona fide and spoofs alike; doubling the rows with both
        # labels tells the speaker splitter so without changing the speakers' relative sizes.
        speakers = pd.concat([group["speaker"], group["speaker"]], ignore_index=True)
        labels = pd.Series([BONAFIDE] * len(group) + [SPOOF] * len(group))
        try:
            both = speaker_disjoint_split(speakers, labels, dev_fraction, eval_fraction, seed)
        except ProtocolError as err:
            raise ProtocolError(f"data.debian_speech, {collection} recordings: {err}") from err
        splits[group.index.to_numpy()] = both[:len(group)]
    return splits


def plan_corpus(pool: pd.DataFrame, cfg: DebianSpeechConfig, seed: int) -> pd.DataFrame:
    """Protocol rows (no audio yet) with the source of each, one bona fide and
    ``cfg.spoofs_per_utterance`` spoofs per drawn recording.

    Families are dealt by shuffled round-robin within a split, the copies of one recording
    taking consecutive families, so families are balanced and no speaker is tied to one.
    Utterance ids are numbered in a shuffled order so an id says nothing about the label.
    """
    chosen = draw_utterances(pool, cfg.bonafide_utterances, seed)
    chosen = chosen.assign(split=assign_splits(chosen, cfg.dev_fraction, cfg.eval_fraction,
                                               seed))
    parts = []
    for split_index, split in enumerate(SPLITS):
        rng = np.random.default_rng([seed, _PLAN_TAG, 1 + split_index])
        sources = chosen[chosen["split"] == split]
        attacks = SPLIT_ATTACKS[split]
        first = rng.permutation(np.arange(len(sources)) % len(attacks))
        copies = [sources.assign(label=BONAFIDE, attack=NO_ATTACK)]
        for k in range(cfg.spoofs_per_utterance):
            picked = [attacks[i] for i in (first + k) % len(attacks)]
            copies.append(sources.assign(label=SPOOF, attack=picked))
        rows = pd.concat(copies, ignore_index=True)
        rows = rows.iloc[rng.permutation(len(rows))].reset_index(drop=True)
        rows["utt_id"] = [f"DEB_{SPLIT_CODES[split]}_{i:05d}" for i in range(len(rows))]
        parts.append(rows)
    plan = pd.concat(parts, ignore_index=True)
    return plan.assign(path=plan["split"] + "/" + plan["utt_id"] + ".flac",
                       source_package=plan["package"], source_file=plan["member"])


# --------------------------------------------------------------------------- render


@dataclass(frozen=True)
class Output:
    path: str  # relative to the corpus folder
    attack: str  # NO_ATTACK for the bona fide copy
    seed: int


@dataclass(frozen=True)
class SourceTask:
    """One recording and every file made from it: it is decoded and measured once."""

    file: str
    codec: str
    file_bytes: int
    outputs: tuple[Output, ...]


def render_tasks(plan: pd.DataFrame, seed: int) -> list[SourceTask]:
    """The plan grouped by source recording; each output's seed depends on its row alone."""
    seeds = [int(np.random.SeedSequence([seed, _RENDER_TAG, i]).generate_state(1)[0])
             for i in range(len(plan))]
    plan = plan.assign(render_seed=seeds)
    return [
        SourceTask(file, str(group["codec"].iloc[0]), int(group["bytes"].iloc[0]),
                   tuple(Output(r.path, r.attack, r.render_seed)
                         for r in group.itertuples(index=False)))
        for file, group in plan.groupby("file", sort=True)
    ]


def match_level(wave: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``wave`` with the RMS (about its mean) and the mean (DC offset) of ``reference``."""
    x = wave.astype(np.float64) - wave.mean()
    ref = reference.astype(np.float64)
    gain = np.sqrt(np.mean((ref - ref.mean()) ** 2) / max(np.mean(x**2), 1e-20))
    return (x * gain + ref.mean()).astype(np.float32)


def render_source(task: SourceTask, sample_rate: int, out_dir: Path) -> list[tuple[str, float, float]]:
    """Write every output of ``task`` as 16-bit FLAC; return (attack, audio s, vocoder s) each.

    Vocoder time is this process's CPU time, so a busy machine does not inflate it.
    """
    wave, rate = decode_file(task.file, task.codec)
    channel = Channel(task.codec, rate, matching_level(wave, task.codec, rate, task.file_bytes))
    clean = resample(wave, rate, sample_rate)
    timings = []
    for out in task.outputs:
        start = time.process_time()
        if out.attack == NO_ATTACK:
            made = clean
        else:
            made = match_level(vocode(out.attack, clean, sample_rate, out.seed), clean)
        timings.append((out.attack, clean.size / sample_rate, time.process_time() - start))
        sf.write(Path(out_dir) / out.path, through_channel(made, sample_rate, channel),
                 sample_rate, subtype="PCM_16", format="FLAC")
    return timings


def _init_worker() -> None:
    torch.set_num_threads(1)


def _render_serial(tasks: Sequence[SourceTask], sample_rate: int,
                   out_dir: Path) -> list[tuple[str, float, float]]:
    with threadpool_limits(limits=1):
        return [t for task in tasks for t in render_source(task, sample_rate, out_dir)]


def render_corpus(plan: pd.DataFrame, seed: int, sample_rate: int, workers: int,
                  out_dir: Path) -> pd.DataFrame:
    """Write the audio of ``plan`` under ``out_dir``; return timings per output.

    Outputs carry their own seeds and BLAS runs single-threaded in every process, so the
    bytes do not depend on ``workers`` or on scheduling. Returns columns attack,
    audio_seconds, vocoder_seconds (0 vocoder time for bona fide).
    """
    out_dir = Path(out_dir)
    for split in SPLITS:
        (out_dir / split).mkdir(parents=True, exist_ok=True)
    tasks = render_tasks(plan, seed)
    workers = min(workers, len(tasks))
    if workers <= 1:
        timings = _render_serial(tasks, sample_rate, out_dir)
    else:
        # Several sources per job amortise the inter-process round trip; a few jobs per
        # worker keep the load even when the last jobs run long.
        batches = [tasks[i::workers * 8] for i in range(workers * 8)]
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_init_worker) as pool:
            results = pool.map(_render_serial, batches, [sample_rate] * len(batches),
                               [out_dir] * len(batches))
            timings = [t for batch in results for t in batch]
    return pd.DataFrame(timings, columns=["attack", "audio_seconds", "vocoder_seconds"])


# --------------------------------------------------------------------------- source


def write_sources(debs: dict[str, Path], roots: dict[str, Path], cfg: DebianSpeechConfig,
                  out_dir: Path) -> None:
    """Copy each package's copyright file to ``licenses/`` and list pins and licences in
    ``sources.json``: the recordings' licences travel with the corpus."""
    (out_dir / "licenses").mkdir(parents=True, exist_ok=True)
    entries = []
    for pin in cfg.packages:
        copyright_file = roots[pin.name] / COPYRIGHT.format(name=pin.name)
        target = out_dir / "licenses" / f"{pin.name}.copyright"
        shutil.copyfile(copyright_file, target)
        entries.append({"package": pin.name, "version": pin.version, "sha256": pin.sha256,
                        "deb_bytes": debs[pin.name].stat().st_size,
                        "licenses": list(licences(copyright_file.read_text())),
                        "copyright": target.relative_to(out_dir).as_posix()})
    (out_dir / "sources.json").write_text(json.dumps(entries, indent=2) + "\n")


def prepare_debian_speech(cfg: DebianSpeechConfig, seed: int, sample_rate: int, workers: int,
                          out_dir: Path, project_root: Path) -> pd.DataFrame:
    """Fetch and unpack the pinned packages, build the corpus under ``out_dir``, and return
    its protocol rows (paths relative to ``out_dir``) with :data:`SOURCE_COLUMNS` added."""
    out_dir = Path(out_dir)
    debs = fetch_packages(cfg.packages, Path(project_root) / cfg.deb_dir)
    with tempfile.TemporaryDirectory(prefix="debian-speech-") as tmp:
        roots = {name: unpack(deb, Path(tmp) / name) for name, deb in debs.items()}
        write_sources(debs, roots, cfg, out_dir)
        catalogue = pd.concat([list_package(roots[p.name], p.name) for p in cfg.packages],
                              ignore_index=True)
        pool = eligible(catalogue, cfg.skip, cfg.min_seconds, cfg.max_seconds)
        plan = plan_corpus(pool, cfg, seed)
        render_corpus(plan, seed, sample_rate, workers, out_dir)
    return plan.loc[:, [*COLUMNS, *SOURCE_COLUMNS]]
