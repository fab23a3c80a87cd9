"""A box the detector found once, cut by the frame's edge, and never again (zoom-7@holdout: a
box over the chin and neck of a face mostly above the frame) coasts ONCE_COAST of max_coast_s,
not all of it: flow holds on to whatever it was, so only the detector can say it was no face. A
face found once inside the frame (a small face the detector misses for a few runs) still coasts
the whole max_coast_s."""

from bridge.track.tracker import Tracker
from tests.test_track_motion import DT, face, scene


def drawn_after(x: float, frames: int) -> list[int]:
    """Tracks drawn on each frame after one detection of a still face at `x` (the detector runs
    every second frame and finds nothing again; flow follows the face)."""
    tracker = Tracker(max_coast_s=1.0)
    assert len(tracker.update(scene(x), [face(x)], 0.0)) == 1
    return [len(tracker.update(scene(x), [] if i % 2 == 0 else None, i * DT)) for i in range(1, frames)]


def test_a_box_found_once_at_the_frame_s_edge_stops_soon():
    drawn = drawn_after(0.0, 20)
    stop = round(Tracker.ONCE_COAST / DT)  # 9 frames
    assert drawn[:stop - 1] == [1] * (stop - 1)
    assert drawn[stop + 1:] == [0] * (len(drawn) - stop - 1)


def test_a_face_found_once_inside_the_frame_coasts_on():
    assert drawn_after(200.0, 20) == [1] * 19


def test_a_face_found_twice_at_the_edge_coasts_on():
    tracker = Tracker(max_coast_s=1.0)
    tracker.update(scene(0.0), [face(0.0)], 0.0)
    tracker.update(scene(0.0), [face(0.0)], 2 * DT)
    assert [len(tracker.update(scene(0.0), None, i * DT)) for i in range(3, 20)] == [1] * 17
