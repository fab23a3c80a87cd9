"""Paste back: the swapped crop goes back into the frame, in place (docs/models.md §7).

Only the face's rectangle is touched: the crop's corners are mapped back into the frame, the
crop and its mask are inverse-warped into that rectangle alone (not a full-frame warp), and a
numba kernel blends them into the frame view without temporaries. A box crop (warp68) is an
integer shift of the frame, so it is blended straight from the crop with no warp at all.
Pixels outside the rectangle, and inside it where the mask is 0, stay bit-exact.

Before the paste, the swapped face is made to look like part of the live picture (shared by
warp68 and the neural swappers):
- skin only: outside the 68-point outline (the forehead, the jaw edge) the live face is
  replaced only where it shows its own skin, so live hair, a fringe and background stay;
  the live mouth interior (teeth, tongue) stays when the mouth is open, and optionally the
  live eyes (blink, gaze);
- colour: the swap takes the live face's YCrCb mean/std, both measured on the skin they
  share, smoothed per track so it does not pump from frame to frame (YCrCb is an affine map
  of BGR, so the transfer is one 3×4 matrix on the pixels: no colour-space round trip);
- seamless: the remaining difference between live and swapped picture along the mask edge
  is spread inwards as a smooth offset (a push-pull membrane: a fast approximation of
  Poisson blending), so the low frequencies match at the edge; it fades out before the eyes,
  brows, nose and mouth, which stay the target's at full strength.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numba
import numpy as np

from bridge.faces.align import invert
from bridge.swap.base import FaceCrop, SwapOutput, face_kps5
from bridge.swap.colour import bgr_affine, ycc_transfer
from bridge.swap.enhance import Enhancer
from bridge.swap.label import Label
from bridge.swap.masks import (OcclusionMasker, RegionMasker, SkinModel, box_mask, combine, eyes_mask, grow,
                               inner_face, live_skin_gate, mouth_mask, shrink)
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


@numba.njit(cache=True, nogil=True)
def _downsampled(level: np.ndarray, k: int) -> np.ndarray:
    """(h/k)×(w/k)×c means of k×k blocks; blocks cut by the edge count the missing pixels as 0."""
    height, width, channels = level.shape
    out = np.zeros(((height + k - 1) // k, (width + k - 1) // k, channels), np.float32)
    for y in range(height):
        for x in range(width):
            for c in range(channels):
                out[y // k, x // k, c] += level[y, x, c]
    out *= np.float32(1.0 / (k * k))
    return out


@numba.njit(cache=True, nogil=True)
def _upsampled(small: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize to height×width with OpenCV's pixel-centre convention."""
    h, w, channels = small.shape
    out = np.empty((height, width, channels), np.float32)
    sy, sx = h / height, w / width
    for y in range(height):
        fy = max((y + 0.5) * sy - 0.5, 0.0)
        y0 = min(int(fy), h - 1)
        y1, ty = min(y0 + 1, h - 1), np.float32(fy - y0)
        for x in range(width):
            fx = max((x + 0.5) * sx - 0.5, 0.0)
            x0 = min(int(fx), w - 1)
            x1, tx = min(x0 + 1, w - 1), np.float32(fx - x0)
            for c in range(channels):
                top = small[y0, x0, c] + (small[y0, x1, c] - small[y0, x0, c]) * tx
                bottom = small[y1, x0, c] + (small[y1, x1, c] - small[y1, x0, c]) * tx
                out[y, x, c] = top + (bottom - top) * ty
    return out


