"""What open control docks cost the live output: 720p, 4 real faces, 0 / 1 / 3 docks.

The demo source (1280x720, 30 fps, 4 faces) → `facebridge run` on the CPU face profile (its own
process) with N docks open. A dock here is what the page opens: the event stream (/dock/events)
and the preview (/dock/preview, MJPEG), read by this process, which also decodes every JPEG as a
browser would. Reported per case: the bridge's output fps and p95 latency (its /status), the bridge
process's CPU (cores), and the preview latency: from the moment the bridge took the sent frame
(X-Frame-Sent, the host's monotonic clock) to the picture decoded in the dock (p50/p95).

With chromium installed, one more case opens the real dock page in Debian's chromium (headless,
selenium, the system driver) and measures there: each picture read from the preview stream and
decoded by the browser (createImageBitmap), against X-Frame-Sent-Unix.

    python benchmarks/bench_dock.py [--seconds 20] [--docks 0,1,3] [--no-browser]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge.access import user_token  # noqa: E402
from bridge.io.demo_source import run_demo_source  # noqa: E402
from bridge.io.ndi import NdiRuntime  # noqa: E402
from benchmarks.bench_passthrough import cpu_seconds  # noqa: E402
from tests.e2e_tools import face_profile, free_port, wait_status  # noqa: E402
from tests.ndi_tools import LOOPBACK_CONFIG, start_bridge, stop_process, unique_name  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def session_cookie(port: int) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", f"/dock?token={user_token().value.value}")
    reply = connection.getresponse()
    reply.read()
    return reply.getheader("Set-Cookie", "").split(";", 1)[0]


class Dock:
    """One open dock: its event stream and its preview, each on its own connection."""

    def __init__(self, port: int, cookie: str, stop: threading.Event):
        self.port, self.cookie, self.stop = port, cookie, stop
        self.delays: list[float] = []
        self.events = 0
        self.pictures = 0
        self.threads = [threading.Thread(target=self._preview, daemon=True),
                        threading.Thread(target=self._events, daemon=True)]
        for thread in self.threads:
            thread.start()

    def _open(self, path: str) -> http.client.HTTPResponse:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.request("GET", path, headers={"Cookie": self.cookie, "Sec-Fetch-Site": "same-origin"})
        reply = connection.getresponse()
        assert reply.status == 200, reply.read()
        return reply

    def _preview(self) -> None:
        reply = self._open("/dock/preview")
        while not self.stop.is_set():
            headers: dict[str, str] = {}
            line = reply.readline()
            if not line:
                return
            if not line.startswith(b"--"):
                continue
            while (line := reply.readline().strip()):
                name, _, value = line.decode().partition(":")
                headers[name.lower()] = value.strip()
            jpeg = reply.read(int(headers["content-length"]))
            image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            if image is not None and "x-frame-sent" in headers:
                self.delays.append(time.monotonic() - float(headers["x-frame-sent"]))
                self.pictures += 1

    def _events(self) -> None:
        reply = self._open("/dock/events")
        while not self.stop.is_set():
            line = reply.readline()
            if not line:
                return
            if line.startswith(b"data:"):
                json.loads(line[5:])
                self.events += 1


BROWSER_LATENCY = """const [seconds, done] = [arguments[0], arguments[arguments.length - 1]];
(async () => {
  const reply = await fetch("preview"), reader = reply.body.getReader(), delays = [];
  const text = new TextDecoder(), end = Date.now() + seconds * 1000;
  let buffer = new Uint8Array(0);
  const find = (bytes) => { for (let i = 0; i + 3 < bytes.length; i++)
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i; return -1; };
  while (Date.now() < end) {
    const {value, done: over} = await reader.read();
    if (over) break;
    const joined = new Uint8Array(buffer.length + value.length); joined.set(buffer); joined.set(value, buffer.length);
    buffer = joined;
    for (;;) {
      const at = find(buffer);
      if (at < 0) break;
      const head = text.decode(buffer.slice(0, at));
      const length = Number((/Content-Length: (\\d+)/.exec(head) || [])[1]);
      const sent = Number((/X-Frame-Sent-Unix: ([\\d.]+)/.exec(head) || [])[1]);
      if (buffer.length < at + 4 + length + 2) break;
      const jpeg = buffer.slice(at + 4, at + 4 + length);
      buffer = buffer.slice(at + 4 + length + 2);
      const bitmap = await createImageBitmap(new Blob([jpeg], {type: "image/jpeg"}));
      delays.push(Date.now() / 1000 - sent);
      bitmap.close();
    }
  }
  reader.cancel();
  done(delays);
})();"""


def open_browser_dock(port: int, stack: ExitStack) -> object:
    """The real dock page in Debian's chromium, let in by its URL (None when chromium is missing)."""
    from tests.browser_tools import browser_missing_reason, chromium

    if browser_missing_reason():
        return None
    driver = stack.enter_context(chromium("--window-size=360,900", script_timeout_s=120))
    driver.get(f"http://127.0.0.1:{port}/dock?token={user_token().value.value}")
    return driver


