"""A face cut by the frame's edge is boxed by the detector by the part inside: the box stops at
the border. The track's box on screen is the whole face's: grown past that border to a whole
face's shape (the other side is whole). A whole face inside the frame, or one touching the border
with a whole face's shape, keeps its box."""

import numpy as np

from bridge.track.tracker import Tracker
from tests.track_scenes import boxed_face, textured

IMAGE = textured()  # 320 x 240


def shown(box: tuple[float, float, float, float]) -> np.ndarray:
    """The box shown for a face detected at `box` on three frames."""
    tracker = Tracker(None)
    for k in range(3):
        tracks = tracker.update(IMAGE, [boxed_face(box, 1.0, outline=True)], k / 15)
    assert len(tracks) == 1
    return tracks[0].face.box


def test_a_face_cut_by_the_left_edge_is_shown_whole():
    box = shown((0.0, 60.0, 50.0, 160.0))  # 100 px tall, 50 of its 80 px width inside
    assert abs(float(box[2]) - 50) < 2 and abs(float(box[1]) - 60) < 2 and abs(float(box[3]) - 160) < 2
    assert abs(float(box[2] - box[0]) - 100 / Tracker.WHOLE_ASPECT) < 2  # past the border: x0 < 0


def test_a_face_cut_by_the_top_edge_is_shown_whole():
    box = shown((100.0, 0.0, 180.0, 60.0))  # 80 px wide, its brow above the picture
    assert abs(float(box[3]) - 60) < 2 and abs(float(box[0]) - 100) < 2
    assert abs(float(box[3] - box[1]) - 80 * Tracker.WHOLE_ASPECT) < 2


def test_a_whole_face_keeps_its_box_inside_or_at_the_border():
    for box in ((100.0, 60.0, 180.0, 160.0), (0.0, 60.0, 80.0, 160.0), (240.0, 140.0, 320.0, 240.0)):
        out = shown(box)
        assert np.abs(out - np.float32(box)).max() < 2
