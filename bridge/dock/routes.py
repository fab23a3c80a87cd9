"""The dock's endpoints, served by the HTTP API (bridge.telemetry) behind bridge.access's guard.

GET  /dock?token=T   lets the dock in: sets its cookie (HttpOnly, SameSite=Strict) and redirects to
                     /dock/, so the token leaves the address bar
GET  /dock/          the page; /dock/dock.css, /dock/dock.js its files (package data, nothing remote)
GET  /dock/events    Server-Sent Events: the status whenever what is on air changes, at least every second
GET  /dock/preview   MJPEG (?view=output|input), about 8 pictures a second, 480 px wide
GET  /dock/thumb     a target's thumbnail (?name=)
POST /dock/command   the same JSON as POST /command (the hotkeys' command path)
POST /dock/target    a dropped photo: {"image": data URL, "filename": …, "face": index when asked to pick}

Streams are bounded (a few at once; each ends when the server stops or its viewer stalls).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from importlib import resources
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs

import cv2

from bridge.dock.photos import MAX_PHOTO_BYTES, Added, PhotoError, PhotoTargets, SeveralFaces, data_from_url
from bridge.dock.preview import PreviewBusy, PreviewHub  # PreviewBusy: the HTTP handler answers it with 503

STATIC = {"index.html": "text/html; charset=utf-8", "dock.css": "text/css; charset=utf-8",
          "dock.js": "text/javascript; charset=utf-8", "icon.svg": "image/svg+xml"}
MAX_EVENT_STREAMS = 8
EVENT_TICK_S = 0.1  # how soon a change shows in the dock
EVENT_EVERY_S = 1.0  # the health line refreshes this often when nothing else changed
MAX_PHOTO_BODY = MAX_PHOTO_BYTES * 4 // 3 + 4096  # base64 in JSON
THUMB_SIDE = 112
# what the dock must see at once; the rest (fps, latency) rides along at least every EVENT_EVERY_S
ON_AIR_KEYS = ("active_target", "targets", "bypass", "panic", "scene", "faces")
BOUNDARY = "facebridge-frame"


class StreamsFull(RuntimeError):
    pass


@dataclass
class DockBackend:
    """What the dock needs from the running bridge."""

    preview: PreviewHub
    target_images: Callable[[], Mapping[str, list[str]]]  # target name → its image files
    photos: PhotoTargets | None = None  # None: the bridge has no face analysis or no profile file
    closed: threading.Event = field(default_factory=threading.Event)
    _streams: threading.BoundedSemaphore = field(default_factory=lambda: threading.BoundedSemaphore(MAX_EVENT_STREAMS))
    _thumbs: dict[tuple[str, str], bytes] = field(default_factory=dict)
    _snapshot: tuple[float, Mapping[str, Any], str] | None = None
    _snapshot_lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self, status: Callable[[], Mapping[str, Any]],
                 encode: Callable[[Mapping[str, Any]], str]) -> tuple[Mapping[str, Any], str]:
        """The status and its JSON, made once per tick however many docks are open."""
        with self._snapshot_lock:
            now = time.monotonic()
            if self._snapshot is None or now - self._snapshot[0] >= EVENT_TICK_S / 2:
                current = status()
                self._snapshot = (now, current, encode(current))
            return self._snapshot[1], self._snapshot[2]

    def close(self) -> None:
        self.closed.set()
        self.preview.close()

    def thumbnail(self, name: str) -> bytes | None:
        images = self.target_images().get(name)
        if not images:
            return None
        key = (name, str(images[0]))
        if key not in self._thumbs:
            image = cv2.imread(str(images[0]), cv2.IMREAD_COLOR)
            if image is None:
                return None
            h, w = image.shape[:2]
            side = min(h, w)  # a centred square, the upper part (faces sit high in portraits)
            top, left = max(0, (h - side) // 3), (w - side) // 2
            square = cv2.resize(image[top:top + side, left:left + side], (THUMB_SIDE, THUMB_SIDE),
                                interpolation=cv2.INTER_AREA)
            self._thumbs[key] = cv2.imencode(".jpg", square, [cv2.IMWRITE_JPEG_QUALITY, 82])[1].tobytes()
        return self._thumbs[key]


def static_file(name: str) -> bytes | None:
    if name not in STATIC:
        return None
    return resources.files("bridge.dock").joinpath("static", name).read_bytes()


class Handler(Protocol):
    """The parts of bridge.telemetry's request handler the dock's routes use."""

    wfile: Any
    headers: Any

    def send_response(self, code: int, message: str | None = None) -> None: ...
    def send_header(self, keyword: str, value: str) -> None: ...
    def end_headers(self) -> None: ...


def on_air_view(status: Mapping[str, Any]) -> tuple[Any, ...]:
    tracks = tuple((t.get("slot"), t.get("id"), t.get("person"), t.get("target"), t.get("state"))
                   for t in status.get("tracks") or [])
    return (*(json.dumps(status.get(k), default=str) for k in ON_AIR_KEYS), tracks)


def stream_events(handler: Handler, backend: DockBackend, status: Callable[[], Mapping[str, Any]],
                  encode: Callable[[Mapping[str, Any]], str]) -> None:
    """Server-Sent Events until the viewer leaves or the server stops."""
    if not backend._streams.acquire(blocking=False):
        raise StreamsFull(f"{MAX_EVENT_STREAMS} docks are open already; close one")
    try:
        handler.send_response(HTTPStatus.OK)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-store")
        handler.send_header("X-Content-Type-Options", "nosniff")
        handler.end_headers()
        handler.wfile.write(b"retry: 1500\n\n")  # the browser reconnects this soon after losing the bridge
        last_view: tuple[Any, ...] | None = None
        last_sent = 0.0
        while not backend.closed.is_set():
            now = time.monotonic()
            current, text = backend.snapshot(status, encode)
            view = on_air_view(current)
            if view != last_view or now - last_sent >= EVENT_EVERY_S:
                handler.wfile.write(f"event: status\ndata: {text}\n\n".encode())
                handler.wfile.flush()
                last_view, last_sent = view, now
            backend.closed.wait(EVENT_TICK_S)
    except (BrokenPipeError, ConnectionResetError, TimeoutError, OSError):
        pass  # the dock went away
    finally:
        backend._streams.release()


def stream_preview(handler: Handler, backend: DockBackend, view: str) -> None:
    """multipart/x-mixed-replace JPEGs until the viewer leaves or the server stops; each part says
    when its picture was sent (X-Frame-Sent: time.monotonic() of the bridge's host; X-Frame-Sent-Unix: the
    same moment in Unix time, for a browser's clock)."""
    with backend.preview.watching(view):
        handler.send_response(HTTPStatus.OK)
        handler.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        handler.send_header("Cache-Control", "no-store")
        handler.send_header("X-Content-Type-Options", "nosniff")
        handler.end_headers()
        sequence = 0
        try:
            while not backend.closed.is_set():
                picture = backend.preview.next_picture(view, sequence, timeout_s=0.5)
                if picture is None:
                    continue
                sequence = picture.sequence
                handler.wfile.write(
                    (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(picture.jpeg)}\r\n"
                     f"X-Frame-Sent: {picture.sent_at:.6f}\r\n"
                     f"X-Frame-Sent-Unix: {time.time() - (time.monotonic() - picture.sent_at):.6f}\r\n\r\n").encode()
                    + picture.jpeg + b"\r\n")
                handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, TimeoutError, OSError):
            pass


