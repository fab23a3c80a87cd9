"""warp68: the classic CPU face swapper (no neural weights).

The target's face texture is cut into triangles (a Delaunay triangulation of its 68
landmarks, computed once per target) and each triangle is affinely warped onto the same
three landmarks of the tracked face. The warped face is colour matched to the skin it
covers (mean/std per channel in LAB inside the mask) and blended with a feathered hull mask.

Speed: instead of one `cv2.warpAffine` per triangle (`piecewise_affine_naive`, kept for the
benchmark and as the reference in tests), the fast path labels every crop pixel with its
triangle (`cv2.fillConvexPoly`, one call per triangle), builds one pair of remap tables with
a numba kernel (per-triangle affine applied per pixel), and samples the texture with a
single `cv2.remap`.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numba
import numpy as np
from scipy.spatial import Delaunay

from bridge.swap.base import CropGeometry, FaceCrop, Prepared, SwapOutput, SwapperError, TargetFace, loop_batch
from bridge.swap.colour import match_colour

PREPARE_VERSION = "warp68-1"  # bump when the prepared arrays change meaning
# prepared["shape"] holds the target's *extended* shape (68 + forehead + jaw points) in texture pixels.


def triangulate(points: np.ndarray) -> np.ndarray:
    """(T, 3) int32 vertex indices of a Delaunay triangulation of (N, 2) points."""
    try:
        return Delaunay(np.asarray(points, dtype=np.float64)).simplices.astype(np.int32)
    except Exception as error:  # scipy's QhullError: all points on a line, too few points
        raise SwapperError(f"cannot triangulate the target's 68 landmarks ({error.__class__.__name__})") from None


def extend_landmarks(points: np.ndarray, forehead: float = 0.45, jaw: float = 0.08) -> np.ndarray:
    """The 68 points plus 10 forehead points above the brows and the jaw line pushed outwards.

    The 68-point hull stops at the brows; a recogniser (and a viewer) also reads the forehead
    and the cheek edge, so both are covered. `forehead` and `jaw` are shares of the nose-bridge
    to chin distance; the same rule applied to target and tracked face keeps them consistent.
    """
    points = np.asarray(points, dtype=np.float32).reshape(68, 2)
    up = points[27] - points[8]
    height = float(np.linalg.norm(up))
    if height < 1e-3:
        return points
    centre = points[27:36].mean(axis=0)
    brows = points[17:27] + up / height * (forehead * height)
    jaw_line = points[0:17] + (points[0:17] - centre) * jaw
    return np.concatenate([points, brows, jaw_line]).astype(np.float32)


def triangle_affines(source: np.ndarray, destination: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(T, 2, 3) affine matrices mapping each destination triangle onto its source triangle."""
    dst = destination[triangles].astype(np.float64)  # (T, 3, 2)
    src = source[triangles].astype(np.float64)
    dst_h = np.concatenate([dst, np.ones((*dst.shape[:2], 1))], axis=2)  # (T, 3, 3)
    # A batched solve is far cheaper than pinv's batched SVD; pinv stays for collapsed
    # (zero-area) destination triangles, whose matrices it keeps finite (they cover no pixel).
    flat = np.abs(np.linalg.det(dst_h)) < 1e-6
    solved = np.empty_like(src)
    solved[~flat] = np.linalg.solve(dst_h[~flat], src[~flat])
    solved[flat] = np.linalg.pinv(dst_h[flat]) @ src[flat]
    return np.transpose(solved, (0, 2, 1)).astype(np.float32)


