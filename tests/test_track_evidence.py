"""Evidence for a coasting track: patch agreement, flow inliers, the frame's edge."""

import cv2
import numpy as np

from bridge.track.evidence import Evidence, agreement, face_patch, inside_fraction
from bridge.track.flow import KeypointFlow
from bridge.track.tracker import Tracker
from bridge.types import Face


def _texture(seed: int, size=(240, 320)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (size[0] // 8, size[1] // 8), dtype=np.uint8)
    return cv2.GaussianBlur(cv2.resize(small, size[::-1], interpolation=cv2.INTER_NEAREST), (0, 0), 2)


BOX = np.array([100, 60, 180, 150], np.float32)


def test_a_patch_agrees_with_itself_moved_a_little_and_not_with_something_else():
    flow = KeypointFlow()
    face = _texture(0)
    ref = face_patch(flow.pyramid(face), BOX)
    shifted = np.roll(face, 2, axis=1)
    assert agreement(ref, face_patch(flow.pyramid(shifted), BOX + np.float32([2, 0, 2, 0]))) > 0.9
    assert agreement(ref, face_patch(flow.pyramid(_texture(1)), BOX)) < 0.4
    assert agreement(ref, face_patch(flow.pyramid(np.full_like(face, 90)), BOX)) == 0.0  # a plain wall
    assert agreement(None, ref) is None  # nothing to compare with: no verdict


def test_why_not_names_the_missing_evidence():
    ev = Evidence(min_inliers=5, min_agreement=0.5, min_inside=0.5)
    shape = (240, 320)
    assert ev.why_not(12, 0.9, BOX, shape) is None
    assert ev.why_not(3, 0.9, BOX, shape) == "flow"
    assert ev.why_not(12, 0.2, BOX, shape) == "look"
    assert ev.why_not(12, 0.9, np.float32([280, 60, 380, 150]), shape) == "left"  # 40 % inside
    assert abs(inside_fraction(np.float32([-50, 0, 50, 100]), shape) - 0.5) < 1e-6


class StillFlow(KeypointFlow):
    """Flow that always reports 'nothing moved, every point agrees': what LK says on a still
    wall. With it, only the patch check can tell that the face has gone."""

    def predict_counted(self, prev, cur, point_sets, shifts=None):
        return [(np.float32([[1, 0, 0], [0, 1, 0]]), 20) for _ in point_sets]


def test_a_track_whose_face_is_gone_stops_being_drawn_though_flow_holds():
    face_frame = _texture(0)
    wall = _texture(5)
    image = cv2.cvtColor(face_frame, cv2.COLOR_GRAY2BGR)
    tracker = Tracker(flow=StillFlow())
    (track,) = tracker.update(image, [Face(box=BOX, score=0.9)], 0.0)
    assert [t.state for t in tracker.update(image, None, 1 / 30)] == ["coasting"]  # still there
    assert tracker.update(cv2.cvtColor(wall, cv2.COLOR_GRAY2BGR), None, 2 / 30) == []
    assert tracker.stats.hidden["look"] == 1 and tracker.wants_detection


def test_a_track_mostly_out_of_the_frame_ends_at_once():
    image = cv2.cvtColor(_texture(0), cv2.COLOR_GRAY2BGR)
    tracker = Tracker(flow=StillFlow())
    edge = np.float32([260, 60, 340, 150])  # 75 % inside: drawn
    tracker.update(image, [Face(box=edge, score=0.9)], 0.0)

    class Out(StillFlow):
        def predict_counted(self, prev, cur, point_sets, shifts=None):
            return [(np.float32([[1, 0, 30], [0, 1, 0]]), 20) for _ in point_sets]  # 30 px right: 38 % inside

    tracker.flow = Out()
    assert tracker.update(image, None, 1 / 30) == []
    assert tracker.stats.hidden["left"] == 1
