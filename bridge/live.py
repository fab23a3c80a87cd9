"""The live show: one source → the stage → one sink, with everything that watches or steers it.

`serve` opens the profile's source and sink and runs a `LiveShow` until stopped: the pipeline's
threads, OBS control, the local HTTP API (and the dock it serves), the status view, and the
profile reload of `--watch`. The show knows its input and output only through the
`LiveSource` / `LiveSink` protocols (bridge.pipeline): another input is one class and one line
in `SOURCES`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from bridge import access
from bridge.dock.photos import PhotoTargets
from bridge.dock.preview import PreviewHub
from bridge.dock.routes import DockBackend
from bridge.io import ndi
from bridge.obs import wiring
from bridge.obs.commands import RECORDING_ACTIONS, Command
from bridge.obs.control import ObsControl
from bridge.obs.lipsync import OffsetStore, PictureDelay, default_store_path
from bridge.pipeline import LiveSink, LiveSource, PassThrough, Pipeline, Stage
from bridge.profile import InputSection, OutputSection, Profile
from bridge.reload import ProfileFile, load_edit
from bridge.facestage.stage import FaceStage
from bridge.status_view import LiveStatus
from bridge.telemetry import Metrics, TelemetryError, TelemetryServer, frames_flowing, scrub
from bridge.types import Frame

if TYPE_CHECKING:
    from bridge.io.record import Recorder

log = logging.getLogger("facebridge")


def build_stage(profile: Profile) -> Stage:
    """The face stage the profile describes, warmed up before it goes on air (a reload's too),
    or pass-through when analysis is off."""
    if not profile.analysis.enabled:
        return PassThrough()
    from bridge.facestage.build import build_face_stage
    from bridge.facestage.warm import warm_up

    stage = build_face_stage(profile)
    try:
        warmed = warm_up(stage)
        log.info("face stage warmed up in %.2f s (%d face(s) on the warm-up picture)", warmed.seconds, warmed.faces)
    except Exception as error:  # a cold first frame drops a few frames; never a reason not to go on air
        log.warning("face stage warm-up failed (%s: %s); the first frames may be dropped", type(error).__name__, error)
    return stage


@dataclass(frozen=True)
class Overrides:
    """What the command line set over the profile; applied again to a reloaded profile."""

    input_name: str | None = None
    output_name: str | None = None
    input_url: str | None = None

    def __call__(self, profile: Profile) -> None:
        if self.input_name:
            profile.input.ndi_source, profile.input.url = self.input_name, ""
        if self.input_url:
            profile.input.ndi_source, profile.input.url = "", self.input_url
        if self.output_name:
            profile.output.ndi_name = self.output_name


# -- the input ---------------------------------------------------------------------------------

def source_name(section: InputSection) -> str:
    """The input as messages name it (a URL with its password masked)."""
    from bridge.io.ffmpeg import shown

    return shown(section.url) if section.url else section.ndi_source


def open_ndi(section: InputSection) -> LiveSource:
    return ndi.NdiReceiver(section.ndi_source, section.extra_ips, section.color_format, section.wait_log_s)


def open_url(section: InputSection) -> LiveSource:
    from bridge.io.url_source import UrlSource

    return UrlSource(section.url, {k: str(v) for k, v in section.url_options.items()}, loop=section.loop,
                     timeout_s=section.url_timeout_s, wait_log_s=section.wait_log_s)


SOURCES: dict[str, Callable[[InputSection], LiveSource]] = {"ndi": open_ndi, "url": open_url}


def open_ndi_output(section: OutputSection) -> LiveSink:
    return ndi.NdiSender(section.ndi_name, section.groups)


def source_kind(section: InputSection) -> str:
    return "url" if section.url else "ndi"


def _fps(rate: tuple[int, int]) -> float:
    return round(rate[0] / rate[1], 3) if rate[1] else 0.0


# -- the show ----------------------------------------------------------------------------------

class LiveShow:
    """One running show: the pipeline between a source and a sink, its stage, and what watches it.

    The pipeline is built here with this show's command handler, so a command always reaches
    the stage that is on air now (a reload replaces it) or the recorder.
    """

    def __init__(self, profile: Profile, source: LiveSource, sink: LiveSink, stage: Stage, *,
                 recorder: Recorder | None = None, profile_path: Path | None = None,
                 overrides: Overrides | None = None) -> None:
        self.profile, self.source, self.sink, self.stage = profile, source, sink, stage
        self.recorder = recorder
        self.profile_path = profile_path  # set: reload the profile when it is saved (--watch)
        self.overrides = overrides or Overrides()
        self.metrics = Metrics()
        self.picture_delay = PictureDelay()
        self.preview = PreviewHub()  # the dock's picture: idle until a dock watches
        self.obs: ObsControl | None = None
        self.reloading = threading.Lock()  # --watch and the dock's photos
        self.started_at = time.monotonic()
        p = profile
        self.pipeline = Pipeline(source, stage, sink, queue_frames=p.pipeline.queue_frames, on_loss=p.input.on_loss,
                                 loss_after_s=p.input.loss_after_ms / 1000,
                                 slate_text=f"facebridge: waiting for {source_name(p.input)}",
                                 apply_command=self.apply_command, overlap=p.pipeline.overlap, on_sent=self._sent,
                                 drop_late=p.pipeline.drop_late, on_received=self.preview.received)

    def _sent(self, frame: Frame, latency_s: float) -> None:
        self.metrics.observe_frame(frame, latency_s)
        self.picture_delay.add(frame)
        self.preview.sent(frame)

    def apply_command(self, command: Command) -> None:
        """Between frames: a recording command goes to the recorder, every other to the stage on air."""
        if command.action in RECORDING_ACTIONS:
            if self.recorder is not None:
                done, message = self.recorder.start() if command.action == "start_recording" else self.recorder.stop()
                (log.info if done else log.warning)("%s: %s", command.action, message)
        elif isinstance(self.stage, FaceStage):
            self.stage.apply(command)
        else:
            log.warning("%s ignored: face analysis is off in this profile", command.action)

    # -- what it shows -------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """The status dict (bridge.status_view.BridgeStatus): the terminal view, GET /status and /metrics."""
        counters = self.pipeline.counters
        source, sink = self.source.status(), self.sink.status()
        face = dataclasses.asdict(self.stage.status()) if isinstance(self.stage, FaceStage) else {}
        delay = self.picture_delay.median_ms()
        return {
            "input": {"source": source.source or source_name(self.profile.input), "size": list(counters.input_size),
                      "fps": _fps(counters.input_rate), "connected": source.connected,
                      "reconnects": max(0, source.connects - 1)},
            "output": {"name": sink.name, "connections": sink.connections, "fps": round(self.pipeline.output_rate.fps(), 2)},
            "latency": self.pipeline.latency.percentiles(),
            # the camera's NDI send stamp to this bridge's send (median), what lip sync starts from
            "picture_delay_ms": None if delay is None else round(delay, 1),
            "frames": {"in": counters.frames_in, "out": counters.frames_out, "held": counters.frames_held,
                       "dropped": counters.dropped, "skipped": source.skipped, "ndi_dropped": source.transport_dropped},
            "stage_errors": counters.stage_errors,
            **face,
            "recording": self.recorder.status() if self.recorder else {"state": "off"},
            "obs": self.obs.status() if self.obs else {"connected": False, "enabled": False},
            "reconnects": {"ndi": max(0, source.connects - 1), "obs": self.obs.reconnects if self.obs else 0},
            "provider": self.provider,
            "health": dict(zip(("ok", "reason"), self.health())),
            "uptime_s": round(time.monotonic() - self.started_at, 1),
        }

    def health(self) -> tuple[bool, str]:
        counters = self.pipeline.counters
        return frames_flowing(counters.last_input_at, counters.last_output_at)

    @property
    def provider(self) -> str:
        return getattr(self.stage, "provider", "none")

    def summary(self) -> dict[str, Any]:
        status = self.status()
        return {k: status[k] for k in ("frames", "latency", "active_target", "leaks", "fallbacks", "recording")
                if k in status}

    # -- running -------------------------------------------------------------------------------
    def run(self, stop: threading.Event, profile_path: str, status_every_s: float = 5.0) -> None:
        """On air until `stop` is set (or a pipeline thread dies); everything it started is stopped."""
        if self.recorder is not None and self.profile.output.record and self.profile.output.record_on_start:
            self.recorder.start()
        name = self.sink.status().name
        log.info("sending NDI source %r", name)
        self.pipeline.start()
        if self.profile.obs.enabled:
            self.obs = start_obs(self.profile, name, self.pipeline, show_name(profile_path), self.picture_delay)
        server = start_telemetry(self, profile_path)
        try:
            with LiveStatus(Console(stderr=True), self.status, plain_every_s=status_every_s):
                self.watch(stop)
        finally:
            if server is not None:
                server.stop()
            if self.obs is not None:
                self.obs.stop(timeout=1.0)
            self.pipeline.stop()
            self.source.close()
            self.sink.close()
        log.info("stopped: %s", json.dumps(self.summary()))

    def watch(self, stop: threading.Event) -> None:
        """Until stopped: reload the profile when it is edited (with --watch); keep OBS's script told of the targets."""
        published: tuple[object, ...] | None = None
        edits = ProfileFile(self.profile_path) if self.profile_path else None
        while not stop.wait(0.2) and not self.pipeline.stop_event.is_set():
            if edits is not None and edits.changed():
                self.reload(edits.path)
            if self.obs is not None and isinstance(self.stage, FaceStage):
                now = (tuple(self.stage.mapping.targets), self.stage.mapping.active_target)
                if now != published:
                    self.obs.publish_targets(*now)  # type: ignore[arg-type]
                    published = now

    def reload(self, path: Path) -> bool:
        """Put an edited profile on air from the next frame; anything wrong keeps the running one."""
        with self.reloading:
            edited = load_edit(path, self.profile, self.overrides)
            if edited is None:
                return False
            try:
                stage = build_stage(edited)
            except Exception as error:  # a model or target that will not load must not end the show
                log.error("%s: %s; kept the running profile", path, error)
                return False
            if isinstance(stage, FaceStage) and isinstance(self.stage, FaceStage):
                stage.mapping.continue_from(self.stage.mapping)
            self.pipeline.replace_stage(stage)
            self.stage, self.profile = stage, edited
            log.info("%s: reloaded; on air from the next frame", path)
            return True


def serve(profile: Profile, profile_path: str, stop: threading.Event, status_every_s: float = 5.0, *,
          watch_profile: bool = False, overrides: Overrides | None = None) -> None:
    """Run the show on a loaded profile until `stop` is set; with `watch_profile`, edits to the
    profile file go live at a frame boundary. Raises AssemblyError when the stage cannot be built."""
    stage = build_stage(profile)
    from bridge.io.record import EncoderSettings, RecordedSink, Recorder  # PyAV loads only for the show

    with ndi.NdiRuntime():
        source = SOURCES[source_kind(profile.input)](profile.input)
        out = profile.output
        recorder = Recorder(out.record, EncoderSettings(crf=out.crf, preset=out.preset))
        sink = RecordedSink(open_ndi_output(out), recorder)  # another output: a LiveSink opened here
        show = LiveShow(profile, source, sink, stage, recorder=recorder,
                        profile_path=Path(profile_path) if watch_profile else None, overrides=overrides)
        show.run(stop, profile_path, status_every_s)


def show_name(profile_path: str) -> str:
    """The show's name: the profile file's name without .yaml."""
    return Path(profile_path).stem


# -- what steers it ----------------------------------------------------------------------------

def start_obs(profile: Profile, ndi_name: str, pipeline: Pipeline, show: str = "",
              picture_delay: PictureDelay | None = None) -> ObsControl:
    o = profile.obs
    scenes = {name: name for name in profile.mapping.scenes}
    submit = access.audited(pipeline.submit, f"obs-websocket {o.host}:{o.port}")  # hotkeys and scene changes
    control = ObsControl(host=o.host, port=o.port, password=o.password.value if o.password else "",
                         source_name=o.source_name, ndi_source_name=ndi_name, scenes=o.scenes,
                         scene_overrides=scenes, command_sink=submit, ndi_latency=o.ndi_latency,
                         camera_source=o.camera_source, camera_ndi_name=wiring.camera_ndi_name(show),
                         sync_audio_inputs=o.sync_audio_inputs, picture_delay=picture_delay,
                         offset_store=OffsetStore(default_store_path()), sync_min_interval_s=o.sync_min_interval_s)
    return control.start()


def start_telemetry(show: LiveShow, profile_path: str = "the profile") -> TelemetryServer | None:
    """The local HTTP API; a port or a token that cannot be had costs the API, never the show."""
    t = show.profile.telemetry
    if not t.port:
        return None
    metrics = show.metrics
    try:
        token = access.resolve_token(t.token, profile_path)
    except access.TokenError as error:
        log.error("HTTP API off: %s", error)
        return None
    for handler in logging.getLogger().handlers:  # whatever module logs what a client sent, never the token
        handler.addFilter(access.TokenMask(token.value))

    def command(parsed: Command) -> tuple[bool, str]:
        queued = show.pipeline.submit(parsed)
        return queued, "queued" if queued else "the command queue is full; try again"

    try:
        server = TelemetryServer(t.host, t.port, token.value, status=lambda: scrub(show.status()), health=show.health,
                                 command=command, metrics=metrics, on_scrape=lambda: metrics.update(show.status()),
                                 dock=dock_backend(show, profile_path))
        server.start()
    except TelemetryError as error:
        log.error("HTTP API off: %s (set telemetry.port to a free port, or 0)", error)
        return None
    log.info("HTTP API token: from %s (%s)", token.origin, access.TOKEN_HELP)
    say_dock_url(server.dock_url)
    return server


def say_dock_url(url: str) -> None:
    """The dock's URL holds the token: shown on an interactive console, never written to a log or a pipe."""
    if sys.stdout.isatty():
        print(f"Control dock for OBS (View → Docks → Custom Browser Docks), keep it private:\n  {url}", flush=True)
    else:
        log.info("control dock: `facebridge dock-url` prints the URL to paste into OBS (Custom Browser Docks)")


def dock_backend(show: LiveShow, profile_path: str) -> DockBackend:
    """The dock's view of the running show; photos become targets of `profile_path`."""
    def target_images() -> dict[str, list[str]]:
        stage = show.stage
        return {name: list(t.images) for name, t in stage.targets.items()} if isinstance(stage, FaceStage) else {}

    def find_faces() -> Callable[..., list]:
        from bridge.facestage.build import Analysis, sessions_for

        return Analysis(show.profile, sessions_for(show.profile)).find_faces  # its own sessions

    path = Path(profile_path)
    photos = (PhotoTargets(path, find_faces, show.reload, lambda: list(target_images()))
              if show.profile.analysis.enabled and path.is_file() else None)
    return DockBackend(show.preview, target_images, photos)
