"""Association: motion cost and its gates, near-ties, takeovers."""

import numpy as np

from bridge.track.association import FORBIDDEN, Gates, add_appearance, ambiguous, assign, motion_cost, takeovers
from bridge.types import Face


def face(x, y=50, w=60):
    return Face(box=np.float32([x, y, x + w, y + w]), score=0.9)


def test_motion_picks_the_overlapping_detection_and_forbids_far_ones():
    cost = motion_cost([face(0), face(200)], [face(205), face(5), face(600)], Gates())
    assert assign(cost) == [(0, 1), (1, 0)]
    assert (cost[:, 2] >= FORBIDDEN).all()


def test_keypoints_beat_box_centres_when_both_sides_have_them():
    a, b = face(0), face(0)
    a.kps5 = np.float32([[10, 60], [50, 60], [30, 80], [15, 95], [45, 95]])
    b.kps5 = a.kps5 + np.float32([55, 0])  # box in place, keypoints a face away: not the same face
    assert motion_cost([a], [b], Gates())[0, 0] >= FORBIDDEN


def test_a_near_tie_is_ambiguous_and_appearance_settles_it():
    tracks = [face(100), face(130)]
    dets = [face(115)]
    cost = motion_cost(tracks, dets, Gates())
    assert ambiguous(cost, 0.3) == {0}
    similarity = np.array([[0.1], [0.9]])
    settled = add_appearance(cost, similarity, {0}, Gates(appearance_gate=0.3))
    assert settled[0, 0] >= FORBIDDEN and assign(settled) == [(1, 0)]


def test_takeovers_pair_overlapping_leftovers_one_to_one():
    t = np.float32([[0, 0, 60, 60], [300, 0, 360, 60]])
    d = np.float32([[20, 0, 80, 60], [25, 0, 85, 60], [500, 0, 560, 60]])
    assert takeovers(t, d) == [(0, 0)]


def test_duplicates_end_only_unconfirmed_tracks_on_a_face():
    from bridge.track.association import duplicates
    boxes = np.float32([[0, 0, 100, 100], [5, 5, 100, 100], [20, 10, 70, 60], [300, 0, 360, 60], [310, 0, 370, 60]])
    # 0 and 1 both detected: two faces, one half behind the other; 2 coasts inside 0: goes;
    # 3 detected, 4 coasting on it (IoU 0.71): goes
    assert duplicates(boxes, [True, True, False, True, False], [0.0, 1.0, 0.5, 0.0, 0.2]) == [2, 4]
    assert duplicates(boxes[3:], [False, False], [0.0, 0.2]) == [1]  # two coasting: the younger
    apart = np.float32([[0, 0, 60, 60], [50, 0, 110, 60]])  # two real faces side by side
    assert duplicates(apart, [True, True], [0.0, 0.0]) == []


def test_covered_together_counts_what_two_boxes_cover_between_them():
    from bridge.track.association import covered, covered_together

    box = np.array([0, 0, 100, 100], np.float32)
    halves = np.array([[-10, -10, 50, 110], [50, -10, 110, 110]], np.float32)
    assert covered(box, halves) == 0.5  # each covers half
    assert covered_together(box, halves) == 1.0  # the two, all of it
    assert covered_together(box, halves[:1]) == 0.5
    assert covered_together(box, np.zeros((0, 4), np.float32)) == 0.0
