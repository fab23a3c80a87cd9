"""Faces the pipeline knows are there but cannot swap: covered by the fallback, never shown.

A face half behind another is often not detected at all (the detector returns one box for the
pair), and its track is stopped as hidden. Yet the part beside the face in front still shows the
real person. While a shown face still covers such a hidden track's box, and enough of that box
shows beside it, the showing part is blurred (the swap fallback's look): the face in front keeps
its swap, and the face behind is never on air. Once the face in front has moved off it (the face
behind shows whole and the detector finds it again), or it stopped showing, the cover ends.
A cover is on air like a swap: it is in the frame's drawn faces and the status, state "fallback".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from bridge.track.association import covered
from bridge.types import Track


@dataclass
class HiddenCover:
    """min_behind: least share of the hidden box a shown face must still cover (less: the face
        in front has moved off, and the face behind is the detector's again).
    min_showing: least share of the hidden box that must show beside the faces in front (less:
        too little of it shows to be told, and a cover there would hide background).
    grace: frames hidden within which its cover may still begin (then only while it goes on).
    margin: share of the box added on each side (the head around the detected face).
    blur: Gaussian sigma as a share of the box width (the fallback's blur)."""

    min_behind: float = 0.15
    min_showing: float = 0.4
    margin: float = 0.2
    blur: float = 0.15
    grace: int = 3

    def __post_init__(self) -> None:
        self._seen: dict[int, int] = {}  # hidden track ids of the last frame: frames hidden so far
        self._covering: set[int] = set()  # those covered on the last frame

    def behind(self, hidden: list[Track], shown: list[Track], shape: tuple[int, ...]) -> list[Track]:
        """The hidden tracks to cover on this frame: behind a shown face, partly showing beside it,
        on every frame since its first `grace` frames hidden (a face that was hidden whole, or out
        from behind, a while has since moved: its last place is a guess, and the detector's turn;
        on the frame it was stopped the face in front may still be sliding over it)."""
        boxes = np.array([t.face.box for t in shown], np.float32).reshape(-1, 4)
        out = []
        seen = {t.id: self._seen.get(t.id, 0) + 1 for t in hidden}
        for t in hidden:
            if seen[t.id] > self.grace and t.id not in self._covering:
                continue
            box = np.asarray(t.face.box, np.float32)
            if not len(boxes) or covered(box, boxes) < self.min_behind:
                continue
            region = _clipped(box, shape)  # the box alone: its margin is hair and background
            if region is not None and self._free(region, shown).sum() >= self.min_showing * _area(box):
                out.append(t)
        self._seen, self._covering = seen, {t.id for t in out}
        return out

    def paint(self, image: np.ndarray, box: np.ndarray, front: list[Track]) -> None:
        """Blur `box` (grown by the margin), in place, except on the `front` faces (their swaps stay)."""
        region = self._region(np.asarray(box, np.float32), image.shape)
        if region is None:
            return
        mask = self._free(region, front)
        if not mask.any():
            return
        x0, y0, x1, y1 = region
        roi = image[y0:y1, x0:x1]
        sigma = max(1.0, self.blur * (x1 - x0))
        roi[mask] = cv2.GaussianBlur(roi, (0, 0), sigma)[mask]

    def _region(self, box: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
        dx, dy = (box[2] - box[0]) * self.margin, (box[3] - box[1]) * self.margin
        return _clipped(box + np.float32([-dx, -dy, dx, dy]), shape)

    @staticmethod
    def _free(region: tuple[int, int, int, int], front: list[Track]) -> np.ndarray:
        """Pixels of `region` on none of the `front` faces: each face's landmark outline (what its
        swap replaces, raised to the brow line by a third of the face), or its box without landmarks
        (a box over two faces would take the face behind with it)."""
        x0, y0, x1, y1 = region
        taken = np.zeros((y1 - y0, x1 - x0), np.uint8)
        for t in front:
            points = t.face.landmarks68
            if points is None:
                b = np.asarray(t.face.box, np.float64)
                cv2.rectangle(taken, (int(b[0]) - x0, int(b[1]) - y0), (int(math.ceil(b[2])) - x0, int(math.ceil(b[3])) - y0), 1, -1)
                continue
            points = np.asarray(points, np.float32)
            lift = np.float32([0, 0.33 * (points[:, 1].max() - points[:, 1].min())])
            outline = np.vstack([points, points[17:27] - lift]) - np.float32([x0, y0])
            cv2.fillConvexPoly(taken, cv2.convexHull(outline.astype(np.int32)), 1)
        return taken == 0


def _area(box: np.ndarray) -> float:
    return max(1.0, float((box[2] - box[0]) * (box[3] - box[1])))


def _clipped(box: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    """Whole-pixel bounds of `box` inside the frame; None if less than 2 px of it is."""
    h, w = shape[:2]
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(w, int(math.ceil(box[2]))), min(h, int(math.ceil(box[3])))
    return None if x1 - x0 < 2 or y1 - y0 < 2 else (x0, y0, x1, y1)
