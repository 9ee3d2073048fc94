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


LOCK = """schema: '2.0'
stages:
  download:
    cmd: python -m stages.download
    outs:
    - path: data/raw
      hash: md5
      md5: {raw}.dir
    - path: data/protocol.csv
      hash: md5
      md5: aaa
  preprocess:
    cmd: python -m stages.preprocess
    outs:
    - path: data/features
      hash: md5
      md5: {features}.dir
"""


def test_changed_outputs_name_what_the_clone_rebuilt_with_other_bytes():
    from spectcontra.profiling.pipeline_time import changed_outputs
    before = LOCK.format(raw="r1", features="f1")
    assert changed_outputs(before, before) == []
    assert changed_outputs(before, LOCK.format(raw="r2", features="f2")) == ["data/features",
                                                                             "data/raw"]


def test_record_carries_the_changed_outputs_and_the_forced_runs_machines(tmp_path):
    clone = _energy(tmp_path / "clone", download=1.0, preprocess=1.0)
    rec = summarise(1.0, 2.0, LOG, clone, {"download": 1.0, "ablate": 5.0}, "abc", ["data/raw"],
                    {"download": "cpu A", "ablate": "cpu B"})
    assert rec["fresh_clone"]["outputs_changed"] == ["data/raw"]
    assert rec["forced_full_run"]["cpu_models"] == ["cpu A"]
    assert rec["forced_full_run"]["studies_cpu_models"] == ["cpu B"]
    assert set(rec["machine"]) >= {"cpu_model", "cores", "simd", "python"}


def test_readme_block_names_the_rebuilt_outputs_and_a_cross_cpu_record(tmp_path):
    from spectcontra.reporting.render import pipeline
    clone = _energy(tmp_path / "clone", download=100.0, preprocess=20.0)
    forced = {"download": 110.0, "preprocess": 21.0, "pretrain": 900.0, "ablate": 50.0}
    machines = {"download": "cpu A", "preprocess": "cpu A", "pretrain": "cpu A", "ablate": "cpu B"}
    same = summarise(60.0, 130.0, LOG, clone, forced, "abc1234", [], machines)
    other = summarise(60.0, 3000.0, LOG, clone, forced, "def5678", ["data/raw"], machines)
    text = pipeline({"pipeline": same})
    assert "commit `abc1234`" in text and "within the 20 min budget" in text
    assert "records made on cpu A)" in text and "other bytes" not in text
    assert "studies (ablate, records made on cpu B)" in text
    grouped = summarise(60.0, 130.0, LOG, clone, {**forced, "ablate_variant@a": 1.0,
                                                   "ablate_variant@b": 2.0}, "abc1234", [],
                        machines)
    assert "studies (ablate, ablate_variant@* (2 stages), records" in pipeline({"pipeline": grouped})
    text = pipeline({"pipeline": same, "pipeline_cross_cpu": other})
    assert "commit `def5678`" in text and "**over** the 20 min budget" in text
    assert "Outputs it rebuilt with other bytes than the committed `dvc.lock` records: data/raw" in text
    old = {**same, "machine": {"cpu_model": "x", "cores": 2, "python": "3.11"}}  # no simd field
    assert "2 cores (x)" in pipeline({"pipeline": old})


def test_readme_block_tells_timing_records_from_rebuilt_data(tmp_path):
    from spectcontra.reporting.render import pipeline
    clone = _energy(tmp_path / "clone", download=100.0, preprocess=20.0)
    changed = ["MODEL_CARD.md", "metrics/energy/download.json"]
    rec = summarise(60.0, 130.0, LOG, clone, {"download": 110.0}, "abc1234", changed,
                    {"download": "cpu A"}, changed)
    text = pipeline({"pipeline": rec})
    assert "rebuilt with other bytes" not in text
    assert "only because they hold timings" in text and "metrics/energy/download.json" in text
    # a card the measurement did not find timing-only is named as rebuilt data
    rec = summarise(60.0, 130.0, LOG, clone, {"download": 110.0}, "abc1234", changed,
                    {"download": "cpu A"}, ["metrics/energy/download.json"])
    text = pipeline({"pipeline": rec})
    assert "other bytes than the committed `dvc.lock` records: MODEL_CARD.md;" in text
    # an older record without the check: only energy records count as timings
    del rec["fresh_clone"]["outputs_timing_only"]
    assert "records: MODEL_CARD.md;" in pipeline({"pipeline": rec})


CARD = """# Model card
<!-- BEGIN:results -->
EER 10.0 %
<!-- END:results -->
<!-- BEGIN:energy -->
| pretrain | 3228.7 s |
<!-- END:energy -->
"""


def test_model_card_counts_as_timing_only_when_only_its_timing_blocks_differ():
    from spectcontra.profiling.pipeline_time import timing_only
    changed = ["MODEL_CARD.md", "data/raw", "metrics/energy/download.json"]
    retimed = CARD.replace("3228.7", "3301.2")
    assert timing_only(changed, CARD, retimed) == ["MODEL_CARD.md",
                                                   "metrics/energy/download.json"]
    # a result that moved is not a timing: the card is left out of the list
    assert timing_only(changed, CARD, retimed.replace("10.0", "10.4")) == [
        "metrics/energy/download.json"]
    # an unchanged card is not listed at all
    assert timing_only(["data/raw"], CARD, CARD) == []
