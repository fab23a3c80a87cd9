"""The one swapper interface: an aligned target-face crop plus a prepared target → a swapped crop.

Every swapper (neural or classic) works in the same two steps:

- `prepare(target_faces)` runs once per target (and is cached on disk by `bridge.facestage.targets`); it
  turns the target's reference faces into plain arrays (a latent for inswapper, a 68-point
  shape + texture for warp68).
- `swap(crop, prepared)` runs per face per frame on a crop cut out with the swapper's own
  geometry (`crop_geometry`) and returns a crop of the same size, optionally with a mask.

Prepared data is a `dict[str, np.ndarray]` so the target cache can store it with `np.savez`
(no pickle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable

import cv2
import numpy as np

from bridge.faces.align import estimate_similarity, kps5_from_68, transform_points
from bridge.types import Face

Prepared = dict[str, np.ndarray]


class SwapperError(RuntimeError):
    """A swapper that cannot be built or cannot work on its input (one readable line)."""


@dataclass(frozen=True)
class CropGeometry:
    """How a swapper wants its crop cut out of the frame.

    `template` is an alignment template name (docs/models.md §7) and `size` the square crop side;
    the special template "box" means an axis-aligned, unscaled cut of the face's 68-point box
    grown by `margin` (warp68 works in frame pixels, so no resampling is needed either way).
    """

    template: str
    size: int = 0
    margin: float = 0.25


@dataclass
class FaceCrop:
    """A face cut out of a frame: the crop, the 2×3 frame→crop matrix, and landmarks in crop pixels."""

    image: np.ndarray  # h×w×3 uint8 BGR
    affine: np.ndarray  # (2, 3) float32, frame → crop
    landmarks68: np.ndarray | None = None  # (68, 2) float32 in crop pixels


@dataclass
class SwapOutput:
    """A swapped crop (same size as its `FaceCrop`) and the swapper's own mask, if it has one."""

    image: np.ndarray  # h×w×3 uint8 BGR
    mask: np.ndarray | None = None  # h×w float32 in [0, 1]; None: the whole crop is valid


@dataclass
class TargetFace:
    """One reference image of a target with the face found in it (the largest one)."""

    image: np.ndarray  # BGR uint8
    face: Face  # with kps5, landmarks68 and embedding where the analysis provides them


@runtime_checkable
class Swapper(Protocol):
    """What the compose stage and the target library need from any swapper."""

    name: str  # e.g. "inswapper_128", "warp68"
    crop_geometry: CropGeometry

    def cache_key(self) -> str:
        """Changes whenever prepared data would change (model file, version of the preparation)."""
        ...

    def prepare(self, target_faces: Sequence[TargetFace]) -> Prepared:
        """Once per target: everything `swap` needs from the target, as plain arrays."""
        ...

    def swap(self, crop: FaceCrop, prepared: Prepared) -> SwapOutput:
        """One face: the crop with the target's identity."""
        ...

    def swap_batch(self, crops: Sequence[FaceCrop], prepared: Sequence[Prepared]) -> list[SwapOutput]:
        """All faces of a frame; a swapper whose graph takes a batch runs them in one call."""
        ...


def face_kps5(face: Face) -> np.ndarray:
    """The five alignment points of a face, from its 68 landmarks when it has no 5-point set."""
    if face.kps5 is not None:
        return np.asarray(face.kps5, dtype=np.float32)
    if face.landmarks68 is not None:
        return kps5_from_68(face.landmarks68)
    raise SwapperError("face has neither 5-point nor 68-point landmarks; cannot align it for swapping")


def crop_face(image: np.ndarray, face: Face, geometry: CropGeometry) -> FaceCrop:
    """Cut `face` out of `image` the way a swapper with `geometry` wants it."""
    if geometry.template == "box":
        return _crop_box(image, face, geometry.margin)
    matrix = estimate_similarity(face_kps5(face), geometry.template, geometry.size)
    crop = cv2.warpAffine(image, matrix, (geometry.size, geometry.size),
                          borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_LINEAR)
    landmarks = None if face.landmarks68 is None else transform_points(face.landmarks68, matrix)
    return FaceCrop(crop, matrix, landmarks)


def _crop_box(image: np.ndarray, face: Face, margin: float) -> FaceCrop:
    """An integer-aligned cut (a plain translation: paste back is then an exact copy)."""
    if face.landmarks68 is None:
        raise SwapperError("warp68 needs the face's 68-point landmarks; enable the 68-point landmarker")
    points = np.asarray(face.landmarks68, dtype=np.float32)
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    grow = margin * max(x1 - x0, y1 - y0)
    height, width = image.shape[:2]
    left, top = int(max(0, np.floor(x0 - grow))), int(max(0, np.floor(y0 - grow)))
    right, bottom = int(min(width, np.ceil(x1 + grow))), int(min(height, np.ceil(y1 + grow)))
    if right - left < 4 or bottom - top < 4:
        raise SwapperError(f"face box {left},{top}–{right},{bottom} is outside or too small in a {width}×{height} frame")
    matrix = np.array([[1, 0, -left], [0, 1, -top]], dtype=np.float32)
    crop = image[top:bottom, left:right].copy()
    return FaceCrop(crop, matrix, points - np.array([left, top], dtype=np.float32))


def loop_batch(swapper: Swapper, crops: Sequence[FaceCrop], prepared: Sequence[Prepared]) -> list[SwapOutput]:
    """`swap_batch` for swappers that take one face per call."""
    return [swapper.swap(crop, data) for crop, data in zip(crops, prepared)]
