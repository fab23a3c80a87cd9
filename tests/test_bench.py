"""The benchmark in a tiny run: every field the report promises, and the plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.bench import STEPS, BenchConfig, run_bench

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ndi_runtime", "models_dir")]


def test_tiny_bench_writes_every_field_and_the_plot(tmp_path: Path) -> None:
    config = BenchConfig(sizes=[(320, 240)], faces=[1], seconds=1.0, naive_frames=3, unique_frames=4,
                         loopback=True, out=tmp_path)
    run_bench(config, own_ndi_runtime=False, report=lambda line: None)
    report = json.loads((tmp_path / "bench.json").read_text())
    assert (tmp_path / "bench.png").stat().st_size > 10_000, "plot missing or empty"
    (case,) = report["cases"]
    assert case["size"] == [320, 240] and case["faces"] == 1
    for mode in ("naive", "sequential", "overlap", "saturated"):
        run = case[mode]
        assert set(run["steps_ms"]) == set(STEPS), f"{mode}: steps {sorted(run['steps_ms'])}"
        assert set(run["latency"]) == {"p50_ms", "p95_ms", "p99_ms"}
        assert {"fps", "cpu_percent", "rss_mb"} <= set(run)
        assert run["fps"] > 0, f"{mode}: no frame came out"
    assert case["sequential"]["overlap"] is False and case["overlap"]["overlap"] is True
    assert case["overlap"]["steps_ms"]["detect"] > 0, "detection was never timed"
    assert {"real_time", "dropped", "inference_ms", "overhead_ms", "e2e_p95_ms", "inference_plus_interval_ms",
            "throughput_fps", "throughput_vs_naive"} <= set(case["summary"])
    (loop,) = report["loopback"]
    assert loop["frames_out"] > 0 and loop["frames_at_receiver"] > 0, "nothing went through NDI"
    assert loop["steps_ms"]["receive_convert"] > 0 and loop["steps_ms"]["send"] > 0
