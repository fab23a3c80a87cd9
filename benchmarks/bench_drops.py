"""Where `facebridge bench`'s dropped frames come from, on a machine too busy to show it in wall time.

Runs the bench's case (the demo scene, the CPU demo profile, 720p, 4 faces, the stage warmed
and reset as the bench does) one frame at a time and takes each frame's analyse and finish
cost in process CPU time (onnxruntime's worker threads included), the tracker's clock running
at 30 fps whatever the machine does. Then it replays those costs through the overlapped
pipeline's queues (pipeline.py: three frames in, a frame older than one interval dropped
while a newer one waits, one slot between the analyse and swap threads) on two free cores,
and says which frames that work alone would drop, and which frames' finish went over the
frame interval (with the embeddings the tracker ran on them).

    .venv/bin/python benchmarks/bench_drops.py [--frames 120] [--every 2] [--faces 4] [--profile P]

Measured (busy shared 2-core machine, load 12-14, 120 frames, detection every 2nd frame):
    6ff069b (onnxruntime's threads spinning):  analyse 31-34 ms, finish 35-38 ms (median);
                                               18-33 frames dropped (from frame 1 on)
    now (no spinning; warm-up):                analyse 17-19 ms, finish 13-15 ms; 0 dropped; over
                                               33 ms only frames embedding 2-4 faces (43-91 ms)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bridge.devtools import bench  # noqa: E402
from bridge.runtime import assets  # noqa: E402


def costs(profile: Path, frames: int, every: int, faces: int, fps: float) -> tuple[list[float], list[float], list[int]]:
    """Per frame: analyse and finish seconds of process CPU, and the embeddings run."""
    stage, _, _ = bench.build_stage(profile, False)
    group = cv2.imread(str(assets.fetch_photos()["t1.jpg"]))
    scene = bench.SceneFrames(1280, 720, faces, 30, fps, group)
    for i in range(3):  # the bench's warm-up, then a fresh show
        stage.process(scene.frame(i))
    bench._reset(stage)
    stage.detect_every.auto, stage.detect_every.every = False, every
    analyse, finish, embedded = [], [], []
    for i in range(frames):
        frame = scene.frame(i)
        frame.received_at = 1000.0 + i / fps
        c0 = time.process_time()
        analysed = stage.analyse(frame)
        c1 = time.process_time()
        before = stage.tracker.stats.embeddings
        stage.finish(analysed)
        c2 = time.process_time()
        analyse.append(c1 - c0)
        finish.append(c2 - c1)
        embedded.append(stage.tracker.stats.embeddings - before)
    return analyse, finish, embedded


def replay(analyse: list[float], finish: list[float], fps: float, capacity: int = 3) -> list[int]:
    """Frames the overlapped pipeline would drop with these costs on two free cores."""
    interval = 1 / fps
    n = len(analyse)
    arrive = [i * interval for i in range(n)]
    waiting: list[int] = []
    dropped: list[int] = []
    analyser = slot_free = swapper = 0.0
    arrived = 0
    while True:
        while arrived < n and arrive[arrived] <= analyser:
            waiting.append(arrived)
            arrived += 1
            while len(waiting) > capacity:
                dropped.append(waiting.pop(0))
        if not waiting:
            if arrived >= n:
                return dropped
            analyser = arrive[arrived]
            continue
        while len(waiting) > 1 and analyser - arrive[waiting[0]] > interval:
            dropped.append(waiting.pop(0))
        k = waiting.pop(0)
        analyser = max(analyser + analyse[k], slot_free)  # the analysis, then the slot to the swap thread
        taken = max(analyser, swapper)
        slot_free, swapper = taken, taken + finish[k]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--every", type=int, default=2, help="detection every N frames")
    parser.add_argument("--faces", type=int, default=4)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--profile", type=Path, default=bench.DEMO_PROFILE)
    args = parser.parse_args()
    analyse, finish, embedded = costs(args.profile, args.frames, args.every, args.faces, args.fps)
    dropped = replay(analyse, finish, args.fps)
    ms = lambda values: f"{np.median(values) * 1e3:.1f} / {max(values) * 1e3:.1f}"  # noqa: E731
    print(f"analyse ms median / max {ms(analyse)}; finish {ms(finish)}; embeddings {sum(embedded)}")
    print(f"dropped on two free cores: {len(dropped)} {dropped[:20]}")
    over = [(k, round(finish[k] * 1e3), embedded[k]) for k in range(len(finish)) if finish[k] > 1 / args.fps]
    print(f"finish over the frame interval (frame, ms, embeddings): {over}")


if __name__ == "__main__":
    main()
