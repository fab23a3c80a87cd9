"""Is the face still there? The evidence a track needs on every frame no detection confirms it.

Flow alone can follow the background once a face has gone (its points slide onto the wall
behind), and then the swap is pasted where no face is: a ghost. So a coasting track is drawn
only while both hold:
- enough flow points agreed on its motion (the inliers of the similarity fit), and
- its face patch still looks like the face at its last detection: normalised
  cross-correlation of two small grey patches (the inner face, resampled to `PATCH` px).
And a track whose box is mostly outside the frame ends at once: its face has left.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

PATCH = 20  # side of the compared patch: enough for a face's layout, cheap at any size


def inside_fraction(box: np.ndarray, shape: tuple[int, ...]) -> float:
    """Share of the box's area inside the frame."""
    h, w = shape[:2]
    x0, y0, x1, y1 = (float(v) for v in box)
    inside = max(0.0, min(x1, w) - max(x0, 0.0)) * max(0.0, min(y1, h) - max(y0, 0.0))
    return inside / max(1.0, (x1 - x0) * (y1 - y0))


def face_patch(pyramid: list[np.ndarray], box: np.ndarray) -> np.ndarray | None:
    """The inner face (central 70 % of the box) as a PATCH×PATCH zero-mean unit-norm vector, read
    from the pyramid level nearest its size (no aliasing, few pixels); None if too flat to compare."""
    x0, y0, x1, y1 = np.asarray(box, np.float64).tolist()
    mx, my = (x1 - x0) * 0.15, (y1 - y0) * 0.15
    x0, y0, x1, y1 = x0 + mx, y0 + my, x1 - mx, y1 - my
    level = min(max(math.floor(math.log2(max(x1 - x0, 1.0) / PATCH)), 0), len(pyramid) - 1)
    k = float(2 ** level)
    sx, sy = PATCH / max((x1 - x0) / k, 1e-3), PATCH / max((y1 - y0) / k, 1e-3)
    matrix = np.float32([[sx, 0, -x0 / k * sx], [0, sy, -y0 / k * sy]])
    patch = cv2.warpAffine(pyramid[level], matrix, (PATCH, PATCH), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE).astype(np.float32).ravel()
    patch -= np.float32(patch.sum() / patch.size)
    norm = math.sqrt(float(np.dot(patch, patch)))
    return None if norm < 1e-3 * PATCH * PATCH else patch / np.float32(norm)


@dataclass
class Evidence:
    """The test a coasting track passes on each frame to stay on screen.

    min_inliers: least flow points that agree on the motion. Higher: blurred or tiny faces
        stop being drawn sooner; lower: more chance of following background.
    min_agreement: least NCC of the face patch with its last detected look. Higher: a face
        turning or half-hidden stops being drawn sooner; lower: ghosts linger longer.
    min_inside: a box with less than this share inside the frame has left it.
    """

    min_inliers: int = 5
    min_agreement: float = 0.5
    min_inside: float = 0.5

    def why_not(self, inliers: int | None, agreement: float | None, box: np.ndarray,
                shape: tuple[int, ...]) -> str | None:
        """None when the face is still there, else the reason it is not ("left", "flow", "look").
        inliers None: the box was predicted from the track's velocity, not moved by flow (blur
        defeated it): then the face patch alone must agree, so it cannot be skipped."""
        if inside_fraction(box, shape) < self.min_inside:
            return "left"
        if inliers is None:
            return "look" if agreement is None or agreement < self.min_agreement else None
        if inliers < self.min_inliers:
            return "flow"
        if agreement is not None and agreement < self.min_agreement:
            return "look"
        return None


def agreement(reference: np.ndarray | None, patch: np.ndarray | None) -> float | None:
    """NCC of two `face_patch` vectors; None without a reference (nothing to compare), 0 when the
    patch has gone flat (a plain wall where the face was)."""
    if reference is None:
        return None
    return 0.0 if patch is None else float(reference @ patch)
