"""The dock's live preview: the output (or input) picture, downscaled, outlined faces, as JPEG.

The pipeline's threads only hand over a reference (output) or a small downscaled copy (input),
at most `fps` times a second and only while a dock watches that picture: with no dock open
the hooks return at once. Encoding happens on the viewers' own threads, once per picture
whatever the number of viewers; a slow viewer simply gets the newest picture when it is ready
for one (frames in between are dropped for it alone).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from bridge.facestage.mapping import BLUR
from bridge.types import Frame

KINDS = ("output", "input")
# BGR: what a face shows, as the dock's legend has it
STATE_COLOURS = {"swapped": (80, 200, 60), "fallback": (0, 140, 255), "coasting": (0, 215, 255),
                 "blurred": (200, 120, 60), "as is": (60, 60, 230)}


class PreviewBusy(RuntimeError):
    """Too many preview streams open at once."""


@dataclass
class Picture:
    """One picture handed over by the pipeline."""

    sequence: int
    image: np.ndarray
    scale: float  # image pixels per frame pixel (1.0: still full size)
    drawn: Sequence[dict[str, Any]]
    sent_at: float  # time.monotonic() when the pipeline handed it over (sent, for the output)


@dataclass
class Encoded:
    sequence: int
    jpeg: bytes
    sent_at: float


def shown_state(track: dict[str, Any]) -> str:
    """What a tracked face shows on air: swapped, fallback, coasting, blurred or as is."""
    if track.get("state") == "fallback":
        return "fallback"
    if track.get("target") == BLUR:
        return "blurred"
    if track.get("target") is None:
        return "as is"
    # between detections every track coasts on optical flow; it is news only once a detection missed it
    return "coasting" if track.get("state") == "coasting" and track.get("misses", 1) else "swapped"


def face_label(track: dict[str, Any]) -> str:
    """e.g. "1 host: guest5 (swapped)", "#7 portrait (coasting)" (# : no slot yet, the track id)."""
    slot = track.get("slot") if track.get("slot") is not None else f"#{track.get('id')}"
    target = track.get("target")
    person = f"{track['person']}: " if track.get("person") else ""
    wears = "blur" if target == BLUR else str(target or "own face")
    return f"{slot} {person}{wears} ({shown_state(track)})"


def downscale(image: np.ndarray, width: int) -> tuple[np.ndarray, float]:
    """`image` at most `width` wide (a new array either way) and the scale applied."""
    h, w = image.shape[:2]
    if w <= width:
        return image.copy(), 1.0
    scale = width / w
    return cv2.resize(image, (width, max(1, round(h * scale))), interpolation=cv2.INTER_AREA), scale


def draw_faces(image: np.ndarray, drawn: Sequence[dict[str, Any]], scale: float) -> None:
    """Outline each face on `image` (in place) with its slot, person, target and state."""
    for track in drawn:
        box = track.get("box") or ()
        if len(box) != 4:
            continue
        x0, y0, x1, y1 = (int(round(v * scale)) for v in box)
        colour = STATE_COLOURS[shown_state(track)]
        cv2.rectangle(image, (x0, y0), (x1, y1), colour, 2, cv2.LINE_AA)
        text = face_label(track)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.42, 1)
        top = max(0, y0 - th - base - 4)
        cv2.rectangle(image, (x0 - 1, top), (x0 + tw + 6, top + th + base + 4), colour, -1)
        cv2.putText(image, text, (x0 + 3, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (20, 20, 20), 1, cv2.LINE_AA)


class PreviewHub:
    """Pictures from the pipeline to any number of dock viewers, bounded.

    fps: most pictures per second taken (5-10 is plenty to operate by). width: preview width in
    pixels. max_viewers: preview streams open at once (each holds one HTTP thread).
    """

    def __init__(self, fps: float = 8.0, width: int = 480, quality: int = 75, max_viewers: int = 6):
        self.interval_s = 1.0 / fps
        self.width, self.quality, self.max_viewers = width, quality, max_viewers
        self._changed = threading.Condition()
        self._viewers = dict.fromkeys(KINDS, 0)
        self._pictures: dict[str, Picture | None] = dict.fromkeys(KINDS)
        self._taken_at = dict.fromkeys(KINDS, 0.0)
        self._encode_locks = {kind: threading.Lock() for kind in KINDS}
        self._encoded: dict[str, Encoded | None] = dict.fromkeys(KINDS)
        self._drawn: Sequence[dict[str, Any]] = ()
        self._sequence = 0
        self.encoded_count = 0  # pictures encoded so far (the benchmark and tests read it)
        self.closed = threading.Event()

    # -- the pipeline's side: cheap, never waits on a viewer ------------------------------
    def sent(self, frame: Frame) -> None:
        """A frame just went out (the send thread): keep a reference when a dock watches the output."""
        self._drawn = () if frame.held else frame.drawn
        if not self._viewers["output"] or not self._due("output"):
            return
        self._offer("output", Picture(0, frame.image, 1.0, self._drawn, time.monotonic()))

    def received(self, frame: Frame) -> None:
        """A frame just came in (the receive thread): a copy before the stage swaps it in place (a plain
        copy: 0.15 ms at 720p, where downscaling here cost the receive thread 4.8 ms (bench_dock); the viewer's thread scales it)."""
        if not self._viewers["input"] or not self._due("input"):
            return
        self._offer("input", Picture(0, frame.image.copy(), 1.0, self._drawn, time.monotonic()))

    def _due(self, kind: str) -> bool:
        now = time.monotonic()
        if now - self._taken_at[kind] < self.interval_s:
            return False
        self._taken_at[kind] = now
        return True

    def _offer(self, kind: str, picture: Picture) -> None:
        with self._changed:
            self._sequence += 1
            picture.sequence = self._sequence
            self._pictures[kind] = picture
            self._changed.notify_all()

    # -- the viewers' side ----------------------------------------------------------------
    @property
    def viewers(self) -> int:
        return sum(self._viewers.values())

    @contextmanager
    def watching(self, kind: str) -> Iterator[None]:
        """Count one viewer of `kind` while the block runs; PreviewBusy when too many are open."""
        if kind not in KINDS:
            raise ValueError(f"no preview {kind!r} (choose {', '.join(KINDS)})")
        with self._changed:
            if self.viewers >= self.max_viewers or self.closed.is_set():
                raise PreviewBusy(f"{self.max_viewers} previews are open already; close one")
            self._viewers[kind] += 1
        try:
            yield
        finally:
            with self._changed:
                self._viewers[kind] -= 1

    def next_picture(self, kind: str, after: int, timeout_s: float = 1.0) -> Encoded | None:
        """The newest picture of `kind` newer than sequence `after`, as JPEG; None on timeout or close."""
        with self._changed:
            self._changed.wait_for(lambda: self.closed.is_set() or
                                   (self._pictures[kind] is not None and self._pictures[kind].sequence > after),
                                   timeout_s)
            picture = self._pictures[kind]
        if self.closed.is_set() or picture is None or picture.sequence <= after:
            return None
        with self._encode_locks[kind]:  # one encode per picture, whoever asks first
            cached = self._encoded[kind]
            if cached is not None and cached.sequence >= picture.sequence:
                return cached
            encoded = Encoded(picture.sequence, self._encode(picture), picture.sent_at)
            self._encoded[kind] = encoded
            self.encoded_count += 1
            return encoded

    def _encode(self, picture: Picture) -> bytes:
        if picture.scale == 1.0 and picture.image.shape[1] > self.width:
            image, scale = downscale(picture.image, self.width)
        else:
            image, scale = picture.image.copy(), picture.scale
        draw_faces(image, picture.drawn, scale)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        return data.tobytes()

    def close(self) -> None:
        """End every open stream (the server is stopping)."""
        self.closed.set()
        with self._changed:
            self._changed.notify_all()
