"""The params loader: typed, frozen, and loud about missing, unknown and mistyped keys."""

from __future__ import annotations

import dataclasses

import pytest

from spectcontra.config import ConfigError, load_config, with_overrides
from tests.conftest import ROOT


def test_default_params_load_and_are_frozen() -> None:
    cfg = load_config(ROOT / "params.yaml")
    assert cfg.common.crop_samples == round(cfg.common.crop_seconds * cfg.common.sample_rate)
    assert isinstance(cfg.pretrain.encoder.channels, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.common.seed = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r["common"].pop("seed"), "missing params key(s): common.seed"),
        (lambda r: r["preprocess"].update(n_melz=3), "unknown params key(s): preprocess.n_melz"),
        (lambda r: r["common"].update(seed="7"), "'common.seed' must be an integer"),
        (lambda r: r["common"].update(seed=True), "'common.seed' must be an integer"),
        (lambda r: r["preprocess"].update(trim_silence="yes"), "must be a YAML boolean"),
        (lambda r: r["data"].update(source="youtube"), "'data.source' = 'youtube': expected one of"),
        (lambda r: r["pretrain"].update(views=["mel", "cqt"]), "'pretrain.views'"),
        (lambda r: r["pretrain"].update(seeds=[]), "'pretrain.seeds' = () is invalid"),
        (lambda r: r["pretrain"].update(seeds=[3, 3]), "'pretrain.seeds' = (3, 3) is invalid"),
        (lambda r: r["pretrain"].update(seeds=[1, -2]), "'pretrain.seeds[1]' = -2 is invalid"),
        (lambda r: r["pretrain"]["encoder"].update(channels="16"),
         "'pretrain.encoder.channels' must be a list"),
        (lambda r: r["common"].update(threads=0), "'common.threads' = 0 is invalid"),
        (lambda r: r.pop("finetune"), "missing params key(s): finetune"),
        (lambda r: r.update(extra_section={}), "unknown params key(s): extra_section"),
    ],
)
def test_bad_params_name_the_key(params_raw, write_params, mutate, message) -> None:
    mutate(params_raw)
    with pytest.raises(ConfigError, match=None) as info:
        load_config(write_params(params_raw))
    assert message in str(info.value)


def _set(dotted: str, value):
    """A mutation of the raw params: ``section.sub.key`` (``key[i]`` for a list item) = value."""

    def mutate(raw: dict) -> None:
        *parents, leaf = dotted.split(".")
        node = raw
        for part in parents:
            node = node[part]
        if leaf.endswith("]"):
            name, index = leaf[:-1].split("[")
            node[name][int(index)] = value
        else:
            node[leaf] = value

    return mutate


