"""Alignment geometry: five-point templates, similarity transforms, warps (docs/models.md §7).

Every model that looks at a face crop (recogniser, swappers, enhancers) expects the face
placed on a fixed five-point template. Points are in image order: the eye on the image
left first, then the other eye, nose tip, mouth corner on the image left, the other corner.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

TemplateName = Literal["arcface_112_v1", "arcface_112_v2", "arcface_128", "ffhq_512"]

# Normalised to [0, 1]; multiply by the crop size.
TEMPLATES: dict[str, np.ndarray] = {
    "arcface_112_v1": np.array(
        [[0.35473214, 0.45658929], [0.64526786, 0.45658929], [0.50000000, 0.61154464],
         [0.37913393, 0.77687500], [0.62086607, 0.77687500]], dtype=np.float32),
    "arcface_112_v2": np.array(
        [[0.34191607, 0.46157411], [0.65653393, 0.45983393], [0.50022500, 0.64050536],
         [0.37097589, 0.82469196], [0.63151696, 0.82325089]], dtype=np.float32),
    "arcface_128": np.array(
        [[0.36167656, 0.40387734], [0.63696719, 0.40235469], [0.50019687, 0.56044219],
         [0.38710391, 0.72160547], [0.61507734, 0.72034453]], dtype=np.float32),
    "ffhq_512": np.array(
        [[0.37691676, 0.46864664], [0.62285697, 0.46912813], [0.50123859, 0.61331904],
         [0.39308822, 0.72541100], [0.61150205, 0.72490465]], dtype=np.float32),
}


class AlignmentError(ValueError):
    """Five points that cannot be mapped onto a template (one readable line)."""


def template_points(template: str | np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """The template's five points in pixels of a crop of `size` (int or (width, height))."""
    if isinstance(template, str):
        if template not in TEMPLATES:
            raise AlignmentError(f"unknown alignment template {template!r}; known: {', '.join(TEMPLATES)}")
        points = TEMPLATES[template]
    else:
        points = np.asarray(template, dtype=np.float32).reshape(5, 2)
    width, height = (size, size) if isinstance(size, int) else size
    return (points * np.array([width, height], dtype=np.float32)).astype(np.float32)


def estimate_similarity(kps5: np.ndarray, template: str | np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """2×3 similarity matrix mapping frame points `kps5` onto the template scaled to `size`."""
    source = np.asarray(kps5, dtype=np.float32).reshape(-1, 2)
    if source.shape != (5, 2) or not np.all(np.isfinite(source)):
        raise AlignmentError(f"alignment needs five finite (x, y) points, got shape {np.asarray(kps5).shape}")
    # A large RANSAC threshold keeps all five points as inliers (a plain least-squares fit)
    # while staying robust to one wildly wrong point.
    matrix, _ = cv2.estimateAffinePartial2D(source, template_points(template, size),
                                            method=cv2.RANSAC, ransacReprojThreshold=100)
    if matrix is None:
        raise AlignmentError("five points are degenerate (all in one place): no similarity transform")
    return matrix.astype(np.float32)


def warp_to_template(image: np.ndarray, kps5: np.ndarray, template: str | np.ndarray,
                     size: int | tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The face cut out and placed on the template: (crop of `size`, the 2×3 matrix used)."""
    matrix = estimate_similarity(kps5, template, size)
    width, height = (size, size) if isinstance(size, int) else size
    crop = cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_LINEAR)
    return crop, matrix


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2×3 matrix to (N, 2) points."""
    points = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    return (points @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def invert(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a 2×3 affine matrix (crop → frame)."""
    return cv2.invertAffineTransform(matrix.astype(np.float64)).astype(np.float32)


def kps5_from_68(landmarks68: np.ndarray) -> np.ndarray:
    """Five alignment points from 68: eye centres (36–41, 42–47), nose tip 30, mouth corners 48, 54."""
    points = np.asarray(landmarks68, dtype=np.float32).reshape(68, 2)
    return np.stack([
        points[36:42].mean(axis=0),
        points[42:48].mean(axis=0),
        points[30],
        points[48],
        points[54],
    ]).astype(np.float32)
