from __future__ import annotations

import numpy as np
import pytest

from bridge.faces import detect, landmarks
from bridge.types import Face
from tests import onnx_graphs


@pytest.fixture(scope="module")
def group_faces(models_dir, group_photo) -> list[Face]:
    faces = detect.UlfdDetector(models_dir / "fr_detect.onnx").detect(group_photo)
    return landmarks.Landmarker68(models_dir / "fr_landmark.onnx").landmark(group_photo, faces)


def test_cpu_landmarker_puts_68_points_inside_each_box_of_the_group_photo(group_faces) -> None:
    assert len(group_faces) == 6
    for face in group_faces:
        assert face.landmarks68.shape == (68, 2) and face.kps5.shape == (5, 2)
        w, h = face.box[2] - face.box[0], face.box[3] - face.box[1]
        assert np.all(face.kps5[:, 0] > face.box[0] - 0.05 * w) and np.all(face.kps5[:, 0] < face.box[2] + 0.05 * w)
        assert np.all(face.kps5[:, 1] > face.box[1] - 0.05 * h) and np.all(face.kps5[:, 1] < face.box[3] + 0.05 * h)
        assert face.kps5[:2, 1].mean() < face.kps5[3:, 1].mean()  # eyes above mouth


def test_real_faces_score_high_and_background_scores_low(models_dir, group_photo, group_faces) -> None:
    assert min(face.landmark_score for face in group_faces) > 0.8
    wall = [Face(box=np.array([600, 700, 700, 800], np.float32), score=1.0),
            Face(box=np.array([1000, 600, 1120, 720], np.float32), score=1.0)]
    landmarks.Landmarker68(models_dir / "fr_landmark.onnx").landmark(group_photo, wall)
    assert max(face.landmark_score for face in wall) < 0.5


def test_mirror_table_is_its_own_inverse() -> None:
    assert sorted(landmarks.MIRROR_68.tolist()) == list(range(68))
    np.testing.assert_array_equal(landmarks.MIRROR_68[landmarks.MIRROR_68], np.arange(68))


def test_2dfan4_stage_maps_crop_points_back_to_the_frame(tmp_path) -> None:
    points64 = np.column_stack([np.linspace(20, 44, 68), np.linspace(18, 46, 68)]).astype(np.float32)
    path = onnx_graphs.save(onnx_graphs.fan68_graph(points64, peak=0.9), tmp_path / "2dfan4.onnx")
    box = np.array([100, 50, 300, 250], np.float32)  # 200 px: scale 195/200, centred in 256
    faces = landmarks.Fan68Landmarker(path).landmark(np.zeros((400, 400, 3), np.uint8), [Face(box=box, score=1.0)])
    scale = 195 / 200
    expected = (points64 * 4 - 128) / scale + [200, 150]
    np.testing.assert_allclose(faces[0].landmarks68, expected, atol=1e-3)
    assert faces[0].landmark_score == pytest.approx(1.0)
    np.testing.assert_allclose(faces[0].kps5[2], expected[30], atol=1e-3)


def test_2dfan4_low_heatmaps_keep_the_detector_points(tmp_path) -> None:
    path = onnx_graphs.save(onnx_graphs.fan68_graph(peak=0.2), tmp_path / "2dfan4.onnx")
    detector_points = np.arange(10, dtype=np.float32).reshape(5, 2)
    face = Face(box=np.array([0, 0, 100, 100], np.float32), score=1.0, kps5=detector_points.copy())
    landmarks.Fan68Landmarker(path, min_score=0.5).landmark(np.zeros((100, 100, 3), np.uint8), [face])
    assert face.landmark_score == pytest.approx(0.2 / 0.9, abs=1e-4)
    np.testing.assert_array_equal(face.kps5, detector_points)


def test_decode_2dfan4_on_hand_built_tensors() -> None:
    points = np.zeros((1, 68, 3), np.float32)
    points[0, 5] = [10, 20, 0.7]
    heatmaps = np.zeros((1, 68, 64, 64), np.float32)
    heatmaps[0, :, 3, 3] = 0.45
    crop_points, score = landmarks.decode_2dfan4(points, heatmaps)
    np.testing.assert_allclose(crop_points[5], [40, 80])
    assert score == pytest.approx(0.5)
