"""Typed, frozen configuration loaded from ``params.yaml``; bad keys fail by name."""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from spectcontra.conventions import MAX_AUDIO_RATE, PROFILE_REFERENCE_SECONDS
from spectcontra.errors import InputError

# Seeds reach random, NumPy, torch and scikit-learn; the last takes only [0, 2**32).
MAX_SEED = 2**32 - 1
# wav2vec2-base has 12 transformer layers, numbered from 1 as in the Green AI paper.
WAV2VEC2_BASE_LAYERS = 12


class ConfigError(InputError):
    """A params file that is missing, malformed, or holds a missing/unknown/mistyped key."""


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class CommonConfig:
    seed: int
    sample_rate: int
    crop_seconds: float
    threads: int

    def __post_init__(self) -> None:
        _check_seed(self.seed, "common.seed")
        _check(8000 <= self.sample_rate <= MAX_AUDIO_RATE, "common.sample_rate", self.sample_rate,
               f"in [8000, {MAX_AUDIO_RATE}]")
        _check(self.crop_seconds > 0, "common.crop_seconds", self.crop_seconds, "> 0")
        _check(self.threads >= 1, "common.threads", self.threads, ">= 1")

    @property
    def crop_samples(self) -> int:
        return int(round(self.crop_seconds * self.sample_rate))


@dataclass(frozen=True)
class SyntheticConfig:
    train_speakers: int
    dev_speakers: int
    eval_speakers: int
    train_utterances: int
    dev_utterances: int
    eval_utterances: int
    bonafide_fraction: float
    min_seconds: float
    max_seconds: float

    def __post_init__(self) -> None:
        for split in ("train", "dev", "eval"):
            _check(getattr(self, f"{split}_speakers") >= 1, f"data.synthetic.{split}_speakers",
                   getattr(self, f"{split}_speakers"), ">= 1")
            _check(getattr(self, f"{split}_utterances") >= 2,
                   f"data.synthetic.{split}_utterances", getattr(self, f"{split}_utterances"),
                   ">= 2 (one per class)")
        _check(0 < self.bonafide_fraction < 1, "data.synthetic.bonafide_fraction",
               self.bonafide_fraction, "in (0, 1)")
        _check(0 < self.min_seconds <= self.max_seconds, "data.synthetic.min_seconds",
               self.min_seconds, "> 0 and <= max_seconds")


@dataclass(frozen=True)
class Asvspoof2019Config:
    url: str
    size_bytes: int
    md5: str
    archive_dir: str
    max_per_split: int  # 0 keeps every utterance; >0 takes a seeded, class-stratified subset

    def __post_init__(self) -> None:
        _check(re.fullmatch(r"(https?|file)://\S+", self.url) is not None,
               "data.asvspoof2019_la.url", self.url, "an http(s) or file URL")
        _check(self.size_bytes >= 0, "data.asvspoof2019_la.size_bytes", self.size_bytes,
               ">= 0 (0 = not checked)")
        _check(re.fullmatch(r"([0-9a-fA-F]{32})?", self.md5) is not None,
               "data.asvspoof2019_la.md5", self.md5, "32 hex digits (\"\" = not checked)")
        _check(self.max_per_split >= 0, "data.asvspoof2019_la.max_per_split",
               self.max_per_split, ">= 0 (0 = every utterance)")


@dataclass(frozen=True)
class FolderConfig:
    csv: str
    root: str
    dev_fraction: float
    eval_fraction: float

    def __post_init__(self) -> None:
        _check(self.csv != "", "data.folder.csv", self.csv, "a CSV path")
        _check(self.root != "", "data.folder.root", self.root, "a folder ('.' for the project)")
        # Every split needs speakers: calibration and the threshold come from dev, results
        # from eval, so neither fraction may be 0.
        _check(0 < self.dev_fraction < 1, "data.folder.dev_fraction", self.dev_fraction,
               "in (0, 1)")
        _check(0 < self.eval_fraction < 1, "data.folder.eval_fraction", self.eval_fraction,
               "in (0, 1)")
        _check(self.dev_fraction + self.eval_fraction < 1,
               "data.folder.dev_fraction/eval_fraction",
               (self.dev_fraction, self.eval_fraction), "fractions summing to < 1 (train gets "
               "the rest)")


