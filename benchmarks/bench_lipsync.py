"""Lip sync: the bridge's picture-delay estimate against the measured delay, and how often the audio offset moved.

    stand-in for the camera's NDI filter ──NDI──▶ facebridge run ──NDI──▶ receiver standing in for OBS
    (numbered test pattern, send time kept)      (CPU face profile,        (arrival time of each number)
                                                  lip sync of a real OBS
                                                  media source)

Measured delay per frame = arrival at the receiver − send at the stand-in (one machine, one
clock). The bridge's estimate without OBS's own part is its /status `picture_delay_ms` (median of
bridge send − the NDI send stamp) plus `NDI_TRANSPORT_MS`; the OBS-side frames of the latency
mode (`OBS_HOP_FRAMES`) cannot be measured without DistroAV and are reported apart. Real OBS
(headless) runs alongside with a media source playing a tone in `obs.sync_audio_inputs`; its
audio sync offset is read back every half second to count changes.

    python benchmarks/bench_lipsync.py [--minutes 2] [--fps 30] [--size 640x360]
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge.io.ndi import NdiRuntime, NdiSender  # noqa: E402
from bridge.obs.lipsync import NDI_TRANSPORT_MS, obs_hop_ms  # noqa: E402
from bridge.types import Frame  # noqa: E402
from tests.e2e_tools import face_profile, free_port, get_status  # noqa: E402
from tests.ndi_tools import LOOPBACK_CONFIG, Recorder, decode, pattern, start_bridge, stop_process, unique_name  # noqa: E402
from tests.obs_fixture import ObsStudio  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


class StandInFilter:
    """Sends numbered patterns at `fps`, keeping each number's wall-clock send time."""

    def __init__(self, name: str, size: tuple[int, int], fps: float) -> None:
        self.sender = NdiSender(name)
        self.size, self.fps = size, fps
        self.sent: list[tuple[float, int]] = []  # (wall-clock send, number), appended only
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start, number = time.monotonic(), 0
        pictures = [pattern(n, *self.size) for n in range(64)]  # drawn once: the stand-in must not lag
        while not self.stop.is_set():
            wait = start + number / self.fps - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self.sent.append((time.time(), number))
            self.sender.send(Frame(image=pictures[number % 64].copy(), sequence=number, frame_rate=(int(self.fps), 1)))
            number += 1


def arrivals(recorder: Recorder, wall_minus_mono: float) -> list[tuple[float, int]]:
    """(wall-clock arrival, pattern number mod 64) of every received frame so far."""
    return [(at + wall_minus_mono, decode(frame.image)) for at, frame in recorder._raw[:]]


def measured_delays(recorder: Recorder, sender: StandInFilter, wall_minus_mono: float, since: float) -> list[float]:
    """Arrival − send, ms, for frames received after `since`; a number mod 64 is matched to the latest send before arrival."""
    by_code: dict[int, list[float]] = {}
    for sent, number in sender.sent[:]:  # a copy: the sender appends meanwhile
        if sent >= since - 3.0:
            by_code.setdefault(number % 64, []).append(sent)
    delays = []
    for arrived, code in arrivals(recorder, wall_minus_mono):
        if arrived < since or code < 0:
            continue
        times = by_code.get(code, [])
        before = bisect.bisect_right(times, arrived)
        if before:
            delays.append((arrived - times[before - 1]) * 1000)
    return delays


