"""Face boxes compared: IoU between every box of two sets (association, scoring, the look-again crops),
and box centres: whose lies in which box."""

from __future__ import annotations

import numpy as np


def box_centre(box: np.ndarray) -> np.ndarray:
    """The centre (x, y) of an (x0, y0, x1, y1) box."""
    return (np.asarray(box[:2]) + np.asarray(box[2:])) / 2


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between every box of `a` (N, 4) and of `b` (M, 4) → (N, M)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    ix0 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy0 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix1 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.maximum(ix1 - ix0, 0) * np.maximum(iy1 - iy0, 0)  # np.clip's numbers, without its wrapper's cost
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def centres_inside(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per box of `a` (N, 4): whether its centre lies in any box of `b` (M, 4), edges included."""
    a = np.asarray(a, np.float32).reshape(-1, 4)
    b = np.asarray(b, np.float32).reshape(-1, 4)
    cx, cy = (a[:, 0] + a[:, 2]) / 2, (a[:, 1] + a[:, 3]) / 2
    return ((cx[:, None] >= b[None, :, 0]) & (cx[:, None] <= b[None, :, 2])
            & (cy[:, None] >= b[None, :, 1]) & (cy[:, None] <= b[None, :, 3])).any(axis=1)
