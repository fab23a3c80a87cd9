"""A face walking back in cut by the frame's edge, on a still picture with a scripted recogniser
(each crop's embedding chosen by where the face is): half a face embeds like nobody, so without
a rule it got a fresh id and was relabelled on its first good crop (two ID switches, and the
wrong target meanwhile). The person who left the frame moments ago takes it back, tentatively;
the first good crop confirms it or gives the face an id of its own."""

import numpy as np

from bridge.track.reid import ReidRule, by_entering
from bridge.track.tracker import Tracker
from tests.test_track_switch_rules import GONE, IMAGE, A, B, NOISE, face, scripted

# x of each detection -> what its crop embeds as: A walks out by the left edge (x 0, cut: a weak
# crop), comes back in by the right edge (x 250, cut at x 319) and then shows whole (x 210)
WALK_OUT = (100.0, 60.0, 20.0, 0.0)


def left_by_the_edge(tracker: Tracker) -> int:
    """A seen whole, then walking out by the left edge; lost once out (flow fails). Its id."""
    ids = {t.id for i, x in enumerate(WALK_OUT) for t in tracker.update(IMAGE, [face(x)], 0.1 * i)}
    assert tracker.update(GONE, None, 0.4) == [] and len(ids) == 1
    return ids.pop()


def test_the_scene_cuts_the_returning_face_by_the_edge():
    assert Tracker._at_edge(face(250.0).box, IMAGE.shape) and Tracker._at_edge(face(0.0).box, IMAGE.shape)
    assert not Tracker._at_edge(face(150.0).box, IMAGE.shape)


def test_a_face_walking_back_in_cut_by_the_edge_keeps_its_id():
    tracker = Tracker(scripted({100: A, 60: A, 20: A, 0: NOISE, 250: NOISE, 210: A}), recheck_s=2.0)
    a = left_by_the_edge(tracker)
    (back,) = tracker.update(IMAGE, [face(250.0)], 1.0)
    assert back.id == a
    (whole,) = tracker.update(IMAGE, [face(210.0)], 1.1)  # its first good crop confirms it
    assert whole.id == a and tracker.lost_ids == []


def test_a_stranger_walking_in_where_someone_left_gets_an_id_of_their_own_on_a_good_crop():
    tracker = Tracker(scripted({100: A, 60: A, 20: A, 0: NOISE, 250: NOISE, 210: B}), recheck_s=2.0)
    a = left_by_the_edge(tracker)
    tracker.update(IMAGE, [face(250.0)], 1.0)  # the best guess while it is cut by the edge
    (whole,) = tracker.update(IMAGE, [face(210.0)], 1.1)
    assert whole.id != a
    assert tracker.lost_ids == [a]  # A still waits, as it was


def test_someone_who_left_long_ago_is_not_guessed():
    tracker = Tracker(scripted({100: A, 60: A, 20: A, 0: NOISE, 250: NOISE}), recheck_s=2.0)
    a = left_by_the_edge(tracker)
    (back,) = tracker.update(IMAGE, [face(250.0)], 0.4 + ReidRule().enter_s + 0.5)
    assert back.id != a


def test_of_two_who_left_only_a_clear_preference_names_one():
    rule = ReidRule()
    assert by_entering(np.array([0.5]), np.full((1, 1), np.nan), rule) == {0: 0}
    assert by_entering(np.array([0.5, 0.8]), np.full((2, 1), np.nan), rule) == {}
    assert by_entering(np.array([0.5, 0.8]), np.array([[0.1], [0.3]]), rule) == {0: 1}
    # one who left long ago is no rival
    assert by_entering(np.array([0.5, rule.enter_s + 1]), np.array([[0.1], [0.15]]), rule) == {0: 0}
    # two faces walking in, one person: the face it is likelier to be
    assert by_entering(np.array([0.5]), np.array([[0.05, 0.25]]), rule) == {1: 0}
