from __future__ import annotations

import numpy as np
import pytest

from bridge.faces import align


@pytest.mark.parametrize("name", list(align.TEMPLATES))
def test_points_on_the_template_map_to_themselves_scaled(name: str) -> None:
    template = align.template_points(name, 112)
    frame_points = template * 2.5 + np.array([40.0, 70.0], dtype=np.float32)
    matrix = align.estimate_similarity(frame_points, name, 112)
    np.testing.assert_allclose(align.transform_points(frame_points, matrix), template, atol=1e-3)


def test_warp_places_a_marked_eye_on_the_template_eye() -> None:
    image = np.zeros((400, 400, 3), np.uint8)
    kps = align.template_points("arcface_112_v2", 112) * 2 + 50
    x, y = np.round(kps[0]).astype(int)
    image[y - 3:y + 4, x - 3:x + 4] = 255
    crop, matrix = align.warp_to_template(image, kps, "arcface_112_v2", 112)
    assert crop.shape == (112, 112, 3)
    yy, xx = np.nonzero(crop[..., 0] > 128)
    eye = align.template_points("arcface_112_v2", 112)[0]
    assert abs(xx.mean() - eye[0]) < 1.0 and abs(yy.mean() - eye[1]) < 1.0


def test_rotated_face_is_turned_upright() -> None:
    template = align.template_points("arcface_128", 128)
    angle = np.deg2rad(30)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    frame_points = template @ rotation.T + 200
    matrix = align.estimate_similarity(frame_points, "arcface_128", 128)
    back = align.transform_points(align.transform_points(frame_points, matrix), align.invert(matrix))
    np.testing.assert_allclose(back, frame_points, atol=1e-2)
    np.testing.assert_allclose(align.transform_points(frame_points, matrix), template, atol=1e-2)


def test_kps5_from_68_takes_eye_centres_nose_and_mouth_corners() -> None:
    points = np.zeros((68, 2), np.float32)
    points[36:42] = [10, 20]
    points[42:48] = [30, 20]
    points[30] = [20, 30]
    points[48] = [12, 40]
    points[54] = [28, 40]
    np.testing.assert_allclose(align.kps5_from_68(points), [[10, 20], [30, 20], [20, 30], [12, 40], [28, 40]])


def test_degenerate_points_give_a_readable_error() -> None:
    with pytest.raises(align.AlignmentError, match="five"):
        align.estimate_similarity(np.zeros((4, 2)), "arcface_128", 128)
    with pytest.raises(align.AlignmentError, match="unknown alignment template"):
        align.template_points("nope", 112)
