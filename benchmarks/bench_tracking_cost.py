"""What tracking costs per frame at 1080p with 4 moving real faces, split by sub-step (issue 14: ≤ 3 ms).

"Tracking" is `Tracker.update` alone: grey image and flow pyramid, keypoint flow and seeding,
the evidence patches (NCC), association, smoothing, gallery and re-ID bookkeeping. Detection,
landmarks and embeddings are not in it: detections are made once before the timed run (the
CPU detector + landmarker, or the ground truth with --truth), and the recogniser is the
suite's truth embedder, its time taken out.

The clips are 1920×1080 scenes drawn like the identity suite's (tests/suite_clips.py: real
faces cut from the test photos, a lit room with edges, sensor noise), four people wandering at
1080p face sizes (120–300 px tall), detection every `--every` frames as the stage runs it
(the frames between coast on flow and evidence).

Each sub-step is timed exclusively (a step's time excludes the steps it calls) in both wall
time and thread CPU time (time.thread_time). The machine is shared, so wall time is noisy;
CPU time is the fairer number. OpenCV runs with one thread (cv2.setNumThreads(1)) unless
--threads says otherwise, so the numbers do not depend on how many cores are idle.

    .venv/bin/python benchmarks/bench_tracking_cost.py [--seeds 2] [--frames 120] [--every 2] [--truth]
                                                      [--tracker-converts]

The frame's grey image is made by the face stage once per frame and shared with the landmarker
(FaceStage.analyse), so it is timed beside the tracker ("grey"); "total" is the tracker alone,
"with_grey" both. --tracker-converts: the tracker converts each frame itself (as before).

Numbers (busy shared 2-core machine; 1 OpenCV thread, 2 seeds × 90 frames, detection every 2
frames, CPU detector + landmarker; ms per frame of thread CPU time, median / p95; per sub-step
in docs/tracking_cost.md):

    main 2d1fbd0       total 6.24 / 9.17   flow 3.50 / 5.27   grey+pyramid 1.05 / 1.48   (load 6-13, 5 runs)
    main ab20b1e       total 4.37 / 6.69   flow 1.67 / 2.91   grey+pyramid 1.05 / 1.47   (load 5-3, 3 runs)
    issue-14 perf (2)  total 2.85 / 4.11   flow 1.02 / 1.56   pyramid 0.46 / 0.57, grey 0.52 / 0.62,
                       with_grey 3.40 / 4.67                                             (same load, alternated)
    main 6dd819a       total 3.76 / 5.97   flow 1.34 / 2.33   pyramid 0.51 / 0.88, grey 0.53 / 0.78  (load 10-12, 3 runs)
    issue-14 perf (3)  total 2.69 / 3.70   flow 1.08 / 1.57   pyramid 0.26 / 0.46, grey 0.52 / 0.62,
                       with_grey 3.24 / 4.25                                             (same load, alternated)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bridge.track import tracker as tracker_module  # noqa: E402
from bridge.track.tracker import Tracker  # noqa: E402
from tests import clips, suite_clips  # noqa: E402

SIZE = (1920, 1080)
STEPS = ("pyramid", "flow", "seed", "evidence", "association", "smooth", "rest")
# the frame's grey image: the face stage makes it once per frame, for the landmarker and the
# tracker (FaceStage.analyse), so it is timed beside the tracker, not in its total
GREY = "grey"


# -- the scenes ----------------------------------------------------------------------------

def scene_1080(seed: int, frames: int) -> suite_clips.Scene:
    """Four people wandering a 1080p frame, each moving a few px a frame with small tilts."""
    rng = np.random.default_rng([seed, 1080])
    w, h = SIZE
    actors = []
    for person in [int(p) for p in rng.permutation(len(suite_clips.PEOPLE))[:4]]:
        height = float(rng.uniform(120, 300))
        mx, my = 0.8 * height, 0.8 * height
        x, y = float(rng.uniform(mx, w - mx)), float(rng.uniform(my, h - my))
        keys = []
        for f in range(0, frames + 20, 20):
            keys.append(suite_clips.Key(f, x, y, height * float(rng.uniform(0.92, 1.08)), float(rng.uniform(-10, 10))))
            x = float(np.clip(x + rng.uniform(-160, 160), mx, w - mx))
            y = float(np.clip(y + rng.uniform(-90, 90), my, h - my))
        actors.append(suite_clips.Actor(person, keys))
    return suite_clips.Scene(name=f"hd4-{seed}", kind="crossing", seed=seed, frames=frames, actors=actors,
                             noise=float(rng.uniform(1.0, 3.0)), world=SIZE)


def render_1080(scene: suite_clips.Scene) -> clips.Clip:
    """suite_clips.render at 1920×1080 (its frame size is a module constant: set for the call)."""
    saved = suite_clips.SIZE
    suite_clips.SIZE = SIZE
    try:
        return suite_clips.render(scene)
    finally:
        suite_clips.SIZE = saved


# -- exclusive step timing -----------------------------------------------------------------

class StepTimer:
    """Wall and CPU time per step, exclusive of nested timed steps, reset per frame."""

    def __init__(self) -> None:
        self.stack: list[list[float]] = []  # [wall child time, cpu child time] per open step
        self.frame_wall: dict[str, float] = defaultdict(float)
        self.frame_cpu: dict[str, float] = defaultdict(float)

    def timed(self, step: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            self.stack.append([0.0, 0.0])
            w0, c0 = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                dw, dc = time.perf_counter() - w0, time.thread_time() - c0
                child_w, child_c = self.stack.pop()
                self.frame_wall[step] += dw - child_w
                self.frame_cpu[step] += dc - child_c
                if self.stack:
                    self.stack[-1][0] += dw
                    self.stack[-1][1] += dc
        return run

    def take(self) -> tuple[dict[str, float], dict[str, float]]:
        out = dict(self.frame_wall), dict(self.frame_cpu)
        self.frame_wall.clear()
        self.frame_cpu.clear()
        return out


def instrument(tracker: Tracker, timer: StepTimer) -> Callable[..., Any]:
    """Wrap the tracker's sub-steps (whatever of them this version of the code has) and return
    the timed `update`. Module-level functions the tracker imports are wrapped in its module."""
    flow = tracker.flow
    for owner, name, step in [(flow, "frame", "pyramid"), (flow, "pyramid", "pyramid"),
                              (flow, "predict_counted", "flow"), (flow, "seed_apart", "seed"), (flow, "seed", "seed"),
                              (tracker, "_pair", "association"), (tracker, "_one_track_per_face", "association"),
                              (tracker, "_smooth", "smooth"), (tracker, "embed", "embed")]:
        if getattr(owner, name, None) is not None:
            setattr(owner, name, timer.timed(step, getattr(owner, name)))
    return timer.timed("rest", tracker.update)


class TimedGrey:
    """tracker_module.cv2 stand-in that times cvtColor as grey (a tracker that converts the
    frame itself: run with --tracker-converts); every other name is OpenCV's."""

    def __init__(self, timer: StepTimer) -> None:
        self._timer = timer
        self.cvtColor = timer.timed(GREY, cv2.cvtColor)

    def __getattr__(self, name: str) -> Any:
        return getattr(cv2, name)


