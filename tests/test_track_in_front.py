"""A small face in front of a bigger one, missed by the detector on a frame where the box it
returns is the bigger face's, is not taken for hidden behind it: of two overlapping faces the
landmarker is sure of the one in front and unsure of the one behind, and the front face's patch
still looks as it did. A face whose patch changed, or inside a box the landmarker is sure of,
is still hidden (it waits for re-identification)."""


from bridge.track.tracker import Tracker
from tests.track_scenes import boxed_face as face, textured

IMAGE = textured()


SMALL = (150.0, 100.0, 195.0, 155.0)  # the face in front
BIG = (110.0, 60.0, 250.0, 210.0)  # the face behind it, its box holding the small one whole


def two_faces(tracker: Tracker) -> int:
    """Both faces found, sure, for a few detection frames; the small face's track id."""
    for k in range(3):
        tracks = tracker.update(IMAGE, [face(BIG, 1.0), face(SMALL, 1.0)], k / 15)
    return min(tracks, key=lambda t: float(t.face.box[2] - t.face.box[0])).id


def test_a_face_in_front_of_a_bigger_one_the_detector_missed_stays_drawn():
    tracker = Tracker(None)
    small = two_faces(tracker)
    tracks = tracker.update(IMAGE, [face(BIG, 0.3)], 3 / 15)  # only the face behind, partly covered: unsure
    assert small in [t.id for t in tracks]
    assert small not in tracker.lost_ids
    tracks = tracker.update(IMAGE, [face(BIG, 0.3), face(SMALL, 1.0)], 4 / 15)
    shown = {t.id: t for t in tracks}
    assert small in shown and float(shown[small].face.box[2] - shown[small].face.box[0]) < 60


def test_inside_a_box_the_landmarker_is_sure_of_it_is_hidden():
    tracker = Tracker(None)
    small = two_faces(tracker)
    tracks = tracker.update(IMAGE, [face(BIG, 0.95)], 3 / 15)  # the bigger face seen whole: it is in front
    assert small not in [t.id for t in tracks]
    assert small in tracker.lost_ids


def test_a_face_whose_patch_changed_inside_an_unsure_box_is_hidden():
    tracker = Tracker(None)
    small = two_faces(tracker)
    other = IMAGE.copy()
    x0, y0, x1, y1 = (int(v) for v in SMALL)
    other[y0 - 5:y1 + 5, x0 - 5:x1 + 5] = textured(1)[y0 - 5:y1 + 5, x0 - 5:x1 + 5]  # something else covers it now
    tracks = tracker.update(other, [face(BIG, 0.3)], 3 / 15)
    assert small not in [t.id for t in tracks]
    assert small in tracker.lost_ids
