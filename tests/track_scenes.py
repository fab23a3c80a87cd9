"""Pictures and faces the tracker's rule tests share: a textured picture that flow and face
patches can hold on to, a face given by its box, and a test person's photo at a face height."""

from __future__ import annotations

import cv2
import numpy as np

from bridge.types import Face
from tests.suite_clips import photo


def textured(seed: int = 0, size: tuple[int, int] = (320, 240)) -> np.ndarray:
    """Fine random texture, blurred a little (flow and patches have something to hold)."""
    small = np.random.default_rng(seed).integers(0, 255, (80, 107, 3), dtype=np.uint8)
    return cv2.GaussianBlur(cv2.resize(small, size, interpolation=cv2.INTER_NEAREST), (0, 0), 1.0)


def boxed_face(box: tuple[float, float, float, float], landmarks: float, outline: bool = False) -> Face:
    """A face at `box` with five keypoints where a face's are, the landmarker's score
    `landmarks`, and (outline) 68 landmarks spread over the box."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    kps = np.array([[x0 + 0.3 * w, y0 + 0.4 * h], [x0 + 0.7 * w, y0 + 0.4 * h], [x0 + 0.5 * w, y0 + 0.6 * h],
                    [x0 + 0.35 * w, y0 + 0.8 * h], [x0 + 0.65 * w, y0 + 0.8 * h]], np.float32)
    lm = np.stack([np.linspace(x0, x1, 68), np.linspace(y0, y1, 68)], axis=1).astype(np.float32) if outline else None
    return Face(box=np.array(box, np.float32), score=0.9, kps5=kps, landmarks68=lm, landmark_score=landmarks)


def person_scene(person, height: float = 130.0, border: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The person's photo scaled so the face is `height` px tall, padded; (image, box, kps5)."""
    image = photo(person.photo)
    box, kps = np.float32(person.box), np.float32(person.kps5)
    scale = height / (box[3] - box[1])
    image = cv2.copyMakeBorder(cv2.resize(image, None, fx=scale, fy=scale), border, border, border, border,
                               cv2.BORDER_REPLICATE)
    return image, box * scale + border, kps * scale + border
