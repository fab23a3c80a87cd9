"""Tracker behaviour on generated clips with ground-truth detections (no models needed)."""

import numpy as np
import pytest

from bridge.track.metrics import clear_mot, identity_scores
from bridge.track.tracker import Tracker
from bridge.types import Face
from tests import clips


@pytest.fixture(scope="module")
def crossing():
    return clips.crossing()


@pytest.fixture(scope="module")
def reentry():
    return clips.exit_and_reenter()


def truth_detector(clip, jitter=1.0):
    return lambda image, i: clips.truth_faces(clip, i, jitter)


def scores(clip, result):
    truth = [clip.truth_boxes(i) for i in range(len(clip))]
    return clear_mot(truth, result.hypothesis), identity_scores(truth, result.hypothesis)


def test_crossing_faces_keep_their_ids(crossing):
    result = clips.run(crossing, Tracker(clips.TruthEmbedder(crossing)), truth_detector(crossing))
    mot, ident = scores(crossing, result)
    assert mot.id_switches == 0
    assert ident.idf1 > 0.95
    assert all(len(v) == 1 for v in clips.identity_of(crossing, result).values())


def test_exit_and_reentry_returns_the_same_id(reentry):
    tracker = Tracker(clips.TruthEmbedder(reentry))
    result = clips.run(reentry, tracker, truth_detector(reentry))
    ids = clips.identity_of(reentry, result)
    assert len(ids[3]) == 1 and len(ids[0]) == 1
    assert tracker.stats.reidentified >= 1


def test_detect_every_third_frame_still_covers_every_frame(crossing):
    result = clips.run(crossing, Tracker(clips.TruthEmbedder(crossing)), truth_detector(crossing), every=3)
    assert clips.uncovered(crossing, result, every=3) == []
    assert scores(crossing, result)[0].id_switches == 0


def test_tracks_coast_on_flow_between_detections(crossing):
    result = clips.run(crossing, Tracker(), truth_detector(crossing), every=3)
    states = {t.state for tracks in result.tracks[1::3] for t in tracks}
    assert states == {"coasting"}


def test_embeddings_are_computed_sparingly(crossing):
    embedder = clips.TruthEmbedder(crossing)
    clips.run(crossing, Tracker(embedder, recheck_s=2.0), truth_detector(crossing))
    faces_seen = sum(len(t) for t in crossing.truth)
    assert embedder.calls <= faces_seen / 10


def test_without_an_embedder_a_returning_person_gets_a_new_id(reentry):
    result = clips.run(reentry, Tracker(None), truth_detector(reentry))
    assert len(clips.identity_of(reentry, result)[3]) == 2


def _still_image():
    rng = np.random.default_rng(0)
    import cv2
    small = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
    return cv2.GaussianBlur(cv2.resize(small, (320, 240), interpolation=cv2.INTER_NEAREST), (0, 0), 2)


def _face(x=100.0):
    kps = np.array([[x + 20, 100], [x + 50, 100], [x + 35, 115], [x + 22, 130], [x + 48, 130]], np.float32)
    return Face(box=np.array([x, 80, x + 70, 150], np.float32), score=0.9, kps5=kps)


def test_a_track_that_coasts_too_long_is_dropped():
    image = _still_image()
    tracker = Tracker(max_coast_s=0.5)
    tracker.update(image, [_face()], 0.0)
    kept = [tracker.update(image, [], i / 30) for i in range(1, 30)]
    assert len(kept[10]) == 1 and kept[10][0].state == "coasting"  # covered while it coasts
    assert kept[-1] == []


def test_a_track_whose_flow_fails_is_dropped():
    image = _still_image()
    tracker = Tracker()
    tracker.update(image, [_face()], 0.0)
    assert tracker.update(np.full_like(image, 90), None, 1 / 30) == []


def test_reidentification_restarts_smoothing_and_forgetting_makes_a_new_id():
    image = _still_image()
    person = np.eye(8, dtype=np.float32)[0]
    tracker = Tracker(lambda img, faces: [person for _ in faces], forget_s=5.0)
    (first,) = tracker.update(image, [_face(40)], 0.0)
    tracker.update(image, [], 1.0)
    tracker.update(image, [], 2.5)  # coasted past max_coast_s: lost
    (back,) = tracker.update(image, [_face(200)], 3.0)
    assert back.id == first.id and back.reidentified == 1
    assert np.allclose(back.face.kps5, _face(200).kps5)  # no smear from where it was last seen
    tracker.update(image, [], 4.5)
    (later,) = tracker.update(image, [_face(200)], 20.0)
    assert later.id != first.id


def test_a_near_tie_between_lost_tracks_does_not_pick_one():
    image = _still_image()
    a, b = np.eye(8, dtype=np.float32)[:2]
    twin = (a + b) / np.linalg.norm(a + b)  # equally like both lost people
    queue = [[a, b], [twin]]
    tracker = Tracker(lambda img, faces: queue.pop(0)[: len(faces)])
    ids = {t.id for t in tracker.update(image, [_face(20), _face(200)], 0.0)}
    tracker.update(np.full_like(image, 90), None, 0.1)  # both lost (a cut)
    (new,) = tracker.update(image, [_face(110)], 0.2)
    assert new.id not in ids


def test_a_face_first_seen_cut_by_the_frame_edge_is_recognised_when_it_returns():
    """Walking in, the first crop is half a face (cut by the frame's edge) and embeds like nobody;
    the first good crop replaces it at once (not at the next periodic re-check), so the person
    who steps out and comes back gets their id back."""
    import cv2

    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(cv2.resize(small, (320, 240), interpolation=cv2.INTER_NEAREST), (0, 0), 1.0)
    person, nobody = np.eye(8, dtype=np.float32)[:2]

    def embed(img, faces):  # the recogniser: half a face at the edge is unlike the person
        return [nobody if f.box[0] <= 1 else person for f in faces]

    def at(x):
        f = _face(x)
        f.box = np.clip(f.box, 0, 319)
        return f

    tracker = Tracker(embed, recheck_s=2.0, max_coast_s=0.3)
    (first,) = tracker.update(image, [at(-30.0)], 0.0)  # cut by the left edge
    for k in range(1, 6):
        tracker.update(image, [at(-30.0 + 12 * k)], k / 30)
    for k in range(6, 20):
        tracker.update(image, [], k / 30)  # stepped out: lost
    assert tracker.lost_ids == [first.id]
    (back,) = tracker.update(image, [at(200.0)], 1.0)  # well within recheck_s of the first crop
    assert back.id == first.id and back.slot == first.slot
