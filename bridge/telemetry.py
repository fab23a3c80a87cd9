"""See what the bridge does: Prometheus metrics and the local HTTP API (/healthz, /status, /metrics, /command).

The pipeline keeps its own counts; `Metrics` mirrors them into a private prometheus-client
registry (no global default registry, so two bridges or two tests never share numbers).
`TelemetryServer` answers on 127.0.0.1 by default. Every request passes bridge.access's checks
before it is routed (Host, Origin; for every POST the token and a JSON body); beyond loopback the
reads need the token too.

HTTP `POST /command` takes the same JSON as the OBS custom event (bridge.obs.commands). The
URL already names the protocol, so `"realm"` may be left out there; a realm that is present
must still be "facebridge".
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bridge.access import REFUSAL_KINDS, Refusal, RefusalLog, RequestGuard, audit_command
from bridge.dock import routes as dock_routes
from bridge.obs.commands import MAX_COMMAND_BYTES, Command, CommandError, parse_command_json
from bridge.schema import Secret
from bridge.types import STEPS, Frame

log = logging.getLogger(__name__)

# Frame-time buckets: a 60 fps frame is 16.7 ms, a 30 fps one 33 ms; past 1 s the show has stalled anyway.
LATENCY_BUCKETS = (0.001, 0.002, 0.004, 0.008, 0.0167, 0.0333, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5)
SECRET_KEY_PARTS = ("password", "token", "secret")
MAX_BODY_BYTES = MAX_COMMAND_BYTES
# the dock's page: its own files only, nothing from anywhere else (a dock may be offline, and must not leak)
DOCK_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
REQUEST_TIMEOUT_S = 5.0  # a client that stops sending half-way frees its thread after this

HealthCheck = Callable[[], tuple[bool, str]]
StatusSource = Callable[[], Mapping[str, Any]]
CommandSink = Callable[[Command], tuple[bool, str]]


class TelemetryError(RuntimeError):
    """The HTTP API cannot start as configured; the message is one line saying why."""


# -- metrics -----------------------------------------------------------------------------------

_COUNTERS = {
    "frames_in": "frames received from the input",
    "frames_out": "frames sent to the output (processed)",
    "frames_held": "frames sent while the input was gone (last frame, slate or black)",
    "frames_dropped": "frames received but never processed (overload)",
    "frames_skipped": "frames the receiver skipped before the pipeline saw them",
    "frames_ndi_dropped": "frames NDI dropped before the bridge received them (network, or the bridge too slow to read)",
    "stage_errors": "frames whose processing failed and passed through unchanged",
    "fallbacks": "face frames covered by the swap fallback (the last good swap held, or a blur) instead of a fresh swap",
    "leaks": "frames where the original face would have shown (swap missing on a tracked face)",
    "swap_errors": "face swaps that failed",
}


class Metrics:
    """The bridge's Prometheus metrics in their own registry.

    Counters mirror totals the pipeline already keeps: `set_counter_total` adds the difference
    since the last call (a total lower than before counts as a restart of that counter).
    """

    def __init__(self, namespace: str = "facebridge"):
        self.registry = CollectorRegistry(auto_describe=True)
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self._counters: dict[str, Counter] = {
            name: Counter(name, text, namespace=namespace, registry=self.registry) for name, text in _COUNTERS.items()
        }
        self._counters["reconnects"] = Counter("reconnects", "reconnections, by what reconnected (ndi, obs)", ["what"],
                                               namespace=namespace, registry=self.registry)
        self.api_refused = Counter("api_refused", f"HTTP API requests refused, by why ({', '.join(REFUSAL_KINDS)})",
                                   ["reason"],
                                   namespace=namespace, registry=self.registry)
        self.faces = Gauge("faces", "faces found in the latest frame", namespace=namespace, registry=self.registry)
        self.tracks = Gauge("tracks", "faces being followed", namespace=namespace, registry=self.registry)
        self.input_fps = Gauge("input_fps", "frames per second received", namespace=namespace, registry=self.registry)
        self.output_fps = Gauge("output_fps", "frames per second sent", namespace=namespace, registry=self.registry)
        self.bypass = Gauge("bypass", "1 while frames pass through unswapped", namespace=namespace, registry=self.registry)
        self.obs_connected = Gauge("obs_connected", "1 while connected to obs-websocket", namespace=namespace,
                                   registry=self.registry)
        self.stage_seconds = Histogram("stage_seconds", "time spent in one pipeline stage per frame", ["stage"],
                                       namespace=namespace, registry=self.registry, buckets=LATENCY_BUCKETS)
        self.latency_seconds = Histogram("latency_seconds", "receive-to-send latency per frame", namespace=namespace,
                                         registry=self.registry, buckets=LATENCY_BUCKETS)
        # every stage shows up in /metrics from the start, at zero; children kept for the per-frame path
        self._stage_children = {stage: self.stage_seconds.labels(stage=stage) for stage in STEPS}
        for what in ("ndi", "obs"):
            self._counters["reconnects"].labels(what=what)
        for reason in REFUSAL_KINDS:
            self.api_refused.labels(reason=reason)

    def observe_stage(self, stage: str, seconds: float) -> None:
        if stage not in STEPS:
            raise ValueError(f"unknown stage {stage!r} (known: {', '.join(STEPS)})")
        self._stage_children[stage].observe(seconds)

    def observe_latency(self, seconds: float) -> None:
        self.latency_seconds.observe(seconds)

    def observe_frame(self, frame: Frame, latency_s: float) -> None:
        """One sent frame: its time in each stage that ran on it, and its receive-to-send latency."""
        for stage, seconds in frame.timings.items():
            child = self._stage_children.get(stage)
            if child is not None:
                child.observe(seconds)
        self.latency_seconds.observe(latency_s)

    def set_counter_total(self, name: str, value: float, **labels: str) -> None:
        """Make counter `name` (with `labels`, e.g. what="ndi" for reconnects) show `value` in total."""
        counter = self._counters.get(name)
        if counter is None:
            raise ValueError(f"unknown counter {name!r} (known: {', '.join(self._counters)})")
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            last = self._seen.get(key, 0.0)
            delta = value - last if value >= last else value  # lower than before: the source restarted
            self._seen[key] = value
        if delta > 0:
            (counter.labels(**labels) if labels else counter).inc(delta)

    def update(self, status: Mapping[str, Any]) -> None:
        """Mirror one status dict (bridge.status_view.BridgeStatus) into the metrics; missing keys are left alone."""
        frames = status.get("frames") or {}
        for key in ("in", "out", "held", "dropped", "skipped", "ndi_dropped"):
            if isinstance(frames.get(key), (int, float)):
                self.set_counter_total(f"frames_{key}", frames[key])
        for key in ("stage_errors", "fallbacks", "leaks", "swap_errors"):
            if isinstance(status.get(key), (int, float)):
                self.set_counter_total(key, status[key])
        for what, count in (status.get("reconnects") or {}).items():
            if isinstance(count, (int, float)):
                self.set_counter_total("reconnects", count, what=str(what))
        if isinstance(status.get("faces"), int):
            self.faces.set(status["faces"])
        if isinstance(status.get("tracks"), list):
            self.tracks.set(len(status["tracks"]))
        for gauge, section in ((self.input_fps, "input"), (self.output_fps, "output")):
            fps = (status.get(section) or {}).get("fps")
            if isinstance(fps, (int, float)):
                gauge.set(fps)
        if isinstance(status.get("bypass"), bool):
            self.bypass.set(int(status["bypass"]))
        connected = (status.get("obs") or {}).get("connected")
        if isinstance(connected, bool):
            self.obs_connected.set(int(connected))

    def render(self) -> bytes:
        """All metrics in the Prometheus text format."""
        return generate_latest(self.registry)


# -- health and status helpers -----------------------------------------------------------------

def frames_flowing(last_input_at: float, last_output_at: float, *, max_age_s: float = 2.0,
                   now: float | None = None) -> tuple[bool, str]:
    """The /healthz answer from the pipeline's last input/output times (time.monotonic(), 0 = never)."""
    now = time.monotonic() if now is None else now
    if last_output_at <= 0:
        return False, "no frame sent yet"
    if now - last_output_at > max_age_s:
        return False, f"no frame sent for {now - last_output_at:.1f} s"
    if last_input_at <= 0:
        return False, "no input frame received yet (output is holding)"
    if now - last_input_at > max_age_s:
        return False, f"no input frame for {now - last_input_at:.1f} s (output is holding)"
    return True, "ok"


