"""Ghost swaps (a swap drawn where no face is): a doubted face's cover (its look failed while its
flow held) moves on with it a frame later and is not drawn once mostly out of the frame; a box
the landmarker doubts, far bigger than the face was when last surely seen (the face smeared by a
pan or a dash), is drawn at the face's sure size round its centre."""

from __future__ import annotations

import numpy as np

from bridge.faces.boxes import iou_matrix
from bridge.track.tracker import Tracker
from bridge.types import Face
from tests.test_doubted_cover import _turned
from tests.test_track_motion import DT, Blurred, scene

SHAPE = (240, 480)


def _cut(x: float) -> Face:
    """The detector's box of the 70×70 face at x: only the part inside the frame."""
    return Face(box=np.float32([x, 80, min(x + 70, SHAPE[1]), 150]), score=0.9)


def test_a_doubted_cover_moves_on_and_is_not_drawn_once_mostly_out_of_the_frame() -> None:
    tracker = Tracker(flow=Blurred(fails_from=99, speed=30.0))
    for i, x in enumerate(range(240, 420, 30)):  # 30 px a frame to the right, whole
        tracker.update(scene(x), [_cut(x)], i * DT)
    turned = scene(420)
    turned[80:150, 420:] = _turned(100)[80:150, 100:160]  # the same place, another look
    assert tracker.update(turned, None, 6 * DT) == []  # flow held, its look failed
    (cover,) = tracker.doubted(6 * DT)
    assert abs(float(cover.face.box[0]) - 420) < 1
    assert tracker.doubted(7 * DT) == [], "a frame on, the face is mostly out of the frame"


def test_a_still_doubted_face_stays_covered_in_place_a_frame_on() -> None:
    tracker = Tracker(flow=Blurred(fails_from=99, speed=0.0))
    for i in range(3):
        tracker.update(scene(100), [_cut(100)], i * DT)
    tracker.update(_turned(100), None, 3 * DT)
    (cover,) = tracker.doubted(4 * DT)
    assert iou_matrix(cover.face.box[None], _cut(100).box[None])[0, 0] > 0.95


def _landmarked(box: tuple[float, float, float, float], score: float) -> Face:
    """A detection with the landmarker's score (under 0.5: it hardly takes the box for a face)."""
    x0, y0, x1, y1 = box
    marks = np.tile(np.float32([[(x0 + x1) / 2, (y0 + y1) / 2]]), (68, 1))
    return Face(box=np.float32(box), score=0.9, landmarks68=marks, landmark_score=score)


def _drawn_after_a_doubted_box(grown: float) -> np.ndarray:
    tracker = Tracker(flow=Blurred(fails_from=99, speed=0.0))
    for i in range(3):
        tracker.update(scene(100), [_landmarked((100, 80, 170, 150), 0.9)], i * DT)
    cx, cy, half = 135.0, 115.0, 35.0 * grown  # the smear is centred on the face
    (track,) = tracker.update(scene(100), [_landmarked((cx - half, cy - half, cx + half, cy + half), 0.0)], 3 * DT)
    return track.face.box


def test_a_doubted_box_twice_the_face_is_drawn_at_the_face_s_sure_size() -> None:
    """pan-0, fast-3: a face smeared by a fast pan is boxed with the background round it (1.8-2.1
    times its size, the landmarker unsure); the swap drawn on that box lay mostly off the face."""
    box = _drawn_after_a_doubted_box(2.0)
    assert iou_matrix(box[None], np.float32([[100, 80, 170, 150]]))[0, 0] > 0.8


def test_a_doubted_box_near_the_face_s_size_is_taken_as_it_is() -> None:
    box = _drawn_after_a_doubted_box(1.3)  # a doubted box of a face really there: 0.66-1.47 its sure size
    assert float(box[2] - box[0]) > 76  # 91 px, smoothed (the sure size is 70)

