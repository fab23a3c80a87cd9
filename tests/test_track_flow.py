import cv2
import numpy as np

from bridge.track.flow import KeypointFlow, warp_face
from bridge.types import Face


def _textured(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (60, 80), dtype=np.uint8)
    return cv2.GaussianBlur(cv2.resize(small, (320, 240), interpolation=cv2.INTER_NEAREST), (0, 0), 1.5)


def _face() -> Face:
    kps = np.array([[140, 110], [180, 110], [160, 130], [145, 150], [175, 150]], np.float32)
    return Face(box=np.array([120, 80, 200, 170], np.float32), score=0.9, kps5=kps)


def test_shift_moves_box_and_keypoints_with_the_image():
    prev = _textured()
    m = np.float32([[1, 0, 6], [0, 1, -4]])
    cur = cv2.warpAffine(prev, m, (320, 240), borderMode=cv2.BORDER_REFLECT)
    flow = KeypointFlow()
    face = _face()
    (matrix,) = flow.predict(prev, cur, [flow.seed(prev, face)])
    moved = warp_face(matrix, face)
    assert np.abs(moved.kps5 - (face.kps5 + [6, -4])).max() < 0.5
    assert np.abs(moved.box - (face.box + [6, -4, 6, -4])).max() < 0.5


def test_rotation_and_scale_are_followed():
    prev = _textured(1)
    m = cv2.getRotationMatrix2D((160, 125), 8, 1.1).astype(np.float32)
    cur = cv2.warpAffine(prev, m, (320, 240), borderMode=cv2.BORDER_REFLECT)
    flow = KeypointFlow()
    face = _face()
    (matrix,) = flow.predict(prev, cur, [flow.seed(prev, face)])
    expected = face.kps5 @ m[:, :2].T + m[:, 2]
    assert np.abs(warp_face(matrix, face).kps5 - expected).max() < 1.0


def test_flow_fails_when_the_face_vanishes():
    prev = _textured(2)
    cur = np.full_like(prev, 128)  # the scene is gone (cut to a flat slate)
    flow = KeypointFlow()
    assert flow.predict(prev, cur, [flow.seed(prev, _face())]) == [None]
