"""The plain IoU tracker: the baseline the benchmark compares the real tracker against.

Each detection goes to the previous frame's track it overlaps most (Hungarian on IoU);
no flow, no appearance, no coasting: a missed detection ends the track.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from bridge.faces.boxes import iou_matrix
from bridge.types import Face, Track


class IouTracker:
    """iou_gate: least IoU with last frame's box to keep an id."""

    def __init__(self, iou_gate: float = 0.3) -> None:
        self.iou_gate = iou_gate
        self._tracks: list[Track] = []
        self._next_id = 1

    def update(self, image_bgr: np.ndarray, faces: list[Face] | None, now: float) -> list[Track]:
        if faces is None:  # no detection: show the last boxes where they were
            return self._tracks
        prev = self._tracks
        iou = iou_matrix(np.array([t.face.box for t in prev]).reshape(-1, 4), np.array([f.box for f in faces]).reshape(-1, 4))
        pairs = {}
        if iou.size:
            rows, cols = linear_sum_assignment(-iou)
            pairs = {c: prev[r] for r, c in zip(rows, cols) if iou[r, c] >= self.iou_gate}
        out = []
        for j, f in enumerate(faces):
            if j in pairs:
                out.append(Track(id=pairs[j].id, face=f, age=pairs[j].age + 1))
            else:
                out.append(Track(id=self._next_id, face=f, age=1))
                self._next_id += 1
        self._tracks = out
        return out
