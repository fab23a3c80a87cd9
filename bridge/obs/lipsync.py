"""Lip sync: how late the swapped picture reaches OBS, and the audio offset that matches it.

The microphone reaches OBS's mix at once; the picture leaves OBS through the camera's NDI
filter, goes through the bridge and comes back as an NDI source. Its delay is

    (bridge's send time − the NDI filter's send timestamp)  +  the hop back into OBS

The first part is measured on every frame: NDI stamps each frame with the sender's clock
when it was handed to NDI (100 ns units since 1970), so on one machine (or with synced
clocks) `now − frame.timestamp` at the bridge's send is the camera-to-bridge-output delay,
queues and processing included. The hop back is the NDI transport plus what DistroAV's
latency mode adds in OBS (`OBS_HOP_FRAMES`). A median over the last couple of seconds keeps
single slow frames from moving the estimate.

`OffsetPolicy` turns the estimate into audio sync offsets that change only when the estimate
moved by more than one frame, and no more often than every few seconds, so OBS's audio does
not click on every wobble. `OffsetStore` keeps each input's original offset on disk, so an
offset is restored even after a crash, by `facebridge obs unwire` or by removing the input
from `obs.sync_audio_inputs`.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.types import Frame

# NDI's own transport on one machine or a LAN, sender to receiver (benchmarks/bench_lipsync.py measures it).
NDI_TRANSPORT_MS = 3.0
# Frames of OBS's frame interval that DistroAV's latency modes add before the picture is on
# program: lowest (2) shows the newest frame at the next render tick (half a frame on average);
# low (1) and normal (0) go through OBS's async frame buffer, which holds about one frame more,
# and normal also asks NDI for UYVY/BGRA conversion.
OBS_HOP_FRAMES = {0: 2.0, 1: 1.5, 2: 0.5}
OBS_OFFSET_RANGE_MS = (-950, 20000)  # what SetInputAudioSyncOffset accepts
UNDEFINED_TIMESTAMP = (1 << 63) - 1  # NDIlib_recv_timestamp_undefined
MAX_PLAUSIBLE_S = 10.0  # beyond this the two clocks differ (another machine): no estimate


def obs_hop_ms(latency_mode: int, frame_interval_ms: float) -> float:
    """The NDI hop back into OBS at this DistroAV latency mode."""
    return NDI_TRANSPORT_MS + OBS_HOP_FRAMES.get(latency_mode, OBS_HOP_FRAMES[0]) * frame_interval_ms


class PictureDelay:
    """Rolling median of (send time − NDI send timestamp) over the last `window` sent frames; thread-safe."""

    def __init__(self, window: int = 60, clock_ns: Any = time.time_ns) -> None:
        self._samples: deque[float] = deque(maxlen=window)
        self._interval_ms = 1000 / 30
        self._clock_ns = clock_ns
        self._lock = threading.Lock()
        self.rejected = 0

    def add(self, frame: Frame) -> None:
        """Called right after `frame` was sent."""
        stamp = int(frame.timestamp)
        if stamp <= 0 or stamp >= UNDEFINED_TIMESTAMP:
            return
        delay_ms = (self._clock_ns() / 100 - stamp) / 10_000
        if not 0.0 <= delay_ms <= MAX_PLAUSIBLE_S * 1000:
            self.rejected += 1
            return
        n, d = frame.frame_rate
        with self._lock:
            self._samples.append(delay_ms)
            if n > 0 and d > 0:
                self._interval_ms = 1000 * d / n

    @property
    def frame_interval_ms(self) -> float:
        return self._interval_ms

    def median_ms(self) -> float | None:
        with self._lock:
            samples = sorted(self._samples)
        if len(samples) < max(3, (self._samples.maxlen or 0) // 4):
            return None
        middle = len(samples) // 2
        return samples[middle] if len(samples) % 2 else (samples[middle - 1] + samples[middle]) / 2


@dataclass
class OffsetPolicy:
    """Decides when the audio offset follows the estimate: a move of more than one frame, at most every `min_interval_s`."""

    min_interval_s: float = 5.0
    current_ms: int | None = None
    changed_at: float = -math.inf
    changes: int = 0

    def propose(self, estimate_ms: float, frame_interval_ms: float, now: float | None = None) -> int | None:
        """The new offset to set, or None to keep the current one."""
        now = time.monotonic() if now is None else now
        low, high = OBS_OFFSET_RANGE_MS
        target = int(round(min(max(estimate_ms, low), high)))
        if self.current_ms is not None:
            if abs(target - self.current_ms) <= frame_interval_ms or now - self.changed_at < self.min_interval_s:
                return None
        self.current_ms, self.changed_at = target, now
        self.changes += 1
        return target


@dataclass
class OffsetStore:
    """Original audio sync offsets (ms) per OBS address and input, in a small JSON file."""

    path: Path
    _data: dict[str, dict[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
            self._data = {k: {n: int(v) for n, v in inputs.items()} for k, inputs in loaded.items()}
        except (OSError, ValueError, AttributeError, TypeError):
            self._data = {}

    def originals(self, address: str) -> dict[str, int]:
        return dict(self._data.get(address, {}))

    def save(self, address: str, originals: Mapping[str, int]) -> None:
        if originals:
            self._data[address] = dict(originals)
        else:
            self._data.pop(address, None)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self._data, indent=1), encoding="utf-8")
        os.replace(temporary, self.path)


def default_store_path() -> Path:
    """The user's state folder (FACEBRIDGE_STATE_DIR overrides it, e.g. for tests)."""
    from platformdirs import user_state_dir

    folder = os.environ.get("FACEBRIDGE_STATE_DIR") or user_state_dir("facebridge")
    return Path(folder) / "obs-audio-offsets.json"