def patch_module(timer: StepTimer) -> Callable[[], None]:
    saved = {n: getattr(tracker_module, n) for n in ("face_patch", "agreement", "cv2") if hasattr(tracker_module, n)}
    for n in ("face_patch", "agreement"):
        if n in saved:
            setattr(tracker_module, n, timer.timed("evidence", saved[n]))
    tracker_module.cv2 = TimedGrey(timer)  # type: ignore[assignment]

    def undo() -> None:
        for n, v in saved.items():
            setattr(tracker_module, n, v)
    return undo


# -- the run -------------------------------------------------------------------------------

def detections_for(clip: clips.Clip, truth: bool) -> list[list]:
    if truth:
        return [clips.truth_faces(clip, i, jitter=1.0) for i in range(len(clip))]
    from bridge.faces.detect import UlfdDetector
    from bridge.faces.landmarks import Landmarker68
    from bridge.runtime import assets

    models = REPO / "models"
    assets.fetch_cpu_models(models)
    detector, landmarker = UlfdDetector(models / "fr_detect.onnx"), Landmarker68(models / "fr_landmark.onnx")
    return [landmarker.landmark(im, detector.detect(im)) for im in clip.frames]


def stats(values: list[float]) -> dict[str, float]:
    a = np.asarray(values) * 1e3
    return {"median": round(float(np.median(a)), 3), "p95": round(float(np.percentile(a, 95)), 3),
            "mean": round(float(a.mean()), 3)}