@dataclass(frozen=True)
class DebianPackage:
    name: str
    version: str  # exact Debian version, epoch included (apt-get download NAME=VERSION)
    sha256: str  # of the .deb file

    def __post_init__(self) -> None:
        _check(len(self.sha256) == 64 and all(c in "0123456789abcdef" for c in self.sha256),
               f"data.debian_speech.packages[{self.name}].sha256", self.sha256,
               "64 lowercase hex digits")


@dataclass(frozen=True)
class DebianSpeechConfig:
    deb_dir: str  # .deb cache (and where pre-downloaded .deb files go); outside git and DVC
    packages: tuple[DebianPackage, ...]
    skip: tuple[str, ...]  # globs, relative to a speaker's folder, of files that hold no speech
    min_seconds: float
    max_seconds: float
    bonafide_utterances: int  # drawn from the eligible recordings; each also gets its spoofs
    spoofs_per_utterance: int
    dev_fraction: float
    eval_fraction: float

    def __post_init__(self) -> None:
        names = [p.name for p in self.packages]
        _check(len(names) >= 1 and len(set(names)) == len(names),
               "data.debian_speech.packages", names, "at least one package, no repeats")
        _check(0 < self.min_seconds <= self.max_seconds, "data.debian_speech.min_seconds",
               self.min_seconds, "> 0 and <= max_seconds")
        _check(self.bonafide_utterances >= 3, "data.debian_speech.bonafide_utterances",
               self.bonafide_utterances, ">= 3 (one per split)")
        _check(self.spoofs_per_utterance >= 1, "data.debian_speech.spoofs_per_utterance",
               self.spoofs_per_utterance, ">= 1")
        _check(0 < self.dev_fraction < 1 and 0 < self.eval_fraction < 1
               and self.dev_fraction + self.eval_fraction < 1,
               "data.debian_speech.dev_fraction/eval_fraction",
               (self.dev_fraction, self.eval_fraction), "positive fractions summing to < 1")


@dataclass(frozen=True)
class DataConfig:
    source: Literal["synthetic", "debian_speech", "asvspoof2019_la", "folder"]
    synthetic: SyntheticConfig
    debian_speech: DebianSpeechConfig
    asvspoof2019_la: Asvspoof2019Config
    folder: FolderConfig


@dataclass(frozen=True)
class PreprocessConfig:
    n_fft: int
    hop_length: int
    n_mels: int
    n_linear: int
    trim_silence: bool
    trim_db: float
    bad_audio: Literal["error", "skip"]
    signal_augment: bool
    # Memory preprocess may use for data, beyond the process's fixed cost (interpreter, torch):
    # it sets how many utterances are featurised before a chunk is written.
    memory_budget_mb: int

    def __post_init__(self) -> None:
        _check(self.n_fft >= 2, "preprocess.n_fft", self.n_fft, ">= 2")
        _check(self.hop_length > 0 and self.n_fft >= self.hop_length, "preprocess.hop_length",
               self.hop_length, "> 0 and <= n_fft")
        # More filters than STFT bins leaves filters with no bin: all-zero feature rows.
        n_freqs = self.n_fft // 2 + 1
        for key in ("n_mels", "n_linear"):
            _check(0 < getattr(self, key) <= n_freqs, f"preprocess.{key}", getattr(self, key),
                   f"in [1, n_fft/2+1 = {n_freqs}]")
        _check(self.trim_db > 0, "preprocess.trim_db", self.trim_db, "> 0 dB")
        _check(self.memory_budget_mb > 0, "preprocess.memory_budget_mb", self.memory_budget_mb,
               "> 0 (MB)")


