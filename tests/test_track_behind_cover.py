"""A face the pipeline knows is behind another face is covered, not shown: a track that slid
onto the face in front and hands it back to that person is hidden where its own face was last
surely seen (Tracker.hidden lists it), and the face stage's cover may begin in the first frames
after a face was hidden (the face in front may still be sliding over it on the frame it stops).
A still picture with a scripted recogniser (each crop's embedding chosen by where the face is)."""

from __future__ import annotations

import numpy as np

from bridge.faces.boxes import iou_matrix
from bridge.facestage.cover import HiddenCover
from bridge.track.tracker import Tracker
from bridge.types import Face, Track
from tests.test_track_switch_rules import GONE, IMAGE, A, C, face, ids_by_x, scripted


def _back_then_slid(look: dict[int, np.ndarray]) -> tuple[Tracker, dict[int, int]]:
    """A (x 100) and C (x 220) seen, then lost on a cut; A comes back alone and is followed;
    then the detector's one box lies 10 px right of A's, and it is C's face (C stepped in front)."""
    tracker = Tracker(scripted(look), recheck_s=0.5)
    tracker.update(IMAGE, [face(100.0), face(220.0)], 0.0)
    seen = ids_by_x(tracker.update(IMAGE, [face(100.0), face(220.0)], 0.1), (100, 220))
    assert tracker.update(GONE, None, 0.2) == []
    for t in (1.0, 1.1, 1.2, 1.3, 1.4):
        assert ids_by_x(tracker.update(IMAGE, [face(100.0)], t), (100,)) == {100: seen[100]}
    tracks = tracker.update(IMAGE, [face(110.0)], 1.5)  # A's re-check is due: the crop is C
    assert ids_by_x(tracks, (110,)) == {110: seen[220]}, "C takes its face back"
    return tracker, seen


def test_a_track_that_hands_the_face_in_front_back_is_hidden_where_its_face_was():
    """Without the rule A's track was only "lost": nothing covered the part of A that showed
    beside C (occlude_face-2: a face 76-85 % visible shown raw for 10 frames)."""
    tracker, seen = _back_then_slid({100: A, 220: C, 110: C})
    (hidden,) = tracker.hidden(1.5)
    assert hidden.id == seen[100] and hidden.state == "fallback"
    assert iou_matrix(hidden.face.box[None], face(100.0).box[None])[0, 0] > 0.9, "where A was, not on C"
    assert tracker.hidden(1.5 + Tracker.HIDDEN_S + 0.1) == [], "not for ever"


def test_a_track_whose_face_was_not_behind_the_one_it_hands_back_is_not_hidden():
    """The box it held, C's face, covers only a third of A's last sure box: A's face is not
    behind C, and where it went is unknown: no cover."""
    tracker = Tracker(scripted({100: A, 220: C, 145: C}), recheck_s=0.5)
    tracker.update(IMAGE, [face(100.0), face(220.0)], 0.0)
    tracker.update(IMAGE, [face(100.0), face(220.0)], 0.1)
    tracker.update(GONE, None, 0.2)
    for t in (1.0, 1.1, 1.2, 1.3, 1.4):
        tracker.update(IMAGE, [face(100.0)], t)
    tracks = tracker.update(IMAGE, [face(145.0)], 1.5)  # motion still gives it A's track
    assert [t.id for t in tracks] == [2] and tracker.stats.identity_swaps == 1, "C took its face back"
    assert tracker.hidden(1.5) == []


def _track(tid: int, box) -> Track:
    return Track(id=tid, face=Face(box=np.float32(box), score=1.0))


def test_a_hidden_face_is_covered_once_enough_shows_in_its_first_frames():
    """On the frame a face is hidden the face in front may still cover most of it; a frame later
    enough of it shows beside that face: covered from then on (before, a hidden face not covered on
    its first frame never was)."""
    shape = (480, 640, 3)
    back = [_track(1, [400, 280, 520, 430])]
    cover = HiddenCover()
    assert cover.behind(back, [_track(2, [420, 280, 540, 430])], shape) == [], "too little shows"
    assert [t.id for t in cover.behind(back, [_track(2, [470, 280, 590, 430])], shape)] == [1]
    assert [t.id for t in cover.behind(back, [_track(2, [470, 280, 590, 430])], shape)] == [1], "and goes on"


def test_a_hidden_face_not_covered_in_its_first_frames_is_not_covered_later():
    """Its last place is stale by then (it was hidden whole, or came out and moved): the detector's turn."""
    shape = (480, 640, 3)
    back = [_track(1, [400, 280, 520, 430])]
    cover = HiddenCover()
    for _ in range(3):  # its first three frames
        assert cover.behind(back, [_track(2, [390, 270, 530, 440])], shape) == []
    assert cover.behind(back, [_track(2, [470, 280, 590, 430])], shape) == []

