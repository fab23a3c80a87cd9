"""A face partly behind another stays covered, not shown: a followed face whose flow fails under
another followed face's box is hidden there like one the detector lost behind a face (its points
were taken by the face that slid over it). A still picture with scripted flow (failing for the
face behind) and a scripted recogniser."""

from __future__ import annotations

import numpy as np

from bridge.faces.boxes import iou_matrix
from bridge.track.flow import KeypointFlow
from bridge.track.tracker import Tracker
from tests.test_track_switch_rules import IMAGE, A, C, face, scripted


class LostLeftOf(KeypointFlow):
    """Flow that holds still faces, except the point sets left of `x` from the third frame on,
    where too few points agree (`guess`: no fit at all, as on a blur)."""

    def __init__(self, x: float, guess: bool = False):
        super().__init__()
        self.x, self.guess, self.frame = x, guess, 0

    def predict_counted(self, prev, cur, point_sets, shifts=None):
        self.frame += 1
        still = np.float32([[1, 0, 0], [0, 1, 0]])
        out = []
        for points in point_sets:
            lost = self.frame >= 2 and points is not None and len(points) and float(np.mean(points[:, 0])) < self.x
            out.append(((None, 1) if self.guess else (still, 2)) if lost else (still, 20))
        return out


def _two_then_flow_fails(front_x: float, guess: bool = False) -> tuple[Tracker, int]:
    """A (x 100) and a face at `front_x` detected twice, then a frame without detection where A's
    flow fails; (tracker, A's id)."""
    tracker = Tracker(scripted({100: A, int(front_x): C}), flow=LostLeftOf(140.0, guess))
    tracker.update(IMAGE, [face(100.0), face(front_x)], 0.0)
    tracks = tracker.update(IMAGE, [face(100.0), face(front_x)], 0.1)
    a = min(tracks, key=lambda t: float(t.face.box[0])).id
    assert len(tracks) == 2
    tracker.update(IMAGE, None, 0.2)
    tracks = tracker.update(IMAGE, None, 0.3)
    assert [t.id for t in tracks] != [] and a not in {t.id for t in tracks}, "A stopped, the other followed"
    return tracker, a


def test_a_face_whose_flow_fails_under_another_face_is_hidden_where_it_was():
    """Before, it stopped on "flow": nothing covered the part of it showing beside the face in
    front (occlude_face-2: a face 76-81 % visible shown raw for 9 frames)."""
    for guess in (False, True):
        tracker, a = _two_then_flow_fails(140.0, guess)  # the other face's box covers 0.43 of A's
        (hidden,) = tracker.hidden(0.3)
        assert hidden.id == a and hidden.state == "fallback"
        assert iou_matrix(hidden.face.box[None], face(100.0).box[None])[0, 0] > 0.9, "at A's last sure box"
        assert tracker.stats.hidden["occluded"] == 1 and tracker.stats.hidden["flow"] == 0


def test_a_face_whose_flow_fails_clear_of_other_faces_is_not_hidden():
    tracker, a = _two_then_flow_fails(220.0)
    assert tracker.hidden(0.3) == []
    assert tracker.stats.hidden["flow"] == 1


def test_a_face_crossing_behind_another_whose_flow_fails_is_not_hidden_where_it_was():
    """Last surely seen moving over a face size a second, it is gone from that box within a frame
    or two: a cover there would blur the background beside the face in front (crossing-0)."""
    tracker = Tracker(scripted({80: A, 100: A, 140: C}), flow=LostLeftOf(140.0))
    tracker.update(IMAGE, [face(80.0), face(140.0)], 0.0)
    assert len(tracker.update(IMAGE, [face(100.0), face(140.0)], 0.1)) == 2
    tracker.update(IMAGE, None, 0.2)
    tracker.update(IMAGE, None, 0.3)
    assert tracker.hidden(0.3) == []
    assert tracker.stats.hidden["flow"] == 1 and tracker.stats.hidden["occluded"] == 0