@dataclass(frozen=True)
class EncoderConfig:
    channels: tuple[int, ...]
    embed_dim: int
    heads: int
    dropout: float

    def __post_init__(self) -> None:
        _check(len(self.channels) >= 1 and all(c > 0 for c in self.channels),
               "pretrain.encoder.channels", self.channels, "a non-empty list of positive ints")
        _check(self.heads >= 1, "pretrain.encoder.heads", self.heads, ">= 1")
        _check(self.embed_dim > 0 and self.embed_dim % self.heads == 0,
               "pretrain.encoder.embed_dim", self.embed_dim,
               f"> 0 and divisible by pretrain.encoder.heads = {self.heads}")
        _check(0 <= self.dropout < 1, "pretrain.encoder.dropout", self.dropout, "in [0, 1)")


@dataclass(frozen=True)
class AugmentConfig:
    time_mask: int  # widest time mask in frames; 0 = off
    freq_mask: int  # widest frequency mask in bins; 0 = off
    gain_db: float  # random gain range +/- dB on the log spectrogram; 0 = off
    noise_std: float  # additive Gaussian noise on normalised features; 0 = off
    signal_effects: bool  # each example draws clean or signal-augmented features, every step

    def check(self, section: str) -> None:
        """Called by the section holding it, which knows the key's full name."""
        for key in ("time_mask", "freq_mask", "gain_db", "noise_std"):
            _check(getattr(self, key) >= 0, f"{section}.augment.{key}", getattr(self, key),
                   ">= 0 (0 = off)")


VIEWS = ("mel", "linear")


@dataclass(frozen=True)
class PretrainConfig:
    # One encoder per seed; the finetune stage pairs each with a detector of the same seed and
    # ships the one whose dev EER is the median.
    seeds: tuple[int, ...]
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    temperature: float
    contrastive_weight: float  # 0 = no contrastive pretraining (encoder stays at its init)
    supervised_contrastive: bool
    cross_attention: bool
    alpha: float  # weight of the cross-attention loss: L = L_SA + alpha * L_CA
    views: tuple[str, ...]
    projection_dim: int
    # Each view sees its own random span of this fraction of the stored crop's frames, so the
    # two views are not frame-aligned (1.0 = the whole crop for both, aligned).
    view_crop_fraction: float
    encoder: EncoderConfig
    augment: AugmentConfig

    def __post_init__(self) -> None:
        _check(len(self.seeds) >= 1 and len(set(self.seeds)) == len(self.seeds),
               "pretrain.seeds", self.seeds, ">= 1 distinct seeds")
        for i, seed in enumerate(self.seeds):
            _check_seed(seed, f"pretrain.seeds[{i}]")
        _check(self.epochs >= 0, "pretrain.epochs", self.epochs, ">= 0")
        _check(self.batch_size >= 2, "pretrain.batch_size", self.batch_size, ">= 2")
        _check(self.lr > 0, "pretrain.lr", self.lr, "> 0")
        _check(self.weight_decay >= 0, "pretrain.weight_decay", self.weight_decay, ">= 0")
        _check(self.temperature > 0, "pretrain.temperature", self.temperature, "> 0")
        _check(self.alpha >= 0, "pretrain.alpha", self.alpha, ">= 0")
        _check(self.projection_dim >= 1, "pretrain.projection_dim", self.projection_dim, ">= 1")
        self.augment.check("pretrain")
        _check(self.contrastive_weight >= 0, "pretrain.contrastive_weight",
               self.contrastive_weight, ">= 0")
        _check(len(self.views) >= 1 and set(self.views) <= set(VIEWS)
               and len(set(self.views)) == len(self.views),
               "pretrain.views", self.views, f"distinct names from {VIEWS}")
        _check(not self.cross_attention or len(self.views) == 2 or self.augment.signal_effects
               or self.augment.time_mask > 0 or self.augment.freq_mask > 0,
               "pretrain.cross_attention", self.cross_attention,
               "two views or an augmentation that makes the second view differ")
        _check(0 < self.view_crop_fraction <= 1, "pretrain.view_crop_fraction",
               self.view_crop_fraction, "in (0, 1]")