@numba.njit(cache=True, nogil=True)
def _push_pull(difference: np.ndarray, weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The membrane's pyramid on (difference·weight, weight) shrunk by k: (the field, the weights), shrunk."""
    height, width = weights.shape
    stacked = np.empty((height, width, 4), np.float32)
    for y in range(height):
        for x in range(width):
            w = weights[y, x]
            for c in range(3):
                stacked[y, x, c] = difference[y, x, c] * w
            stacked[y, x, 3] = w
    levels = [_downsampled(stacked, k) if k > 1 else stacked]
    while max(levels[-1].shape[0], levels[-1].shape[1]) > 2:
        levels.append(_downsampled(levels[-1], 2))
    field = np.zeros((levels[-1].shape[0], levels[-1].shape[1], 3), np.float32)
    for index in range(len(levels) - 1, -1, -1):
        level = levels[index]
        h, w = level.shape[0], level.shape[1]
        if field.shape[0] != h or field.shape[1] != w:
            field = _upsampled(field, h, w)
        for y in range(h):
            for x in range(w):
                den = level[y, x, 3]
                # a cell a quarter on the edge is trusted
                confidence = min(max(den * np.float32(4.0), np.float32(0.0)), np.float32(1.0))
                if confidence > 0:
                    for c in range(3):
                        estimate = level[y, x, c] / max(den, np.float32(1e-6))
                        field[y, x, c] = confidence * estimate + (1 - confidence) * field[y, x, c]
    return field, levels[0][:, :, 3].copy()


def membrane(difference: np.ndarray, weights: np.ndarray, side: int = 48, reach: float = 0.0) -> np.ndarray:
    """A smooth h×w×3 field that equals `difference` where `weights` (h×w, ≥ 0) are high and
    fills everywhere else from its surroundings (push-pull on a pyramid).

    reach > 0: the field fades to 0 at that share of the side away from the weighted pixels
    (the edge needs the correction; the middle of a face, already colour matched, keeps its own
    shading, which is part of who it is).

    It runs on a copy shrunk to `side` pixels: the field is smooth by construction, and this
    keeps it at a few hundredths of a millisecond whatever the face size. The pyramid is one
    numba pass (as OpenCV calls, two dozen small ones per face cost ten times as much).
    """
    height, width = weights.shape
    k = max(1, -(-max(height, width) // side))
    field, shrunk = _push_pull(np.ascontiguousarray(difference, np.float32),
                               np.ascontiguousarray(weights, np.float32), k)
    field = cv2.GaussianBlur(field, (0, 0), 1.0).reshape(field.shape)
    if reach > 0:
        far = (shrunk <= 1e-6).astype(np.uint8)
        distance = cv2.distanceTransform(far, cv2.DIST_L2, 3) / (reach * max(field.shape[:2]))
        field *= np.clip(1.0 - distance, 0.0, 1.0)[..., None]
    return grow(field, k, (height, width)).reshape(height, width, 3)


@dataclass
class TrackColour:
    """One track's smoothed colour transfer (per YCrCb channel) and the frame it was last used."""

    gain: np.ndarray
    offset: np.ndarray
    frame: int


@dataclass
class TrackSkin:
    """One track's live skin model, the frame it was fitted and the frame it was last used."""

    model: SkinModel
    fitted: int
    frame: int


class Compose:
    """Paste swapped faces back into the frame with masks, colour correction, enhancer and label.

    mask_blur: box-mask fade as a share of the crop width (higher: softer seam, more original
        face at the crop edge). mask_padding: (top, right, bottom, left) % of the crop cut away.
    occlusion / region: optional xseg / bisenet maskers; all masks are combined by minimum.
    skin_only: outside the 68-point outline, replace only the live face's own skin (keeps hair, fringe).
    keep_mouth: the live mouth interior stays when the mouth is open.
    keep_eyes: the live eyes with their lids stay (blink and gaze read live; the target's eyes,
        part of who it is, are given up for them).
    colour_correction: match the swapped face's YCrCb mean/std to the live face on shared skin,
        smoothed per track by `colour_smoothing` (share of the previous frames' transfer kept).
    seamless: spread the edge difference over the face so no paste line shows.
    enhancer: optional gfpgan stage; label: optional "AI-generated" label drawn once per frame.
    Every look option is off by default here (a plain paste); the profile turns them on
    (`REALISTIC` holds the profile's defaults).
    """

    REALISTIC = {"colour_correction": True, "skin_only": True, "keep_mouth": True, "seamless": True}
    SEAM_SIDE = 128  # the seam correction's working size (px on the longer side of the face rectangle)
    SEAM_REACH = 0.08  # how far into the face the edge correction reaches (share of the face rectangle)
    FORGET_FRAMES = 90  # a track's colour state is dropped after this many frames unseen
    SKIN_REFIT = 15  # a track's live skin model is fitted afresh at least this often (frames)

    def __init__(self, mask_blur: float = 0.3, mask_padding: tuple[float, float, float, float] = (0, 0, 0, 0),
                 occlusion: OcclusionMasker | None = None, region: RegionMasker | None = None,
                 colour_correction: bool = False, enhancer: Enhancer | None = None,
                 label: Label | None = None, skin_only: bool = False, keep_mouth: bool = False,
                 seamless: bool = False, colour_smoothing: float = 0.8, keep_eyes: bool = False) -> None:
        self.mask_blur = mask_blur
        self.mask_padding = tuple(float(p) for p in mask_padding)
        self.occlusion = occlusion
        self.region = region
        self.colour_correction = colour_correction
        self.enhancer = enhancer
        self.label = label
        self.skin_only = skin_only
        self.keep_mouth = keep_mouth
        self.keep_eyes = keep_eyes
        self.seamless = seamless
        self.colour_smoothing = float(np.clip(colour_smoothing, 0.0, 0.99))
        self._box_masks: dict[tuple[int, int], np.ndarray] = {}  # by crop size; neural crops never change size
        self._colour: dict[int, TrackColour] = {}
        self._skin: dict[int, TrackSkin] = {}
        self._frame = 0

    def box_mask(self, height: int, width: int) -> np.ndarray:
        key = (height, width)
        if key not in self._box_masks:
            if len(self._box_masks) > 64:  # warp68 crops vary in size: keep the cache bounded
                self._box_masks.clear()
            self._box_masks[key] = box_mask(height, width, self.mask_blur, self.mask_padding)  # type: ignore[arg-type]
        return self._box_masks[key]

    def face_mask(self, crop: FaceCrop, swapped: SwapOutput) -> np.ndarray:
        return self._masks(crop, swapped)[0]

    def _masks(self, crop: FaceCrop, swapped: SwapOutput, track_id: int | None = None, box: np.ndarray | None = None,
               live_skin: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(the paste mask, the same before the kept live features are cut out of it, the live
        skin gate or None). The colour statistics and the seam correction read the second: what
        is kept live (an open mouth, the eyes) changes where the swap shows, not its colour."""
        height, width = crop.image.shape[:2]
        mouth = eyes = None
        if crop.landmarks68 is not None:
            if live_skin is None and (self.skin_only or self.seamless or self.colour_correction):
                live_skin = self._live_skin(crop, track_id)
            if self.keep_mouth:
                mouth = mouth_mask(crop.landmarks68, (height, width))
            if self.keep_eyes:
                eyes = eyes_mask(crop.landmarks68, (height, width))
        outline = combine([
            self.box_mask(height, width) if box is None else box,
            swapped.mask,
            self.occlusion.mask(crop.image) if self.occlusion else None,
            self.region.mask(swapped.image) if self.region else None,
            live_skin if self.skin_only else None,
        ])
        if self.skin_only:
            # below 1/50 a blend is invisible: what the gates leave out stays exactly live
            outline = np.where(outline < 0.02, np.float32(0), outline)
        mask = outline
        for kept in (mouth, eyes):
            if kept is not None:
                mask = np.minimum(mask, 1.0 - kept)
        if mask is not outline:
            mask = np.where(mask < 0.02, np.float32(0), mask)
        return mask, outline, live_skin

    def _live_skin(self, crop: FaceCrop, track_id: int | None, part: tuple[int, int, int, int] | None = None
                   ) -> np.ndarray:
        """The live skin gate; a track keeps its skin model for SKIN_REFIT frames while the face's
        size and light stay (fitting it is most of the gate's cost)."""
        assert crop.landmarks68 is not None
        held = self._skin.get(track_id) if track_id is not None else None
        model = held.model if held is not None and self._frame - held.fitted < self.SKIN_REFIT else None
        gate, used = live_skin_gate(crop.image, crop.landmarks68, model=model, part=part)
        if track_id is not None and used is not None:
            fitted = held.fitted if held is not None and used is held.model else self._frame
            self._skin[track_id] = TrackSkin(used, fitted, self._frame)
        return gate

    def paste_face(self, frame_image: np.ndarray, crop: FaceCrop, swapped: SwapOutput, face: Face | None = None,
                   track_id: int | None = None, plain: bool = False) -> None:
        """One swapped face into the frame (in place); the enhancer needs the face's landmarks.

        `track_id` keys the smoothed colour transfer (None: not smoothed). plain: the picture
        goes on as it is, under the box and its own mask alone (a fallback: a blurred face must
        cover the whole face, live mouth and all).
        """
        if plain:
            mask = combine([self.box_mask(*crop.image.shape[:2]), swapped.mask])
            paste_back(frame_image, swapped.image, mask, crop.affine)
            return
        box, live_skin = self.box_mask(*crop.image.shape[:2]), None
        if swapped.mask is not None and self.occlusion is None and self.region is None:
            # the swap shows only inside its own mask (warp68: the face hull, a third of the
            # crop): every mask and colour step runs on that rectangle alone
            x, y, w, h = cv2.boundingRect((swapped.mask > 0).view(np.uint8))
            if w == 0:
                return
            rect = (slice(y, y + h), slice(x, x + w))
            if crop.landmarks68 is not None and (self.skin_only or self.seamless or self.colour_correction):
                # the gate is worked out on the whole crop as ever, grown back for the rectangle only
                live_skin = self._live_skin(crop, track_id, (x, y, w, h))
            affine = crop.affine.copy()
            affine[:, 2] -= (x, y)
            landmarks = None if crop.landmarks68 is None else crop.landmarks68 - np.array([x, y], np.float32)
            crop = FaceCrop(crop.image[rect], affine, landmarks)
            swapped = SwapOutput(swapped.image[rect], swapped.mask[rect])
            box = box[rect]
        mask, outline, live_skin = self._masks(crop, swapped, track_id, box, live_skin)
        image = swapped.image
        if self.colour_correction or self.seamless:
            image = self.blend_in(crop.image, image, outline, live_skin, track_id, crop.landmarks68)
        paste_back(frame_image, image, mask, crop.affine)
        if self.enhancer is not None and face is not None:
            self.enhance_face(frame_image, face)

    def blend_in(self, live: np.ndarray, image: np.ndarray, mask: np.ndarray, live_skin: np.ndarray | None,
                 track_id: int | None, landmarks: np.ndarray | None = None) -> np.ndarray:
        """`image` (the swapped crop) coloured like `live` and continuous with it at the mask edge."""
        x, y, w, h = cv2.boundingRect((mask > 0).astype(np.uint8))
        if w == 0:
            return image
        rect = (slice(y, y + h), slice(x, x + w))
        live_rect, face, m = live[rect], image[rect], mask[rect]
        skin = np.ones_like(m) if live_skin is None else live_skin[rect]
        if self.colour_correction:
            # statistics on every 4th pixel of every 4th row (means and spreads barely change)
            every = (slice(None, None, 4), slice(None, None, 4))
            shared = ((m[every] > 0.5) & (skin[every] > 0.5)).astype(np.uint8)
            transfer = ycc_transfer(np.ascontiguousarray(face[every]), np.ascontiguousarray(live_rect[every]), shared)
            if transfer is not None:
                gain, offset = self._smoothed(track_id, *transfer)
                face = cv2.transform(face, bgr_affine(gain, offset))  # saturating, rounded
        if self.seamless:
            # the correction is smooth by construction: it is worked out on the rectangle
            # shrunk to SEAM_SIDE and grown back once (no full-size float pictures per face)
            small_live, k = shrink(live_rect, self.SEAM_SIDE)
            small_face, small_m, small_skin = (shrink(p, self.SEAM_SIDE)[0] for p in (face, m, skin))
            # the edge samples: where the mask fades (the swap shows, the live picture too),
            # on live skin only, so live hair at a cut hairline does not tint the forehead
            edge = ((small_m > 0.02) & (small_m < 0.6)) * small_skin
            if edge.sum() * k * k >= 8:
                difference = cv2.subtract(small_live, small_face, dtype=cv2.CV_32F)
                field = membrane(difference, edge.astype(np.float32), reach=self.SEAM_REACH)
                if landmarks is not None:
                    # the eyes, brows, nose and mouth are the target's at full strength: the
                    # correction is for the edge, and live shading there reads as the live person
                    points = (np.asarray(landmarks, np.float32) - (x, y)) * np.float32(1.0 / k) + np.float32(0.5 / k - 0.5)
                    field *= 1.0 - inner_face(points, edge.shape)[..., None]
                field = grow(field, k, (h, w)).reshape(h, w, 3)
                face = cv2.add(face, field, dtype=cv2.CV_8U)  # saturating, rounded
        out = image.copy()
        out[rect] = face
        return out

    def _smoothed(self, track_id: int | None, gain: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if track_id is None:
            return gain, offset
        state = self._colour.get(track_id)
        if state is not None:
            keep = np.float32(self.colour_smoothing)
            gain = keep * state.gain + (1 - keep) * gain
            offset = keep * state.offset + (1 - keep) * offset
        self._colour[track_id] = TrackColour(gain, offset, self._frame)
        return gain, offset

    def enhance_face(self, frame_image: np.ndarray, face: Face) -> None:
        assert self.enhancer is not None
        crop, matrix = self.enhancer.crop(frame_image, face_kps5(face))
        enhanced = self.enhancer.enhance_crop(crop)
        mask = self.box_mask(*crop.shape[:2]) * np.float32(self.enhancer.blend)
        paste_back(frame_image, enhanced, mask, matrix)

    def forget(self, track_id: int) -> None:
        """Drop a track's colour and skin state (its face is gone)."""
        self._colour.pop(track_id, None)
        self._skin.pop(track_id, None)

    def finish(self, frame_image: np.ndarray) -> None:
        """Once per frame, after every face: the label; tracks unseen for a while lose their colour state."""
        if self.label is not None:
            self.label.draw(frame_image)
        self._frame += 1
        stale = [track for track, state in self._colour.items() if self._frame - state.frame > self.FORGET_FRAMES]
        for track in stale:
            del self._colour[track]
        for track in [track for track, state in self._skin.items() if self._frame - state.frame > self.FORGET_FRAMES]:
            del self._skin[track]
