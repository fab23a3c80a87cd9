"""A crowd's face whose look fails as it goes behind the face in front of it (its flow holding)
is covered where flow put it until the detector looks, though its box overlaps the front face's
(crowd-3: IoU 0.34-0.49 with it); only a doubted box on a shown face's place is that face."""

from __future__ import annotations

import cv2
import numpy as np

from bridge.track.tracker import Tracker
from bridge.types import Face
from tests.test_track_motion import DT, Blurred, scene

FRONT, BEHIND = 100, 130  # left edges of the two 70×70 faces: their boxes' IoU is 0.4


def _two(turned: bool) -> np.ndarray:
    """scene(FRONT) with a second face behind it, its right part showing (`turned`: another look)."""
    image = scene(FRONT)
    texture = np.random.default_rng(3).integers(0, 255, (14, 14, 3), np.uint8)
    patch = cv2.resize(255 - texture if turned else texture, (70, 70), interpolation=cv2.INTER_NEAREST)
    image[80:150, FRONT + 70:BEHIND + 70] = patch[:, FRONT + 70 - BEHIND:]
    return image


def _box(x: float) -> Face:
    return Face(box=np.float32([x, 80, x + 70, 150]), score=0.9)


def test_a_face_whose_look_fails_behind_the_face_in_front_is_covered_there() -> None:
    tracker = Tracker(flow=Blurred(fails_from=99, speed=0.0))
    for i in range(3):
        shown = tracker.update(_two(False), [_box(FRONT), _box(BEHIND)], i * DT)
    behind = next(t.id for t in shown if abs(float(t.face.box[0]) - BEHIND) < 5)
    shown = tracker.update(_two(True), None, 3 * DT)  # flow held, the part that shows looks otherwise
    assert behind not in {t.id for t in shown}
    assert [t.id for t in tracker.doubted(3 * DT)] == [behind]