def run_clip(clip: clips.Clip, detections: list[list], every: int, warmup: int,
             tracker_converts: bool = False) -> tuple[list, list, dict]:
    """Per-frame {step: seconds} (wall, cpu) of one clip through a fresh tracker, given the
    frame's grey as the stage gives it (timed as GREY), or converting it itself."""
    timer = StepTimer()
    embed = clips.TruthEmbedder(clip)
    tracker = Tracker(embed)
    update = instrument(tracker, timer)
    undo = patch_module(timer)
    grey = timer.timed(GREY, cv2.cvtColor)
    walls, cpus, shown = [], [], []
    try:
        for i, image in enumerate(clip.frames):
            faces = [f for f in detections[i]] if i % every == 0 else None
            gray = None if tracker_converts else grey(image, cv2.COLOR_BGR2GRAY)
            tracks = update(image, faces, clip.time(i), gray=gray)
            wall, cpu = timer.take()
            shown.append(len(tracks))
            if i >= warmup:
                walls.append(wall)
                cpus.append(cpu)
    finally:
        undo()
    return walls, cpus, {"tracks_shown_mean": round(float(np.mean(shown)), 2), "stats": {
        k: v for k, v in vars(tracker.stats).items() if isinstance(v, int)}}


def summary(frames: list[dict[str, float]]) -> dict[str, Any]:
    """Per step, and "total" (the tracker: every step but the recogniser and the grey image)
    and "with_grey" (the tracker and the frame's grey image)."""
    out: dict[str, Any] = {"total": stats([sum(v for k, v in f.items() if k not in ("embed", GREY)) for f in frames]),
                           "with_grey": stats([sum(v for k, v in f.items() if k != "embed") for f in frames])}
    for step in (GREY,) + STEPS:
        out[step] = stats([f.get(step, 0.0) for f in frames])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--every", type=int, default=2, help="detection every N frames (the rest coast)")
    parser.add_argument("--truth", action="store_true", help="ground-truth detections instead of the CPU models")
    parser.add_argument("--threads", type=int, default=1, help="OpenCV threads (default 1: a fair number on a busy machine)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each clip (the timings pooled)")
    parser.add_argument("--tracker-converts", action="store_true",
                        help="the tracker converts each frame to grey itself (as before the stage shared one)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "tracking_cost.json")
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)

    walls: list[dict[str, float]] = []
    cpus: list[dict[str, float]] = []
    report: dict[str, Any] = {"size": list(SIZE), "faces": 4, "every": args.every, "opencv_threads": args.threads,
                              "detections": "truth" if args.truth else "ulfd+fr_landmark",
                              "grey": "converted by the tracker" if args.tracker_converts else "given by the stage", "clips": {}}
    for seed in range(args.seeds):
        clip = render_1080(scene_1080(seed, args.frames))
        detections = detections_for(clip, args.truth)
        found = float(np.mean([len(d) for d in detections]))
        for _ in range(args.repeat):
            w, c, info = run_clip(clip, detections, args.every, warmup=5, tracker_converts=args.tracker_converts)
            walls += w
            cpus += c
        report["clips"][f"hd4-{seed}"] = {"detections_per_frame": round(found, 2), **info,
                                          "cpu_ms": summary(c)["total"]}
        print(f"hd4-{seed}: {found:.2f} detections/frame, {info['tracks_shown_mean']} tracks shown, "
              f"cpu {summary(c)['total']}", flush=True)
    report["wall_ms"], report["cpu_ms"] = summary(walls), summary(cpus)
    print(f"{'step':14s} {'cpu median':>10s} {'cpu p95':>8s} {'wall median':>11s} {'wall p95':>8s}")
    for step in ("total", "with_grey", GREY) + STEPS:
        c, w = report["cpu_ms"][step], report["wall_ms"][step]
        print(f"{step:14s} {c['median']:10.3f} {c['p95']:8.3f} {w['median']:11.3f} {w['p95']:8.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
