"""The soak run: the demo source → `facebridge run` (its own process) → a receiver at the far end,
for minutes on end, with faces coming and going and a live command every few seconds.

Sampled every second: the bridge's memory (RSS) and its /status. Answers three questions:
does memory stay flat after warm-up, is every frame that did not come out counted somewhere
(overload drop, corrupt skip, NDI transport drop), and does latency p95 stay where it started.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bridge import access
from bridge.devtools.bench import DEMO_PROFILE, BenchError, LoopbackNdi, rss_mb
from bridge.runtime.places import HERE

# What an operator does during a show, one every `command_every_s`, round and round.
COMMANDS = ({"action": "next_target"}, {"action": "toggle_bypass"}, {"action": "toggle_bypass"},
            {"action": "select_target", "slot": 1}, {"action": "cycle_face_target", "track": 1},
            {"action": "prev_target"}, {"action": "reload_targets"})


@dataclass
class SoakConfig:
    seconds: float = 1800.0
    warmup_s: float = 30.0
    size: tuple[int, int] = (1280, 720)
    fps: float = 30.0
    faces: int = 3
    churn_s: float = 12.0
    command_every_s: float = 3.0
    latency_window_s: float = 20.0  # the bridge's /status p95 covers its last 600 frames (20 s at 30 fps)
    profile: Path = DEMO_PROFILE
    out: Path | None = HERE.results


@dataclass
class Sample:
    at_s: float
    rss_mb: float
    sent: int  # frames the demo source sent so far
    arrived: int  # frames the far-end receiver got so far
    far_ndi_dropped: int
    frames: dict[str, int] = field(default_factory=dict)
    p95_ms: float = 0.0
    track_ids: list[int] = field(default_factory=list)  # on screen in the latest frame


def soak_profile(source: Path, port: int) -> str:
    """`source` with the HTTP API on `port` and every path made absolute (the copy lives elsewhere)."""
    data = yaml.safe_load(source.read_text()) or {}
    base = source.parent.resolve()

    def absolute(value: str) -> str:
        return str((base / value).resolve()) if not Path(value).is_absolute() else value

    for target in data.get("targets") or []:
        target["images"] = [absolute(p) for p in target.get("images") or []]
    for section, key in (("models", "dir"), ("target_cache", "dir")):
        if isinstance(data.get(section), dict) and data[section].get(key):
            data[section][key] = absolute(data[section][key])
    data.setdefault("telemetry", {})["port"] = port
    data["telemetry"]["host"] = "127.0.0.1"
    return yaml.safe_dump(data, sort_keys=False)


def _http(port: int, path: str, body: bytes | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if body is not None:  # commands carry the token, as Stream Deck / Companion send them
        headers["Authorization"] = f"Bearer {access.user_token().value.value}"
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method="POST" if body else "GET",
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=3) as reply:
            text = reply.read()
            return reply.status, json.loads(text) if path == "/status" else text.decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_soak(config: SoakConfig, own_ndi_runtime: bool = True,
             report: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the soak and return its figures (also written to soak.json in `config.out`)."""
    from bridge.io import ndi
    from bridge.io.demo_source import run_demo_source
    from bridge.runtime import assets

    assets.fetch_cpu_models(HERE.models)
    assets.demo_targets()
    tag = f"{os.getpid()}-{int(time.monotonic() * 1000) % 100000}"
    source_name, output_name = f"fb-soak-src-{tag}", f"fb-soak-out-{tag}"
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="fb-soak-") as folder, LoopbackNdi(own_ndi_runtime):
        profile = Path(folder, "soak.yaml")
        profile.write_text(soak_profile(config.profile, port))
        log_path = Path(folder, "bridge.log")
        stop_source = threading.Event()
        sent: list[int] = [0]
        feeder = threading.Thread(target=run_demo_source, name="soak-source", daemon=True,
                                  args=(source_name, config.size[0], config.size[1], config.fps, config.faces, 0,
                                        stop_source), kwargs={"churn_s": config.churn_s, "sent": sent})
        feeder.start()
        with log_path.open("w") as log_file:
            bridge = subprocess.Popen([sys.executable, "-m", "bridge.cli", "run", "--profile", str(profile),
                                       "--input", source_name, "--output", output_name],
                                      cwd=HERE.checkout, env=os.environ.copy(), stdout=log_file, stderr=subprocess.STDOUT)
        far = _FarEnd(ndi.NdiReceiver(output_name, wait_log_s=120))
        try:
            result = _measure(config, bridge, port, sent, far, report)
            stop_source.set()
            feeder.join(5)
            time.sleep(2.0)  # the last frames drain through the bridge
            code, final = _http(port, "/status")
            result["final_frames"] = final.get("frames") if code == 200 else None
            result["sent_total"] = sent[0]
        finally:
            stop_source.set()
            bridge.terminate()
            try:
                bridge.wait(10)
            except subprocess.TimeoutExpired:
                bridge.kill()
                bridge.wait()
            far.close()
        log_text = log_path.read_text(errors="replace")
    result["bridge_exit"] = bridge.returncode
    result["tracebacks"] = log_text.count("Traceback")
    result["verdict"] = verdict(result, config)
    if config.out is not None:
        config.out.mkdir(parents=True, exist_ok=True)
        (config.out / "soak.json").write_text(json.dumps(result, indent=2))
    return result


