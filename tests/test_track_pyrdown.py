"""The flow pyramid's halving (bridge/track/pyrdown.py) gives cv2.pyrDown's bytes: on a 1080p
scene of real faces, on noise and flat images of odd and even sizes down to 3 px, and on views."""

import cv2
import numpy as np
import pytest

from benchmarks import bench_tracking_cost as bench
from bridge.track.flow import KeypointFlow
from bridge.track.pyrdown import pyr_down


def test_a_1080p_frame_of_real_faces_and_its_pyramid_are_opencvs():
    gray = cv2.cvtColor(bench.render_1080(bench.scene_1080(0, 1)).frames[0], cv2.COLOR_BGR2GRAY)
    ours = KeypointFlow().pyramid(gray)
    assert [level.shape for level in ours] == [(1080, 1920), (540, 960), (270, 480), (135, 240)]
    expected = gray
    for level in ours[1:]:
        expected = cv2.pyrDown(expected)
        assert level.dtype == np.uint8 and np.array_equal(level, expected)


@pytest.mark.parametrize("shape", [(3, 3), (3, 4), (4, 3), (5, 7), (6, 6), (23, 41), (36, 51), (135, 240), (541, 963)])
def test_every_size_and_edge_is_opencvs(shape):
    rng = np.random.default_rng(shape[0] * 1000 + shape[1])
    for image in (rng.integers(0, 256, shape, dtype=np.uint8), np.full(shape, 255, np.uint8),
                  np.zeros(shape, np.uint8), (rng.random(shape) > 0.5).astype(np.uint8) * 255):
        ours, theirs = pyr_down(image), cv2.pyrDown(image)
        assert ours.shape == theirs.shape and np.array_equal(ours, theirs)


def test_a_view_into_a_larger_image_and_other_images_are_opencvs():
    rng = np.random.default_rng(7)
    big = rng.integers(0, 256, (300, 400), dtype=np.uint8)
    view = big[13:250:, 7:333]  # rows of a view are not contiguous with each other
    assert np.array_equal(pyr_down(view), cv2.pyrDown(view))
    colour = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)  # left to OpenCV
    assert np.array_equal(pyr_down(colour), cv2.pyrDown(colour))
    tiny = rng.integers(0, 256, (2, 9), dtype=np.uint8)
    assert np.array_equal(pyr_down(tiny), cv2.pyrDown(tiny))