@dataclass(frozen=True)
class FinetuneConfig:
    strategy: Literal["frozen", "partial", "full", "logreg"]
    head: Literal["linear", "mlp"]
    head_hidden: int
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    calibration: Literal["temperature", "logistic", "none"]
    patience: int  # stop after this many dev checks without a lower dev EER; 0 = never stop early
    augment: AugmentConfig  # training-time augmentation of the labelled data (all zero = off)

    def __post_init__(self) -> None:
        _check(self.epochs >= 1, "finetune.epochs", self.epochs, ">= 1")
        _check(self.patience >= 0, "finetune.patience", self.patience, ">= 0")
        _check(self.batch_size >= 1, "finetune.batch_size", self.batch_size, ">= 1")
        _check(self.lr > 0, "finetune.lr", self.lr, "> 0")
        _check(self.weight_decay >= 0, "finetune.weight_decay", self.weight_decay, ">= 0")
        self.augment.check("finetune")
        _check(self.head != "mlp" or self.head_hidden > 0, "finetune.head_hidden",
               self.head_hidden, "> 0 for an MLP head")


@dataclass(frozen=True)
class EvaluateConfig:
    n_bootstrap: int
    ci_level: float
    ece_bins: int
    bootstrap_unit: Literal["speaker", "utterance"]  # what a resample draws (evaluation/bootstrap.py)

    def __post_init__(self) -> None:
        _check(self.n_bootstrap >= 10, "evaluate.n_bootstrap", self.n_bootstrap, ">= 10")
        _check(0.5 < self.ci_level < 1, "evaluate.ci_level", self.ci_level, "in (0.5, 1)")
        _check(self.ece_bins >= 2, "evaluate.ece_bins", self.ece_bins, ">= 2")


@dataclass(frozen=True)
class ClassicBaselineConfig:
    n_lfcc: int
    classifier: Literal["logreg", "gmm"]
    gmm_components: int

    def __post_init__(self) -> None:
        _check(self.n_lfcc >= 1, "baselines.classic.n_lfcc", self.n_lfcc, ">= 1")
        _check(self.gmm_components >= 1, "baselines.classic.gmm_components",
               self.gmm_components, ">= 1")


@dataclass(frozen=True)
class GreenAiConfig:
    enabled: bool
    checkpoint: str  # local wav2vec2-base state_dict path; "" = torchaudio's WAV2VEC2_BASE bundle
    layers: tuple[int, ...]  # transformer layers, 1..12 (layer_embeddings reads hidden[k - 1])
    classifiers: tuple[Literal["logreg", "svm"], ...]

    def __post_init__(self) -> None:
        _check(len(self.layers) >= 1 and len(set(self.layers)) == len(self.layers)
               and all(1 <= k <= WAV2VEC2_BASE_LAYERS for k in self.layers),
               "baselines.green_ai.layers", self.layers,
               f"distinct transformer layers in [1, {WAV2VEC2_BASE_LAYERS}] (wav2vec2-base)")
        _check(len(self.classifiers) >= 1 and len(set(self.classifiers)) == len(self.classifiers),
               "baselines.green_ai.classifiers", self.classifiers, "at least one, no repeats")


@dataclass(frozen=True)
class PretrainedEmbeddingConfig:
    enabled: bool
    classifiers: tuple[Literal["logreg", "svm"], ...]  # chosen on dev, with C
    c_grid: tuple[float, ...]  # inverse regularisation strengths tried for every classifier

    def __post_init__(self) -> None:
        _check(len(self.classifiers) >= 1 and len(set(self.classifiers)) == len(self.classifiers),
               "baselines.pretrained_embedding.classifiers", self.classifiers,
               "at least one, no repeats")
        _check(len(self.c_grid) >= 1 and len(set(self.c_grid)) == len(self.c_grid)
               and all(c > 0 for c in self.c_grid), "baselines.pretrained_embedding.c_grid",
               self.c_grid, "at least one positive C, no repeats")