def query(path: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(path.partition("?")[2], max_num_fields=8).items()}


def add_photo(backend: DockBackend, body: bytes) -> tuple[HTTPStatus, dict[str, Any]]:
    """A dropped photo: (status, reply for the dock)."""
    if backend.photos is None:
        return HTTPStatus.CONFLICT, {"error": "this bridge runs without face analysis or a profile file; "
                                              "targets cannot be added here"}
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError
    except (ValueError, UnicodeDecodeError, RecursionError):
        return HTTPStatus.BAD_REQUEST, {"error": "the request is not a JSON object"}
    pick = data.get("face")
    if pick is not None and (not isinstance(pick, int) or isinstance(pick, bool)):
        return HTTPStatus.BAD_REQUEST, {"error": "'face' must be the index of a face"}
    filename = str(data.get("filename") or "photo")[:200]
    try:
        added: Added = backend.photos.add(data_from_url(data.get("image")), filename, pick)
    except SeveralFaces as several:
        return HTTPStatus.CONFLICT, {"error": f"{len(several.choices)} faces in {Path(filename).name}: pick one",
                                     "faces": several.choices}
    except PhotoError as error:
        return HTTPStatus.UNPROCESSABLE_ENTITY, {"error": f"{Path(filename).name}: {error}"}
    return HTTPStatus.CREATED, {"target": added.name, "image": added.image.name, "live": added.live}