# (dotted key to set, bad value, the key the error must name). Each value passes the type
# check and fails on its meaning, so each row tests one validation rule.
BAD_VALUES = [
    ("common.seed", -1, "common.seed"),
    ("common.seed", 2**32, "common.seed"),
    ("common.sample_rate", 4000, "common.sample_rate"),
    ("common.sample_rate", 400_000, "common.sample_rate"),
    ("common.crop_seconds", 0.0, "common.crop_seconds"),
    ("common.crop_seconds", float("inf"), "common.crop_seconds"),
    ("data.synthetic.train_speakers", 0, "data.synthetic.train_speakers"),
    ("data.synthetic.dev_utterances", 1, "data.synthetic.dev_utterances"),
    ("data.synthetic.eval_utterances", -5, "data.synthetic.eval_utterances"),
    ("data.synthetic.bonafide_fraction", 1.0, "data.synthetic.bonafide_fraction"),
    ("data.asvspoof2019_la.md5", "30c98f11d8b2bc21f2c257bfd78bb5c", "data.asvspoof2019_la.md5"),
    ("data.asvspoof2019_la.md5", "z" * 32, "data.asvspoof2019_la.md5"),
    ("data.asvspoof2019_la.size_bytes", -1, "data.asvspoof2019_la.size_bytes"),
    ("data.asvspoof2019_la.url", "datashare.ed.ac.uk/LA.zip", "data.asvspoof2019_la.url"),
    ("data.asvspoof2019_la.max_per_split", -1, "data.asvspoof2019_la.max_per_split"),
    ("data.folder.dev_fraction", 0.0, "data.folder.dev_fraction"),
    ("data.folder.eval_fraction", 0.0, "data.folder.eval_fraction"),
    ("data.folder.dev_fraction", 0.75, "data.folder.dev_fraction/eval_fraction"),
    ("data.folder.root", "", "data.folder.root"),
    ("preprocess.n_fft", 0, "preprocess.n_fft"),
    ("preprocess.hop_length", 0, "preprocess.hop_length"),
    ("preprocess.n_mels", 258, "preprocess.n_mels"),  # n_fft 512 -> 257 bins
    ("preprocess.n_linear", 300, "preprocess.n_linear"),
    ("preprocess.n_mels", 0, "preprocess.n_mels"),
    ("preprocess.trim_db", 0.0, "preprocess.trim_db"),
    ("preprocess.trim_db", -40.0, "preprocess.trim_db"),
    ("preprocess.memory_budget_mb", 0, "preprocess.memory_budget_mb"),
    ("preprocess.memory_budget_mb", -512, "preprocess.memory_budget_mb"),
    ("scale.eval_utterances", 1, "scale.eval_utterances"),
    ("scale.dev_speakers", 0, "scale.dev_speakers"),
    ("scale.bonafide_fraction", 0.0, "scale.bonafide_fraction"),
    ("scale.min_seconds", 4.0, "scale.min_seconds"),  # > max_seconds
    ("scale.distinct_utterances", 1, "scale.distinct_utterances"),
    ("scale.finetune_epochs", 0, "scale.finetune_epochs"),
    ("pretrain.epochs", -1, "pretrain.epochs"),
    ("pretrain.batch_size", 1, "pretrain.batch_size"),
    ("pretrain.lr", float("inf"), "pretrain.lr"),
    ("pretrain.lr", float("nan"), "pretrain.lr"),
    ("pretrain.lr", 0.0, "pretrain.lr"),
    ("pretrain.weight_decay", float("inf"), "pretrain.weight_decay"),
    ("pretrain.weight_decay", -1e-4, "pretrain.weight_decay"),
    ("pretrain.temperature", float("nan"), "pretrain.temperature"),
    ("pretrain.temperature", 0.0, "pretrain.temperature"),
    ("pretrain.alpha", -0.5, "pretrain.alpha"),
    ("pretrain.projection_dim", 0, "pretrain.projection_dim"),
    ("pretrain.encoder.heads", 0, "pretrain.encoder.heads"),
    ("pretrain.encoder.heads", -4, "pretrain.encoder.heads"),
    ("pretrain.encoder.heads", 5, "pretrain.encoder.embed_dim"),  # 64 % 5 != 0
    ("pretrain.encoder.dropout", 1.0, "pretrain.encoder.dropout"),
    ("pretrain.encoder.dropout", -0.1, "pretrain.encoder.dropout"),
    ("pretrain.encoder.channels[1]", 0, "pretrain.encoder.channels"),
    ("pretrain.augment.time_mask", -1, "pretrain.augment.time_mask"),
    ("pretrain.augment.noise_std", -0.05, "pretrain.augment.noise_std"),
    ("finetune.augment.gain_db", -6.0, "finetune.augment.gain_db"),
    ("finetune.epochs", 0, "finetune.epochs"),
    ("finetune.batch_size", 0, "finetune.batch_size"),
    ("finetune.lr", float("-inf"), "finetune.lr"),
    ("finetune.weight_decay", float("nan"), "finetune.weight_decay"),
    ("finetune.calibration", "platt", "finetune.calibration"),
    ("finetune.head_hidden", 0, "finetune.head_hidden"),
    ("evaluate.n_bootstrap", 0, "evaluate.n_bootstrap"),
    ("evaluate.ci_level", 1.0, "evaluate.ci_level"),
    ("evaluate.ci_level", 0.0, "evaluate.ci_level"),
    ("evaluate.ece_bins", 1, "evaluate.ece_bins"),
    ("baselines.classic.n_lfcc", 0, "baselines.classic.n_lfcc"),
    ("baselines.classic.gmm_components", 0, "baselines.classic.gmm_components"),
    ("baselines.green_ai.layers", [0], "baselines.green_ai.layers"),
    ("baselines.green_ai.layers", [13], "baselines.green_ai.layers"),
    ("baselines.green_ai.layers", [-1], "baselines.green_ai.layers"),
    ("baselines.green_ai.layers", [], "baselines.green_ai.layers"),
    ("baselines.green_ai.classifiers", ["logreg", "forest"], "baselines.green_ai.classifiers[1]"),
    ("baselines.pretrained_embedding.classifiers", ["gmm"],
     "baselines.pretrained_embedding.classifiers[0]"),
    ("baselines.pretrained_embedding.classifiers", [], "baselines.pretrained_embedding.classifiers"),
    ("baselines.pretrained_embedding.classifiers", ["svm", "svm"],
     "baselines.pretrained_embedding.classifiers"),
    ("baselines.pretrained_embedding.c_grid", [], "baselines.pretrained_embedding.c_grid"),
    ("baselines.pretrained_embedding.c_grid", [0.1, 0.0], "baselines.pretrained_embedding.c_grid"),
    ("baselines.pretrained_embedding.c_grid", [1.0, 1.0], "baselines.pretrained_embedding.c_grid"),
    ("baselines.pretrained_embedding.enabled", "yes", "baselines.pretrained_embedding.enabled"),
    ("ablate.seeds", [1, -2], "ablate.seeds[1]"),
    ("ablate.small_epochs", 0, "ablate.small_epochs"),
    ("profile.durations", [1.0, 10.0], "profile.durations"),
    ("profile.durations", [0.0, 4.0], "profile.durations"),
    ("profile.runs", 0, "profile.runs"),
    ("profile.warmup", -1, "profile.warmup"),
    ("profile.batch_size", 0, "profile.batch_size"),
    ("detect.examples_per_class", 0, "detect.examples_per_class"),
]


