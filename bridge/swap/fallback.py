"""What a face gets when its swapper fails on a frame: the output never goes down for it."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Literal, get_args

import cv2

from bridge.swap.base import FaceCrop, SwapOutput

log = logging.getLogger("bridge.swap.fallback")

FallbackMode = Literal["hold", "blur", "pass"]
FALLBACK_MODES: tuple[str, ...] = get_args(FallbackMode)


class SwapFallback:
    """Per-track fallback and error counting.

    mode: "hold" re-uses the track's last good swap (blur when it has none or it is older than
    `hold_frames`), "blur" hides the face, "pass" leaves the original face. Call `remember`
    after every good swap and `apply` after a failure; `forget` when a track ends.
    """

    def __init__(self, mode: FallbackMode = "hold", hold_frames: int = 15, blur: float = 0.15) -> None:
        if mode not in FALLBACK_MODES:
            raise ValueError(f"swap fallback must be one of {', '.join(FALLBACK_MODES)}, not {mode!r}")
        self.mode = mode
        self.hold_frames = hold_frames
        self.blur = blur  # Gaussian sigma as a share of the crop width
        self.errors = 0
        self.errors_by_track: Counter[int] = Counter()
        self._last: dict[int, tuple[SwapOutput, int]] = {}  # track → (last good swap, frames since)

    def remember(self, track_id: int, swapped: SwapOutput) -> None:
        self._last[track_id] = (swapped, 0)

    def forget(self, track_id: int) -> None:
        self._last.pop(track_id, None)

    def apply(self, track_id: int, crop: FaceCrop, error: BaseException | None = None) -> SwapOutput | None:
        """Count the failure; what to paste instead (None: leave the face as it is)."""
        self.errors += 1
        self.errors_by_track[track_id] += 1
        if self.errors_by_track[track_id] == 1 or self.errors_by_track[track_id] % 100 == 0:
            log.warning("swap failed for track %d (%d failures so far): %s", track_id,
                        self.errors_by_track[track_id], error)
        if self.mode == "pass":
            return None
        if self.mode == "hold" and track_id in self._last:
            swapped, age = self._last[track_id]
            if age < self.hold_frames:
                self._last[track_id] = (swapped, age + 1)
                return _resized(swapped, crop.image.shape[:2])
        return self._blurred(crop)

    def _blurred(self, crop: FaceCrop) -> SwapOutput:
        sigma = max(1.0, self.blur * crop.image.shape[1])
        return SwapOutput(cv2.GaussianBlur(crop.image, (0, 0), sigma), None)


def _resized(swapped: SwapOutput, shape: tuple[int, int]) -> SwapOutput:
    """A held swap fitted to this frame's crop (neural crops have a fixed size, warp68 boxes do not)."""
    height, width = shape
    if swapped.image.shape[:2] == (height, width):
        return swapped
    mask = None if swapped.mask is None else cv2.resize(swapped.mask, (width, height))
    return SwapOutput(cv2.resize(swapped.image, (width, height)), mask)
