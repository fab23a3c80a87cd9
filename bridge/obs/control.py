"""The bridge as an obs-websocket client: place its NDI input in the show's scenes, take commands.

`ObsControl` runs on its own thread and never blocks the video pipeline: OBS may be absent,
start late, quit or restart; the control thread reconnects with backoff and redoes the setup.

On every connect:
  1. Check the NDI input kind (DistroAV's `ndi_source`) with GetInputKindList. Missing → one
     clear line (install DistroAV and the NDI runtime) and no placing; commands still work.
  2. Find or create one input named `source_name` showing the bridge's NDI output with
     DistroAV's low-latency settings, and make sure every listed scene holds it. Idempotent:
     an existing item is never moved or duplicated (the user's transform wins); an item this
     class creates is fitted to the canvas.
  3. Apply the current program scene's mapping override, and broadcast the target list.

With `camera_source` set, step 2 is the camera wiring of `bridge.obs.wiring` instead: the NDI
filter and the fail-closed filter on the camera, the bridge's source right over the camera's
item. With `sync_audio_inputs`, the control thread keeps those inputs' audio sync offsets on
the picture's measured delay (`bridge.obs.lipsync`). Anything missing (DistroAV, the camera,
a recent enough obs-websocket) is said in one line; the bridge's NDI output never depends on it.

Custom events with realm `facebridge` are parsed with `parse_command` and handed to the
command sink; program-scene changes become `scene_mapping` commands. The sink is called on
obs-websocket's event thread: it must be quick (a `queue.put_nowait`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bridge.obs import wiring
from bridge.obs.lipsync import OffsetPolicy, OffsetStore, PictureDelay, obs_hop_ms
from bridge.obs.commands import (
    REALM,
    SCRIPT_HELLO,
    Command,
    CommandError,
    is_bridge_event,
    parse_command,
    scene_command,
    targets_event,
)

NDI_INPUT_KIND = "ndi_source"  # DistroAV (formerly obs-ndi)
MISSING_NDI_MESSAGE = (
    "OBS has no NDI input (input kind 'ndi_source' is missing): install DistroAV "
    "(https://distroav.org, OBS 31.1 or newer) and the NDI 6 runtime, then restart OBS; "
    "facebridge carries on without placing its source"
)
# Bounds that fit a source of any size to the canvas, keeping its aspect (Settings → Edit Transform → Fit).
ALIGN_TOP_LEFT = 5  # OBS_ALIGN_LEFT | OBS_ALIGN_TOP

CommandSink = Callable[[Command], None]
StatusSink = Callable[[str], None]


def ndi_low_latency_settings(ndi_source_name: str, latency: int = 1) -> dict[str, Any]:
    """DistroAV `ndi_source` settings for watching the bridge's output with as little delay as possible.

    bandwidth highest (0), keep the receiver active when hidden (0) so scene switches do not
    reconnect (1, "stop/resume blank", clears the picture: transparency over a hidden camera), sync
    on NDI timestamps (1) rather than source timecode (which buffers), no frame sync (it adds a
    buffer), latency mode low (1) or lowest (2), audio on (the bridge re-sends it in sync), and on
    source loss keep the content (`ndi_behavior_timeout` 1, DistroAV 6.1+; 0 would clear it after
    3 s and let whatever lies below show through): a stopped bridge leaves its last frame on air.
    """
    return {
        "ndi_source_name": ndi_source_name,
        "ndi_bw_mode": 0,
        "ndi_behavior": 0,
        "ndi_sync": 1,
        "ndi_framesync": False,
        "latency": latency,
        "ndi_audio": True,
        "ndi_behavior_timeout": 1,
    }


class _RawEvents:
    """Stands in for obsws-python's `Callback`: hands the event type and the raw eventData dict over.

    obsws-python turns event data into dataclasses with snake_case names, which would rename the
    keys of a custom event; the protocol is defined on the JSON keys, so we take them as sent.
    """

    def __init__(self, handler: Callable[[str, dict[str, Any]], None]) -> None:
        self._handler = handler

    def trigger(self, event_type: str, data: dict[str, Any]) -> None:
        self._handler(event_type, data)


class ObsControl:
    """obs-websocket client of the bridge: scene placement, commands in, target list out.

    host, port, password: obs-websocket server (password from the profile's env var; never logged).
    source_name: the OBS input that shows the bridge's output.
    ndi_source_name: the bridge's full NDI name as OBS lists it, e.g. "HOST (facebridge)".
    scenes: scenes that must hold the input; empty = the program scene at the first connect (then kept).
    scene_overrides: program scene name → mapping override, sent as a `scene_mapping` command.
    command_sink: called with each valid `Command` (on the event thread; keep it quick).
    on_status: called with each one-line status message (also logged).
    input_kind: the input kind to place; "ndi_source" in real use. Tests inject a kind that
        Debian's OBS has (e.g. "color_source_v3"), because there DistroAV is not installed.
    input_settings: settings of a created input; default: DistroAV low-latency settings.
    ndi_latency: DistroAV latency mode for the default settings (0 normal, 1 low, 2 lowest).
    camera_source: the OBS source whose faces are swapped; set = wire it (filters, placement over it).
    camera_ndi_name: the NDI name the camera's NDI filter sends as (the bridge receives it).
    ndi_filter_kind: "ndi_filter" in real use; tests inject a kind Debian's OBS has.
    sync_audio_inputs: inputs whose audio sync offset follows `picture_delay` (lip sync).
    picture_delay: the pipeline's measured picture delay; offset_store: where original offsets are kept.
    sync_min_interval_s: least time between two offset changes.
    backoff: (first, longest) wait between reconnect attempts, seconds; doubles after each failure.
    request_timeout: seconds a connect or a request may take before the connection counts as lost.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 4455,
        password: str = "",
        source_name: str = "facebridge",
        ndi_source_name: str = "",
        scenes: Sequence[str] = (),
        scene_overrides: Mapping[str, Any] | None = None,
        command_sink: CommandSink | None = None,
        on_status: StatusSink | None = None,
        input_kind: str = NDI_INPUT_KIND,
        input_settings: Mapping[str, Any] | None = None,
        ndi_latency: int = 1,
        camera_source: str = "",
        camera_ndi_name: str = "",
        ndi_filter_kind: str = wiring.NDI_FILTER_KIND,
        sync_audio_inputs: Sequence[str] = (),
        picture_delay: PictureDelay | None = None,
        offset_store: OffsetStore | None = None,
        sync_min_interval_s: float = 5.0,
        backoff: tuple[float, float] = (0.5, 10.0),
        request_timeout: float = 3.0,
        logger: logging.Logger | None = None,
    ) -> None:
        self.host = host
        self.port = int(port)
        self._password = password
        self.source_name = source_name
        self.ndi_source_name = ndi_source_name
        self.scenes = list(scenes)
        self.scene_overrides = dict(scene_overrides or {})
        self.command_sink = command_sink or (lambda command: None)
        self.on_status = on_status
        self.input_kind = input_kind
        self.input_settings = dict(
            input_settings if input_settings is not None else ndi_low_latency_settings(ndi_source_name, ndi_latency)
        )
        self.ndi_latency = ndi_latency
        self.camera_source = camera_source
        self.camera_ndi_name = camera_ndi_name
        self.ndi_filter_kind = ndi_filter_kind
        self.sync_audio_inputs = list(sync_audio_inputs)
        self.picture_delay = picture_delay
        self.offset_store = offset_store
        self.offset_policy = OffsetPolicy(sync_min_interval_s)
        self.backoff = backoff
        self.request_timeout = request_timeout
        self.log = logger or logging.getLogger("facebridge.obs")
        # obsws-python logs the password at INFO when it connects and a traceback for every failed
        # request; our own lines say what matters, so keep its logger quiet.
        logging.getLogger("obsws_python").setLevel(logging.CRITICAL)

        self.connected = False
        self.reconnects = 0  # successful connects after the first one
        self.connects = 0
        self.ndi_available: bool | None = None  # None until OBS answered
        self.placed_scenes: list[str] = []
        self.websocket_too_old: str | None = None
        self.wired = False  # camera filters in place
        self.wiring_problem = ""
        self.synced_inputs: list[str] = []
        self.audio_estimate_ms: float | None = None
        self._sync_checked_at = 0.0
        self.last_error = ""
        self.commands_received = 0
        self.program_scene = ""  # OBS's program scene, as last heard
        self.events_rejected = 0

        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._targets: dict[str, Any] | None = None
        self._targets_dirty = False
        self._thread: threading.Thread | None = None
        self._req: Any = None
        self._events: Any = None

    # ── lifecycle ────────────────────────────────────────────────────────────────────────────
    def start(self) -> ObsControl:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="obs-control", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._disconnect()

    def __enter__(self) -> ObsControl:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def status(self) -> dict[str, Any]:
        """A snapshot for the bridge's status and /healthz."""
        return {
            "connected": self.connected,
            "address": f"{self.host}:{self.port}",
            "reconnects": self.reconnects,
            "ndi_input_available": self.ndi_available,
            "source_name": self.source_name,
            "placed_scenes": list(self.placed_scenes),
            "camera_source": self.camera_source,
            "wired": self.wired,
            "wiring_problem": self.wiring_problem,
            "audio_sync": {
                "inputs": list(self.synced_inputs),
                "offset_ms": self.offset_policy.current_ms,
                "estimate_ms": None if self.audio_estimate_ms is None else round(self.audio_estimate_ms, 1),
                "changes": self.offset_policy.changes,
            },
            "program_scene": self.program_scene,
            "commands_received": self.commands_received,
            "events_rejected": self.events_rejected,
            "last_error": self.last_error,
        }

    def publish_targets(self, targets: Sequence[str], active: str | None) -> None:
        """Tell the OBS script the target list and the active target (sent now, and again on every connect)."""
        with self._lock:
            self._targets = targets_event(list(targets), active)
            self._targets_dirty = True
        self._wake.set()

    # ── the control thread ───────────────────────────────────────────────────────────────────
    def _run(self) -> None:
        delay = self.backoff[0]
        reported_down = False
        while not self._stop.is_set():
            try:
                self._connect()
            except Exception as error:  # anything: OBS absent, refusing, wrong password, half-started
                self._disconnect()
                self.last_error = _describe(error)
                if not reported_down:
                    if "identify" in self.last_error or "authentication" in self.last_error:
                        self._say(
                            f"OBS at {self.host}:{self.port} refused the login: check the obs-websocket password "
                            f"(profile obs.password / its env var); retrying in the background",
                            logging.WARNING,
                        )
                    else:
                        self._say(f"OBS not reachable at {self.host}:{self.port} ({self.last_error}); retrying in the background")
                    reported_down = True
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff[1])
                continue
            delay = self.backoff[0]
            reported_down = False
            self.connected = True
            if self.connects:
                self.reconnects += 1
            self.connects += 1
            self._say(f"connected to OBS at {self.host}:{self.port}")
            try:
                self._setup()
                self._serve()
            except Exception as error:
                self.last_error = _describe(error)
            was_stopping = self._stop.is_set()
            self.connected = False
            self._disconnect()
            if not was_stopping:
                self._say(f"lost the connection to OBS ({self.last_error or 'closed'}); reconnecting")
                self._stop.wait(self.backoff[0])

    def _connect(self) -> None:
        import obsws_python as obsws

        auth = {"host": self.host, "port": self.port, "password": self._password}
        self._req = obsws.ReqClient(**auth, timeout=self.request_timeout)
        self._events = obsws.EventClient(**auth, subs=obsws.Subs.GENERAL | obsws.Subs.SCENES)
        self._events.callback = _RawEvents(self._on_event)

    def _disconnect(self) -> None:
        # bounded: websocket-client waits 3 s for a close frame that a quitting OBS never sends
        events, req = self._events, self._req
        self._events = self._req = None
        if events is not None:
            _hang_up(events.base_client.ws, abort=True)  # wakes obsws-python's reader thread
            events.worker.join(1.0)
        if req is not None:
            _hang_up(req.base_client.ws, abort=False)

    def _serve(self) -> None:
        """Wait for stop or the event socket closing; broadcast target lists as they change."""
        while not self._stop.is_set():
            events = self._events
            if events is None or not events.worker.is_alive():
                return  # OBS quit or restarted: the event thread ended with the socket
            with self._lock:
                message = self._targets if self._targets_dirty else None
                self._targets_dirty = False
            if message is not None:
                self._request("BroadcastCustomEvent", {"eventData": message})
            self._follow_audio_sync()
            self._wake.wait(0.2)
            self._wake.clear()

    def _request(self, request_type: str, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self._req.send(request_type, dict(data) if data else None, raw=True) or {}

    # ── setup on connect ─────────────────────────────────────────────────────────────────────
    def _setup(self) -> None:
        from obsws_python.error import OBSSDKRequestError

        self.websocket_too_old = wiring.websocket_too_old(self._request("GetVersion"))
        kinds = self._request("GetInputKindList", {"unversioned": False}).get("inputKinds", [])
        self.ndi_available = self.input_kind in kinds
        if self.websocket_too_old and (self.camera_source or self.sync_audio_inputs):
            self.wiring_problem = self.websocket_too_old
            self._say(self.websocket_too_old, logging.WARNING)
        elif self.camera_source:
            try:
                self._wire_camera()
            except OBSSDKRequestError as error:
                self.last_error = _describe(error)
                self._say(f"could not wire the camera '{self.camera_source}' in OBS: {self.last_error}", logging.WARNING)
        elif not self.ndi_available:
            self.placed_scenes = []
            if self.input_kind == NDI_INPUT_KIND:
                self._say(MISSING_NDI_MESSAGE, logging.WARNING)
            else:
                self._say(f"OBS has no input kind '{self.input_kind}'; not placing the source", logging.WARNING)
        else:
            try:
                self._place()
            except OBSSDKRequestError as error:
                # a user renaming or deleting things mid-setup: say so, keep taking commands
                self.last_error = _describe(error)
                self._say(f"could not place '{self.source_name}' in OBS: {self.last_error}", logging.WARNING)
        if not self.websocket_too_old:
            self._setup_audio_sync()
        scene = self._request("GetCurrentProgramScene").get("currentProgramSceneName")
        self.program_scene = scene if isinstance(scene, str) else ""  # shown in status and the dock
        if self.scene_overrides and scene:
            self._sink(scene_command(scene))
        with self._lock:
            self._targets_dirty = self._targets is not None

    def _place(self) -> None:
        scenes_in_obs = [s["sceneName"] for s in self._request("GetSceneList").get("scenes", [])]
        if not self.scenes:  # none listed: the program scene when the bridge first meets OBS, then kept
            self.scenes = [self._request("GetCurrentProgramScene").get("currentProgramSceneName", "")]
        wanted = list(self.scenes)
        for scene in wanted:
            if scene not in scenes_in_obs:
                self._say(f"scene '{scene}' (profile obs.scenes) does not exist in OBS; skipped", logging.WARNING)
        wanted = [scene for scene in wanted if scene in scenes_in_obs]

        inputs = self._request("GetInputList").get("inputs", [])
        same_name = [i for i in inputs if i.get("inputName") == self.source_name]
        if same_name and same_name[0].get("inputKind") != self.input_kind:
            self._say(
                f"OBS already has an input named '{self.source_name}' of kind '{same_name[0].get('inputKind')}'; "
                f"rename it or set another obs.source_name — not touching it",
                logging.WARNING,
            )
            self.placed_scenes = []
            return
        placed: list[str] = []
        if same_name:
            # the profile may name another NDI stream now; position and size stay the user's
            self._request(
                "SetInputSettings", {"inputName": self.source_name, "inputSettings": self.input_settings, "overlay": True}
            )
        elif wanted:
            scene = wanted[0]
            created = self._request(
                "CreateInput",
                {
                    "sceneName": scene,
                    "inputName": self.source_name,
                    "inputKind": self.input_kind,
                    "inputSettings": self.input_settings,
                    "sceneItemEnabled": True,
                },
            )
            self._fit_to_canvas(scene, int(created["sceneItemId"]))
            self._say(f"created '{self.source_name}' in scene '{scene}'")
            placed.append(scene)
        for scene in wanted:
            if scene in placed:
                continue
            items = self._request("GetSceneItemList", {"sceneName": scene}).get("sceneItems", [])
            if not any(item.get("sourceName") == self.source_name for item in items):
                created = self._request(
                    "CreateSceneItem", {"sceneName": scene, "sourceName": self.source_name, "sceneItemEnabled": True}
                )
                self._fit_to_canvas(scene, int(created["sceneItemId"]))
                self._say(f"added '{self.source_name}' to scene '{scene}'")
            placed.append(scene)
        self.placed_scenes = placed

    def _wire_camera(self) -> None:
        """Filters on the camera, the bridge's source over it; anything missing said in one line."""
        from obsws_python.error import OBSSDKRequestError

        self.wired, self.placed_scenes, self.wiring_problem = False, [], ""
        problem = wiring.camera_missing(self._request, self.camera_source) or wiring.feedback_loop(
            self._request, self.camera_source, self.source_name, self.ndi_source_name.partition(" (")[2].rstrip(")"))
        if problem:
            self.wiring_problem = problem
            self._say(problem, logging.WARNING)
            return
        try:
            done = wiring.ensure_filters(self._request, self.camera_source, self.camera_ndi_name, self.ndi_filter_kind)
        except OBSSDKRequestError as error:
            if error.code != wiring.FILTER_KIND_MISSING:
                raise
            self.wiring_problem = wiring.MISSING_FILTER_MESSAGE if self.ndi_filter_kind == wiring.NDI_FILTER_KIND else (
                f"OBS has no filter kind '{self.ndi_filter_kind}'; the camera is not wired")
            self._say(self.wiring_problem, logging.WARNING)
            return
        for line in done:
            self._say(line)
        self.wired = True
        if not self.ndi_available:
            self._say(MISSING_NDI_MESSAGE, logging.WARNING)
            return
        _inputs, scenes_in_obs = wiring.source_names(self._request)
        scenes = [s for s in self.scenes if s in scenes_in_obs]
        for scene in self.scenes:
            if scene not in scenes_in_obs:
                self._say(f"scene '{scene}' (profile obs.scenes) does not exist in OBS; skipped", logging.WARNING)
        if not self.scenes:  # none listed: every scene that shows the camera
            scenes = list(wiring.scenes_holding(self._request, self.camera_source, scenes_in_obs))
        placed, said = wiring.place_over_camera(self._request, scenes, self.camera_source, self.source_name,
                                                self.input_kind, self.input_settings)
        for line in said:
            self._say(line)
        self.placed_scenes = placed
        for scene in wiring.scenes_holding(self._request, self.camera_source, scenes_in_obs):
            if scene not in placed:  # fail closed there too: the camera is hidden in every scene
                self._say(f"the camera '{self.camera_source}' is also in scene '{scene}' (not in obs.scenes): "
                          "it shows black there, not the raw camera")

    # ── lip sync ────────────────────────────────────────────────────────────────────────────
    def _setup_audio_sync(self) -> None:
        """Record each synced input's original offset (once, on disk); restore inputs no longer listed."""
        from obsws_python.error import OBSSDKRequestError

        self.synced_inputs = []
        if self.offset_store is None:
            return
        address = f"{self.host}:{self.port}"
        originals = self.offset_store.originals(address)
        if not originals and not self.sync_audio_inputs:
            return  # nothing to follow, nothing to restore: no file written
        for name in [n for n in originals if n not in self.sync_audio_inputs]:
            try:
                self._request("SetInputAudioSyncOffset", {"inputName": name, "inputAudioSyncOffset": originals[name]})
                self._say(f"audio sync offset of '{name}' restored to {originals[name]} ms (no longer in obs.sync_audio_inputs)")
            except OBSSDKRequestError:
                pass  # the input is gone: nothing to restore
            del originals[name]
        for name in self.sync_audio_inputs:
            try:
                offset = int(self._request("GetInputAudioSyncOffset", {"inputName": name})["inputAudioSyncOffset"])
            except OBSSDKRequestError as error:
                why = "does not exist" if error.code == wiring.NOT_FOUND else "has no audio"
                self._say(f"obs.sync_audio_inputs: '{name}' {why} in OBS; its offset is not followed", logging.WARNING)
                continue
            originals.setdefault(name, offset)
            self.synced_inputs.append(name)
        try:
            self.offset_store.save(address, originals)
        except OSError as error:
            self.synced_inputs = []  # an offset whose original cannot be kept is never changed
            self._say(f"lip sync off: cannot keep the original audio offsets in {self.offset_store.path} ({error})",
                      logging.WARNING)
        self.offset_policy.current_ms = None  # set it again on this connection

    def _follow_audio_sync(self) -> None:
        if not self.synced_inputs or self.picture_delay is None:
            return
        now = time.monotonic()
        if now - self._sync_checked_at < 1.0:
            return
        self._sync_checked_at = now
        picture = self.picture_delay.median_ms()
        if picture is None:
            return
        interval = self.picture_delay.frame_interval_ms
        self.audio_estimate_ms = picture + obs_hop_ms(self.ndi_latency, interval)
        offset = self.offset_policy.propose(self.audio_estimate_ms, interval, now)
        if offset is None:
            return
        from obsws_python.error import OBSSDKRequestError

        for name in list(self.synced_inputs):
            try:
                self._request("SetInputAudioSyncOffset", {"inputName": name, "inputAudioSyncOffset": offset})
            except OBSSDKRequestError:  # removed or renamed in OBS meanwhile: not a lost connection
                self.synced_inputs.remove(name)
                self._say(f"obs.sync_audio_inputs: '{name}' is gone from OBS; its offset is no longer followed",
                          logging.WARNING)
        self.log.info("audio sync offset %d ms on %s (picture delay %.0f ms)", offset, ", ".join(self.synced_inputs),
                      self.audio_estimate_ms)

    def _fit_to_canvas(self, scene: str, item_id: int) -> None:
        video = self._request("GetVideoSettings")
        width, height = float(video["baseWidth"]), float(video["baseHeight"])
        transform = {
            "positionX": 0.0,
            "positionY": 0.0,
            "alignment": ALIGN_TOP_LEFT,
            "boundsType": "OBS_BOUNDS_SCALE_INNER",
            "boundsAlignment": 0,
            "boundsWidth": width,
            "boundsHeight": height,
        }
        self._request("SetSceneItemTransform", {"sceneName": scene, "sceneItemId": item_id, "sceneItemTransform": transform})

    # ── events (obs-websocket's event thread) ─────────────────────────────────────────────────
    def _on_event(self, event_type: str, data: dict[str, Any]) -> None:
        # never raise here: an exception would end obsws-python's event thread
        try:
            if event_type == "CustomEvent":
                self._on_custom_event(data)
            elif event_type == "CurrentProgramSceneChanged":
                scene = data.get("sceneName")
                if isinstance(scene, str):
                    self.program_scene = scene
                    if self.scene_overrides:
                        self._sink(scene_command(scene))
        except Exception as error:
            self.log.warning("OBS event %s ignored: %s", event_type, _describe(error))

    def _on_custom_event(self, data: dict[str, Any]) -> None:
        if not isinstance(data, dict) or data.get("realm") != REALM:
            return  # another plugin's event
        if is_bridge_event(data):
            if data.get("event") == SCRIPT_HELLO:  # the OBS script (re)connected: tell it the targets
                with self._lock:
                    self._targets_dirty = self._targets is not None
                self._wake.set()
            return  # our own target-list broadcast, or the script's hello: not commands
        try:
            command = parse_command(data, source="obs")
        except CommandError as error:
            self.events_rejected += 1
            self.log.warning("ignored a malformed facebridge event from OBS: %s", error)
            return
        self._sink(command)

    def _sink(self, command: Command) -> None:
        self.commands_received += 1
        self.command_sink(command)

    def _say(self, message: str, level: int = logging.INFO) -> None:
        self.log.log(level, "%s", message)
        if self.on_status is not None:
            try:
                self.on_status(message)
            except Exception:
                pass


def _hang_up(ws: Any, abort: bool) -> None:
    try:
        if abort:
            ws.abort()
        else:
            ws.close(timeout=0.3)
    except Exception:
        pass
    try:
        ws.shutdown()
    except Exception:
        pass


def _describe(error: BaseException) -> str:
    """One line for a log: the type and the first line of the message."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