class _FarEnd:
    """Counts what arrives at the other end of the bridge's output."""

    def __init__(self, receiver: Any):
        self.receiver, self.arrived = receiver, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-far-end", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.receiver.capture(0.1) is not None:
                self.arrived += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.receiver.close()


def _measure(config: SoakConfig, bridge: subprocess.Popen[bytes], port: int, sent: list[int], far: _FarEnd,
             report: Callable[[str], None]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    status: dict[str, Any] = {}
    while time.monotonic() < deadline and bridge.poll() is None:
        try:
            code, status = _http(port, "/status")
            if code == 200 and status["frames"]["out"] > 0 and far.arrived > 0:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    else:
        raise BenchError(f"soak: the bridge never sent frames to the far end in 60 s (exit {bridge.poll()})")
    started = time.monotonic()
    samples: list[Sample] = []
    commands = {"sent": 0, "accepted": 0}
    next_command, next_sample = started + config.command_every_s, started
    while (now := time.monotonic()) - started < config.seconds:
        if bridge.poll() is not None:
            raise BenchError(f"soak: the bridge exited with {bridge.returncode} after {now - started:.0f} s")
        if now >= next_command:
            command = COMMANDS[commands["sent"] % len(COMMANDS)]
            code, _ = _http(port, "/command", json.dumps(command).encode())
            commands["sent"] += 1
            commands["accepted"] += code == 202
            next_command += config.command_every_s
        if now >= next_sample:
            code, status = _http(port, "/status")
            if code == 200:
                samples.append(Sample(round(now - started, 2), round(rss_mb(bridge.pid), 1), sent[0], far.arrived,
                                      far.receiver.transport_dropped(), dict(status["frames"]),
                                      round(status["latency"]["p95_ms"], 1),
                                      sorted(int(t["id"]) for t in status.get("tracks") or [])))
            if len(samples) % 60 == 0 and samples:
                s = samples[-1]
                report(f"soak {s.at_s:.0f}s: rss {s.rss_mb} MB, p95 {s.p95_ms} ms, frames {s.frames}")
            next_sample += 1.0
        time.sleep(0.05)
    return summarise(samples, commands, config)


def summarise(samples: list[Sample], commands: dict[str, int], config: SoakConfig) -> dict[str, Any]:
    """The soak's figures from its samples (warm-up left out of memory and loss accounting)."""
    warm = [s for s in samples if s.at_s >= config.warmup_s] or samples
    first, last = warm[0], warm[-1]
    head = statistics.median(s.rss_mb for s in warm[:10])
    tail = statistics.median(s.rss_mb for s in warm[-10:])

    def delta(key: str) -> int:
        return int(last.frames.get(key, 0) - first.frames.get(key, 0))

    # Disjoint latency windows: /status p95 covers the last `latency_window_s` seconds.
    step = max(1, int(config.latency_window_s))
    windows = [s.p95_ms for s in warm[step - 1::step]] or [last.p95_ms]
    half = max(1, len(windows) // 2)
    received = delta("in") + delta("skipped") + delta("ndi_dropped")
    return {
        "config": {**asdict(config), "profile": str(config.profile), "out": str(config.out)},
        "measured_s": round(last.at_s - first.at_s, 1),
        "rss_mb": {"after_warmup": head, "end": tail, "peak": max(s.rss_mb for s in warm),
                   "growth_percent": round(100 * (tail - head) / head, 2) if head else None},
        "frames": {"sent_by_source": last.sent - first.sent, "received": delta("in"), "skipped": delta("skipped"),
                   "ndi_dropped_in": delta("ndi_dropped"), "out": delta("out"), "held": delta("held"),
                   "dropped_overload": delta("dropped"),
                   "unaccounted_in": (last.sent - first.sent) - received,
                   "arrived_far_end": last.arrived - first.arrived,
                   "ndi_dropped_far_end": last.far_ndi_dropped - first.far_ndi_dropped},
        "latency_p95_ms_windows": windows,
        "latency_p95_drift_ms": round(statistics.mean(windows[-half:]) - statistics.mean(windows[:half]), 1),
        # Latency that builds grows by frames per window without end; jitter from a busy machine
        # moves it by a share of its level. Allowed: one frame interval plus half the first half's p95.
        "latency_p95_drift_limit_ms": round(1000 / config.fps + 0.5 * statistics.mean(windows[:half]), 1),
        "tracks_on_screen": sorted({len(s.track_ids) for s in warm}),
        "track_line_ups": len({tuple(s.track_ids) for s in warm}),  # who was on screen, as it changed
        "track_ids": sorted({i for s in warm for i in s.track_ids}),
        "commands": commands,
        "samples": [asdict(s) for s in samples],
    }


def verdict(result: dict[str, Any], config: SoakConfig) -> dict[str, bool]:
    """The soak's pass/fail questions; in-flight frames at the window edges allow a few frames of slack."""
    frames, final = result["frames"], result.get("final_frames") or {}
    slack = 3
    return {
        "memory_flat": result["rss_mb"]["growth_percent"] is not None and result["rss_mb"]["growth_percent"] < 5.0,
        "input_loss_counted": abs(frames["unaccounted_in"]) <= slack,
        "pipeline_loss_counted": bool(final) and final["in"] == final["out"] + final["dropped"],
        "latency_stable": result["latency_p95_drift_ms"] < result["latency_p95_drift_limit_ms"],
        "commands_accepted": result["commands"]["accepted"] == result["commands"]["sent"] > 0,
        "clean_log": result["tracebacks"] == 0,
    }