def scrub(value: Any) -> Any:
    """A copy of `value` with anything under a password/token/secret key, and any Secret string, masked."""
    if isinstance(value, Mapping):
        return {key: "***" if _is_secret_key(key) else scrub(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(item) for item in value]
    if isinstance(value, Secret):  # json would write its content, not its masked str()
        return "***"
    return value


def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and any(part in key.lower() for part in SECRET_KEY_PARTS)


# -- HTTP server -------------------------------------------------------------------------------

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    telemetry: TelemetryServer


class _Server6(_Server):
    address_family = socket.AF_INET6


class TelemetryServer:
    """The local HTTP API in a daemon thread.

    GET /healthz: 200 "ok" while frames flow, 503 with the reason otherwise. GET /status: the
    status dict as JSON (secrets masked). GET /metrics: Prometheus text. POST /command: 202 when
    queued, 400 with the reason for a malformed command, 503 when the queue is full.
    Refused before routing (bridge.access): 403 foreign Host or Origin, 401 missing or wrong
    token, 415 a POST body that is not JSON, 405 OPTIONS and other methods.
    """

    def __init__(self, host: str, port: int, token: str, *, status: StatusSource, health: HealthCheck,
                 command: CommandSink, metrics: Metrics, on_scrape: Callable[[], None] | None = None,
                 dock: dock_routes.DockBackend | None = None):
        if not token:
            raise TelemetryError("telemetry: the HTTP API needs a token (telemetry.token, or the user's: "
                                 "`facebridge token`)")
        self.host, self._requested_port = host, port
        self._token = str.__str__(token)  # a bridge.schema.Secret prints as ***; this is its content
        self.status, self.health, self.command, self.metrics = status, health, command, metrics
        self.on_scrape = on_scrape
        self.dock = dock
        self.guard: RequestGuard | None = None
        self.refused = RefusalLog(lambda kind: metrics.api_refused.labels(reason=kind).inc(), self.masked)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._failed_once: set[str] = set()

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for); the requested port before start()."""
        return self._server.server_address[1] if self._server else self._requested_port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        server_class = _Server6 if ":" in self.host else _Server
        try:
            server = server_class((self.host, self._requested_port), _Handler)
        except OSError as error:
            raise TelemetryError(f"telemetry: cannot listen on {self.host}:{self._requested_port}: "
                                 f"{error.strerror or error}") from None
        server.telemetry = self
        self._server = server
        self.guard = RequestGuard(self._token, self.host, self.port)
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="facebridge-telemetry", daemon=True)
        self._thread.start()
        log.info("HTTP API on %s (/healthz /status /metrics /command /dock); commands need the token%s", self.url,
                 ", and so do reads on this address" if self.guard.reads_need_token else "")

    @property
    def dock_url(self) -> str:
        """The URL to paste into OBS's Custom Browser Docks (it holds the token: print it, never log it)."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/dock?token={self._token}"

    def stop(self) -> None:
        if self._server is None:
            return
        if self.dock is not None:
            self.dock.close()  # open previews and event streams end within a tick
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(2.0)
        self._server = None  # port goes back to the requested one

    def __enter__(self) -> TelemetryServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def masked(self, text: str) -> str:
        """`text` with the token masked: what a client sent (request line, a target name) may hold it."""
        return text.replace(self._token, "***")

    def failed(self, what: str, error: Exception) -> None:
        """Log a failing callback once per kind, not once per request."""
        kind = f"{what}:{type(error).__name__}"
        if kind not in self._failed_once:
            self._failed_once.add(kind)
            log.error("telemetry: %s failed (%s: %s)", what, type(error).__name__, self.masked(str(error)))


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = REQUEST_TIMEOUT_S
    server_version = "facebridge"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        # scrapes come every few seconds: debug only; the token is a header, masked should a client misplace it
        log.debug("telemetry %s %s", self.address_string(), self.server.telemetry.masked(format % args))

    # -- dispatch: every request passes the guard before any route ---------------------------
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if not self._passes(self._guard().check_read(self.headers)):
            return
        path = self.path.split("?", 1)[0]
        if path == "/dock" or path.startswith("/dock/"):
            self._dock_get(path)
            return
        routes = {"/healthz": self._healthz, "/status": self._status, "/metrics": self._metrics}
        route = routes.get(path)
        if route is None:
            self._reply(HTTPStatus.NOT_FOUND, f"no such endpoint {path[:80]!r} (try /healthz, /status, /metrics)")
            return
        route()

    def do_POST(self) -> None:  # noqa: N802
        # every POST changes state; the dock's carry its cookie instead of the header, same checks otherwise
        path = self.path.split("?", 1)[0]
        if path.startswith("/dock/"):
            self._dock_post(path)
            return
        if not self._passes(self._guard().check_write(self.headers)):
            return
        routes = {"/command": self._command}
        route = routes.get(self.path.split("?", 1)[0])
        if route is None:
            self.close_connection = True  # its body stays unread
            self._reply(HTTPStatus.NOT_FOUND, "no such endpoint (POST goes to /command)")
            return
        route()

    def do_OPTIONS(self) -> None:  # noqa: N802
        self._passes(self._guard().check_other(self.headers, self.command))

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS  # noqa: N815

    # -- endpoints ---------------------------------------------------------------------------
    def _healthz(self) -> None:
        telemetry = self.server.telemetry
        try:
            ok, reason = telemetry.health()
        except Exception as error:
            telemetry.failed("health check", error)
            ok, reason = False, f"health check failed: {type(error).__name__}"
        self._reply(HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE, "ok" if ok else reason)

    def _status(self) -> None:
        telemetry = self.server.telemetry
        try:
            body = telemetry.masked(json.dumps(scrub(telemetry.status()), default=str, allow_nan=False))
        except Exception as error:
            telemetry.failed("status", error)
            self._reply(HTTPStatus.INTERNAL_SERVER_ERROR, f"status failed: {type(error).__name__}")
            return
        self._send(HTTPStatus.OK, body.encode(), "application/json")

    def _metrics(self) -> None:
        telemetry = self.server.telemetry
        if telemetry.on_scrape is not None:
            try:
                telemetry.on_scrape()
            except Exception as error:  # stale numbers beat no numbers
                telemetry.failed("metrics update", error)
        self._send(HTTPStatus.OK, telemetry.metrics.render(), CONTENT_TYPE_LATEST)

    def _command(self) -> None:
        body = self._read_body()
        if body is None:
            return
        try:
            command = parse_command_json(body, source="http", realm_optional=True)
        except CommandError as error:
            self._reply(HTTPStatus.BAD_REQUEST, str(error))
            return
        telemetry = self.server.telemetry
        try:
            queued, message = telemetry.command(command)
        except Exception as error:
            telemetry.failed("command", error)
            self._reply(HTTPStatus.INTERNAL_SERVER_ERROR, f"command failed: {type(error).__name__}")
            return
        if queued:
            audit_command(command, f"client {self._client()}", telemetry.masked)
            self._reply(HTTPStatus.ACCEPTED, message or f"queued {command.action}")
        else:
            self._reply(HTTPStatus.SERVICE_UNAVAILABLE, message or "command queue is full; try again")

    # -- the control dock (bridge.dock.routes) ------------------------------------------------
    def _dock_get(self, path: str) -> None:
        dock, guard = self.server.telemetry.dock, self._guard()
        if dock is None:
            self._reply(HTTPStatus.NOT_FOUND, "the control dock is off on this bridge")
            return
        query = dock_routes.query(self.path)
        if path == "/dock" or "token" in query:
            if not self._passes(guard.check_dock_entry(self.headers, query.get("token", ""))):
                return
            self._send(HTTPStatus.SEE_OTHER, b"", "text/plain",
                       {"Location": "/dock/", "Set-Cookie": guard.session_cookie(), "Referrer-Policy": "no-referrer"})
            return
        if not self._passes(guard.check_dock_read(self.headers)):
            return
        name = path[len("/dock/"):] or "index.html"
        try:
            if name == "events":
                telemetry = self.server.telemetry
                dock_routes.stream_events(self, dock, lambda: scrub(telemetry.status()),
                                          lambda status: telemetry.masked(json.dumps(status, default=str)))
            elif name == "preview":
                dock_routes.stream_preview(self, dock, query.get("view", "output"))
            elif name == "thumb":
                thumb = dock.thumbnail(query.get("name", ""))
                if thumb is None:
                    self._reply(HTTPStatus.NOT_FOUND, "no such target")
                else:
                    self._send(HTTPStatus.OK, thumb, "image/jpeg")
            else:
                body = dock_routes.static_file(name)
                if body is None:
                    self._reply(HTTPStatus.NOT_FOUND, f"no such dock file {name[:60]!r}")
                else:
                    self._send(HTTPStatus.OK, body, dock_routes.STATIC[name],
                               {"Content-Security-Policy": DOCK_CSP, "Referrer-Policy": "no-referrer"})
        except (dock_routes.StreamsFull, dock_routes.PreviewBusy, ValueError) as error:
            self._reply(HTTPStatus.SERVICE_UNAVAILABLE if not isinstance(error, ValueError) else HTTPStatus.BAD_REQUEST,
                        str(error))
        self.close_connection = True  # a stream's end is the connection's end

    def _dock_post(self, path: str) -> None:
        telemetry = self.server.telemetry
        if not self._passes(self._guard().check_dock_write(self.headers)):
            return
        if path == "/dock/command":
            self._command()
            return
        if path != "/dock/target" or telemetry.dock is None:
            self.close_connection = True
            self._reply(HTTPStatus.NOT_FOUND, "no such endpoint (the dock posts to /dock/command and /dock/target)")
            return
        body = self._read_body(dock_routes.MAX_PHOTO_BODY, "photo")
        if body is None:
            return
        try:
            status, reply = dock_routes.add_photo(telemetry.dock, body)
        except Exception as error:  # a photo must never take the API down
            telemetry.failed("adding a photo", error)
            status, reply = HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"adding the photo failed: {type(error).__name__}"}
        self._send(status, telemetry.masked(json.dumps(reply)).encode(), "application/json")

    # -- helpers ---------------------------------------------------------------------------
    def _guard(self) -> RequestGuard:
        guard = self.server.telemetry.guard
        assert guard is not None  # set in start(), before the first request can arrive
        return guard

    def _client(self) -> str:
        host, port = self.client_address[:2]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def _passes(self, refusal: Refusal | None) -> bool:
        """True when the request may go on; else answer the refusal (no CORS header, ever)."""
        if refusal is None:
            return True
        self.server.telemetry.refused(refusal, self.command, self.path, self._client())
        self._discard_body()
        self.close_connection = True  # never parse what follows as the next request
        headers = {"WWW-Authenticate": "Bearer"} if refusal.status == HTTPStatus.UNAUTHORIZED else {}
        if refusal.status == HTTPStatus.METHOD_NOT_ALLOWED:
            headers["Allow"] = "GET, POST"
        self._reply(refusal.status, refusal.reason, headers)
        return False

    def _discard_body(self) -> None:
        """Read a small refused body before closing: closing on unread bytes resets the connection, and
        the client could lose the reply that says why it was refused."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if 0 < length <= MAX_BODY_BYTES:
                self.rfile.read(length)
        except (ValueError, TimeoutError, OSError):
            pass

    def _read_body(self, limit: int = MAX_BODY_BYTES, what: str = "command") -> bytes | None:
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            self.close_connection = True
            self._reply(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required")
            return None
        try:
            length = int(length_text)
            if length < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            self._reply(HTTPStatus.BAD_REQUEST, f"bad Content-Length {length_text[:40]!r}")
            return None
        if length > limit:
            self.close_connection = True  # the body stays unread; do not parse it as the next request
            self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                        f"{what} is {length} bytes, more than the {limit} allowed")
            return None
        try:
            return self.rfile.read(length)
        except (TimeoutError, OSError):
            self.close_connection = True
            return None

    def _reply(self, status: HTTPStatus, text: str, headers: Mapping[str, str] | None = None) -> None:
        text = self.server.telemetry.masked(text)  # a reply may quote what the client sent: never the token
        self._send(status, (text + "\n").encode("utf-8", "replace"), "text/plain; charset=utf-8", headers)

    def _send(self, status: HTTPStatus, body: bytes, content_type: str,
              headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")  # /status read by <script src> stays unparsed
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
