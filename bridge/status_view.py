"""The terminal status: a compact rich panel while running, or one plain log line when not on a terminal.

`BridgeStatus` is the shape of the status dict the app builds once per refresh; the same dict
is `GET /status` and feeds `Metrics.update`. Every key is optional: the view shows what it has.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, TypedDict

from rich.console import Console, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

log = logging.getLogger("facebridge.status")


class InputStatus(TypedDict, total=False):
    source: str  # the NDI source name actually received ("" while waiting)
    size: list[int]  # [width, height]
    fps: float  # frames per second received, measured
    connected: bool


class OutputStatus(TypedDict, total=False):
    name: str  # the NDI source name the bridge sends
    fps: float  # frames per second sent, measured
    connections: int  # NDI receivers connected (OBS counts as one)


class LatencyStatus(TypedDict, total=False):
    p50_ms: float
    p95_ms: float
    max_ms: float


# Totals since start (PipelineCounters); "held" = sent while the input was gone. Functional syntax: "in" is a keyword.
FramesStatus = TypedDict("FramesStatus", {"in": int, "out": int, "held": int, "dropped": int, "skipped": int,
                                          "ndi_dropped": int},
                         total=False)


class TrackStatus(TypedDict, total=False):
    id: int
    slot: int | None  # on-screen face number: the "face N" hotkeys and cycle_face_target's 'face'
    person: str | None  # who the track was recognised as (enrolled name), None = unknown
    target: str | None  # the target face swapped onto it, None = not swapped
    state: str  # types.TrackState: "detected", "coasting" (followed by optical flow) or "fallback" (swap failed)


class ObsStatus(TypedDict, total=False):
    connected: bool
    scene: str  # current program scene
    host: str  # host:port, never the password
    wiring_problem: str  # why the camera is not wired, if it is not
    audio_sync: dict[str, Any]  # {"inputs": [...], "offset_ms": n, "estimate_ms": x, "changes": n}


class BridgeStatus(TypedDict, total=False):
    input: InputStatus
    output: OutputStatus
    latency: LatencyStatus
    frames: FramesStatus
    faces: int  # faces found in the latest frame
    tracks: list[TrackStatus]
    active_target: str | None
    bypass: bool
    obs: ObsStatus
    stage_errors: int
    fallbacks: int  # face frames covered by the swap fallback (held swap or blur) since start
    leaks: int  # frames where an unswapped face would have shown
    swap_errors: int
    reconnects: dict[str, int]  # {"ndi": n, "obs": n}
    provider: str  # execution provider in use, e.g. "cuda", "cpu"
    uptime_s: float
    health: dict[str, Any]  # {"ok": bool, "reason": str}


# -- rendering ---------------------------------------------------------------------------------

def _num(value: Any, fmt: str = "{:.1f}", missing: str = "–") -> str:
    return fmt.format(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else missing


def _fps(value: Any) -> str:
    text = _num(value, "{:.2f}")
    return text.rstrip("0").rstrip(".") if "." in text else text  # 29.97 stays, 30.00 reads 30


def _size(size: Any) -> str:
    if isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, int) for v in size) and size[0] > 0:
        return f"{size[0]}×{size[1]}"
    return "–"


def _uptime(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "–"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _track_text(track: Mapping[str, Any]) -> str:
    person = track.get("person") or "unknown"
    target = track.get("target") or "—"
    state = track.get("state")
    slot = track.get("slot")
    face = f"face {slot} " if isinstance(slot, int) else ""
    return f"{face}#{track.get('id', '?')} {person} → {target}" + (f" ({state})" if state and state != "detected" else "")


def render_status(status: Mapping[str, Any]) -> RenderableType:
    """A compact panel of one status dict (BridgeStatus)."""
    source = status.get("input") or {}
    output = status.get("output") or {}
    latency = status.get("latency") or {}
    frames = status.get("frames") or {}
    obs = status.get("obs") or {}
    tracks = status.get("tracks") or []

    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column()

    name = source.get("source") or "waiting for a source"
    grid.add_row("input", f"{name}  {_size(source.get('size'))} @ {_fps(source.get('fps'))} fps")
    connections = output.get("connections")
    grid.add_row("output", f"{output.get('name') or '–'}  {_fps(output.get('fps'))} fps"
                 + (f"  {connections} receiver{'s' if connections != 1 else ''}" if isinstance(connections, int) else ""))
    grid.add_row("latency", f"p50 {_num(latency.get('p50_ms'), '{:.0f}')} ms  p95 {_num(latency.get('p95_ms'), '{:.0f}')} ms"
                 f"  max {_num(latency.get('max_ms'), '{:.0f}')} ms")
    dropped = frames.get("dropped", 0)
    grid.add_row("frames", Text.assemble(
        f"in {_num(frames.get('in'), '{}', '0')}  out {_num(frames.get('out'), '{}', '0')}  "
        f"held {_num(frames.get('held'), '{}', '0')}  ",
        (f"dropped {_num(dropped, '{}', '0')}", "yellow" if dropped else ""),
        f"  skipped {_num(frames.get('skipped'), '{}', '0')}  lost in NDI {_num(frames.get('ndi_dropped'), '{}', '0')}"))
    grid.add_row("faces", f"{_num(status.get('faces'), '{}', '0')} found, {len(tracks)} tracked")
    for track in tracks[:8]:  # a crowd would push everything else off the screen
        grid.add_row("", _track_text(track) if isinstance(track, Mapping) else str(track))
    if len(tracks) > 8:
        grid.add_row("", f"… {len(tracks) - 8} more")
    bypass = bool(status.get("bypass"))
    grid.add_row("target", Text.assemble(str(status.get("active_target") or "–"), "  ",
                                         ("PANIC: every face covered", "bold yellow") if status.get("panic") else
                                         ("BYPASS", "bold red") if bypass else ("swapping", "green")))
    if obs:
        connected = bool(obs.get("connected"))
        scene = f"  scene {obs['scene']}" if obs.get("scene") else ""
        sync = obs.get("audio_sync") or {}
        offset = f"  audio +{sync['offset_ms']} ms" if sync.get("offset_ms") is not None else ""
        problem = ("  " + obs["wiring_problem"][:60], "yellow") if obs.get("wiring_problem") else ""
        grid.add_row("OBS", Text.assemble(("connected", "green") if connected else ("disconnected", "red"), scene,
                                          offset, problem))
    else:
        grid.add_row("OBS", Text("off", style="dim"))
    fallbacks, leaks = status.get("fallbacks", 0), status.get("leaks", 0)
    grid.add_row("health", Text.assemble(
        (f"fallbacks {_num(fallbacks, '{}', '0')}", "yellow" if fallbacks else ""), "  ",
        (f"leaks {_num(leaks, '{}', '0')}", "red" if leaks else ""), "  ",
        f"errors {_num(status.get('stage_errors'), '{}', '0')}"))
    grid.add_row("provider", str(status.get("provider") or "–"))
    recording = status.get("recording") or {}
    if recording.get("state", "off") != "off":
        state = str(recording["state"])
        style = {"recording": "bold red", "failed": "yellow"}.get(state, "dim")
        grid.add_row("record", Text.assemble(("● REC" if state == "recording" else state, style), "  ",
                                             str(recording.get("file") or "")))

    health = status.get("health") or {}
    border = "green" if health.get("ok", True) else "red"
    subtitle = f"up {_uptime(status.get('uptime_s'))}"
    if health and not health.get("ok", True):
        subtitle = f"{health.get('reason', 'unhealthy')} · {subtitle}"
    return Panel(grid, title="facebridge", subtitle=subtitle, border_style=border, expand=False)


def status_line(status: Mapping[str, Any]) -> str:
    """The same facts as one plain line, for logs when stdout is not a terminal."""
    source = status.get("input") or {}
    latency = status.get("latency") or {}
    frames = status.get("frames") or {}
    obs = status.get("obs")
    parts = [
        f"in {source.get('source') or '-'} {_size(source.get('size')).replace('×', 'x')}@{_fps(source.get('fps'))}",
        f"out {_fps((status.get('output') or {}).get('fps'))} fps",
        f"latency p50 {_num(latency.get('p50_ms'), '{:.0f}')} p95 {_num(latency.get('p95_ms'), '{:.0f}')} ms",
        f"faces {_num(status.get('faces'), '{}', '0')} tracks {len(status.get('tracks') or [])}",
        f"target {status.get('active_target') or '-'}",
        f"bypass {'on' if status.get('bypass') else 'off'}" + (" PANIC (every face covered)" if status.get("panic") else ""),
        f"obs {('up' if obs.get('connected') else 'down') if obs else 'off'}",
        f"dropped {_num(frames.get('dropped'), '{}', '0')}",
        f"fallbacks {_num(status.get('fallbacks'), '{}', '0')}",
        f"provider {status.get('provider') or '-'}",
    ]
    recording = status.get("recording") or {}
    if recording.get("state", "off") != "off":
        parts.append(f"rec {recording['state']}")
    return " | ".join(parts)


# -- live view ---------------------------------------------------------------------------------

class LiveStatus:
    """Redraws `render_status(get_status())` about twice a second while in the `with` block.

    On a terminal it is a rich live panel; otherwise (piped, systemd, CI) one plain log line
    every `plain_every_s`, so logs stay readable and are not flooded.
    """

    def __init__(self, console: Console, get_status: Callable[[], Mapping[str, Any]], *, refresh_s: float = 0.5,
                 plain_every_s: float = 10.0):
        self.console = console
        self.get_status = get_status
        self.refresh_s = refresh_s
        self.plain_every_s = plain_every_s
        self.live_mode = console.is_terminal
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live: Live | None = None
        self._failed = False

    def __enter__(self) -> LiveStatus:
        if self.live_mode:
            self._live = Live(Text("facebridge: starting…"), console=self.console, auto_refresh=False,
                              redirect_stdout=False, redirect_stderr=False)
            self._live.__enter__()
        self._thread = threading.Thread(target=self._run, name="facebridge-status", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        if self._live is not None:
            self._live.__exit__(kind, error, trace)
            self._live = None

    def refresh(self) -> None:
        """Draw (or log) the current status once."""
        status = self._read()
        if status is None:
            return
        if self._live is not None:
            self._live.update(render_status(status), refresh=True)
        else:
            log.info("status %s", status_line(status))

    def _read(self) -> Mapping[str, Any] | None:
        try:
            return self.get_status()
        except Exception as error:  # the view must never take the bridge down
            if not self._failed:
                self._failed = True
                log.error("status view: reading the status failed (%s: %s)", type(error).__name__, error)
            return None

    def _run(self) -> None:
        every = self.refresh_s if self.live_mode else self.plain_every_s
        self.refresh()
        while not self._stop.wait(every):
            self.refresh()
