"""Profile helpers: target checks for both scoring routes, the ONNX latency grid and RSS probe."""

from __future__ import annotations

from pathlib import Path

import pytest

from spectcontra.inference.export import export_onnx
from spectcontra.profiling import benchmark
from spectcontra.profiling.benchmark import onnx_latency_grid, rss_probes, target_checks
from tests.test_inference import SR, make_checkpoint

# Hand-made figures: the torch route meets every target, the ONNX route misses latency.
MEASURED = {"ours_4s_1t_p50_ms": 4.0, "ours_peak_rss_mb": 480.0,
            "onnx_4s_1t_p50_ms": 12.5, "onnx_peak_rss_mb": 75.0,
            "wav2vec2_4s_1t_p50_ms": 400.0}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("bench")
    checkpoint = make_checkpoint(root / "detector.pt")
    export_onnx(checkpoint, root / "detector.onnx")
    return checkpoint, root / "detector.onnx"


def test_targets_are_checked_for_both_routes_and_a_miss_is_reported():
    checks = target_checks(MEASURED)
    assert checks["target_p50_4s_1t_ms"] == benchmark.TARGET_P50_4S_MS == 10.0
    assert checks["target_peak_rss_mb"] == benchmark.TARGET_PEAK_RSS_MB
    assert checks["target_speedup_vs_wav2vec2"] == benchmark.TARGET_SPEEDUP_VS_WAV2VEC2
    assert checks["meets_latency_target"] is True and checks["meets_rss_target"] is True
    assert checks["speedup_vs_wav2vec2_4s_1t"] == 100.0 and checks["meets_speedup_target"]
    assert checks["meets_latency_target_onnx"] is False  # 12.5 ms > 10 ms
    assert checks["meets_rss_target_onnx"] is True
    assert checks["speedup_vs_wav2vec2_4s_1t_onnx"] == 32.0
    assert checks["meets_speedup_target_onnx"] is False  # 32x < 50x


def test_unmeasured_routes_get_no_checks():
    torch_only = {k: v for k, v in MEASURED.items() if k.startswith("ours_")}
    checks = target_checks(torch_only)
    assert not any(k.endswith("_onnx") or "speedup" in k for k in checks)
    assert checks["meets_rss_target"] is True
    assert target_checks({**torch_only, "ours_peak_rss_mb": 500.1})["meets_rss_target"] is False


def test_onnx_latency_grid_has_one_entry_per_duration_thread_and_stat(models):
    grid = onnx_latency_grid(models[1], [0.3, 1.0], [1, 2], warmup=1, runs=3, seed=0)
    assert set(grid) == {f"{d}s_{n}t_{stat}" for d in ("0.3", "1") for n in (1, 2)
                         for stat in ("p50_ms", "p95_ms", "mean_ms", "rtf")}
    assert all(v > 0 for v in grid.values())


def test_rss_probes_measure_the_onnx_route_in_its_own_process(models):
    rss = rss_probes(models[0], SR, wav2vec2=False, seconds=1.0, onnx_path=models[1])
    assert set(rss) == {"ours_peak_rss_mb", "onnx_peak_rss_mb", "torch_import_rss_mb"}
    # The torch-free process holds neither torch nor the torch model.
    assert 0 < rss["onnx_peak_rss_mb"] < rss["torch_import_rss_mb"] <= rss["ours_peak_rss_mb"]
