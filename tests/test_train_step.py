"""metrics/train_step.json: a fine-tuning step's cost per threads x allocator setting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spectcontra.profiling import train_step
from spectcontra.reporting.render import train_step as render_train_step
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def record(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("train_step") / "train_step.json"
    assert train_step.main(["--params", str(ROOT / "params.yaml"), "--out", str(out),
                            "--threads", "1", "--steps", "2", "--warmup", "1",
                            "--repeats", "2"]) == 0
    return json.loads(out.read_text())


def test_each_setting_runs_in_its_own_process_with_its_allocator(record) -> None:
    settings = record["settings"]
    assert set(settings) == {f"{a}_threads1" for a in train_step.ALLOCATORS}
    for s in settings.values():
        assert s["threads"] == 1 and s["batch_size"] == 64 and s["ms_per_step"] > 0
        assert len(s["ms_per_step_runs"]) == record["repeats"] == 2
        assert 0 <= s["system_ms_per_step"] <= s["ms_per_step"] * 1.5
        assert "epoch_s" not in s  # no --features: no epoch
    # glibc keeps freed memory under glibc_keep, so the steps fault far fewer pages in: this
    # fails if the environment does not reach the child (or glibc ignores it)
    default, keep = (settings[f"{a}_threads1"]["minor_faults_per_step"]
                     for a in ("glibc_default", "glibc_keep"))
    assert keep < 0.5 * default


def test_the_record_renders_as_a_table(record) -> None:
    text = render_train_step({"train_step": record})
    assert "| 1 | glibc_default |" in text and "| 1 | glibc_keep |" in text
    assert "epoch" not in text.splitlines()[0] and "medians of 2 runs per setting" in text
    runs = record["settings"]["glibc_keep_threads1"]["ms_per_step_runs"]
    assert f"({min(runs):.0f}-{max(runs):.0f})" in text
    assert "Batch 64 x 2 views" in text and f"{record['machine']['cores']} cores" in text


def test_repeats_keep_medians_and_every_timed_run() -> None:
    runs = [{"ms_per_step": v, "minor_faults_per_step": f, "views": ["mel"], "epoch_s": e}
            for v, f, e in ((300.0, 10.0, 9.0), (100.0, 30.0, 7.0), (200.0, 20.0, 8.0))]
    got = train_step.summarise(runs)
    assert (got["ms_per_step"], got["minor_faults_per_step"], got["epoch_s"]) == (200, 20, 8)
    assert got["ms_per_step_runs"] == [300, 100, 200] and got["epoch_s_runs"] == [9, 7, 8]
    assert "minor_faults_per_step_runs" not in got and got["views"] == ["mel"]
    with pytest.raises(ValueError, match="views"):
        train_step.summarise([runs[0], {**runs[1], "views": ["linear"]}])


def test_bad_arguments_exit_2_without_writing(tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    for args in (["--steps", "0"], ["--threads", "0"], ["--warmup", "-1"], ["--repeats", "0"],
                 []):
        with pytest.raises(SystemExit) as err:
            train_step.main(["--params", str(ROOT / "params.yaml"), *args,
                             *(["--out", str(out)] if args else [])])
        assert err.value.code == 2
    assert not out.exists()


def test_a_failing_child_names_its_setting(tmp_path: Path) -> None:
    bad = tmp_path / "params.yaml"
    bad.write_text("common: {}\n")
    with pytest.raises(RuntimeError, match=r"glibc_keep, 1 threads"):
        train_step.measure(bad, 1, "glibc_keep", 1, 0, 4)
