"""A fast face lost to its motion blur, known by crops learnt while it moved fast, is taken back on
a weak embedding; when it has stopped, its first sharp crop still embeds only weakly like that
smeared gallery (0.3-0.45 on the suite's fast clips, 0.0-0.2 like anyone else). That crop keeps
the id: it was undone into a new id (fast-2: the person went 4 -> 5 -> 4 -> 6). A still face's
gallery, or a stranger's crop, is judged as before (scripted recogniser, as
tests/test_track_slid.py)."""

import numpy as np

from bridge.track.tracker import Tracker
from tests.test_track_slid import A_WEAK, A_WEAK_GOOD
from tests.test_track_switch_rules import GONE, IMAGE, A, B, C, face, scripted

RUN = (30.0, 40.0, 50.0, 60.0, 70.0)  # A's places, a frame apart: 10 px a frame, a seventh of its width


def _lost_on_the_run(tracker: Tracker) -> tuple[int, int]:
    """A running right (learnt on the run) beside C standing at 220; then both lost (flow fails)."""
    for k, x in enumerate(RUN):
        tracks = tracker.update(IMAGE, [face(x), face(220.0)], k / 30)
    a = min(tracks, key=lambda t: float(t.face.box[0])).id
    c = max(tracks, key=lambda t: float(t.face.box[0])).id
    assert a != c and len({a, c}) == 2
    assert tracker.update(GONE, None, len(RUN) / 30) == []
    return a, c


def _back_and_stopped(last_look: np.ndarray) -> tuple[int, int, list, Tracker]:
    """A back on a weak embedding (taken back tentatively), then standing still (1 px): a crop the
    gate passes that embeds as `last_look`."""
    look = {int(x): A for x in RUN} | {220: C, 130: A_WEAK, 131: last_look}
    tracker = Tracker(scripted(look), recheck_s=2.0)
    a, c = _lost_on_the_run(tracker)
    assert [t.id for t in tracker.update(IMAGE, [face(130.0)], 1.0)] == [a]
    return a, c, tracker.update(IMAGE, [face(131.0)], 1.0 + 1 / 30), tracker


def test_a_face_lost_on_the_run_keeps_its_id_on_its_first_sharp_crop_once_stopped() -> None:
    a, c, tracks, tracker = _back_and_stopped(A_WEAK_GOOD)
    assert [t.id for t in tracks] == [a]
    assert tracker.lost_ids == [c]


def test_a_stranger_where_a_face_was_lost_on_the_run_gets_an_id_of_their_own() -> None:
    """A crop like no one (0 like the runner's gallery) is no smeared likeness: someone new."""
    a, c, tracks, tracker = _back_and_stopped(B)
    assert len(tracks) == 1 and tracks[0].id not in (a, c)
    assert sorted(tracker.lost_ids) == sorted([a, c])
