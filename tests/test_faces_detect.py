from __future__ import annotations

import cv2
import numpy as np
import pytest

from bridge.faces import detect
from bridge.runtime.catalog import CatalogError
from bridge.types import Face, Frame
from tests import onnx_graphs

CPU_DETECTORS = {
    "ulfd": (detect.UlfdDetector, "fr_detect.onnx", {}),
    "blazeface_back_256": (detect.BlazeFaceDetector, "face_detection_back_256x256_barracuda.onnx", {}),
    # The short-range front model sees 10 px faces at its native size here: run it on 3×2 tiles.
    "blazeface_front_128_tiled": (detect.BlazeFaceDetector, "face_detection_front_128x128_barracuda.onnx",
                                  {"tiles": (3, 2), "score_threshold": 0.6}),
}


def _inside(points: np.ndarray, box: np.ndarray, margin: float = 0.1) -> bool:
    w, h = box[2] - box[0], box[3] - box[1]
    return bool(np.all((points[:, 0] >= box[0] - margin * w) & (points[:, 0] <= box[2] + margin * w)
                       & (points[:, 1] >= box[1] - margin * h) & (points[:, 1] <= box[3] + margin * h)))


@pytest.mark.parametrize("name", list(CPU_DETECTORS))
def test_cpu_detectors_find_all_six_faces_of_the_group_photo(name, models_dir, group_photo) -> None:
    cls, file, options = CPU_DETECTORS[name]
    faces = cls(models_dir / file, **options).detect(Frame(image=group_photo, sequence=0))
    assert len(faces) == 6
    centres = np.array([[(f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2] for f in faces])
    distances = np.linalg.norm(centres[:, None] - centres[None], axis=2) + np.eye(6) * 1e9
    assert distances.min() > 60  # six different people, not one face found twice
    for face in faces:
        assert face.score > 0.5
        if face.kps5 is not None:
            assert _inside(face.kps5, face.box)


def test_blazeface_five_points_put_the_eyes_above_the_mouth(models_dir, group_photo) -> None:
    faces = detect.BlazeFaceDetector(models_dir / "face_detection_back_256x256_barracuda.onnx").detect(group_photo)
    for face in faces:
        eyes_y = face.kps5[:2, 1].mean()
        mouth_y = face.kps5[3:, 1].mean()
        assert eyes_y < mouth_y
        assert face.kps5[0, 0] < face.kps5[1, 0] and face.kps5[3, 0] < face.kps5[4, 0]


def test_ulfd_finds_the_portrait_face(models_dir, portrait_photo) -> None:
    faces = detect.UlfdDetector(models_dir / "fr_detect.onnx").detect(portrait_photo)
    assert len(faces) == 1


def test_an_empty_picture_has_no_faces(models_dir) -> None:
    blank = np.full((480, 640, 3), 128, np.uint8)
    assert detect.UlfdDetector(models_dir / "fr_detect.onnx").detect(blank) == []
    assert detect.BlazeFaceDetector(models_dir / "face_detection_back_256x256_barracuda.onnx").detect(blank) == []


def test_letterbox_never_enlarges_and_pastes_top_left() -> None:
    small = np.full((100, 200, 3), 255, np.uint8)
    canvas, ratio = detect.letterbox(small, 640, 640)
    assert ratio == 1.0 and canvas[:100, :200].min() == 255 and canvas[100:].max() == 0
    big = np.full((1080, 1920, 3), 255, np.uint8)
    canvas, ratio = detect.letterbox(big, 640, 640)
    assert ratio == pytest.approx(1 / 3) and canvas[:360].min() == 255 and canvas[361:].max() == 0


def test_blazeface_decoder_places_a_hand_built_face() -> None:
    anchors = detect.blazeface_anchors()
    assert anchors.shape == (896, 2)
    regressors = np.zeros((896, 16), np.float32)
    scores = np.full(896, -10.0, np.float32)
    index = 16 * 5 * 2 + 3 * 2  # row 5, column 3 of the 16-grid, first anchor
    scores[index] = 5.0
    regressors[index, :4] = [2, -1, 20, 24]  # centre offset and size in input pixels
    regressors[index, 4:16] = np.array([[-5, -4], [5, -4], [0, 0], [0, 6], [-9, 0], [9, 0]], np.float32).ravel()
    boxes, six, probabilities = detect.decode_blazeface(scores, regressors, anchors, 128)
    cx, cy = (3 + 0.5) / 16 * 128 + 2, (5 + 0.5) / 16 * 128 - 1
    np.testing.assert_allclose(boxes[index], [cx - 10, cy - 12, cx + 10, cy + 12], atol=1e-4)
    np.testing.assert_allclose(six[index, 0], [cx - 2 - 5, cy + 1 - 4], atol=1e-4)
    assert probabilities[index] > 0.99 and probabilities[0] < 0.01


def test_blazeface_mouth_corners_sit_either_side_of_the_mouth_centre() -> None:
    six = np.array([[[40, 40], [60, 40], [50, 52], [50, 64], [30, 45], [70, 45]]], np.float32)
    kps = detect.kps5_from_blazeface(six)[0]
    np.testing.assert_allclose(kps[:3], six[0, :3])
    np.testing.assert_allclose(kps[3:].mean(axis=0), [50, 64], atol=1.0)
    assert kps[3, 0] < 50 < kps[4, 0]


def test_scrfd_decoder_recovers_hand_built_boxes_and_landmarks() -> None:
    size = 64
    outputs, expected_box, expected_kps = onnx_graphs.scrfd_outputs_with_face(size, stride=16, cell=(1, 2),
                                                                              anchor=1, distances=(1, 0.5, 2, 3))
    boxes, scores, kps = detect.decode_scrfd(outputs, size, score_threshold=0.5)
    assert len(boxes) == 1 and scores[0] == pytest.approx(0.9)
    np.testing.assert_allclose(boxes[0], expected_box, atol=1e-4)
    np.testing.assert_allclose(kps[0], expected_kps, atol=1e-4)


def test_scrfd_decoder_keeps_a_face_at_the_first_anchor_of_a_level() -> None:
    # FaceFusion drops a stride level whose only kept index is 0; a face there must survive.
    outputs, expected_box, _ = onnx_graphs.scrfd_outputs_with_face(64, stride=32, cell=(0, 0), anchor=0,
                                                                   distances=(0.2, 0.2, 0.3, 0.3))
    boxes, _, _ = detect.decode_scrfd(outputs, 64, score_threshold=0.5)
    np.testing.assert_allclose(boxes, [expected_box], atol=1e-4)


def test_yoloface_decoder_reads_centre_size_and_keypoints() -> None:
    output = np.zeros((1, 20, 8400), np.float32)
    output[0, :5, 7] = [100, 200, 40, 60, 0.8]
    output[0, 5:20, 7] = np.array([[90, 190, 1], [110, 190, 1], [100, 200, 1], [92, 215, 1], [108, 215, 1]]).ravel()
    boxes, scores, kps = detect.decode_yoloface(output)
    np.testing.assert_allclose(boxes[7], [80, 170, 120, 230])
    assert scores[7] == pytest.approx(0.8)
    np.testing.assert_allclose(kps[7, 4], [108, 215])


def test_scrfd_stage_on_a_synthetic_graph_maps_the_face_back_to_the_frame(tmp_path) -> None:
    path = onnx_graphs.save(onnx_graphs.scrfd_graph(size=640, face=(16, (10, 12), 1, (2, 1.5, 3, 2.5))),
                            tmp_path / "scrfd_2.5g.onnx")
    frame = np.zeros((1280, 1920, 3), np.uint8)  # letterboxed by 1/3
    faces = detect.ScrfdDetector(path, size=640).detect(frame)
    assert len(faces) == 1
    cx, cy = 12 * 16, 10 * 16
    expected = np.array([cx - 2 * 16, cy - 1.5 * 16, cx + 3 * 16, cy + 2.5 * 16]) * 3
    np.testing.assert_allclose(faces[0].box, expected, atol=1e-3)
    assert faces[0].kps5.shape == (5, 2)


def test_retinaface_10g_runs_through_the_same_scrfd_stage(tmp_path) -> None:
    path = onnx_graphs.save(onnx_graphs.scrfd_graph(size=320, face=(8, (5, 6), 0, (1, 1, 1, 1))),
                            tmp_path / "retinaface_10g.onnx")
    faces = detect.ScrfdDetector(path, size=320).detect(np.zeros((320, 320, 3), np.uint8))
    np.testing.assert_allclose(faces[0].box, [6 * 8 - 8, 5 * 8 - 8, 6 * 8 + 8, 5 * 8 + 8], atol=1e-3)


def test_yoloface_stage_on_a_synthetic_graph(tmp_path) -> None:
    path = onnx_graphs.save(onnx_graphs.yoloface_graph(face=(320, 320, 64, 80, 0.9)), tmp_path / "yoloface_8n.onnx")
    faces = detect.YoloFaceDetector(path).detect(np.zeros((640, 640, 3), np.uint8))
    assert len(faces) == 1
    np.testing.assert_allclose(faces[0].box, [288, 280, 352, 360], atol=1e-3)


def test_a_detector_file_with_the_wrong_tensors_is_one_line_naming_it(tmp_path) -> None:
    path = onnx_graphs.save(onnx_graphs.yoloface_graph(face=(1, 1, 1, 1, 1), anchors=100), tmp_path / "yoloface_8n.onnx")
    with pytest.raises(CatalogError, match=r"yoloface_8n.onnx: output .* has shape \(1,20,100\), expected \(1,20,8400\)"):
        detect.YoloFaceDetector(path)


def test_faces_are_face_values() -> None:
    boxes = np.array([[0, 0, 10, 10], [20, 30, 60, 90]], np.float64)
    kps = np.arange(20, dtype=np.float64).reshape(2, 10)
    faces = detect.to_faces(boxes, np.array([0.9, 0.5]), kps)
    assert [type(f) for f in faces] == [Face, Face]
    assert [f.score for f in faces] == [0.9, 0.5] and all(isinstance(f.score, float) for f in faces)
    assert all(f.box.dtype == np.float32 and f.box.shape == (4,) for f in faces)
    np.testing.assert_array_equal(faces[1].box, [20, 30, 60, 90])
    assert faces[1].kps5.shape == (5, 2) and faces[1].kps5.dtype == np.float32  # (x, y) pairs, in order
    np.testing.assert_array_equal(faces[1].kps5[0], [10, 11])
    assert faces[0].landmarks68 is None and faces[0].embedding is None  # filled by the later stages
    bare = detect.to_faces(boxes[:1], np.array([0.9]), None)
    assert bare[0].kps5 is None  # a detector without points (ULFD) leaves them to the landmarker
    boxes[0, 0] = 99
    assert faces[0].box[0] == 0  # a copy: the detector's buffers may be reused


@pytest.mark.parametrize("name", ["ulfd", "blazeface_back_256"])
def test_least_score_takes_the_lower_boxes_a_second_look_checks_itself(name, models_dir, group_photo) -> None:
    """detect(least_score=...): the threshold of one call (the smear chase's deblurred look, whose
    finds the landmarker checks), not the detector's own."""
    cls, file, options = CPU_DETECTORS[name]
    detector = cls(models_dir / file, **options)
    smeared = cv2.blur(group_photo, (63, 1))  # smeared sideways as a fast pan smears: some faces score low
    usual, low = detector.detect(smeared), detector.detect(smeared, least_score=0.2)
    assert len(low) >= len(usual) and all(f.score >= 0.2 for f in low)
    assert min(f.score for f in low) < detector.score_threshold, "the call's threshold, not the detector's"
    assert detector.detect(smeared, least_score=1.01) == [] and len(detector.detect(smeared)) == len(usual)


def test_least_score_on_a_letterbox_detector(tmp_path) -> None:
    path = onnx_graphs.save(onnx_graphs.yoloface_graph(face=(320, 320, 64, 80, 0.45)), tmp_path / "yoloface_8n.onnx")
    detector = detect.YoloFaceDetector(path)
    assert detector.detect(np.zeros((640, 640, 3), np.uint8)) == []
    assert len(detector.detect(np.zeros((640, 640, 3), np.uint8), least_score=0.4)) == 1
    scrfd = onnx_graphs.save(onnx_graphs.scrfd_graph(size=320, face=(8, (5, 6), 0, (1, 1, 1, 1))), tmp_path / "retinaface_10g.onnx")
    assert detect.ScrfdDetector(scrfd, size=320).detect(np.zeros((320, 320, 3), np.uint8), least_score=1.01) == []
