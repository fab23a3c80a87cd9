"""Paste back: the swapped crop goes back into the frame, in place (models.md §7).

Only the face's rectangle is touched: the crop's corners are mapped back into the frame, the
crop and its mask are inverse-warped into that rectangle alone (not a full-frame warp), and a
numba kernel blends them into the frame view without temporaries. A box crop (warp68) is an
integer shift of the frame, so it is blended straight from the crop with no warp at all.
Pixels outside the rectangle, and inside it where the mask is 0, stay bit-exact.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numba
import numpy as np

from bridge.faces.align import invert
from bridge.swap.base import FaceCrop, SwapOutput, face_kps5
from bridge.swap.colour import match_colour
from bridge.swap.enhance import Enhancer
from bridge.swap.label import Label
from bridge.swap.masks import OcclusionMasker, RegionMasker, box_mask, combine
from bridge.types import Face


def paste_rectangle(affine: np.ndarray, crop_size: tuple[int, int], frame_size: tuple[int, int]
                    ) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) in the frame covered by a (w, h) crop cut with `affine`; None if off-frame."""
    width, height = crop_size
    corners = np.array([[0, 0], [width, 0], [0, height], [width, height]], dtype=np.float32)
    inverse = invert(affine)
    frame_points = corners @ inverse[:, :2].T + inverse[:, 2]
    x0, y0 = np.floor(frame_points.min(axis=0)).astype(int)
    x1, y1 = np.ceil(frame_points.max(axis=0)).astype(int)
    frame_w, frame_h = frame_size
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(frame_w, x1), min(frame_h, y1)
    if x1 <= x0 or y1 <= y0:
        return None
    return int(x0), int(y0), int(x1), int(y1)


@numba.njit(cache=True, nogil=True)
def _blend_into(roi: np.ndarray, face: np.ndarray, mask: np.ndarray) -> None:
    height, width = mask.shape
    for y in range(height):
        for x in range(width):
            m = mask[y, x]
            if m <= 0.0:
                continue
            if m >= 1.0:
                for c in range(3):
                    roi[y, x, c] = face[y, x, c]
                continue
            for c in range(3):
                value = roi[y, x, c] + (np.float32(face[y, x, c]) - roi[y, x, c]) * m
                roi[y, x, c] = np.uint8(value + 0.5)


def blend_numpy(roi: np.ndarray, face: np.ndarray, mask: np.ndarray) -> None:
    """The same blend with NumPy temporaries (the reference in tests)."""
    m = mask[..., None]
    blended = roi.astype(np.float32) + (face.astype(np.float32) - roi) * m + 0.5
    np.copyto(roi, blended.astype(np.uint8), where=m > 0)


