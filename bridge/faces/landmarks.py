"""68-point landmarkers: fill `Face.landmarks68`, `Face.landmark_score` and (from the 68) `Face.kps5`.

- `Landmarker68`: the light CPU model (fr_landmark.onnx, 64×64 grey crop of the square box).
  It gives no confidence, so the landmark score is its agreement with itself on the
  mirrored crop: a real, frontal-enough face gives the same points both ways, a hand or a
  blurred profile does not.
- `Fan68Landmarker`: 2dfan4 (256×256 crop, heatmaps); the score is the mean heatmap peak.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from bridge.faces.align import kps5_from_68
from bridge.faces.detect import as_image
from bridge.runtime.catalog import open_model
from bridge.runtime.onnx import SessionFactory
from bridge.types import Face, Frame

# iBUG 68 point indices after a horizontal mirror (jaw, brows, nose, eyes, mouth).
MIRROR_68 = np.array(
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65])


def square_box(box: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """The square of side max(w, h)·scale centred on the box."""
    x0, y0, x1, y1 = [float(v) for v in box[:4]]
    side = max(x1 - x0, y1 - y0) * scale
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], np.float32)


def crop_square(image: np.ndarray, square: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Resample `square` (may leave the frame; borders replicate) to size²: (crop, 2×3 frame→crop)."""
    side = float(square[2] - square[0])
    scale = size / max(side, 1e-6)
    matrix = np.array([[scale, 0, -square[0] * scale], [0, scale, -square[1] * scale]], np.float32)
    crop = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    return crop, matrix


class Landmarker68:
    """The CPU 68-point model (fr_landmark.onnx): the box's square crop, 64² grey, x/256.

    `box_scale` enlarges the square around the detector's box (1.0 matches ULFD boxes).
    `check_mirror` runs the crop mirrored as well to score the landmarks (twice the cost,
    about 0.3 ms more per face).
    """

    reads_grey = True  # `landmark` takes the frame's grey image as well (the stage shares its one)

    def __init__(self, model_path: str | Path, *, box_scale: float = 1.0, check_mirror: bool = True,
                 sessions: SessionFactory | None = None) -> None:
        self.session, self.entry = open_model(model_path, sessions)
        self.input_name = self.session.get_inputs()[0].name
        self.size = int(self.session.get_inputs()[0].shape[2])
        self.box_scale = box_scale
        self.check_mirror = check_mirror

    def _points(self, grey: np.ndarray) -> np.ndarray:
        blob = (grey.astype(np.float32) / 256.0)[None, None]
        (out,) = self.session.run(None, {self.input_name: blob})
        return out.reshape(68, 2) * self.size

    def landmark(self, image: np.ndarray | Frame, faces: list[Face]) -> list[Face]:
        """Fill landmarks68, landmark_score and kps5 of each face (in place; returned for chaining)."""
        image = as_image(image)
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        for face in faces:
            crop, matrix = crop_square(grey, square_box(face.box, self.box_scale), self.size)
            points = self._points(crop)
            if self.check_mirror:
                mirrored = self._points(np.ascontiguousarray(crop[:, ::-1]))
                mirrored[:, 0] = self.size - mirrored[:, 0]
                mirrored = mirrored[MIRROR_68]
                # Mean disagreement in crop widths: faces measure 0.005–0.02 (heavy blur up to
                # 0.04), background patches 0.04–0.1; 1.0 up to 0.02, falling to 0 at 0.05.
                error = float(np.linalg.norm(points - mirrored, axis=1).mean()) / self.size
                face.landmark_score = float(np.clip(1.0 - (error - 0.02) / 0.03, 0.0, 1.0))
                points = (points + mirrored) / 2
            else:
                face.landmark_score = 1.0
            inverse = cv2.invertAffineTransform(matrix)
            face.landmarks68 = (points @ inverse[:, :2].T + inverse[:, 2]).astype(np.float32)
            face.kps5 = kps5_from_68(face.landmarks68)
        return faces

    __call__ = landmark


class Fan68Landmarker:
    """2dfan4: the box scaled to 195/max(w,h) centred in 256², BGR/255; 68 points + heatmap score.

    `min_score`: below it the face keeps the detector's five points rather than the 68→5 ones.
    `dark_clahe`: equalise lightness (CLAHE on L) when the crop is dark, as the model saw few dark faces.
    """

    def __init__(self, model_path: str | Path, *, min_score: float = 0.5, dark_clahe: bool = True,
                 sessions: SessionFactory | None = None) -> None:
        self.session, self.entry = open_model(model_path, sessions)
        self.input_name = self.session.get_inputs()[0].name
        self.size = 256
        self.min_score = min_score
        self.dark_clahe = dark_clahe

    def _crop(self, image: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w, h = float(box[2] - box[0]), float(box[3] - box[1])
        scale = 195.0 / max(w, h, 1e-6)
        tx = (self.size - (box[2] + box[0]) * scale) / 2
        ty = (self.size - (box[3] + box[1]) * scale) / 2
        matrix = np.array([[scale, 0, tx], [0, scale, ty]], np.float32)
        crop = cv2.warpAffine(image, matrix, (self.size, self.size), borderMode=cv2.BORDER_REPLICATE)
        if self.dark_clahe and crop.mean() < 30:
            lab = cv2.cvtColor(crop, cv2.COLOR_BGR2Lab)
            lab[:, :, 0] = cv2.createCLAHE(clipLimit=2).apply(lab[:, :, 0])
            crop = cv2.cvtColor(lab, cv2.COLOR_Lab2BGR)
        return crop, matrix

    def landmark(self, image: np.ndarray | Frame, faces: list[Face]) -> list[Face]:
        image = as_image(image)
        for face in faces:
            crop, matrix = self._crop(image, face.box)
            blob = (crop.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
            points, heatmaps = self.session.run(None, {self.input_name: blob})[:2]
            points68, score = decode_2dfan4(points, heatmaps)
            inverse = cv2.invertAffineTransform(matrix)
            face.landmarks68 = (points68 @ inverse[:, :2].T + inverse[:, 2]).astype(np.float32)
            face.landmark_score = score
            if score >= self.min_score or face.kps5 is None:
                face.kps5 = kps5_from_68(face.landmarks68)
        return faces

    __call__ = landmark


def decode_2dfan4(points: np.ndarray, heatmaps: np.ndarray) -> tuple[np.ndarray, float]:
    """2dfan4 outputs → (68,2) points in 256² crop pixels and a score in [0,1].

    Points come in 64-grid units (×4 to the crop); the score is the mean heatmap peak mapped
    from [0, 0.9] to [0, 1].
    """
    crop_points = np.asarray(points).reshape(68, -1)[:, :2].astype(np.float32) * 4.0
    peaks = np.asarray(heatmaps).reshape(68, -1).max(axis=1)
    return crop_points, float(np.clip(peaks.mean() / 0.9, 0.0, 1.0))
