"""The behaviours issue 14 names, on rendered clips with ground-truth detections (no models, so
each runs in a second): a swap is drawn only where a face is, new faces are covered at once,
people who come back keep their id, and the face slots stay put."""

import numpy as np
import pytest

from bridge.faces.boxes import iou_matrix
from bridge.track.tracker import Tracker
from tests import clips
from tests.clips import Actor, Key


def truth_detector(clip, drop=None):
    """Truth as detections; `drop(i, truth)` True leaves a face undetected on frame i."""
    def detect(image, i):
        faces = clips.truth_faces(clip, i, jitter=1.0)
        if drop is None:
            return faces
        return [f for f, t in zip(faces, clip.truth[i]) if not drop(i, t)]
    return detect


def ghosts(clip, result):
    """(frame, track id) of drawn tracks with IoU < 0.3 to every real face of that frame."""
    out = []
    for i in range(len(clip)):
        _, boxes = clip.truth_boxes(i)
        ids, drawn = result.hypothesis[i]
        iou = iou_matrix(drawn, boxes)
        for n, tid in enumerate(ids):
            if iou.shape[1] == 0 or iou[n].max() < 0.3:
                out.append((i, tid))
    return out


def test_a_face_that_vanishes_in_place_is_not_drawn_on_the_wall():
    """A person ducks out of shot behind the desk: from the next frame on nothing is drawn there."""
    clip = clips.render([Actor(2, [Key(0, 220, 180, 100), Key(30, 230, 180, 100)]),
                         Actor(5, [Key(0, 450, 190, 95), Key(59, 440, 190, 95)])], frames=60, seed=3)
    tracker = Tracker(clips.TruthEmbedder(clip))
    result = clips.run(clip, tracker, truth_detector(clip))
    assert len(ghosts(clip, result)) <= 1
    assert sum(tracker.stats.hidden.values()) >= 1
    assert all(len(result.tracks[i]) == 1 for i in range(33, 60))  # the other face stays covered


def test_a_face_leaving_the_frame_ends_with_it_even_between_detections():
    clip = clips.render([Actor(1, [Key(0, 300, 180, 100), Key(24, -70, 170, 100), Key(59, -70, 170, 100)])],
                        frames=60, seed=4)
    result = clips.run(clip, Tracker(clips.TruthEmbedder(clip)), truth_detector(clip), every=3)
    assert len(ghosts(clip, result)) <= 1
    assert all(len(t) == 0 for t in result.tracks[30:])


def test_a_missed_detection_on_a_face_that_is_there_keeps_it_covered():
    """Evidence, not a timer: the detector misses a face for ten frames; flow and its look
    keep it drawn (the real face never shows)."""
    clip = clips.render([Actor(2, [Key(0, 200, 180, 100), Key(59, 420, 190, 100, 8)])], frames=60, seed=5)
    result = clips.run(clip, Tracker(clips.TruthEmbedder(clip)), truth_detector(clip, lambda i, t: 20 <= i < 30))
    assert clips.uncovered(clip, result) == []
    assert {t.state for i in range(21, 30) for t in result.tracks[i]} == {"coasting"}
    assert len({t.id for tracks in result.tracks for t in tracks}) == 1


def test_a_face_entering_right_beside_another_is_covered_from_its_first_detection():
    w = 640
    clip = clips.render([Actor(2, [Key(0, 0.5 * w, 180, 100), Key(59, 0.52 * w, 180, 100)]),
                         Actor(5, [Key(0, w + 60, 175, 95), Key(15, w + 60, 175, 95), Key(35, 0.7 * w, 180, 95),
                                   Key(59, 0.68 * w, 182, 95)])], frames=60, seed=6)
    tracker = Tracker(clips.TruthEmbedder(clip))
    result = clips.run(clip, tracker, truth_detector(clip))
    first = next(i for i in range(len(clip)) if 5 in clip.truth_boxes(i)[0])
    assert [(i, tid) for i, tid in clips.uncovered(clip, result) if tid == 5 and i < first + 3] == []
    assert {k: len(v) for k, v in clips.identity_of(clip, result).items()} == {2: 1, 5: 1}


