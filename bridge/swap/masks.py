"""Face masks in crop pixels (models.md §6): box, occlusion (xseg), region (bisenet).

Every mask is h×w float32 in [0, 1]; they are combined with an element-wise minimum, so
each one can only take pixels away (a hand in front of the face, hair, the crop border).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
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