@dataclass(frozen=True)
class BaselinesConfig:
    classic: ClassicBaselineConfig
    green_ai: GreenAiConfig
    pretrained_embedding: PretrainedEmbeddingConfig


@dataclass(frozen=True)
class AblateConfig:
    seeds: tuple[int, ...]
    scale: Literal["small", "full"]
    small_train_utterances: int  # class-stratified training subset per run at scale "small"
    small_dev_utterances: int  # the same for dev (epoch selection, calibration) ...
    small_eval_utterances: int  # ... and eval, since scoring them dominates a short run's cost
    small_epochs: int  # cap on pretrain and finetune epochs per run at scale "small"
    variants: dict[str, dict[str, Any]]  # name -> {"section.key": value} overrides

    def __post_init__(self) -> None:
        _check(len(self.seeds) >= 1 and len(set(self.seeds)) == len(self.seeds), "ablate.seeds",
               self.seeds, "at least one seed, no repeats")
        for i, seed in enumerate(self.seeds):
            _check_seed(seed, f"ablate.seeds[{i}]")
        for key in ("small_train_utterances", "small_dev_utterances", "small_eval_utterances"):
            _check(getattr(self, key) >= 2, f"ablate.{key}", getattr(self, key), ">= 2")
        _check(self.small_epochs >= 1, "ablate.small_epochs", self.small_epochs, ">= 1")
        _check(len(self.variants) >= 1, "ablate.variants", self.variants, "at least one variant")
        for name, overrides in self.variants.items():
            _check(isinstance(overrides, dict) and all(isinstance(k, str) for k in overrides),
                   f"ablate.variants.{name}", overrides, "a mapping of dotted params keys")


@dataclass(frozen=True)
class ProfileConfig:
    durations: tuple[float, ...]
    warmup: int
    runs: int
    batch_size: int
    quantize: bool
    wav2vec2: bool

    def __post_init__(self) -> None:
        _check(all(d > 0 for d in self.durations) and len(set(self.durations)) == len(self.durations)
               and PROFILE_REFERENCE_SECONDS in self.durations, "profile.durations",
               self.durations, f"distinct positive seconds including {PROFILE_REFERENCE_SECONDS:g} "
               "(the reference clip the targets and MACs are reported for)")
        _check(self.warmup >= 0, "profile.warmup", self.warmup, ">= 0")
        _check(self.runs >= 1, "profile.runs", self.runs, ">= 1")
        _check(self.batch_size >= 1, "profile.batch_size", self.batch_size, ">= 1")


@dataclass(frozen=True)
class DetectConfig:
    examples_per_class: int
    band_bins: int  # bins per occluded band in the band-importance analysis
    occlusion_utterances: int  # seeded, class-stratified eval subset for band occlusion

    def __post_init__(self) -> None:
        _check(self.examples_per_class >= 1, "detect.examples_per_class",
               self.examples_per_class, ">= 1")
        _check(self.band_bins >= 1, "detect.band_bins", self.band_bins, ">= 1")
        _check(self.occlusion_utterances >= 2, "detect.occlusion_utterances",
               self.occlusion_utterances, ">= 2")


@dataclass(frozen=True)
class LabelEfficiencyConfig:
    fractions: tuple[float, ...]  # nested labelled fractions of train, each in (0, 1]
    seeds: tuple[int, ...]  # every arm and fraction runs once per seed (paired)
    steps: int  # optimiser steps of every fine-tuning run, whatever the fraction
    n_bootstrap: int  # speaker x seed bootstrap replicates per interval

    def __post_init__(self) -> None:
        _check(len(self.fractions) >= 1 and all(0 < f <= 1 for f in self.fractions)
               and len(set(self.fractions)) == len(self.fractions),
               "label_efficiency.fractions", self.fractions, "distinct values in (0, 1]")
        _check(len(self.seeds) >= 2 and len(set(self.seeds)) == len(self.seeds)
               and all(s >= 0 for s in self.seeds),
               "label_efficiency.seeds", self.seeds, ">= 2 distinct seeds >= 0")
        _check(self.steps >= 1, "label_efficiency.steps", self.steps, ">= 1")
        _check(self.n_bootstrap >= 10, "label_efficiency.n_bootstrap", self.n_bootstrap, ">= 10")