@pytest.mark.parametrize("every", [1, 3])
def test_repeated_exit_and_reentry_on_every_edge_keeps_one_id(every):
    """Person 3 leaves and comes back four times, across each edge in turn."""
    w, h = 640, 360
    keys, f = [Key(0, 420, 180, 90)], 0
    for out in [(w + 80, 180), (420, -80), (-80, 200), (420, h + 80)]:
        keys += [Key(f + 10, *out, 90), Key(f + 22, *out, 90), Key(f + 34, 420, 185, 90)]
        f += 34
    clip = clips.render([Actor(0, [Key(0, 160, 180, 95), Key(f, 170, 185, 95)]), Actor(3, keys)], frames=f + 1, seed=7)
    tracker = Tracker(clips.TruthEmbedder(clip))
    result = clips.run(clip, tracker, truth_detector(clip), every=every)
    assert {k: len(v) for k, v in clips.identity_of(clip, result).items()} == {0: 1, 3: 1}
    assert tracker.stats.reidentified >= 4
    assert len(ghosts(clip, result)) <= 2 * every


def test_a_detection_on_a_coasting_track_takes_it_over():
    """The coasting track lags a fast face; the next detection is beyond the motion gates but
    still on it: the face keeps its track instead of getting a second one beside it."""
    from bridge.types import Face
    image = np.random.default_rng(0).integers(0, 255, (240, 320, 3), np.uint8)
    tracker = Tracker()
    box = np.array([100, 80, 170, 150], np.float32)
    (a,) = tracker.update(image, [Face(box=box, score=0.9)], 0.0)
    tracker.update(image, [], 1 / 30)  # coasting
    shifted = Face(box=box + np.float32([40, 0, 40, 0]), score=0.9)  # centre 0.57 face sizes away, IoU 0.27
    tracks = tracker.update(image, [shifted], 2 / 30)
    assert [t.id for t in tracks] == [a.id]


def test_slots_stay_with_their_people_through_crossing_and_reentry():
    clip = clips.exit_and_reenter()
    result = clips.run(clip, Tracker(clips.TruthEmbedder(clip)), truth_detector(clip))
    slot_of: dict[int, set] = {}
    for tracks in result.tracks:
        assert len({t.slot for t in tracks}) == len(tracks)  # never two faces in one slot
        for t in tracks:
            slot_of.setdefault(t.id, set()).add(t.slot)
    assert all(len(s) == 1 for s in slot_of.values()) and sorted(min(s) for s in slot_of.values()) == [1, 2]


def test_a_track_drifting_onto_another_face_ends_instead_of_doubling_it():
    from bridge.track.flow import KeypointFlow
    from bridge.types import Face

    class Drift(KeypointFlow):  # the first track's flow slides onto its neighbour; the second stays
        def predict_counted(self, prev, cur, point_sets, shifts=None):
            moves = [np.float32([[1, 0, 80], [0, 1, 0]])] + [np.float32([[1, 0, 0], [0, 1, 0]])] * (len(point_sets) - 1)
            return [(m, 20) for m in moves]

    rng = np.random.default_rng(1)
    image = cv2_blur(rng.integers(0, 255, (240, 400, 3), np.uint8))
    a, b = np.float32([60, 60, 140, 150]), np.float32([140, 60, 220, 150])
    tracker = Tracker(flow=Drift())
    tracker.update(image, [Face(box=a, score=0.9), Face(box=b, score=0.9)], 0.0)
    tracks = tracker.update(image, [Face(box=b, score=0.9)], 1 / 30)  # only b detected; a drifted onto b
    assert len(tracks) == 1 and tracks[0].state == "detected"


def cv2_blur(image):
    import cv2
    return cv2.GaussianBlur(image, (0, 0), 2)


