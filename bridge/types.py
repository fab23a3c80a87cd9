"""The values that flow through the bridge, one direction only (docs/architecture.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np

# The steps a frame's time is counted in (`Frame.timings`, /metrics `stage_seconds`): queue = waiting
# for processing, convert = source pixels to BGR, track includes re-identification embeddings,
# swap includes paste-back and compose, send = handing the frame to the sink.
Step = Literal["queue", "convert", "detect", "landmarks", "track", "swap", "send"]
STEPS: tuple[Step, ...] = get_args(Step)


@dataclass
class AudioBlock:
    """Audio that arrived with one video frame; it leaves with that frame."""

    samples: np.ndarray  # float32, planar: (channels, n_samples)
    sample_rate: int
    timecode: int = 0  # NDI timecode, 100 ns units

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])


@dataclass
class Frame:
    """One picture and what belongs to it.

    `image` is H×W×3 uint8 BGR. `received_at` is `time.monotonic()` when the
    receiver got it; latency is measured from there to the send.
    """

    image: np.ndarray
    sequence: int
    timecode: int = 0  # NDI source timecode, 100 ns units; kept on the output
    timestamp: int = 0  # NDI timestamp, 100 ns units
    frame_rate: tuple[int, int] = (30, 1)
    received_at: float = 0.0
    audio: list[AudioBlock] = field(default_factory=list)
    metadata: list[str] = field(default_factory=list)
    held: bool = False  # True when the output repeats or slates because the input is gone
    timings: dict[Step, float] = field(default_factory=dict)  # seconds per step (telemetry)
    drawn: list[dict[str, Any]] = field(default_factory=list)  # the faces tracked on this frame (the dock's preview)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.image.shape[1]), int(self.image.shape[0])


@dataclass
class Face:
    """One detected face in frame pixels."""

    box: np.ndarray  # (4,) float32 x0, y0, x1, y1
    score: float
    kps5: np.ndarray | None = None  # (5, 2) float32: right eye, left eye, nose, mouth right, mouth left (image left to right)
    landmarks68: np.ndarray | None = None  # (68, 2) float32
    landmark_score: float = 0.0
    embedding: np.ndarray | None = None  # (512,) float32, L2-normalised


TrackState = Literal["detected", "coasting", "fallback"]


@dataclass
class Track:
    """A person followed across frames; `id` stays with them."""

    id: int
    face: Face
    state: TrackState = "detected"
    person: str | None = None
    target: str | None = None
    age: int = 0
    misses: int = 0
    embedding: np.ndarray | None = None  # appearance gallery (EMA of recogniser embeddings); mapping recognises from it
    reidentified: int = 0  # times this id came back after being lost (smoothing restarts each time)
    slot: int | None = None  # on-screen face number (1, 2, …) the "face N" hotkeys address (track/slots.py)


@dataclass
class Target:
    """A face to swap in: a name, its images, and what each swapper prepared from them."""

    name: str
    images: list[str]
    embedding: np.ndarray | None = None
    prepared: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceStatus:
    """What a live source says about itself for /status (NDI, FFmpeg, ...)."""

    source: str  # the source actually received ("" while waiting for it)
    connected: bool
    connects: int  # times it (re)connected; reconnects = connects - 1
    skipped: int  # frames it received but could not use (corrupt, unsupported)
    transport_dropped: int  # frames lost before it received them (network, or read too slowly)


@dataclass(frozen=True)
class SinkStatus:
    """What a live sink says about itself for /status."""

    name: str  # the name receivers see, e.g. "HOST (facebridge)"
    connections: int  # receivers connected to it
