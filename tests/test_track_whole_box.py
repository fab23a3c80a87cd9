"""A face half behind another is boxed by the detector by the part that shows; the track's box
on screen is the whole face's: grown, on the side of the face in front, to a whole face's shape,
no further than that face's box. A face seen whole, or one with no face against it, keeps its box."""

import numpy as np

from bridge.track.tracker import Tracker
from bridge.types import Face
from tests.track_scenes import boxed_face, textured

IMAGE = textured()


def face(box: tuple[float, float, float, float], landmarks: float) -> Face:
    return boxed_face(box, landmarks, outline=True)


BEHIND = (100.0, 40.0, 170.0, 95.0)  # the top of a face: 70 px wide, only 55 px of it shows
FRONT = (80.0, 90.0, 200.0, 235.0)  # the face in front, below it, covering its chin


def boxes(faces: list[Face]) -> dict[float, np.ndarray]:
    """{left edge of the detection: shown box} after the faces were found on three frames."""
    tracker = Tracker(None)
    for k in range(3):
        tracks = tracker.update(IMAGE, faces, k / 15)
    return {min((float(f.box[0]) for f in faces), key=lambda x: abs(x - float(t.face.box[0]))): t.face.box
            for t in tracks}


def test_a_face_half_behind_another_is_shown_whole():
    box = boxes([face(BEHIND, 0.1), face(FRONT, 1.0)])[100.0]
    height = float(box[3] - box[1])
    assert 1.2 * 70 <= height <= 1.3 * 70  # a whole face's shape, grown down behind the face in front
    assert abs(float(box[1]) - 40) < 3 and abs(float(box[0]) - 100) < 3 and abs(float(box[2]) - 170) < 3
    front = boxes([face(BEHIND, 0.1), face(FRONT, 1.0)])[80.0]
    assert abs(float(front[3] - front[1]) - 145) < 3  # the face in front keeps its own box


def test_a_face_seen_whole_or_alone_keeps_its_box():
    for faces in ([face(BEHIND, 1.0), face(FRONT, 1.0)], [face(BEHIND, 0.1)]):
        box = boxes(faces)[100.0]
        assert abs(float(box[3] - box[1]) - 55) < 3
