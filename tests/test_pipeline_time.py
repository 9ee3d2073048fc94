"""metrics/pipeline.json: which stages a fresh clone ran or skipped, and their seconds."""

from __future__ import annotations

import json

import pytest

from spectcontra.profiling.pipeline_time import stages_from_log, summarise

LOG = """Running stage 'download':
> python -m stages.download ...
Stage 'pretrain' didn't change, skipping
Running stage 'preprocess':
Stage 'finetune' didn't change, skipping
"""


def _energy(folder, **durations):
    folder.mkdir(parents=True, exist_ok=True)
    for stage, seconds in durations.items():
        (folder / f"{stage}.json").write_text(json.dumps({"stage": stage, "duration_s": seconds}))
    return folder


def test_log_parsing_keeps_dvc_order():
    assert stages_from_log(LOG) == (["download", "preprocess"], ["pretrain", "finetune"])


def test_summary_times_the_stages_the_clone_ran_and_sums_the_forced_run(tmp_path):
    clone = _energy(tmp_path / "clone", download=100.0, preprocess=20.0)
    forced = {"download": 110.0, "preprocess": 21.0, "pretrain": 900.0, "finetune": 200.0,
              "label_efficiency": 1500.0}
    rec = summarise(60.0, 130.0, LOG, clone, forced, "abc")
    fc = rec["fresh_clone"]
    assert fc["stages_run"] == {"download": 100.0, "preprocess": 20.0}
    assert fc["stages_skipped"] == ["pretrain", "finetune"]
    assert fc["total_s"] == 190.0 and fc["within_budget"]
    full = rec["forced_full_run"]
    assert full["default_pipeline_s"] == 1231.0
    assert full["studies"] == ["label_efficiency"]
    assert full["total_s"] == 2731.0
    assert not summarise(600.0, 700.0, LOG, clone, forced, "abc")["fresh_clone"]["within_budget"]


def test_a_stage_without_a_timing_record_is_an_error(tmp_path):
    clone = _energy(tmp_path / "clone", download=1.0)
    with pytest.raises(FileNotFoundError, match="preprocess"):
        summarise(1.0, 1.0, LOG, clone, {}, "abc")