def measure(docks: int, seconds: float, folder: Path, browser: bool = False) -> dict[str, object]:
    name, stop_source = unique_name("bench-dock-in"), threading.Event()
    source = threading.Thread(target=run_demo_source, args=(name, 1280, 720, 30.0, 4, 0, stop_source), daemon=True)
    source.start()
    port = free_port()
    bridge = start_bridge(face_profile(folder, port=port), name, unique_name("bench-dock-out"))
    stop_docks, stack = threading.Event(), ExitStack()
    try:
        wait_status(port, lambda s: s.get("output", {}).get("fps", 0) > 5 and len(s.get("tracks") or []) >= 4, 120)
        open_docks = [Dock(port, session_cookie(port), stop_docks) for _ in range(docks)]
        driver: Any = open_browser_dock(port, stack) if browser else None
        if browser and driver is None:
            return {"docks": "1 (chromium)", "skipped": "chromium or chromedriver missing"}
        time.sleep(3.0)  # past warm-up, the latency window refilled with this case's frames
        for dock in open_docks:
            dock.delays.clear()
        cpu_start, wall_start = cpu_seconds(bridge.pid), time.monotonic()
        fps: list[float] = []
        browser_delays: list[float] = []
        sampler = threading.Thread(target=lambda: browser_delays.extend(driver.execute_async_script(BROWSER_LATENCY, seconds)),
                                   daemon=True) if driver is not None else None
        if sampler is not None:
            sampler.start()
        while time.monotonic() - wall_start < seconds:
            time.sleep(1.0)
            fps.append(wait_status(port, lambda s: True)["output"]["fps"])
        if sampler is not None:
            sampler.join(30)
        cpu = (cpu_seconds(bridge.pid) - cpu_start) / (time.monotonic() - wall_start)
        status = wait_status(port, lambda s: True)
        stack.close()  # the browser goes before the bridge's figures are read
        delays = [d for dock in open_docks for d in dock.delays] + browser_delays
        preview = {}
        if delays:
            p50, p95 = np.percentile(delays, [50, 95])
            preview = {"preview_latency_p50_ms": round(float(p50) * 1e3, 1),
                       "preview_latency_p95_ms": round(float(p95) * 1e3, 1),
                       "preview_fps_per_dock": round((statistics.mean(d.pictures for d in open_docks) if open_docks
                                                      else len(browser_delays)) / seconds, 1)}
    finally:
        stack.close()
        stop_docks.set()
        stop_process(bridge, timeout_s=10)
        stop_source.set()
        source.join(5)
    return {"docks": "1 (chromium)" if browser else docks, "output_fps": round(statistics.median(fps), 1), "latency_p95_ms": round(status["latency"]["p95_ms"], 1),
            "bridge_cpu_cores": round(cpu, 2), "tracks": len(status.get("tracks") or []), **preview}


def hook_cost(repeats: int = 2000) -> dict[str, float]:
    """µs the pipeline's threads spend in a preview hook per 720p frame: unwatched (every frame), and
    watched, for a frame the preview takes (at most 8 a second; the others return as unwatched)."""
    from bridge.dock.preview import PreviewHub
    from bridge.types import Frame

    image = np.random.default_rng(0).integers(0, 255, (720, 1280, 3), np.uint8)
    frame = Frame(image=image, sequence=0, received_at=time.monotonic())
    out: dict[str, float] = {}
    for watched in (False, True):
        hub = PreviewHub(fps=1e9)  # watched: every call takes its picture
        for kind, hook in (("output", hub.sent), ("input", hub.received)):
            started = time.perf_counter()
            if watched:
                with hub.watching(kind):
                    for _ in range(repeats):
                        hook(frame)
            else:
                for _ in range(repeats):
                    hook(frame)
            out[f"{kind}_hook_us_{'watched' if watched else 'unwatched'}"] = round(
                (time.perf_counter() - started) / repeats * 1e6, 2)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--docks", default="0,1,3")
    parser.add_argument("--no-browser", action="store_true", help="skip the case with the real dock page in chromium")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="fb-bench-dock-"))
    (folder / "ndi-config.v1.json").write_text(LOOPBACK_CONFIG)
    os.environ["NDI_CONFIG_DIR"] = str(folder)
    os.environ.setdefault("FACEBRIDGE_CONFIG_DIR", str(folder / "config"))
    rows: list[dict[str, object]] = [hook_cost()]
    print(json.dumps(rows[-1]), flush=True)
    with NdiRuntime():
        for docks in (int(n) for n in args.docks.split(",")):
            rows.append(measure(docks, args.seconds, folder))
            print(json.dumps(rows[-1]), flush=True)
        if not args.no_browser:
            rows.append(measure(0, args.seconds, folder, browser=True))
            print(json.dumps(rows[-1]), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_dock.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
