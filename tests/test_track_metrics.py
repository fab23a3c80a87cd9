import numpy as np
import pytest

from bridge.faces.boxes import iou_matrix
from bridge.track.metrics import clear_mot, identity_scores, keypoint_jitter

A = np.array([0, 0, 10, 10], np.float32)
B = np.array([50, 0, 60, 10], np.float32)


def frame(ids, boxes):
    return list(ids), np.array(boxes, np.float32).reshape(-1, 4)


def test_iou_of_identical_half_and_disjoint_boxes():
    iou = iou_matrix(np.array([A]), np.array([A, [5, 0, 15, 10], B]))
    assert iou[0, 0] == pytest.approx(1.0)
    assert iou[0, 1] == pytest.approx(50 / 150)
    assert iou[0, 2] == 0.0


def test_perfect_tracking_scores_one():
    truth = [frame([1, 2], [A, B])] * 5
    hyp = [frame([7, 9], [A, B])] * 5
    assert clear_mot(truth, hyp).mota == 1.0
    assert identity_scores(truth, hyp).idf1 == 1.0


def test_swapped_ids_count_one_switch_per_object_and_halve_idf1():
    truth = [frame([1, 2], [A, B])] * 4
    hyp = [frame([7, 9], [A, B])] * 2 + [frame([9, 7], [A, B])] * 2
    m = clear_mot(truth, hyp)
    assert m.id_switches == 2
    assert m.mota == pytest.approx(1 - 2 / 8)
    s = identity_scores(truth, hyp)
    assert s.idtp == 4 and s.idf1 == pytest.approx(0.5)


def test_misses_and_false_positives_lower_mota():
    truth = [frame([1], [A]), frame([1], [A])]
    hyp = [frame([], []), frame([3, 4], [A, B])]
    m = clear_mot(truth, hyp)
    assert (m.misses, m.false_positives, m.id_switches) == (1, 1, 0)
    assert m.mota == pytest.approx(0.0)


def test_new_id_after_a_gap_is_a_switch():
    truth = [frame([1], [A])] * 3
    hyp = [frame([5], [A]), frame([], []), frame([6], [A])]
    assert clear_mot(truth, hyp).id_switches == 1


def test_boxes_below_the_iou_threshold_do_not_match():
    truth = [frame([1], [A])]
    hyp = [frame([1], [[6, 6, 16, 16]])]
    assert clear_mot(truth, hyp).matches == 0


def test_jitter_of_a_still_point_is_its_spread():
    pts = np.zeros((4, 1, 2))
    pts[:, 0, 0] = [-1, 1, -1, 1]
    assert keypoint_jitter(pts) == pytest.approx(1.0)