def test_a_coasting_fragment_inside_a_detected_face_ends():
    """A false detection of part of a face (its eyes, above an occluder) became a track; once the
    whole face is detected with a track of its own, the fragment is not drawn beside it."""
    from bridge.track.flow import KeypointFlow
    from bridge.types import Face

    class Still(KeypointFlow):
        def predict_counted(self, prev, cur, point_sets, shifts=None):
            return [(np.float32([[1, 0, 0], [0, 1, 0]]), 20) for _ in point_sets]

    image = cv2_blur(np.random.default_rng(2).integers(0, 255, (240, 320, 3), np.uint8))
    tracker = Tracker(flow=Still())
    whole = Face(box=np.float32([100, 60, 200, 200]), score=0.9)
    fragment = Face(box=np.float32([125, 60, 175, 110]), score=0.8)
    tracker.update(image, [fragment], 0.0)
    tracks = tracker.update(image, [whole], 1 / 30)
    assert len(tracks) == 1 and tracks[0].state == "detected"


def test_a_one_off_detection_beside_a_face_is_not_kept_as_a_second_person():
    """Seen once (a false detection on the brow of a face), missed by the next detection right
    against that face: it stops at once rather than coasting beside it for a second."""
    from bridge.track.flow import KeypointFlow
    from bridge.types import Face

    class Still(KeypointFlow):
        def predict_counted(self, prev, cur, point_sets, shifts=None):
            return [(np.float32([[1, 0, 0], [0, 1, 0]]), 20) for _ in point_sets]

    image = cv2_blur(np.random.default_rng(4).integers(0, 255, (240, 320, 3), np.uint8))
    tracker = Tracker(flow=Still())
    face = Face(box=np.float32([100, 100, 200, 220]), score=0.9)
    brow = Face(box=np.float32([120, 60, 180, 120]), score=0.75)  # a third of it on the face
    tracker.update(image, [face], 0.0)
    assert len(tracker.update(image, [face, brow], 1 / 30)) == 2
    tracks = tracker.update(image, [face], 2 / 30)
    assert len(tracks) == 1 and tracker.stats.hidden["unconfirmed"] == 1


def test_ids_swapped_in_a_crossing_are_given_back_once_the_faces_part():
    """Motion alone hands the two ids over while the faces overlap; the re-check right after
    they part gives each person their id back."""
    from bridge.types import Face

    image = cv2_blur(np.random.default_rng(5).integers(0, 255, (240, 400, 3), np.uint8))
    people = {"left": np.eye(8, dtype=np.float32)[0], "right": np.eye(8, dtype=np.float32)[1]}
    who: dict[float, str] = {}  # the person at each detection's x on the current frame
    # appearance is kept out of matching (no near-ties), so motion alone pairs the crossing faces
    tracker = Tracker(lambda img, fs: [people[who[float(f.box[0])]] for f in fs], ambiguity_margin=0.0)

    def faces(*pairs):
        who.clear()
        who.update({float(x): p for x, p in pairs})
        return [Face(box=np.float32([x, 60, x + 80, 150]), score=0.9) for x, _ in pairs]

    first = {t.face.box[0]: t.id for t in tracker.update(image, faces((60, "left"), (260, "right")), 0.0)}
    left_id, right_id = first[60.0], first[260.0]
    tracker.update(image, faces((150, "left"), (170, "right")), 0.1)  # overlapping: near
    for t in (0.13, 0.16):  # they stand a moment, overlapping (their velocities die down)
        tracker.update(image, faces((150, "left"), (170, "right")), t)
    # they pass each other; motion pairs by position, so the ids follow the wrong faces
    swapped = tracker.update(image, faces((148, "right"), (172, "left")), 0.2)
    assert {t.id: float(t.face.box[0]) for t in swapped}[left_id] < 160  # on the right person now
    tracker.update(image, faces((100, "right"), (220, "left")), 0.3)  # apart again
    tracks = tracker.update(image, faces((60, "right"), (260, "left")), 0.4)
    by_id = {t.id: float(t.face.box[0]) for t in tracks}
    assert by_id[left_id] > 200 > 100 > by_id[right_id]
    assert tracker.stats.identity_swaps == 1
