"""What the tracker hands to rehearsal mode and the status page: per-frame records and
per-track coverage (leaks, fallbacks, target switches)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from bridge.types import Track

Shown = Literal["swapped", "fallback", "raw"]
"""How a face left the bridge on one frame: swapped (or blurred), covered by the fallback, or raw."""


def _floats(values: Any) -> list:
    return [round(float(v), 2) for v in values]


def tracks_jsonl_record(frame_index: int, tracks: list[Track]) -> dict:
    """One line of tracks.jsonl: {"frame": i, "faces": [{"track", "slot", "box", "kps5", "score",
    "person", "target", "state"}]} with boxes and keypoints in input pixels; `slot` is the
    on-screen face number the "face N" hotkeys address."""
    faces = []
    for t in tracks:
        kps = t.face.kps5
        faces.append({
            "track": int(t.id),
            "slot": t.slot,
            "box": _floats(t.face.box),
            "kps5": [] if kps is None else [_floats(p) for p in kps],
            "score": round(float(t.face.score), 4),
            "person": t.person,
            "target": t.target,
            "state": t.state,
        })
    return {"frame": int(frame_index), "faces": faces}


@dataclass
class TrackCoverage:
    """Per track: frames seen, and of the frames it had a target, how each was shown."""

    frames: int = 0
    mapped: int = 0  # frames with a target (must not be shown raw)
    swapped: int = 0
    fallbacks: int = 0
    leaks: int = 0  # mapped and shown raw: a real face on air
    target_switches: int = 0
    target: str | None = None
    person: str | None = None


class CoverageLedger:
    """Counts leaks and fallbacks per track. A face whose track maps to a target but was shown
    raw is a leak; one covered by the profile's fallback (the last good swap held, resized to the face, or a blur)
    is a fallback."""

    def __init__(self) -> None:
        self.tracks: dict[int, TrackCoverage] = {}

    def record(self, track: Track, shown: Shown) -> None:
        c = self.tracks.setdefault(track.id, TrackCoverage())
        if c.frames and track.target != c.target:
            c.target_switches += 1
        c.frames += 1
        c.target, c.person = track.target, track.person or c.person
        if track.target is None:
            return
        c.mapped += 1
        if shown == "swapped":
            c.swapped += 1
        elif shown == "fallback":
            c.fallbacks += 1
        else:
            c.leaks += 1

    @property
    def leaks(self) -> int:
        return sum(c.leaks for c in self.tracks.values())

    @property
    def fallbacks(self) -> int:
        return sum(c.fallbacks for c in self.tracks.values())

    @property
    def leak_rate(self) -> float:
        mapped = sum(c.mapped for c in self.tracks.values())
        return self.leaks / mapped if mapped else 0.0

    def summary(self) -> dict:
        """For the end-of-run report: totals and one entry per track."""
        return {
            "tracks": len(self.tracks),
            "leaks": self.leaks,
            "fallbacks": self.fallbacks,
            "leak_rate": self.leak_rate,
            "per_track": {tid: asdict(c) for tid, c in sorted(self.tracks.items())},
        }
