"""What the CPU benchmark scripts start from: the CPU face models and the test photos."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from bridge.faces.detect import UlfdDetector
from bridge.faces.landmarks import Landmarker68
from bridge.runtime import assets

REPO = Path(__file__).resolve().parents[1]


@dataclass
class CpuKit:
    models: Path
    detector: UlfdDetector
    landmarker: Landmarker68
    group: np.ndarray  # t1.jpg: several faces
    portrait: np.ndarray  # one face, the usual target


def cpu_kit() -> CpuKit:
    """Fetch (once) and load the CPU detector and landmarker, and read the group photo and portrait."""
    models = REPO / "models"
    assets.fetch_cpu_models(models)
    photos = assets.fetch_photos()
    return CpuKit(models, UlfdDetector(models / "fr_detect.onnx"), Landmarker68(models / "fr_landmark.onnx"),
                  cv2.imread(str(photos["t1.jpg"])), cv2.imread(str(photos["Tom_Hanks_54745.png"])))


def letterboxed(image: np.ndarray, height: int, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """`image` fitted into a black 16:9 frame of `height` lines (faces scale with it)."""
    width = height * 16 // 9
    scale = min(width / image.shape[1], height / image.shape[0])
    resized = cv2.resize(image, None, fx=scale, fy=scale, interpolation=interpolation)
    frame = np.zeros((height, width, 3), np.uint8)
    y, x = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    frame[y:y + resized.shape[0], x:x + resized.shape[1]] = resized
    return frame
