"""Faces cut by the frame's edge (bridge.faces.edge): the detector keeps boxes at the edge at a
lower score, and the stage keeps those the landmarker is sure of; a low box anywhere else, or a
crop's, is left out as before."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from bridge.faces import detect
from bridge.faces.edge import detect_frame, sure_at_edge
from bridge.faces.landmarks import Landmarker68
from bridge.types import Face

SHIFTS = range(98, 111)  # px of the 336 px face slid out past the left edge: the usual threshold loses it here


@pytest.fixture(scope="module")
def models(models_dir):
    return (detect.UlfdDetector(models_dir / "fr_detect.onnx", edge_threshold=0.4),
            Landmarker68(models_dir / "fr_landmark.onnx"))


def _cut_face(portrait: np.ndarray, shift: int, left: int = 0) -> np.ndarray:
    """A 720p frame with the portrait's face (336 px) cut by `shift` px, its cut side `left` px in."""
    face = cv2.resize(portrait, (336, 336), interpolation=cv2.INTER_CUBIC)
    canvas = np.full((720, 1280, 3), 90, np.uint8)
    canvas[200:536, left:left + 336 - shift] = face[:, shift:]
    return canvas


def _kept(models, image: np.ndarray) -> list[Face]:
    detector, landmarker = models
    faces = landmarker.landmark(image, detect_frame(detector, image))
    return sure_at_edge(faces, image.shape, detector.score_threshold)[0]


def test_a_face_cut_by_the_edge_is_kept_where_the_usual_threshold_loses_it(models, portrait_photo):
    detector, _ = models
    usual = sum(bool(detector.detect(_cut_face(portrait_photo, s))) for s in SHIFTS)
    at_edge = [_kept(models, _cut_face(portrait_photo, s)) for s in SHIFTS]
    assert sum(bool(k) for k in at_edge) >= 2 * usual and sum(bool(k) for k in at_edge) >= 6
    assert all(len(k) <= 1 for k in at_edge)
    assert all(k[0].box[0] < 10 and 200 <= k[0].box[1] and k[0].box[3] <= 540 for k in at_edge if k)
    assert any(k[0].score < detector.score_threshold for k in at_edge if k)


def test_the_same_cut_face_away_from_the_edge_is_not_kept_at_the_lower_score(models, portrait_photo):
    detector, _ = models
    for s in SHIFTS:
        image = _cut_face(portrait_photo, s, left=60)
        assert all(f.score >= detector.score_threshold for f in _kept(models, image))


def test_a_crop_gets_no_low_box(models, portrait_photo):
    detector, _ = models
    for s in SHIFTS:
        assert all(f.score >= detector.score_threshold for f in detector.detect(_cut_face(portrait_photo, s)))


def _face(score: float, box: list[float], landmarks: float) -> Face:
    return Face(box=np.array(box, np.float32), score=score, landmark_score=landmarks)


def test_only_a_low_box_at_the_edge_with_sure_landmarks_is_kept_and_one_with_unsure_ones_is_doubted():
    shape = (720, 1280, 3)
    sure_edge = _face(0.5, [0, 300, 80, 420], 1.0)
    unsure_edge = _face(0.5, [1200, 0, 1280, 100], 0.3)
    low_inside = _face(0.5, [600, 300, 700, 420], 1.0)
    high_inside = _face(0.9, [300, 300, 400, 420], 0.0)
    kept, doubted = sure_at_edge([sure_edge, unsure_edge, low_inside, high_inside], shape, 0.7)
    assert kept == [sure_edge, high_inside]
    assert doubted == [unsure_edge]


def test_without_a_low_box_nothing_changes():
    faces = [_face(0.9, [0, 300, 80, 420], 0.0)]
    assert sure_at_edge(faces, (720, 1280, 3), 0.7) == (faces, [])


def test_a_low_box_on_a_face_followed_or_just_lost_is_left_out_and_not_doubted():
    shape = (720, 1280, 3)
    leaving = _face(0.5, [0, 300, 80, 420], 1.0)
    doubted_leaving = _face(0.5, [1200, 0, 1280, 100], 0.3)
    arriving = _face(0.5, [1200, 500, 1280, 620], 1.0)
    followed = np.array([[-40, 290, 90, 430], [1180, -20, 1290, 110]], np.float32)
    kept, doubted = sure_at_edge([leaving, doubted_leaving, arriving], shape, 0.7, followed=followed)
    assert kept == [arriving]
    assert doubted == []
