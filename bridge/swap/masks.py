"""Face masks in crop pixels (docs/models.md §6): box, occlusion (xseg), region (bisenet).

Every mask is h×w float32 in [0, 1]; they are combined with an element-wise minimum, so
each one can only take pixels away (a hand in front of the face, hair, the crop border).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numba
import numpy as np

from bridge.runtime.onnx import SessionFactory
from bridge.swap.base import SwapperError

# bisenet's 19 face-parsing classes kept by default: skin, brows, eyes, glasses, nose, mouth, lips.
REGION_CLASSES: dict[str, tuple[int, ...]] = {
    "skin": (1,), "left-eyebrow": (2,), "right-eyebrow": (3,), "left-eye": (4,), "right-eye": (5,),
    "glasses": (6,), "nose": (10,), "mouth": (11,), "upper-lip": (12,), "lower-lip": (13,),
}
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def box_mask(height: int, width: int, blur: float = 0.3,
             padding: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)) -> np.ndarray:
    """Ones with a faded border: blur is a share of the crop width, padding (top, right, bottom, left) in %.

    Higher blur: softer seam but more of the original face at the crop edge.
    The mask is a column profile times a row profile, and a Gaussian blur is separable, so
    the two 1-D profiles are blurred and multiplied: the 2-D blur's result for a fraction of
    its cost (warp68 crops change size every frame, so this runs per face per frame).
    """
    blur_amount = int(width * 0.5 * blur)
    blur_area = max(blur_amount // 2, 1)
    top, right, bottom, left = padding
    column = np.ones((height, 1), dtype=np.float32)
    column[:max(blur_area, int(height * top / 100))] = 0
    column[-max(blur_area, int(height * bottom / 100)):] = 0
    row = np.ones((1, width), dtype=np.float32)
    row[:, :max(blur_area, int(width * left / 100))] = 0
    row[:, -max(blur_area, int(width * right / 100)):] = 0
    if blur_amount > 0:
        column = cv2.GaussianBlur(column, (0, 0), blur_amount * 0.25)
        row = cv2.GaussianBlur(row, (0, 0), blur_amount * 0.25)
    return column * row


def combine(masks: Sequence[np.ndarray | None]) -> np.ndarray:
    """Element-wise minimum of the masks that are present (at least one must be)."""
    present = [m for m in masks if m is not None]
    combined = present[0]
    for mask in present[1:]:
        combined = np.minimum(combined, mask)
    return combined


def _check_model(session_inputs: list, model: Path, rank: int) -> tuple[str, tuple]:
    first = session_inputs[0]
    if len(first.shape) != rank:
        raise SwapperError(f"{model.name}: expected a rank-{rank} image input, got shape {first.shape}")
    return first.name, tuple(first.shape)


class OcclusionMasker:
    """xseg: what in front of the face (hands, microphones, hair) must stay visible. Runs on the original crop."""

    def __init__(self, model_path: str | Path, sessions: SessionFactory | None = None) -> None:
        self.model_path = Path(model_path)
        self.session = (sessions or SessionFactory()).create(self.model_path)
        self.input_name, shape = _check_model(self.session.get_inputs(), self.model_path, 4)
        self.size = shape[1] if isinstance(shape[1], int) else 256  # NHWC

    def mask(self, crop: np.ndarray) -> np.ndarray:
        height, width = crop.shape[:2]
        blob = cv2.resize(crop, (self.size, self.size)).astype(np.float32)[None] / 255.0
        out = np.asarray(self.session.run(None, {self.input_name: blob})[0]).reshape(self.size, self.size)
        out = cv2.resize(np.clip(out, 0, 1).astype(np.float32), (width, height))
        out = cv2.GaussianBlur(out.clip(0.5, 1), (0, 0), 5)
        return ((out.clip(0.5, 1) - 0.5) * 2).astype(np.float32)


class RegionMasker:
    """bisenet face parsing: keep only the chosen regions (skin, eyes, …). Runs on the swapped crop."""

    def __init__(self, model_path: str | Path, regions: Sequence[str] = tuple(REGION_CLASSES),
                 sessions: SessionFactory | None = None) -> None:
        unknown = [r for r in regions if r not in REGION_CLASSES]
        if unknown:
            raise SwapperError(f"unknown face region {unknown[0]!r}; choose from {', '.join(REGION_CLASSES)}")
        self.model_path = Path(model_path)
        self.session = (sessions or SessionFactory()).create(self.model_path)
        self.input_name, shape = _check_model(self.session.get_inputs(), self.model_path, 4)
        self.size = shape[2] if isinstance(shape[2], int) else 512  # NCHW
        self.classes = np.array(sorted({c for r in regions for c in REGION_CLASSES[r]}), dtype=np.int64)

    def mask(self, crop: np.ndarray) -> np.ndarray:
        height, width = crop.shape[:2]
        rgb = cv2.resize(crop, (self.size, self.size))[:, :, ::-1].astype(np.float32) / 255.0
        blob = ((rgb - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)[None].astype(np.float32)
        logits = np.asarray(self.session.run(None, {self.input_name: blob})[0])[0]
        keep = np.isin(logits.argmax(axis=0), self.classes).astype(np.float32)
        keep = cv2.GaussianBlur(cv2.resize(keep, (width, height)).clip(0.5, 1), (0, 0), 5)
        return ((keep.clip(0.5, 1) - 0.5) * 2).astype(np.float32)


# ── skin and features from the 68 landmarks (CPU, no model) ───────────────────────────────────
# Colour statistics are learnt from three patches at the face centre (both cheeks, the nose),
# which are skin on nearly every face; hair, glasses rims and background differ from them in
# chroma or lightness. Lightness gets a wide tolerance: a forehead is often lit unlike a cheek.
SKIN_FULL, SKIN_NONE = 2.5, 4.0  # Mahalanobis distance: ≤ FULL is skin, ≥ NONE is not (soft between)
INNER_MOUTH = np.r_[60:68]
LEFT_EYE, RIGHT_EYE = np.r_[36:42], np.r_[42:48]
BROW_BAND = 0.06  # share of the face size the face proper reaches above the brow points
RIM_DEPTH = (15.0, 35.0)  # grey levels a rim lies under the skin round it: from here it counts, to here fully
SKIN_WORK_SIDE = 64  # the skin estimate runs on the face rectangle shrunk to this side (it is smooth anyway)


def shrink(image: np.ndarray, side: int, border: int = cv2.BORDER_REPLICATE) -> tuple[np.ndarray, int]:
    """(`image` averaged over k×k blocks, k) with k the least whole factor that brings its longer
    side to `side` or less. The edges are padded to whole blocks first: OpenCV's area resize by
    a whole factor costs a third of one by a fractional factor (0.06 against 0.2 ms on a 1080p face).
    """
    height, width = image.shape[:2]
    k = max(1, -(-max(height, width) // side))
    if k == 1:
        return image, 1
    pad_y, pad_x = -height % k, -width % k
    if pad_y or pad_x:
        image = cv2.copyMakeBorder(image, 0, pad_y, 0, pad_x, border, value=0)
    small = cv2.resize(image, ((width + pad_x) // k, (height + pad_y) // k), interpolation=cv2.INTER_AREA)
    return small, k


def grow(small: np.ndarray, k: int, shape: tuple[int, int]) -> np.ndarray:
    """`shrink`'s inverse for a smooth picture: back to k× (bilinear), cut to `shape`."""
    if k == 1:
        return small
    big = cv2.resize(small, (small.shape[1] * k, small.shape[0] * k), interpolation=cv2.INTER_LINEAR)
    return big[:shape[0], :shape[1]]


