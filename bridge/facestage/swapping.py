"""The face stage's swapping step, once per frame: crop → swap (batched) → paste back, with the fallback."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from bridge.swap.base import FaceCrop, Swapper, SwapOutput, SwapperError, crop_face
from bridge.swap.compose import Compose
from bridge.swap.fallback import SwapFallback
from bridge.types import Face, Target

log = logging.getLogger("bridge.swap")


@dataclass
class FaceToSwap:
    """One face of the frame, the track it belongs to, and the target mapped to that track."""

    track_id: int
    face: Face
    target: Target


class Swapping:
    """Swaps every mapped face of a frame, in place; a failing swap never takes the frame down."""

    def __init__(self, swapper: Swapper, compose: Compose | None = None, fallback: SwapFallback | None = None) -> None:
        self.swapper = swapper
        self.compose = compose or Compose()
        self.fallback = fallback or SwapFallback()
        self.failed_tracks: set[int] = set()  # tracks whose swap failed on the last frame (fallback shown)

    def swap_faces(self, frame_image: np.ndarray, faces: Sequence[FaceToSwap]) -> np.ndarray:
        """`frame_image` with each face swapped to its target (the same array, changed in place)."""
        ready: list[tuple[FaceToSwap, FaceCrop]] = []
        self.failed_tracks = set()
        for job in faces:
            try:
                ready.append((job, crop_face(frame_image, job.face, self.swapper.crop_geometry)))
            except Exception as error:  # geometry we cannot cut: nothing to paste either
                self.failed_tracks.add(job.track_id)
                self.fallback.errors += 1
                self.fallback.errors_by_track[job.track_id] += 1
                log.debug("track %d: cannot crop face: %s", job.track_id, error)
        outputs = [self._checked(crop, output) for (_, crop), output in zip(ready, self._swap_all(ready))]
        for (job, crop), swapped in zip(ready, outputs):
            if isinstance(swapped, BaseException):
                self.failed_tracks.add(job.track_id)
                replacement = self.fallback.apply(job.track_id, crop, swapped)
                if replacement is not None:
                    self.compose.paste_face(frame_image, crop, replacement, None, plain=True)
                continue
            try:
                self.compose.paste_face(frame_image, crop, swapped, job.face, track_id=job.track_id)
            except Exception as error:  # a paste that fails is a swap that failed
                self.failed_tracks.add(job.track_id)
                replacement = self.fallback.apply(job.track_id, crop, error)
                if replacement is not None:
                    self.compose.paste_face(frame_image, crop, replacement, None, plain=True)
                continue
            self.fallback.remember(job.track_id, swapped)
        self.compose.finish(frame_image)  # the label stays on every frame, not only those with faces
        return frame_image

    def forget(self, track_id: int) -> None:
        """Drop what was kept of a track's face: its last good swap, colour and skin, failures."""
        self.fallback.forget(track_id)
        self.fallback.errors_by_track.pop(track_id, None)
        self.compose.forget(track_id)
        self.failed_tracks.discard(track_id)

    def _checked(self, crop: FaceCrop, output: SwapOutput | BaseException) -> SwapOutput | BaseException:
        """A swapper's output fit to paste, or the error saying why not (it then goes to the fallback)."""
        if isinstance(output, BaseException):
            return output
        h, w = crop.image.shape[:2]
        image, mask = np.asarray(output.image), output.mask
        if image.shape != (h, w, 3):
            return SwapperError(f"{self.swapper.name} returned a {image.shape} picture for a {h}x{w} crop")
        if image.dtype != np.uint8:
            if not np.isfinite(image).all():
                return SwapperError(f"{self.swapper.name} returned non-finite pixels")
            image = np.clip(image, 0, 255).astype(np.uint8)
        if mask is not None and (np.shape(mask) != (h, w) or not np.isfinite(mask).all()):
            return SwapperError(f"{self.swapper.name} returned a bad mask {np.shape(mask)}")
        return SwapOutput(image, None if mask is None else np.clip(mask, 0, 1).astype(np.float32))

    def _swap_all(self, ready: list[tuple[FaceToSwap, FaceCrop]]) -> list[SwapOutput | BaseException]:
        """One batched call; if it fails, face by face so one bad face does not cost the others."""
        prepared = []
        for job, _ in ready:
            data = job.target.prepared.get(self.swapper.name)
            if data is None:
                return [self._one(job, crop) for job, crop in ready]
            prepared.append(data)
        try:
            return list(self.swapper.swap_batch([crop for _, crop in ready], prepared))
        except Exception:  # any swapper failure: retry one by one to find the culprit
            return [self._one(job, crop) for job, crop in ready]

    def _one(self, job: FaceToSwap, crop: FaceCrop) -> SwapOutput | BaseException:
        data = job.target.prepared.get(self.swapper.name)
        if data is None:
            return SwapperError(f"target {job.target.name!r} has no prepared data for {self.swapper.name}")
        try:
            return self.swapper.swap(crop, data)
        except Exception as error:  # never let one face stop the frame
            return error
