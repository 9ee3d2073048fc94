"""The default embedded corpus: synthetic bona fide speech and eight spoofing families, seeded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from threadpoolctl import threadpool_limits

from spectcontra.config import ConfigError, SyntheticConfig
from spectcontra.conventions import BONAFIDE, NO_ATTACK, SPLITS, SPOOF
from spectcontra.data.attacks import KNOWN_ATTACKS, UNSEEN_ATTACKS, apply_attack
from spectcontra.data.channel import apply_channel, draw_timing, finish
from spectcontra.data.protocol import COLUMNS
from spectcontra.data.speech_synth import Speaker, draw_speaker, synthesize

# Domain tags keep the speaker, plan and utterance random streams apart for one seed.
_SPEAKER_TAG, _PLAN_TAG, _UTT_TAG = 1, 2, 3
SPLIT_CODES = {"train": "T", "dev": "D", "eval": "E"}
SPLIT_ATTACKS = {"train": KNOWN_ATTACKS, "dev": KNOWN_ATTACKS, "eval": UNSEEN_ATTACKS}
MIN_SECONDS = 0.25  # shorter clips leave too little speech between the silences


def _split_sizes(cfg: SyntheticConfig) -> dict[str, tuple[int, int]]:
    # Counts (>= 1 speaker, >= 2 utterances a split) are checked where params are loaded.
    sizes = {
        "train": (cfg.train_speakers, cfg.train_utterances),
        "dev": (cfg.dev_speakers, cfg.dev_utterances),
        "eval": (cfg.eval_speakers, cfg.eval_utterances),
    }
    if cfg.min_seconds < MIN_SECONDS:
        raise ConfigError(f"data.synthetic.min_seconds must be >= {MIN_SECONDS}, "
                          f"got {cfg.min_seconds}")
    return sizes


def plan_corpus(cfg: SyntheticConfig, seed: int) -> pd.DataFrame:
    """Protocol rows (no audio yet): class, attack and speaker of every utterance.

    Speakers are disjoint across splits. Within a split, classes, speakers and attacks are
    balanced by shuffled round-robin, drawn independently so no speaker is tied to an attack.
    """
    rows = []
    first_speaker = 0
    for split_idx, split in enumerate(SPLITS):
        n_speakers, n = _split_sizes(cfg)[split]
        rng = np.random.default_rng([seed, _PLAN_TAG, split_idx])
        n_bona = int(np.clip(round(cfg.bonafide_fraction * n), 1, n - 1))
        is_bona = rng.permutation(np.arange(n) < n_bona)
        attacks = SPLIT_ATTACKS[split]
        attack_of = iter(np.array(attacks)[rng.permutation(np.arange(n - n_bona) % len(attacks))])
        spk_bona = iter(rng.permutation(np.arange(n_bona) % n_speakers))
        spk_spoof = iter(rng.permutation(np.arange(n - n_bona) % n_speakers))
        code = SPLIT_CODES[split]
        for i, bona in enumerate(is_bona):
            utt_id = f"SYN_{code}_{i:05d}"
            speaker = first_speaker + int(next(spk_bona if bona else spk_spoof))
            rows.append({
                "utt_id": utt_id, "path": f"{split}/{utt_id}.flac",
                "label": BONAFIDE if bona else SPOOF, "split": split,
                "attack": NO_ATTACK if bona else str(next(attack_of)),
                "speaker": f"SYN_S{speaker:03d}",
            })
        first_speaker += n_speakers
    return pd.DataFrame(rows, columns=list(COLUMNS))


def speaker_profile(seed: int, speaker_id: str) -> Speaker:
    """The voice of ``speaker_id`` (``SYN_Snnn``) under ``seed``; odd numbers are female.

    Alternating keeps every split near half and half, so the mix of voices does not swing
    from seed to seed with a dozen speakers.
    """
    number = int(speaker_id[5:])
    rng = np.random.default_rng([seed, _SPEAKER_TAG, number])
    return draw_speaker(rng, female=number % 2 == 1)


def render_utterance(index: int, label: str, attack: str, speaker: Speaker,
                     cfg: SyntheticConfig, seed: int, sample_rate: int) -> np.ndarray:
    """The float32 wave of utterance number ``index`` of the corpus.

    Timing, channel and level come from their own random streams, drawn whatever the label,
    so both classes share their distributions exactly; only the attack stream differs.
    """
    streams = np.random.SeedSequence([seed, _UTT_TAG, index]).spawn(5)
    timing_rng, speech_rng, attack_rng, channel_rng, level_rng = (
        np.random.default_rng(s) for s in streams)
    timing = draw_timing(timing_rng, cfg.min_seconds, cfg.max_seconds, sample_rate)
    clean = synthesize(speech_rng, speaker, timing.speech, sample_rate)
    if label == BONAFIDE:
        active = clean.wave
    else:
        active = apply_attack(attack, clean, attack_rng, sample_rate)
    speech = slice(timing.lead, timing.lead + timing.speech)
    wave = np.zeros(timing.total)
    wave[speech] = active
    return finish(apply_channel(wave, speech, channel_rng, sample_rate), level_rng)


def generate_corpus(cfg: SyntheticConfig, seed: int, sample_rate: int,
                    out_dir: Path) -> pd.DataFrame:
    """Write the corpus as 16-bit FLAC under ``out_dir`` and return its protocol table.

    Paths in the table are relative to ``out_dir``. The same seed gives byte-identical files.
    BLAS runs on one thread here: a threaded matrix product may sum in another order and
    change the bytes from one machine to the next.
    """
    out_dir = Path(out_dir)
    plan = plan_corpus(cfg, seed)
    speakers = {spk: speaker_profile(seed, spk) for spk in plan["speaker"].unique()}
    for split in SPLITS:
        (out_dir / split).mkdir(parents=True, exist_ok=True)
    with threadpool_limits(limits=1):
        for index, row in enumerate(plan.itertuples(index=False)):
            wave = render_utterance(index, row.label, row.attack, speakers[row.speaker], cfg,
                                    seed, sample_rate)
            sf.write(out_dir / row.path, wave, sample_rate, subtype="PCM_16", format="FLAC")
    return plan
