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
