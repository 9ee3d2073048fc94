"""CodeCarbon records: written on success, never on failure, never invented."""

from __future__ import annotations

import json

import pytest

from spectcontra.profiling.energy import track_energy


def test_record_is_written_with_measured_figures(tmp_path) -> None:
    out = tmp_path / "energy" / "stage.json"
    with track_energy("unit", out):
        sum(i * i for i in range(200_000))
    record = json.loads(out.read_text())
    assert record["stage"] == "unit"
    assert record["duration_s"] > 0
    if record["measured"]:
        assert record["energy_kwh"] >= 0 and record["co2eq_kg"] >= 0
        assert record["tracking_mode"] == "process"
        assert record["power_source"].startswith("cpu:")
    else:  # CodeCarbon could not measure: the record must say why and carry no figure
        assert record["reason"] and "energy_kwh" not in record


def test_failed_body_writes_nothing(tmp_path) -> None:
    out = tmp_path / "stage.json"
    with pytest.raises(RuntimeError):
        with track_energy("unit", out):
            raise RuntimeError("boom")
    assert not out.exists()


def test_timings_the_body_adds_go_into_the_record(tmp_path) -> None:
    out = tmp_path / "stage.json"
    with track_energy("unit", out) as timings:
        timings["run_seconds"] = {"a": 1.5}
    record = json.loads(out.read_text())
    assert record["timings"] == {"run_seconds": {"a": 1.5}} and record["duration_s"] >= 0
