"""NDI send cost per frame: BGR → BGRX (NDI converts it to UYVY itself) vs BGR → UYVY here.

A photo is sent at 30 fps over loopback NDI to a receiver in another process (so its decoding
is not counted), in blocks that alternate between the two ways, so that load from elsewhere on
the machine hits both alike. Reported per size and way: the conversion's and the send call's
wall time (median) and this process's CPU time per frame, every thread included (NDI's too).

    python benchmarks/bench_send.py [--frames 60] [--json benchmarks/results/send.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge.io import color  # noqa: E402
from bridge.io.ndi import NdiError, NdiReceiver, NdiRuntime, _ndi  # noqa: E402 (NDIlib itself loads on first use)
from bridge.runtime import assets  # noqa: E402
from tests.ndi_tools import LOOPBACK_CONFIG, unique_name  # noqa: E402

SIZES = ((1920, 1080), (1280, 720))
ROUNDS = 4  # blocks per way and size, interleaved
SETTLE = 5  # untimed frames after each switch of way or size
FPS = 30


def receive(name: str, stop: Any) -> None:
    """The far end, in its own process: takes every frame until told to stop. As BGRX: NDI's own
    decoder, no numba threads there to compete with the sender for the CPU."""
    with NdiRuntime():
        receiver = NdiReceiver(name, color_format="bgra", wait_log_s=60)
        while not stop.is_set():
            receiver.capture(0.1)
        receiver.close()


class Way:
    """One way of sending: a conversion into a kept buffer, and the FourCC that buffer is sent as."""

    def __init__(self, name: str, fourcc: object, convert: Callable[[np.ndarray, np.ndarray | None], np.ndarray]):
        self.name, self.fourcc, self.convert = name, fourcc, convert
        self.buffer: np.ndarray | None = None


def send_block(ndi: Any, sender: object, video: Any, way: Way, picture: np.ndarray, frames: int,
               timed: dict[str, list[float]] | None) -> None:
    video.FourCC = way.fourcc
    cpu_start, start = time.process_time(), time.monotonic()
    for i in range(frames):
        delay = start + i / FPS - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        began = time.perf_counter()
        way.buffer = way.convert(picture, way.buffer)
        converted = time.perf_counter()
        video.data = way.buffer  # sets xres, yres and line_stride_in_bytes from the array
        ndi.send_send_video_v2(sender, video)
        if timed is not None:
            timed["convert"].append(converted - began)
            timed["send"].append(time.perf_counter() - converted)
    if timed is not None:
        # Through the last frame's interval too, so NDI's background work for it is counted.
        time.sleep(max(0.0, start + frames / FPS - time.monotonic()))
        timed["cpu"].append(time.process_time() - cpu_start)
        timed["frames"].append(frames)


def measure(ndi: Any, sender: object, ways: list[Way], photo: np.ndarray, frames: int) -> list[dict[str, object]]:
    video = ndi.VideoFrameV2()
    video.frame_rate_N, video.frame_rate_D = FPS, 1
    rows = []
    for width, height in SIZES:
        picture = cv2.resize(photo, (width, height), interpolation=cv2.INTER_AREA)
        timed = {way.name: {"convert": [], "send": [], "cpu": [], "frames": []} for way in ways}
        for round_ in range(ROUNDS):
            for way in ways if round_ % 2 == 0 else ways[::-1]:  # neither way always goes first
                send_block(ndi, sender, video, way, picture, SETTLE, None)
                send_block(ndi, sender, video, way, picture, frames // ROUNDS, timed[way.name])
        for way in ways:
            t = timed[way.name]
            rows.append({"size": f"{width}x{height}", "way": way.name, "frames": sum(t["frames"]),
                         "convert_ms": round(statistics.median(t["convert"]) * 1000, 3),
                         "send_ms": round(statistics.median(t["send"]) * 1000, 3),
                         "cpu_ms_per_frame": round(sum(t["cpu"]) / sum(t["frames"]) * 1000, 3)})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60, help="timed frames per way and size")
    parser.add_argument("--json", type=Path, help="write the rows here too")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="fb-bench-"))
    (folder / "ndi-config.v1.json").write_text(LOOPBACK_CONFIG)
    os.environ["NDI_CONFIG_DIR"] = str(folder)  # before NDI starts, here and in the receiver

    ndi = _ndi()
    photo = cv2.imread(str(assets.fetch_photos()["t1.jpg"]))
    ways = [Way("bgrx", ndi.FOURCC_VIDEO_TYPE_BGRX,
                lambda bgr, out: cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA, dst=out)),
            Way("uyvy", ndi.FOURCC_VIDEO_TYPE_UYVY, color.bgr_to_uyvy)]
    color.bgr_to_uyvy(photo)  # numba: load (or compile) before anything is timed
    name = unique_name("bench-send")
    stop = multiprocessing.get_context("spawn").Event()
    far_end = multiprocessing.get_context("spawn").Process(target=receive, args=(name, stop), daemon=True)
    with NdiRuntime():
        settings = ndi.SendCreate()
        settings.ndi_name = name
        settings.clock_video = False  # as NdiSender: paced here, not by NDI
        sender = ndi.send_create(settings)
        far_end.start()
        try:
            deadline = time.monotonic() + 20
            while ndi.send_get_no_connections(sender, 0) < 1:
                if time.monotonic() > deadline:
                    raise NdiError(f"the receiver never connected to {name!r}")
                time.sleep(0.05)
            rows = measure(ndi, sender, ways, photo, args.frames)
        finally:
            stop.set()
            far_end.join(5)
            ndi.send_destroy(sender)
    print(f"{'size':>10} {'way':>5} {'convert ms':>11} {'send ms':>8} {'CPU ms/frame':>13}")
    for row in rows:
        print(f"{row['size']:>10} {row['way']:>5} {row['convert_ms']:>11.3f} {row['send_ms']:>8.3f} "
              f"{row['cpu_ms_per_frame']:>13.3f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