def paste_back(frame_image: np.ndarray, crop_image: np.ndarray, mask: np.ndarray, affine: np.ndarray) -> None:
    """Blend `crop_image` (cut from the frame with `affine`) back into `frame_image`, in place."""
    frame_h, frame_w = frame_image.shape[:2]
    crop_h, crop_w = crop_image.shape[:2]
    rectangle = paste_rectangle(affine, (crop_w, crop_h), (frame_w, frame_h))
    if rectangle is None:
        return
    x0, y0, x1, y1 = rectangle
    mask = np.asarray(mask, dtype=np.float32)
    roi = frame_image[y0:y1, x0:x1]  # a view: the blend writes into the frame
    shift = _integer_shift(affine)
    if shift is not None:
        # the rectangle lies inside the crop's footprint, so its pixels are the crop's own
        cx, cy = x0 + shift[0], y0 + shift[1]
        _blend_into(roi, crop_image[cy:cy + y1 - y0, cx:cx + x1 - x0], mask[cy:cy + y1 - y0, cx:cx + x1 - x0])
        return
    inverse = invert(affine)
    inverse[:, 2] -= (x0, y0)  # into the rectangle's own pixels
    size = (x1 - x0, y1 - y0)
    face = cv2.warpAffine(crop_image, inverse, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    roi_mask = cv2.warpAffine(mask, inverse, size, flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    _blend_into(roi, face, roi_mask)


def _integer_shift(affine: np.ndarray) -> tuple[int, int] | None:
    """(dx, dy) when `affine` is a whole-pixel translation (crop = frame + (dx, dy)), else None."""
    if not np.array_equal(affine[:, :2], np.eye(2)):
        return None
    dx, dy = float(affine[0, 2]), float(affine[1, 2])
    if dx != round(dx) or dy != round(dy):
        return None
    return int(dx), int(dy)


def paste_back_full_frame(frame_image: np.ndarray, crop_image: np.ndarray, mask: np.ndarray,
                          affine: np.ndarray) -> None:
    """The plain version (warp crop and mask over the whole frame, blend everything): benchmark baseline."""
    frame_h, frame_w = frame_image.shape[:2]
    inverse = invert(affine)
    face = cv2.warpAffine(crop_image, inverse, (frame_w, frame_h), borderMode=cv2.BORDER_REPLICATE)
    full_mask = cv2.warpAffine(mask.astype(np.float32), inverse, (frame_w, frame_h))
    m = full_mask[..., None]
    frame_image[:] = (frame_image * (1 - m) + face * m + 0.5).astype(np.uint8)


class Compose:
    """Paste swapped faces back into the frame with masks, colour correction, enhancer and label.

    mask_blur: box-mask fade as a share of the crop width (higher: softer seam, more original
        face at the crop edge). mask_padding: (top, right, bottom, left) % of the crop cut away.
    occlusion / region: optional xseg / bisenet maskers; all masks are combined by minimum.
    colour_correction: match the swapped face's LAB mean/std to the original face.
    enhancer: optional gfpgan stage; label: optional "AI-generated" label drawn once per frame.
    """

    def __init__(self, mask_blur: float = 0.3, mask_padding: tuple[float, float, float, float] = (0, 0, 0, 0),
                 occlusion: OcclusionMasker | None = None, region: RegionMasker | None = None,
                 colour_correction: bool = False, enhancer: Enhancer | None = None,
                 label: Label | None = None) -> None:
        self.mask_blur = mask_blur
        self.mask_padding = tuple(float(p) for p in mask_padding)
        self.occlusion = occlusion
        self.region = region
        self.colour_correction = colour_correction
        self.enhancer = enhancer
        self.label = label
        self._box_masks: dict[tuple[int, int], np.ndarray] = {}  # by crop size; neural crops never change size

    def box_mask(self, height: int, width: int) -> np.ndarray:
        key = (height, width)
        if key not in self._box_masks:
            if len(self._box_masks) > 64:  # warp68 crops vary in size: keep the cache bounded
                self._box_masks.clear()
            self._box_masks[key] = box_mask(height, width, self.mask_blur, self.mask_padding)  # type: ignore[arg-type]
        return self._box_masks[key]

    def face_mask(self, crop: FaceCrop, swapped: SwapOutput) -> np.ndarray:
        height, width = crop.image.shape[:2]
        return combine([
            self.box_mask(height, width),
            swapped.mask,
            self.occlusion.mask(crop.image) if self.occlusion else None,
            self.region.mask(swapped.image) if self.region else None,
        ])

    def paste_face(self, frame_image: np.ndarray, crop: FaceCrop, swapped: SwapOutput, face: Face | None = None) -> None:
        """One swapped face into the frame (in place); the enhancer needs the face's landmarks."""
        mask = self.face_mask(crop, swapped)
        image = swapped.image
        if self.colour_correction:
            image = match_colour(image, crop.image, (mask > 0.5).astype(np.uint8))
        paste_back(frame_image, image, mask, crop.affine)
        if self.enhancer is not None and face is not None:
            self.enhance_face(frame_image, face)

    def enhance_face(self, frame_image: np.ndarray, face: Face) -> None:
        assert self.enhancer is not None
        crop, matrix = self.enhancer.crop(frame_image, face_kps5(face))
        enhanced = self.enhancer.enhance_crop(crop)
        mask = self.box_mask(*crop.shape[:2]) * np.float32(self.enhancer.blend)
        paste_back(frame_image, enhanced, mask, matrix)

    def finish(self, frame_image: np.ndarray) -> None:
        """Once per frame, after every face: the label."""
        if self.label is not None:
            self.label.draw(frame_image)

    def compose(self, frame_image: np.ndarray, pieces: Sequence[tuple[FaceCrop, SwapOutput, Face | None]]) -> np.ndarray:
        for crop, swapped, face in pieces:
            self.paste_face(frame_image, crop, swapped, face)
        self.finish(frame_image)
        return frame_image