@dataclass(frozen=True)
class CrossevalFolderConfig:
    csv: str  # data.folder's CSV layouts (In-the-Wild meta.csv too); every row is scored
    root: str  # audio paths in the CSV are relative to this folder

    def __post_init__(self) -> None:
        _check(self.csv != "", "crosseval.folder.csv", self.csv, "a CSV path")
        _check(self.root != "", "crosseval.folder.root", self.root,
               "a folder ('.' for the project)")


@dataclass(frozen=True)
class CrossevalConfig:
    source: Literal["synthetic", "folder"]
    synthetic_speakers: int  # the synthetic generator's eval split, resized
    synthetic_utterances: int
    folder: CrossevalFolderConfig

    def __post_init__(self) -> None:
        # the speaker bootstrap needs >= 2 speakers with each class
        _check(self.synthetic_speakers >= 2, "crosseval.synthetic_speakers",
               self.synthetic_speakers, ">= 2")
        _check(self.synthetic_utterances >= 2 * self.synthetic_speakers,
               "crosseval.synthetic_utterances", self.synthetic_utterances,
               f">= 2 x crosseval.synthetic_speakers = {2 * self.synthetic_speakers}")


@dataclass(frozen=True)
class ConditionsConfig:
    names: tuple[Literal["mp3", "opus", "telephone", "noise"], ...]  # clean is always scored
    utterances: int  # eval files put through every condition: 0 = all, else a stratified draw
    mp3_kbps: int
    opus_kbps: int
    noise_snr_db: float

    def __post_init__(self) -> None:
        _check(len(self.names) >= 1 and len(set(self.names)) == len(self.names),
               "conditions.names", self.names, "at least one condition, no repeats")
        _check(self.utterances == 0 or self.utterances >= 20, "conditions.utterances",
               self.utterances, "0 (every eval file) or >= 20")
        _check(8 <= self.mp3_kbps <= 320, "conditions.mp3_kbps", self.mp3_kbps,
               "in [8, 320] (LAME's bit rates)")
        _check(6 <= self.opus_kbps <= 510, "conditions.opus_kbps", self.opus_kbps,
               "in [6, 510] (libopus's bit rates)")


@dataclass(frozen=True)
class ScaleConfig:
    """The scale study: a generated corpus the size of ASVspoof 2019 LA, preprocessed and
    fine-tuned on in child processes whose peak memory is measured."""

    train_utterances: int  # ASVspoof 2019 LA: 25,380 / 24,844 / 71,237 utterances
    dev_utterances: int
    eval_utterances: int
    train_speakers: int  # ... and 20 / 20 / 67 speakers
    dev_speakers: int
    eval_speakers: int
    bonafide_fraction: float
    min_seconds: float
    max_seconds: float
    # Utterances per split rendered by the synthetic generator (~35 ms each); every other
    # utterance is a copy of one of them with its own gain, onset and noise floor.
    distinct_utterances: int
    finetune_epochs: int  # one fine-tuning run this long (with its dev checks), no early stop

    def __post_init__(self) -> None:
        for split in ("train", "dev", "eval"):
            n, speakers = getattr(self, f"{split}_utterances"), getattr(self, f"{split}_speakers")
            _check(n >= 2, f"scale.{split}_utterances", n, ">= 2 (one per class)")
            _check(speakers >= 1, f"scale.{split}_speakers", speakers, ">= 1")
        _check(0 < self.bonafide_fraction < 1, "scale.bonafide_fraction", self.bonafide_fraction,
               "in (0, 1)")
        _check(0.25 <= self.min_seconds <= self.max_seconds, "scale.min_seconds",
               self.min_seconds, ">= 0.25 and <= scale.max_seconds")
        _check(self.distinct_utterances >= 2, "scale.distinct_utterances",
               self.distinct_utterances, ">= 2 (one per class)")
        _check(self.finetune_epochs >= 1, "scale.finetune_epochs", self.finetune_epochs, ">= 1")


