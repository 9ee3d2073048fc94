"""Per-stage energy accounting with CodeCarbon's offline tracker."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from spectcontra.io_utils import write_json_atomic

COUNTRY = "GBR"  # grid carbon intensity used for CO2eq; CodeCarbon needs one offline
T = TypeVar("T")


def _start(stage: str) -> tuple[Any, dict[str, Any]]:
    """Start an offline tracker; on failure return None and a record that says why."""
    try:
        from codecarbon import OfflineEmissionsTracker

        tracker = OfflineEmissionsTracker(
            project_name=f"spectcontra-{stage}",
            country_iso_code=COUNTRY,
            output_methods=[],  # the caller writes its own record
            log_level=logging.ERROR,
            measure_power_secs=5,
            tracking_mode="process",
        )
        tracker.start()
    except Exception as err:  # CodeCarbon must never sink a stage; the record says why
        return None, {"measured": False, "reason": f"tracker failed to start: {err}"}
    return tracker, {}


def energy_of(label: str, fn: Callable[[], object]) -> dict[str, Any]:
    """Run ``fn`` under a tracker and return the record (not written anywhere)."""
    tracker, record = _start(label)
    start = time.perf_counter()
    fn()
    record["duration_s"] = round(time.perf_counter() - start, 3)
    if tracker is not None:
        record.update(_stop(tracker))
    return record


def result_and_energy(label: str, fn: Callable[[], T]) -> tuple[T, dict[str, Any]]:
    """Run ``fn`` under a tracker; return what it returned and the record of :func:`energy_of`."""
    tracker, record = _start(label)
    start = time.perf_counter()
    try:
        result = fn()
    except BaseException:
        if tracker is not None:
            _stop(tracker)  # end its background thread before the error propagates
        raise
    record["duration_s"] = round(time.perf_counter() - start, 3)
    if tracker is not None:
        record.update(_stop(tracker))
    return result, record


@contextlib.contextmanager
def track_energy(stage: str, out_path: str | Path) -> Iterator[dict[str, Any]]:
    """Run the body under an OfflineEmissionsTracker, then write ``out_path`` (JSON).

    This is the stage's timing record: every figure in it (duration, energy, and the
    ``timings`` the body adds to the dict it is given) changes from run to run, which is why
    no result file holds any of them. The file is written only if the body succeeds. Where
    CodeCarbon fails or returns no data, the record says so (``measured: false``) and carries
    no invented figure.
    """
    tracker, record = _start(stage)
    record["stage"] = stage
    timings: dict[str, Any] = {}
    start = time.perf_counter()
    try:
        yield timings
    except BaseException:
        if tracker is not None:
            _stop(tracker)  # end its background thread; the failed stage gets no record
        raise
    record["duration_s"] = round(time.perf_counter() - start, 3)
    if tracker is not None:
        record.update(_stop(tracker))
    if timings:
        record["timings"] = timings
    write_json_atomic(out_path, record)


def _stop(tracker: Any) -> dict[str, Any]:
    try:
        emissions = tracker.stop()
    except Exception as err:
        return {"measured": False, "reason": f"tracker failed to stop: {err}"}
    data = getattr(tracker, "final_emissions_data", None)
    if emissions is None or data is None:
        return {"measured": False, "reason": "CodeCarbon returned no emissions data"}
    return {
        "measured": True,
        "energy_kwh": float(data.energy_consumed),
        "cpu_energy_kwh": float(data.cpu_energy),
        "ram_energy_kwh": float(data.ram_energy),
        "co2eq_kg": float(data.emissions),
        "cpu_power_w": float(data.cpu_power),
        "tracking_mode": str(data.tracking_mode),
        "cpu_model": str(data.cpu_model),
        "country_iso_code": str(data.country_iso_code),
        # Without RAPL (virtual machines) CodeCarbon estimates CPU power from load and a TDP
        # table; record which it did so nobody reads an estimate as a meter reading.
        "power_source": _power_source(tracker),
    }


def _power_source(tracker: Any) -> str:
    for hw in getattr(tracker, "_hardware", []):
        name = type(hw).__name__
        if name == "CPU":
            mode = getattr(hw, "_mode", None)
            return f"cpu:{mode}" if mode else "cpu:unknown"
    return "unknown"
