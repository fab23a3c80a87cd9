"""Warming a face stage before it goes on air.

A stage's first frame pays once for what every later frame reuses: each model's first
inference (onnxruntime sizes its buffers), numba's kernels loaded from their cache (warp68's
raster, the compose and mask kernels), OpenCV's colour-conversion tables (the skin gate's
first cvtColor). On the CPU demo profile that was 0.2 s of CPU (0.5-0.9 s of wall time on a
busy machine) on the first frame, and the pipeline dropped the frames that arrived meanwhile.
So the show runs each of those once on a picture of a target's face before its first frame,
through the stage's own parts, and leaves none of the show's state behind: no track, no
colour or fallback memory of a face, no count in the status.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import cv2
import numpy as np

from bridge.facestage.stage import FaceStage
from bridge.facestage.swapping import FaceToSwap
from bridge.types import Face, Target

log = logging.getLogger(__name__)

WARM_TRACK = -1  # the warm-up's face: no track of the show has a negative id
SIZE = (1280, 720)  # the input's size is not known before its first frame; the models' inputs do not depend on it


@dataclass
class Warmed:
    """What the warm-up ran, and how long it took."""

    seconds: float = 0.0
    faces: int = 0  # faces the detector found on the warm-up picture
    embedded: bool = False
    swapped: bool = False


def warm_picture(targets: dict[str, Target], size: tuple[int, int] = SIZE) -> tuple[np.ndarray, Target | None]:
    """A frame of `size` showing the first readable target photo in its middle (a real face,
    so that landmarks, the embedding and the swap run too), and that photo's target."""
    width, height = size
    picture = np.full((height, width, 3), 96, np.uint8)
    for target in targets.values():
        for path in target.images:
            photo = cv2.imread(str(path))
            if photo is None:
                continue
            scale = min(0.8 * height / photo.shape[0], 0.8 * width / photo.shape[1])
            photo = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            h, w = photo.shape[:2]
            y, x = (height - h) // 2, (width - w) // 2
            picture[y:y + h, x:x + w] = photo
            return picture, target
    return picture, None


def warm_up(stage: FaceStage, size: tuple[int, int] = SIZE) -> Warmed:
    """Run the stage's models and kernels once on a picture of a target (see the module docstring)."""
    started = time.perf_counter()
    warmed = Warmed()
    picture, target = warm_picture(stage.targets, size)
    grey = cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY)
    faces: list[Face] = stage.detector.detect(picture)
    reads = grey if getattr(stage.landmarker, "reads_grey", False) else picture
    faces = stage.landmarker.landmark(reads, faces)
    warmed.faces = len(faces)
    if faces and stage.tracker.embed is not None:
        stage.tracker.embed(picture, faces[:1])
        warmed.embedded = True
    if faces and target is not None:
        errors = stage.swapping.fallback.errors
        stage.swapping.swap_faces(picture, [FaceToSwap(WARM_TRACK, faces[0], target)])
        warmed.swapped = WARM_TRACK not in stage.swapping.failed_tracks
        stage.swapping.forget(WARM_TRACK)
        stage.swapping.fallback.errors = errors
    warmed.seconds = time.perf_counter() - started
    return warmed