@dataclass(frozen=True)
class Config:
    common: CommonConfig
    data: DataConfig
    preprocess: PreprocessConfig
    pretrain: PretrainConfig
    finetune: FinetuneConfig
    evaluate: EvaluateConfig
    baselines: BaselinesConfig
    ablate: AblateConfig
    label_efficiency: LabelEfficiencyConfig
    profile: ProfileConfig
    detect: DetectConfig
    crosseval: CrossevalConfig
    conditions: ConditionsConfig
    scale: ScaleConfig


# --------------------------------------------------------------------------- loading


def _check(ok: bool, key: str, value: Any, expected: str) -> None:
    if not ok:
        raise ConfigError(f"params key {key!r} = {value!r} is invalid: expected {expected}")


def _check_seed(seed: int, key: str) -> None:
    _check(0 <= seed <= MAX_SEED, key, seed, "in [0, 2**32 - 1]")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp`` (no silent conversions but int -> float)."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"params key {key!r} must be a mapping, got {type(value).__name__}")
        return build(tp, value, key)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"params key {key!r} = {value!r}: expected one of {typing.get_args(tp)}")
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arg in typing.get_args(tp):
            try:
                return _coerce(value, arg, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"params key {key!r} = {value!r} matches none of {tp}")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"params key {key!r} must be a list, got {type(value).__name__}")
        (item_tp, _ellipsis) = typing.get_args(tp)
        return tuple(_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"params key {key!r} must be a mapping, got {type(value).__name__}")
        return value
    if tp is type(None):
        if value is not None:
            raise ConfigError(f"params key {key!r} must be null, got {value!r}")
        return None
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"params key {key!r} must be a YAML boolean (true/false), got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"params key {key!r} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"params key {key!r} must be a number, got {value!r}")
        # No params value means "unbounded": .inf or .nan is a typo that would fail late.
        if not math.isfinite(value):
            raise ConfigError(f"params key {key!r} must be a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"params key {key!r} must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported annotation {tp!r} for {key}")


def build(cls: type, raw: dict[str, Any], prefix: str = "") -> Any:
    """Build the frozen dataclass ``cls`` from ``raw``; unknown and missing keys are errors."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    dotted = (lambda k: f"{prefix}.{k}") if prefix else (lambda k: k)
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise ConfigError(f"unknown params key(s): {', '.join(dotted(k) for k in unknown)}")
    required = [
        f.name for f in dataclasses.fields(cls)
        if f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [k for k in required if k not in raw]
    if missing:
        raise ConfigError(f"missing params key(s): {', '.join(dotted(k) for k in missing)}")
    kwargs = {k: _coerce(v, hints[k], dotted(k)) for k, v in raw.items()}
    return cls(**kwargs)


def load_config(path: str | Path) -> Config:
    """Read and validate ``params.yaml`` into a frozen :class:`Config`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read params file {path}: {err}") from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"params file {path} is not UTF-8 text ({err.reason} at byte "
                          f"{err.start})") from err
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"params file {path} is not valid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"params file {path} must hold a mapping of sections")
    return build(Config, raw)


def with_overrides(cfg: Config, overrides: dict[str, Any]) -> Config:
    """Return ``cfg`` with dotted-key overrides applied, validated like the params file."""
    raw = dataclasses.asdict(cfg)
    for dotted_key, value in overrides.items():
        node = raw
        *parents, leaf = dotted_key.split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"override key {dotted_key!r} names no params section")
            node = node[part]
        if leaf not in node:
            raise ConfigError(f"override key {dotted_key!r} is not a params key")
        node[leaf] = value
    return build(Config, _lists(raw))


def _lists(obj: Any) -> Any:
    # asdict() yields tuples; the loader expects YAML-shaped lists.
    if isinstance(obj, dict):
        return {k: _lists(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return [_lists(v) for v in obj]
    return obj