def triangle_labels(destination: np.ndarray, triangles: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """h×w int32 map: 1 + index of the triangle covering each pixel, 0 outside the face."""
    labels = np.zeros(shape, dtype=np.int32)
    # Sub-pixel vertices (shift 4) so adjacent triangles meet without gaps.
    fixed = np.round(destination * 16).astype(np.int32)
    for index, triangle in enumerate(triangles):
        cv2.fillConvexPoly(labels, fixed[triangle], index + 1, lineType=cv2.LINE_8, shift=4)
    return labels


@numba.njit(cache=True, nogil=True)
def _remap_tables(labels: np.ndarray, affines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    height, width = labels.shape
    map_x = np.full((height, width), -1.0, dtype=np.float32)
    map_y = np.full((height, width), -1.0, dtype=np.float32)
    for y in range(height):
        for x in range(width):
            label = labels[y, x]
            if label > 0:
                a = affines[label - 1]
                map_x[y, x] = a[0, 0] * x + a[0, 1] * y + a[0, 2]
                map_y[y, x] = a[1, 0] * x + a[1, 1] * y + a[1, 2]
    return map_x, map_y


def remap_tables_numpy(labels: np.ndarray, affines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same tables as the numba kernel, with vectorised NumPy (reference and fallback)."""
    height, width = labels.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    a = affines[np.maximum(labels - 1, 0)]  # (h, w, 2, 3)
    map_x = a[..., 0, 0] * xs + a[..., 0, 1] * ys + a[..., 0, 2]
    map_y = a[..., 1, 0] * xs + a[..., 1, 1] * ys + a[..., 1, 2]
    outside = labels == 0
    map_x[outside] = -1.0
    map_y[outside] = -1.0
    return map_x, map_y


def piecewise_affine(texture: np.ndarray, source: np.ndarray, destination: np.ndarray, triangles: np.ndarray,
                     shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Warp `texture` so its `source` points land on `destination`: (h×w×3 image, h×w int32 labels)."""
    labels = triangle_labels(destination, triangles, shape)
    map_x, map_y = _remap_tables(labels, triangle_affines(source, destination, triangles))
    warped = cv2.remap(texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return warped, labels


def piecewise_affine_naive(texture: np.ndarray, source: np.ndarray, destination: np.ndarray, triangles: np.ndarray,
                           shape: tuple[int, int]) -> np.ndarray:
    """The textbook version: one warpAffine + mask per triangle bounding rectangle (benchmark baseline)."""
    height, width = shape
    out = np.zeros((height, width, 3), dtype=np.uint8)
    for triangle in triangles:
        dst = destination[triangle].astype(np.float32)
        src = source[triangle].astype(np.float32)
        x, y, w, h = cv2.boundingRect(dst)
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
        if x1 <= x0 or y1 <= y0:
            continue
        local = dst - np.array([x0, y0], dtype=np.float32)
        matrix = cv2.getAffineTransform(local, src)
        patch = cv2.warpAffine(texture, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REPLICATE)
        mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
        cv2.fillConvexPoly(mask, np.round(local * 16).astype(np.int32), 1, lineType=cv2.LINE_8, shift=4)
        roi = out[y0:y1, x0:x1]
        np.copyto(roi, patch, where=mask[..., None].astype(bool))
    return out


def feathered_mask(labels: np.ndarray, feather: float) -> np.ndarray:
    """h×w float32 mask: 1 inside the face hull, fading to 0 at its edge over `feather`×face size."""
    hard = (labels > 0).astype(np.uint8)
    _, _, box_w, box_h = cv2.boundingRect(hard)
    if box_w == 0:
        return hard.astype(np.float32)
    size = max(box_w, box_h) - 1  # the extent between the outermost pixel centres
    radius = max(1, int(round(feather * size)))
    # Erode first so the fade happens inside the warped face, never over the texture's border.
    inner = cv2.erode(hard, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)))
    return cv2.GaussianBlur(inner.astype(np.float32), (0, 0), sigmaX=radius / 2.0 + 0.5)


class Warp68Swapper:
    """Classic piecewise-affine swap; the CPU default.

    feather: width of the mask's fade as a share of the face size (higher: softer seam,
    more of the original face shows at the edge).
    colour_match: match the warped face's LAB mean/std to the face it covers.
    """

    name = "warp68"

    def __init__(self, feather: float = 0.015, colour_match: bool = True, forehead: float = 0.45,
                 jaw: float = 0.08, margin: float = 0.4) -> None:
        self.feather = feather
        self.colour_match = colour_match
        self.forehead = forehead
        self.jaw = jaw
        # The crop must hold the extended shape (forehead points sit above the 68-point box).
        self.crop_geometry = CropGeometry("box", margin=margin)

    def cache_key(self) -> str:
        return f"{PREPARE_VERSION}-forehead{self.forehead}-jaw{self.jaw}"

    def prepare(self, target_faces: Sequence[TargetFace]) -> Prepared:
        """The first reference face's texture (box around its landmarks), its 68 points, and the triangulation."""
        for target_face in target_faces:
            if target_face.face.landmarks68 is not None:
                break
        else:
            raise SwapperError("warp68 needs 68-point landmarks of the target face; none were found")
        points = extend_landmarks(target_face.face.landmarks68, self.forehead, self.jaw)
        x0, y0 = np.floor(points.min(axis=0)).astype(int)
        x1, y1 = np.ceil(points.max(axis=0)).astype(int)
        grow = int(np.ceil(0.1 * max(x1 - x0, y1 - y0)))
        x0, y0, x1, y1 = x0 - grow, y0 - grow, x1 + grow, y1 + grow
        image = target_face.image
        height, width = image.shape[:2]
        # Landmarks of a tight portrait may fall outside the image: replicate its border there.
        padded = cv2.copyMakeBorder(image, max(0, -y0), max(0, y1 - height), max(0, -x0), max(0, x1 - width),
                                    cv2.BORDER_REPLICATE)
        texture = padded[y0 + max(0, -y0):y1 + max(0, -y0), x0 + max(0, -x0):x1 + max(0, -x0)].copy()
        shape = points - np.array([x0, y0], dtype=np.float32)
        return {"texture": texture, "shape": shape, "triangles": triangulate(shape)}

    def swap(self, crop: FaceCrop, prepared: Prepared) -> SwapOutput:
        if crop.landmarks68 is None:
            raise SwapperError("warp68 needs the tracked face's 68-point landmarks")
        height, width = crop.image.shape[:2]
        destination = extend_landmarks(crop.landmarks68, self.forehead, self.jaw)
        warped, labels = piecewise_affine(prepared["texture"], prepared["shape"], destination,
                                          prepared["triangles"], (height, width))
        inside = (labels > 0).astype(np.uint8)
        out = crop.image.copy()
        # only the face's bounding rectangle changes: colour matching is per pixel (plus
        # statistics inside the mask), so it runs there alone
        x, y, w, h = cv2.boundingRect(inside)
        face = (slice(y, y + h), slice(x, x + w))
        if self.colour_match:
            warped[face] = match_colour(warped[face], crop.image[face], inside[face])
        np.copyto(out[face], warped[face], where=inside[face][..., None].astype(bool))
        return SwapOutput(out, feathered_mask(labels, self.feather))

    def swap_batch(self, crops: Sequence[FaceCrop], prepared: Sequence[Prepared]) -> list[SwapOutput]:
        return loop_batch(self, crops, prepared)
