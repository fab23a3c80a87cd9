"""A coasting face dragged along by the face in front of it.

A coasting track whose flow step is the motion of a shown face its box touches (not the course
it was on), and whose patch hardly agrees with its last look, has had its points slide onto that
face: it is followed on (the detector's next box of its face can still be paired with it) but
not drawn. Two faces keeping still side by side move alike: neither is dragged."""

import numpy as np

from bridge.track.tracker import Tracker
from tests.track_scenes import boxed_face as face, textured

IMAGE = textured(size=(360, 240))

A = (60.0, 60.0, 140.0, 160.0)
B = (125.0, 70.0, 205.0, 170.0)  # beside A, overlapping it a little


def two_faces(tracker: Tracker) -> list[int]:
    for k in range(3):
        tracks = tracker.update(IMAGE, [face(A, 1.0), face(B, 1.0)], k / 15)
    return sorted(t.id for t in tracks)


def moving_pair(tracker: Tracker, front_velocity: tuple[float, float]):
    """Tracks on A (behind) and B (in front), B moving at front_velocity px/s; A's entry and B's."""
    two_faces(tracker)
    a, b = sorted((e for e in tracker._entries.values()), key=lambda e: float(e.raw.box[0]))
    b.velocity = np.float32(front_velocity)
    return a, b


def moved_by(e, step: tuple[float, float]):
    return face(tuple((np.asarray(e.raw.box) + np.tile(np.float32(step), 2)).tolist()), 1.0)


def test_a_coasting_face_moving_as_the_face_it_touches_with_its_look_gone_is_dragged():
    tracker = Tracker(None)
    a, _ = moving_pair(tracker, (-240.0, 0.0))  # the front face moves 8 px a frame left
    now = a.last_seen + 1 / 30
    assert tracker._dragged(a, moved_by(a, (-8.0, 0.0)), 0.57, now)


def test_a_coasting_face_that_still_looks_like_itself_is_not_dragged():
    tracker = Tracker(None)
    a, _ = moving_pair(tracker, (-240.0, 0.0))
    now = a.last_seen + 1 / 30
    assert not tracker._dragged(a, moved_by(a, (-8.0, 0.0)), 0.9, now)


def test_a_coasting_face_moving_its_own_way_is_not_dragged():
    tracker = Tracker(None)
    a, _ = moving_pair(tracker, (-240.0, 0.0))
    now = a.last_seen + 1 / 30
    assert not tracker._dragged(a, moved_by(a, (8.0, 0.0)), 0.57, now)


def test_two_faces_keeping_still_side_by_side_are_not_dragged():
    tracker = Tracker(None)
    a, _ = moving_pair(tracker, (0.0, 0.0))
    now = a.last_seen + 1 / 30
    assert not tracker._dragged(a, moved_by(a, (0.0, 0.0)), 0.57, now)