def grow_part(small: np.ndarray, k: int, part: tuple[int, int, int, int]) -> np.ndarray:
    """The (x, y, w, h) rectangle of `grow(small, k, …)`, growing only the cells round it (a cell
    of margin keeps the bilinear values those of the whole picture)."""
    x, y, w, h = part
    if k == 1:
        return np.ascontiguousarray(small[y:y + h, x:x + w])
    rows, columns = small.shape[:2]
    y0, x0 = max(0, y // k - 1), max(0, x // k - 1)
    y1, x1 = min(rows, (y + h) // k + 2), min(columns, (x + w) // k + 2)
    big = cv2.resize(small[y0:y1, x0:x1], ((x1 - x0) * k, (y1 - y0) * k), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(big[y - y0 * k:y - y0 * k + h, x - x0 * k:x - x0 * k + w])


def face_size(landmarks: np.ndarray) -> float:
    points = np.asarray(landmarks, np.float32)
    return float(max((points.max(axis=0) - points.min(axis=0)).max(), 1.0))


def skin_samples(lab: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(N, 3) Lab pixels of the cheek and nose patches of a face (landmarks in `lab`'s pixels)."""
    p = np.asarray(landmarks, np.float32)
    centres = [(p[2] + p[31] + p[41]) / 3, (p[14] + p[35] + p[46]) / 3, (p[28] + p[29]) / 2]
    radius = max(1, int(round(0.05 * face_size(p))))
    height, width = lab.shape[:2]
    patches = []
    for cx, cy in centres:
        x, y = int(round(cx)), int(round(cy))
        x0, y0, x1, y1 = max(0, x - radius), max(0, y - radius), min(width, x + radius + 1), min(height, y + radius + 1)
        if x1 > x0 and y1 > y0:
            patches.append(lab[y0:y1, x0:x1].reshape(-1, 3))
    return np.concatenate(patches).astype(np.float32) if patches else np.zeros((0, 3), np.float32)


@dataclass
class SkinModel:
    """A face's skin colour: a Gaussian in Lab (uint8 levels), and what it was fitted on."""

    centre: np.ndarray  # (3,) float32
    spread: np.ndarray  # (3,) float32, floors applied
    sample_mean: np.ndarray  # (3,) mean of the patches it was fitted on (a light change moves it)
    size: float  # the face size it was fitted at (px of the picture it ran on)

    def fits(self, samples: np.ndarray, size: float) -> bool:
        """Still this face's skin: the same size within 15 %, its patches' mean within half a spread."""
        if len(samples) < 4 or abs(size - self.size) > 0.15 * self.size:
            return False
        return bool((np.abs(samples.mean(axis=0) - self.sample_mean) < 0.5 * self.spread).all())


def fit_skin(samples: np.ndarray, size: float) -> SkinModel | None:
    """The skin model of the face-centre patches, fitted robustly (median, MAD); None with too few."""
    if len(samples) < 4:
        return None
    centre = np.median(samples, axis=0)
    spread = 1.4826 * np.median(np.abs(samples - centre), axis=0)
    # floors in uint8 Lab levels: a flat-lit cheek must not make the model razor-thin
    spread = np.maximum(spread, (14.0, 3.5, 3.5))
    spread[0] = max(spread[0] * 2.5, 28.0)  # lightness: shading across the face is not a colour change
    return SkinModel(centre.astype(np.float32), spread.astype(np.float32), samples.mean(axis=0), size)


@numba.njit(cache=True, nogil=True)
def _likelihood(lab: np.ndarray, centre: np.ndarray, spread: np.ndarray, full: float, none: float) -> np.ndarray:
    height, width = lab.shape[:2]
    out = np.empty((height, width), np.float32)
    for y in range(height):
        for x in range(width):
            distance = 0.0
            for c in range(3):
                d = (np.float32(lab[y, x, c]) - centre[c]) / spread[c]
                distance += d * d
            value = (none - np.sqrt(distance)) / (none - full)
            out[y, x] = min(max(value, 0.0), 1.0)
    return out


def skin_likelihood(lab: np.ndarray, landmarks: np.ndarray, model: SkinModel | None = None) -> np.ndarray:
    """h×w float32 in [0, 1]: how much each pixel of `lab` (uint8 Lab) looks like this face's skin.

    The model is a Gaussian in Lab fitted robustly (median, MAD) to the face-centre patches
    (or `model`, one fitted earlier); the answer ramps softly between SKIN_FULL and SKIN_NONE,
    so one noisy pixel or a landmark that moves a little changes the mask only a little.
    """
    if model is None:
        model = fit_skin(skin_samples(lab, landmarks), face_size(landmarks))
    if model is None:
        return np.ones(lab.shape[:2], np.float32)
    return _likelihood(np.ascontiguousarray(lab), model.centre, model.spread, SKIN_FULL, SKIN_NONE)


def polygon_mask(points: np.ndarray, shape: tuple[int, int], blur: float = 0.0) -> np.ndarray:
    """h×w float32: 1 inside the convex hull of `points`, its edge softened by a Gaussian of `blur` px."""
    mask = np.zeros(shape, np.float32)
    hull = cv2.convexHull(np.round(np.asarray(points, np.float32) * 16).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1.0, lineType=cv2.LINE_AA, shift=4)
    return cv2.GaussianBlur(mask, (0, 0), blur) if blur > 0 else mask


def features_mask(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The face proper, taken whole, skin or not: the hull of the 68 points (brows, eyes, nose,
    mouth and the cheeks within the jaw line: the face's shape, which a recogniser reads), its
    top raised by BROW_BAND so the brows lie wholly inside (the brow points run along the brows'
    middle: on the hull's edge half a brow would be left to the skin test, and a brow is not skin)."""
    p = np.asarray(landmarks, np.float32)[:68]
    size = face_size(p)
    up = p[27] - p[8]
    up = up / max(float(np.linalg.norm(up)), 1e-3)
    return polygon_mask(np.concatenate([p, p[17:27] + up * np.float32(BROW_BAND * size)]), shape, 0.02 * size)


def glasses_rims(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
    """h×w float32 in [0, 1]: the rims of glasses worn on this face (`image` BGR uint8), or None
    when it wears none.

    A rim is a thin line darker than the skin on both of its sides: a morphological black-hat
    (closing minus picture) a little wider than a rim finds it. The face's own thin dark lines
    (lashes, lid creases, brows, nostrils, the lips' parting) are the same kind of line, so this
    looks for glasses only where a frame must be: its bridge over the nose between the eyes. A
    face without a line there gets None (nothing of its own is touched); one with it gets the
    lines round the eyes, their lashes and brows left out.
    """
    p = np.asarray(landmarks, np.float32)[:68]
    size = face_size(p)
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    side = max(3, int(round(0.08 * size)) | 1)
    depth = cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side)))
    lines = np.clip((depth.astype(np.float32) - RIM_DEPTH[0]) / (RIM_DEPTH[1] - RIM_DEPTH[0]), 0.0, 1.0)
    # the bridge: across the nose between the inner eye corners, from a little above to a little under them
    x0, x1 = sorted((int(round(p[39, 0])), int(round(p[42, 0]))))
    y0 = int(round(min(p[39, 1], p[42, 1], p[27, 1]) - 0.06 * size))
    y1 = int(round(max(p[39, 1], p[42, 1]) + 0.03 * size))
    bridge = lines[max(0, y0):max(0, y1), max(0, x0):max(0, x1)]
    # a frame's bridge crosses every column between the eyes
    if bridge.size == 0 or (bridge.max(axis=0) > 0.5).mean() < 0.8:
        return None
    shape = image.shape[:2]
    keep = np.zeros(shape, np.uint8)
    up = p[27] - p[8]
    up = up / max(float(np.linalg.norm(up)), 1e-3)
    for points in (p[LEFT_EYE], p[RIGHT_EYE], p[48:60], p[31:36],
                   *(np.concatenate([brow - up * np.float32(0.02 * size), brow + up * np.float32(BROW_BAND * size)])
                     for brow in (p[17:22], p[22:27]))):
        cv2.fillConvexPoly(keep, cv2.convexHull(np.round(points * 16).astype(np.int32)), 1, cv2.LINE_8, 4)
    grow_by = max(1, int(round(0.025 * size)))
    keep = cv2.dilate(keep, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow_by + 1, 2 * grow_by + 1)))
    rims = lines * polygon_mask(p, shape) * (1 - keep)
    grow_by = max(1, int(round(0.015 * size)))  # the rim's soft edge too
    rims = cv2.dilate(rims, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow_by + 1, 2 * grow_by + 1)))
    return cv2.GaussianBlur(rims, (0, 0), max(0.5, 0.01 * size))


def inner_face(landmarks: np.ndarray, shape: tuple[int, int], side: int = 48) -> np.ndarray:
    """h×w float32: 1 on the inner face (the hull of brows, eyes, nose and mouth), fading to 0
    across its edge over about a tenth of the face size. Drawn at `side` pixels and grown back
    (it is smooth), so it costs the same whatever the face size."""
    height, width = shape
    k = max(1, -(-max(height, width) // side))
    small = (-(-height // k), -(-width // k))
    points = np.asarray(landmarks, np.float32)[17:68] * np.float32(1.0 / k) + np.float32(0.5 / k - 0.5)
    inner = polygon_mask(points, small, 0.06 * face_size(points))
    return np.ascontiguousarray(grow(inner, k, shape))


def skin_gate(image: np.ndarray, landmarks: np.ndarray, lab: bool = False) -> np.ndarray:
    """h×w float32: the face proper whole, and outside it (forehead, jaw edge) only the face's own skin.

    `image` is BGR uint8 (Lab uint8 with lab=True). It runs on a copy shrunk to SKIN_WORK_SIDE
    (the gate is smooth anyway) and is resized back once: a small fixed cost per face.
    """
    gate, _ = live_skin_gate(image, landmarks, lab)
    return gate


def live_skin_gate(image: np.ndarray, landmarks: np.ndarray, lab: bool = False, model: SkinModel | None = None,
                   part: tuple[int, int, int, int] | None = None) -> tuple[np.ndarray, SkinModel | None]:
    """`skin_gate`, and the skin model it used: `model` while it still fits this face (the same
    size and light), else one fitted afresh (a face followed from frame to frame keeps its
    model, which saves fitting it and keeps the gate steady). part (x, y, w, h): the gate of
    that rectangle of `image` alone (the same values, grown back for those pixels only)."""
    small, k = shrink(image, SKIN_WORK_SIDE)
    points = np.asarray(landmarks, np.float32)[:68] * np.float32(1.0 / k) + np.float32(0.5 / k - 0.5)
    small_lab = small if lab else cv2.cvtColor(small, cv2.COLOR_BGR2LAB)
    samples = skin_samples(small_lab, points)
    size = face_size(points)
    if model is None or not model.fits(samples, size):
        model = fit_skin(samples, size)
    skin = skin_likelihood(small_lab, points, model) if model is not None else np.ones(small.shape[:2], np.float32)
    gate = cv2.GaussianBlur(np.maximum(features_mask(points, skin.shape), skin), (0, 0), 1.0)
    if part is None:
        return np.ascontiguousarray(grow(gate, k, image.shape[:2])), model
    return grow_part(gate, k, part), model


def mouth_opening(landmarks: np.ndarray) -> float:
    """Gap between the inner lips as a share of the face size (0: closed)."""
    p = np.asarray(landmarks, np.float32)
    gap = np.sqrt(((p[[62, 61, 63]] - p[[66, 67, 65]]) ** 2).sum(axis=1)).mean()
    return float(gap / face_size(p))


def mouth_mask(landmarks: np.ndarray, shape: tuple[int, int], open_from: float = 0.04, open_full: float = 0.08
               ) -> np.ndarray | None:
    """h×w float32: the live mouth's interior (teeth, tongue) to keep, or None for a closed mouth.

    Its weight ramps from 0 at an opening of `open_from` to 1 at `open_full` (shares of the
    face size), so a mouth that starts to open is never switched on in one frame.
    """
    weight = float(np.clip((mouth_opening(landmarks) - open_from) / (open_full - open_from), 0.0, 1.0))
    if weight <= 0.0:
        return None
    size = face_size(landmarks)
    lips = np.asarray(landmarks, np.float32)[INNER_MOUTH]
    # a little beyond the inner lip line, so the swap's lip edge does not cover the teeth
    return kept_region([lips], shape, max(1, int(round(0.01 * size))), max(0.5, 0.01 * size), weight)


def eyes_mask(landmarks: np.ndarray, shape: tuple[int, int], grow_by: float = 0.2) -> np.ndarray | None:
    """h×w float32: both live eyes with their lids and lashes, to keep (blink and gaze stay live).

    Each eye's six points, grown by `grow_by` of that eye's width: an open eye keeps its iris
    and lid margins, a closed one the band of its shut lids. None when the eyes are off the crop.
    """
    p = np.asarray(landmarks, np.float32)
    eyes = [p[LEFT_EYE], p[RIGHT_EYE]]
    width = float(np.mean([np.linalg.norm(e[3] - e[0]) for e in eyes]))
    if width < 1.0:
        return None
    return kept_region(eyes, shape, max(1, int(round(grow_by * width))), max(0.5, 0.08 * width), 1.0)


def kept_region(polygons: list[np.ndarray], shape: tuple[int, int], grow_by: int, sigma: float, weight: float
                ) -> np.ndarray | None:
    """h×w float32: `polygons` (convex hulls) grown by `grow_by` px, their outer edge softened by
    `sigma`, the interior at `weight`; None when none of them lies on the picture."""
    height, width = shape
    out = None
    pad = grow_by + int(np.ceil(4 * sigma)) + 2
    for points in polygons:
        # drawn in a window round the feature alone (a tenth of the crop's area, a tenth of the cost)
        x0, y0 = (max(0, int(v) - pad) for v in np.floor(points.min(axis=0)))
        x1 = min(width, int(np.ceil(points[:, 0].max())) + pad + 1)
        y1 = min(height, int(np.ceil(points[:, 1].max())) + pad + 1)
        if x1 <= x0 or y1 <= y0:
            continue
        inner = polygon_mask(points - (x0, y0), (y1 - y0, x1 - x0))
        grown = cv2.dilate(inner, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)), iterations=grow_by)
        # the blur only softens the outer edge: the interior stays fully live
        soft = np.minimum(cv2.GaussianBlur(grown, (0, 0), sigma) * np.float32(1.5), np.float32(1.0))
        soft *= np.float32(weight)
        out = np.zeros(shape, np.float32) if out is None else out
        np.maximum(out[y0:y1, x0:x1], soft, out=out[y0:y1, x0:x1])
    return out
