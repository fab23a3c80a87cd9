"""Pass-through over loopback NDI: latency the bridge adds, drops, and its CPU use.

A test sender sends numbered frames at 30 fps → `facebridge run` (analysis off, its own
process) → a receiver here. Reported per size: the bridge's own receive→send latency
(p50/p95, from its /status), frames in/out/dropped, and the bridge process's CPU share.

    python benchmarks/bench_passthrough.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge.io.ndi import NdiRuntime  # noqa: E402
from tests.ndi_tools import (LOOPBACK_CONFIG, PatternSender, Recorder, start_bridge, stop_process,  # noqa: E402
                             unique_name, write_profile)

RESULTS = Path(__file__).resolve().parent / "results"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(size: tuple[int, int], seconds: float, folder: Path) -> dict[str, object]:
    port = free_port()
    source, output = unique_name("bench-in"), unique_name("bench-out")
    profile = write_profile(folder, f"input:\n  ndi_source: x\nanalysis:\n  enabled: false\ntelemetry:\n  port: {port}\n")
    bridge = start_bridge(profile, source, output)
    recorder = Recorder(output)
    sender = PatternSender(source)
    try:
        recorder.wait_connected()
        frames = int(seconds * 30)
        feeding = threading.Thread(target=sender.send_range, args=(range(frames),), kwargs={"size": size})
        feeding.start()
        time.sleep(2.0)  # past connection and warm-up
        cpu_start, wall_start = cpu_seconds(bridge.pid), time.monotonic()
        feeding.join()
        cpu = (cpu_seconds(bridge.pid) - cpu_start) / (time.monotonic() - wall_start)
        time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as answer:
            status = json.load(answer)
    finally:
        sender.close()
        recorder.close()
        stop_process(bridge)
    interval_ms = 1000 / 30
    return {"size": f"{size[0]}x{size[1]}", "frames_sent": frames, **status["frames"],
            "latency_ms": status["latency"], "frame_interval_ms": round(interval_ms, 2),
            "p95_within_one_frame": status["latency"]["p95_ms"] <= interval_ms,
            "bridge_cpu_cores": round(cpu, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="fb-bench-"))
    (folder / "ndi-config.v1.json").write_text(LOOPBACK_CONFIG)
    os.environ["NDI_CONFIG_DIR"] = str(folder)
    with NdiRuntime():
        rows = [measure(size, args.seconds, folder) for size in ((1280, 720), (1920, 1080))]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "passthrough.json").write_text(json.dumps(rows, indent=2))
    print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