def direct_hop_ms(size: tuple[int, int], fps: float, seconds: float = 6.0) -> float:
    """NDI alone, stand-in sender to receiver: the transport part of the hop."""
    name = unique_name("lipsync-direct")
    sender, recorder = StandInFilter(name, size, fps), Recorder(name)
    wall_minus_mono = time.time() - time.monotonic()
    sender.thread.start()
    recorder.wait_connected()
    time.sleep(2.0)
    since = time.time()
    time.sleep(seconds)
    sender.stop.set()
    sender.thread.join(2)
    delays = measured_delays(recorder, sender, wall_minus_mono, since)
    recorder.close()
    sender.sender.close()
    return statistics.median(delays)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--window-s", type=float, default=10.0, help="seconds per compared window")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    folder = Path(tempfile.mkdtemp(prefix="fb-lipsync-"))
    (folder / "ndi-config.v1.json").write_text(LOOPBACK_CONFIG)
    os.environ["NDI_CONFIG_DIR"] = str(folder)
    os.environ["FACEBRIDGE_STATE_DIR"] = str(folder)

    from tests.test_obs_wiring import write_tone

    studio = ObsStudio(folder / "obs", script=None, scenes=("Main",))
    studio.workdir.mkdir()
    studio.start()
    obs = studio.request_client()
    obs.send("CreateInput", {"sceneName": "Main", "inputName": "mic", "inputKind": "ffmpeg_source",
                             "inputSettings": {"local_file": str(write_tone(folder / "tone.wav")), "looping": True},
                             "sceneItemEnabled": True}, raw=True)
    port = free_port()
    os.environ["FB_BENCH_OBS_PASSWORD"] = studio.password
    profile = face_profile(folder, port=port, obs=(
        f"obs:\n  enabled: true\n  host: {studio.host}\n  port: {studio.port}\n  password: ${{FB_BENCH_OBS_PASSWORD}}\n"
        "  scenes: [Main]\n  sync_audio_inputs: [mic]\n  ndi_latency: 1\n"))
    rows: list[dict[str, float]] = []
    offsets: list[tuple[float, int]] = []
    with NdiRuntime():
        hop = direct_hop_ms(size, args.fps)
        source, output = unique_name("lipsync-filter"), unique_name("lipsync-out")
        sender = StandInFilter(source, size, args.fps)
        bridge = start_bridge(profile, source, output)
        drained = threading.Thread(target=lambda: bridge.stdout.read(), daemon=True)
        drained.start()
        recorder = Recorder(output)
        wall_minus_mono = time.time() - time.monotonic()
        sender.thread.start()
        try:
            recorder.wait_connected()
            time.sleep(5.0)  # past warm-up
            started = time.time()
            end = started + args.minutes * 60
            window_start = started
            while time.time() < end:
                offsets.append((time.time() - started,
                                obs.send("GetInputAudioSyncOffset", {"inputName": "mic"}, raw=True)["inputAudioSyncOffset"]))
                if time.time() - window_start >= args.window_s:
                    status = get_status(port)
                    measured = measured_delays(recorder, sender, wall_minus_mono, window_start)
                    estimate = status.get("picture_delay_ms")
                    if measured and estimate is not None:
                        rows.append({"t_s": round(window_start - started, 1),
                                     "measured_ms": round(statistics.median(measured), 1),
                                     "measured_p95_ms": round(sorted(measured)[int(0.95 * (len(measured) - 1))], 1),
                                     "estimate_ms": round(estimate + NDI_TRANSPORT_MS, 1),
                                     "offset_ms": status["obs"]["audio_sync"]["offset_ms"]})
                        print(json.dumps(rows[-1]), flush=True)
                    recorder._raw.clear()  # keep the matching cheap
                    window_start = time.time()
                time.sleep(0.5)
            final = get_status(port)
        finally:
            sender.stop.set()
            sender.thread.join(2)
            recorder.close()
            stop_process(bridge)
            sender.sender.close()
            obs.disconnect()
            studio.close()
    values = [v for _, v in offsets]
    changes = sum(1 for a, b in zip(values, values[1:]) if a != b) + (1 if values and values[0] != 0 else 0)
    errors = [row["estimate_ms"] - row["measured_ms"] for row in rows]
    summary = {
        "minutes": args.minutes, "fps": args.fps, "size": args.size,
        "ndi_direct_hop_ms": round(hop, 1), "ndi_transport_ms_assumed": NDI_TRANSPORT_MS,
        "obs_side_ms_added_at_latency_low": round(obs_hop_ms(1, 1000 / args.fps) - NDI_TRANSPORT_MS, 1),
        "windows": rows,
        "estimate_minus_measured_ms": {"median": round(statistics.median(errors), 1) if errors else None,
                                       "max_abs": round(max(map(abs, errors)), 1) if errors else None},
        "offset_changes": changes, "offset_values_ms": sorted(set(values)),
        "bridge_offset_changes": final["obs"]["audio_sync"]["changes"],
        "bridge_latency_ms": final["latency"],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "lipsync.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: v for k, v in summary.items() if k != "windows"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