@pytest.mark.parametrize(("dotted", "value", "key"), BAD_VALUES,
                         ids=[f"{d}={v!r}" for d, v, _ in BAD_VALUES])
def test_every_bad_value_is_one_error_naming_its_key(params_raw, write_params, dotted, value,
                                                     key) -> None:
    _set(dotted, value)(params_raw)
    with pytest.raises(ConfigError) as info:
        load_config(write_params(params_raw))
    assert f"params key {key!r}" in str(info.value)


def test_the_bad_value_table_is_large_and_every_row_starts_from_valid_params() -> None:
    assert len(BAD_VALUES) >= 30
    load_config(ROOT / "params.yaml")  # so a failing row fails for its own value


def test_yaml_spellings_of_infinity_and_nan_are_refused(params_raw, write_params) -> None:
    path = write_params(params_raw)
    text = path.read_text()
    for spelling in (".inf", "-.inf", ".nan", ".NaN", ".Inf"):
        path.write_text(text.replace("lr: 0.002", f"lr: {spelling}"))
        with pytest.raises(ConfigError, match="'pretrain.lr' must be a finite number"):
            load_config(path)


def test_yaml_booleans_stay_strict(params_raw, write_params) -> None:
    for value in ("true", "yes", 1, 0, "off"):
        params_raw["pretrain"]["cross_attention"] = value
        with pytest.raises(ConfigError, match="'pretrain.cross_attention' must be a YAML boolean"):
            load_config(write_params(params_raw))


def test_int_is_accepted_where_a_float_is_expected(params_raw, write_params) -> None:
    params_raw["common"]["crop_seconds"] = 2
    cfg = load_config(write_params(params_raw))
    assert cfg.common.crop_seconds == 2.0 and isinstance(cfg.common.crop_seconds, float)


def test_missing_and_broken_files(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot read params file"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("common: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(bad)


def test_overrides_are_validated() -> None:
    cfg = load_config(ROOT / "params.yaml")
    new = with_overrides(cfg, {"pretrain.views": ["mel"], "finetune.strategy": "frozen"})
    assert new.pretrain.views == ("mel",) and new.finetune.strategy == "frozen"
    assert cfg.pretrain.views == ("mel", "linear")
    with pytest.raises(ConfigError, match="'finetune.strategy'"):
        with_overrides(cfg, {"finetune.strategy": "melted"})
    with pytest.raises(ConfigError, match="is not a params key"):
        with_overrides(cfg, {"finetune.nope": 1})


def test_every_ablation_variant_is_a_valid_config() -> None:
    cfg = load_config(ROOT / "params.yaml")
    for name, overrides in cfg.ablate.variants.items():
        with_overrides(cfg, overrides)  # raises naming the key if a variant is broken
        assert name
