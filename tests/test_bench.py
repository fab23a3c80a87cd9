"""The benchmark in a tiny run: every field the report promises, and the plot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bridge.devtools.bench import STEPS, BenchConfig, run_bench

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


def test_the_neural_set_swaps_every_face_with_the_neural_swapper(tmp_path: Path, group_photo) -> None:  # type: ignore[no-untyped-def]
    """What `bench --neural` does to the CPU stage, with a small inswapper-shaped graph in place of the
    550 MB stand-in: every target gets a latent and the faces go through the neural swapper."""
    from bridge.devtools.bench import DEMO_PROFILE, SceneFrames, build_stage, use_swapper
    from bridge.swap.inswapper import InSwapper
    from tests.swap_graphs import inswapper_like

    stage, name, _ = build_stage(DEMO_PROFILE, neural=False)
    assert name == "warp68"
    emap = np.random.default_rng(1).standard_normal((512, 512)).astype(np.float32)
    swapper = InSwapper(inswapper_like(tmp_path / "inswapper_like.onnx", emap), name="inswapper_like")
    calls: list[int] = []
    run = swapper.run
    swapper.run = lambda crops, latents: calls.append(len(crops)) or run(crops, latents)  # type: ignore[method-assign]
    use_swapper(stage, swapper)
    assert all(t.prepared["inswapper_like"]["latent"].shape == (512,) for t in stage.targets.values())
    frames = SceneFrames(640, 360, 2, 3, 30.0, group_photo)
    for index in range(3):
        stage.process(frames.frame(index))
    assert sum(calls) >= 4, f"faces did not go through the neural swapper: {calls}"
    assert stage.swapping.failed_tracks == set()
