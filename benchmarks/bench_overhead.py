"""Per-frame overhead outside the models: tracker, warp68 swap and paste back (ms per frame).

The demo scene (real faces cut from t1.jpg, moving) is rendered at 1280x720 and 1920x1080
with 1, 2 and 4 faces. Detection and landmarks run up front, untimed; then each frame goes
through the tracker and the swap stage as in the pipeline, built from profiles/demo.yaml's swap and
compose settings (warp68; skin-only masks, kept mouth, per-track colour, seamless edge, label):

- track: `Tracker.update` without the recogniser's time (reported apart as embed), split into
  flow (LK prediction) and seed (points for the next frame); every frame has detections,
  and `track_every3` has them every third frame only (the others coast on flow).
- swap: `Swapping.swap_faces` without compose (crop, warp, colour match, warp68 mask).
- compose: `Compose.paste_face` + `finish` (masks, colour, seam, paste back into the frame, label).

Medians over the frames after a warm-up; the overhead budget is 5 ms per frame.

    .venv/bin/python benchmarks/bench_overhead.py [--frames 60] [--json benchmarks/results/overhead.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bridge.devtools.bench import StepClock
from bridge.faces.embed import Recogniser
from bridge.io.demo_source import DemoScene
from bridge.swap.base import TargetFace
from bridge.facestage.build import build_compose, build_swapper
from bridge.profile import Profile, load_profile
from bridge.facestage.swapping import FaceToSwap, Swapping
from bridge.track.tracker import Tracker, embed_with
from bridge.types import Face, Target
from kit import cpu_kit  # benchmarks/kit.py (this folder is on sys.path)

REPO = Path(__file__).resolve().parents[1]
SIZES = [(1280, 720), (1920, 1080)]
FACES = [1, 2, 4]
FPS = 30.0
WARMUP = 5
BUDGET_MS = 5.0


def timed(clock: StepClock, step: str, fn: Callable[[], object]) -> None:
    started = time.perf_counter()
    fn()
    clock.add(step, (time.perf_counter() - started) * 1e3)


def run_case(frames: list[np.ndarray], detections: list[list[Face]], embed: Callable, target: Target,
             detect_every: int, profile: Profile) -> dict[str, list[float]]:
    """Per-frame step times for one pass of the clip through a fresh tracker and swap stage."""
    clock = StepClock()
    tracker = Tracker(embed)
    clock.wrap(tracker, "embed", "embed")
    clock.wrap(tracker.flow, "predict_counted", "flow")
    clock.wrap(tracker.flow, "seed", "seed")
    swapper = Swapping(build_swapper(profile, None), build_compose(profile, None))  # type: ignore[arg-type]
    clock.wrap(swapper.compose, "paste_face", "compose")
    clock.wrap(swapper.compose, "finish", "compose")
    series: dict[str, list[float]] = defaultdict(list)
    for index, (image, faces) in enumerate(zip(frames, detections)):
        clock.reset()
        due = index % detect_every == 0
        tracks: list = []
        timed(clock, "track_total", lambda: tracks.extend(
            tracker.update(image, [replace(f, embedding=None) for f in faces] if due else None, index / FPS)))
        canvas = image.copy()
        jobs = [FaceToSwap(t.id, t.face, target) for t in tracks]
        timed(clock, "swap_total", lambda: swapper.swap_faces(canvas, jobs))
        step = clock.total
        if index < WARMUP:
            continue
        series["track"].append(step["track_total"] - step["embed"])
        series["flow"].append(step["flow"])
        series["seed"].append(step["seed"])
        series["embed"].append(step["embed"])
        series["swap"].append(step["swap_total"] - step["compose"])
        series["compose"].append(step["compose"])
        series["tracks"].append(len(tracks))
    return series


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3) if values else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60, help="frames per case (the first few warm up)")
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "overhead.json")
    args = parser.parse_args()
    kit = cpu_kit()
    group, portrait, detector, landmarker = kit.group, kit.portrait, kit.detector, kit.landmarker
    embed = embed_with(Recogniser(kit.models / "fr_feature.onnx"))
    (portrait_face,) = landmarker.landmark(portrait, detector.detect(portrait))
    profile = load_profile(str(REPO / "profiles" / "demo.yaml"))
    warp68 = build_swapper(profile, None)  # type: ignore[arg-type]
    target = Target("portrait", [], prepared={"warp68": warp68.prepare([TargetFace(portrait, portrait_face)])})

    report: dict[str, Any] = {"machine": platform.processor() or platform.machine(), "frames": args.frames,
                              "budget_ms": BUDGET_MS, "cases": {}}
    rows = []
    for width, height in SIZES:
        for count in FACES:
            scene = DemoScene(width, height, count, group)
            frames = [scene.render(i, FPS) for i in range(args.frames)]
            detections = [landmarker.landmark(f, detector.detect(f)) for f in frames]
            every1 = run_case(frames, detections, embed, target, 1, profile)
            every3 = run_case(frames, detections, embed, target, 3, profile)
            case = {step: median(every1[step]) for step in ("track", "flow", "seed", "embed", "swap", "compose")}
            case["track_every3"] = median(every3["track"])
            case["faces_detected"] = round(float(np.mean([len(d) for d in detections])), 2)
            case["tracks_shown"] = round(float(np.mean(every1["tracks"])), 2)
            case["overhead"] = round(case["track"] + case["swap"] + case["compose"], 3)
            name = f"{width}x{height}_{count}f"
            report["cases"][name] = case
            rows.append((name, case))
            print(f"{name}: {json.dumps(case)}", flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"\n{'case':<16}{'track':>8}{'flow':>7}{'seed':>7}{'trk/3':>8}{'swap':>8}{'compose':>9}{'total':>8}")
    for name, c in rows:
        print(f"{name:<16}{c['track']:>8.2f}{c['flow']:>7.2f}{c['seed']:>7.2f}{c['track_every3']:>8.2f}"
              f"{c['swap']:>8.2f}{c['compose']:>9.2f}{c['overhead']:>8.2f}")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
