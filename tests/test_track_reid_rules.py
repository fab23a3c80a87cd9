"""The re-identification rules of a returning face, one by one, on a still picture with a
scripted recogniser (each crop's embedding chosen by where the face is): a weak embedding
that points at one lost person, the check of a young track's first good crops, relabelled
newcomers that leave no lost "person" behind, covered crops, reclaiming a face, what a gallery
learns, and the embedding budget."""

import cv2
import numpy as np

from bridge.track.gallery import crop_quality
from bridge.track.tracker import Tracker
from bridge.types import Face

A, B, C, NOISE = np.eye(16, dtype=np.float32)[:4]


def weak(v: np.ndarray, s: float = 0.4) -> np.ndarray:
    """An embedding with cosine `s` to `v` (half a face: the recogniser is unsure)."""
    return (s * v + np.sqrt(1 - s * s) * NOISE).astype(np.float32)


def picture() -> np.ndarray:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (80, 107, 3), dtype=np.uint8)  # fine texture: crops pass the sharpness gate
    return cv2.GaussianBlur(cv2.resize(small, (320, 240), interpolation=cv2.INTER_NEAREST), (0, 0), 1.0)


def face(x: float) -> Face:
    kps = np.array([[x + 20, 100], [x + 50, 100], [x + 35, 115], [x + 22, 130], [x + 48, 130]], np.float32)
    return Face(box=np.clip(np.array([x, 80, x + 70, 150], np.float32), 0, 319), score=0.9, kps5=kps)


IMAGE = picture()
GONE = np.full_like(IMAGE, 90)  # a cut: every track's flow fails, all are lost


def good(x: float) -> bool:
    return crop_quality(cv2.cvtColor(IMAGE, cv2.COLOR_BGR2GRAY), face(x)) is None


def scripted(by_x):
    calls = []

    def embed(image, faces):
        calls.append(len(faces))
        return [by_x(float(f.box[0])) for f in faces]

    embed.calls = calls
    return embed


def test_the_scene_gives_good_crops_inside_and_poor_ones_at_the_edge():
    assert good(240.0) and good(120.0) and not good(-20.0)


def lose_after_seeing(tracker, x, t0=0.0):
    (first,) = tracker.update(IMAGE, [face(x)], t0)
    tracker.update(IMAGE, [face(x)], t0 + 0.2)
    assert tracker.update(GONE, None, t0 + 0.3) == []
    return first


def test_half_a_face_at_the_edge_that_points_at_one_lost_person_keeps_their_id_at_once():
    embed = scripted(lambda x: weak(A) if x <= 1 else A)
    tracker = Tracker(embed, recheck_s=2.0)
    first = lose_after_seeing(tracker, 200.0)
    (back,) = tracker.update(IMAGE, [face(-20.0)], 2.0)  # cut by the left edge: cosine 0.4 to the person
    assert back.id == first.id
    (later,) = tracker.update(IMAGE, [face(12.0)], 2.2)  # stepped in: its first good crop confirms it
    assert later.id == first.id and tracker.lost_ids == []


def test_a_weak_match_that_the_first_good_crop_contradicts_becomes_someone_new():
    embed = scripted(lambda x: weak(A) if x <= 1 else (A if x > 230 else B))
    tracker = Tracker(embed, recheck_s=2.0)
    first = lose_after_seeing(tracker, 240.0)
    (back,) = tracker.update(IMAGE, [face(-20.0)], 2.0)
    assert back.id == first.id  # the best guess while only half a face shows
    (stranger,) = tracker.update(IMAGE, [face(12.0)], 2.2)  # stepped in: a good crop of someone else
    assert stranger.id != first.id
    assert tracker.lost_ids == [first.id]  # the person still waits, as they were
    tracker.update(GONE, None, 2.3)
    assert sorted(tracker.lost_ids) == sorted([first.id, stranger.id])
    (again,) = tracker.update(IMAGE, [face(240.0)], 4.0)  # the person comes back for real
    assert again.id == first.id


def test_a_weak_embedding_like_two_lost_people_names_neither():
    twin = (A + B) / np.linalg.norm(A + B)
    embed = scripted(lambda x: weak(twin) if x <= 1 else (A if x > 200 else B))
    tracker = Tracker(embed, recheck_s=2.0)
    tracker.update(IMAGE, [face(100.0), face(220.0)], 0.0)
    tracker.update(IMAGE, [face(100.0), face(220.0)], 0.2)
    tracker.update(GONE, None, 0.3)
    lost = set(tracker.lost_ids)
    (new,) = tracker.update(IMAGE, [face(-20.0)], 2.0)
    assert new.id not in lost


def test_a_young_track_whose_first_crop_misled_is_relabelled_on_its_next_good_crop():
    """The first crop passed the quality gate but embedded like nobody (a shadow, a hand): the
    newcomer's next good crop is compared with the lost people again, and the person returns
    under their old id; the newcomer's id is dropped, not kept as a lost person."""
    seen = []

    def by_x(x):
        seen.append(x)
        return C if len(seen) == 3 else A  # the third crop (the return's first) is a poor one

    tracker = Tracker(scripted(by_x), recheck_s=2.0)
    first = lose_after_seeing(tracker, 200.0)
    (newcomer,) = tracker.update(IMAGE, [face(120.0)], 2.0)
    assert newcomer.id != first.id
    (back,) = tracker.update(IMAGE, [face(122.0)], 2.15)  # within young_s: re-checked
    assert back.id == first.id
    assert tracker.lost_ids == []  # the newcomer's id names nobody


def test_unused_embedding_budget_carries_one_frame_and_no_further():
    embed = scripted(lambda x: A if x < 100 else (B if x < 200 else C))
    tracker = Tracker(embed, embed_budget=1)
    tracker.update(IMAGE, None, 0.0)  # no faces: the budget is left
    tracker.update(IMAGE, None, 0.03)
    tracker.update(IMAGE, [face(20.0), face(120.0), face(240.0)], 0.07)
    assert embed.calls == [2]  # one frame's budget plus the one before's, never three


def test_two_agreeing_good_crops_of_a_newcomer_outvote_a_misleading_first_one():
    """Nobody is lost to compare with, so nothing can be relabelled: the newcomer's gallery itself
    is repaired, and the person is recognised when they come back."""
    seen = []

    def by_x(x):
        seen.append(x)
        return C if len(seen) == 1 else A

    tracker = Tracker(scripted(by_x), recheck_s=2.0)
    (first,) = tracker.update(IMAGE, [face(120.0)], 0.0)
    for k, t in enumerate((0.15, 0.3, 0.45)):
        tracker.update(IMAGE, [face(122.0 + 2 * k)], t)
    assert len(seen) >= 3
    tracker.update(GONE, None, 0.5)
    (back,) = tracker.update(IMAGE, [face(200.0)], 3.0)
    assert back.id == first.id


def test_a_crop_another_face_covers_is_a_poor_one():
    gray = cv2.cvtColor(IMAGE, cv2.COLOR_BGR2GRAY)
    f = face(100.0)  # 70 × 70 at (100, 80)
    beside = np.float32([[165, 80, 235, 150]])  # overlaps 5 px: 7 % of it
    over = np.float32([[140, 80, 210, 150]])  # 30 px: 43 %
    assert crop_quality(gray, f, others=beside) is None
    assert crop_quality(gray, f, others=over) == "covered"


def test_a_track_motion_put_on_the_wrong_face_takes_its_own_face_back():
    """Someone steps in where A was; A's own face shows elsewhere. Motion gives A's track the
    stranger; appearance (A's face clearly A, the stranger clearly not) gives it back, and the
    stranger gets an id of their own."""
    look = {100: A}

    def embed(image, faces):
        return [look.get(int(round(float(f.box[0]))), C) for f in faces]

    tracker = Tracker(embed, recheck_s=2.0)
    (a,) = tracker.update(IMAGE, [face(100.0)], 0.0)
    look.clear()
    look.update({104: C, 240: A})
    tracks = {int(round(float(t.face.box[0]))): t.id
              for t in tracker.update(IMAGE, [face(104.0), face(240.0)], 0.1)}
    assert tracks[240] == a.id and tracks[104] != a.id
    assert tracker.stats.reclaimed == 1


def test_a_crop_only_half_like_the_person_is_not_learnt():
    """A crop that is only half like the track's person (two faces overlapping as one detection)
    would teach the gallery the other face too, and that face could later take the person's id."""
    mix = (0.4 * A + np.sqrt(1 - 0.16) * B).astype(np.float32)
    look = {100: A, 102: mix, 200: B}

    def embed(image, faces):
        return [look[int(round(float(f.box[0])))] for f in faces]

    tracker = Tracker(embed, recheck_s=1.0)
    (a,) = tracker.update(IMAGE, [face(100.0)], 0.0)
    tracker.update(IMAGE, [face(102.0)], 1.2)  # the periodic re-check: cosine 0.4
    assert tracker.update(GONE, None, 1.3) == []
    (other,) = tracker.update(IMAGE, [face(200.0)], 3.0)
    assert other.id != a.id


def test_a_person_waiting_under_two_lost_ids_comes_back_as_one_and_keeps_it():
    # two tracks learnt the same person (a second id started while the first was on someone
    # else's face); both lost: the person's return is no tie between their own two ids
    embed = scripted(lambda x: A)
    tracker = Tracker(embed, recheck_s=2.0)
    tracker.update(IMAGE, [face(60.0), face(200.0)], 0.0)
    tracker.update(IMAGE, [face(60.0), face(200.0)], 0.2)
    tracker.update(GONE, None, 0.3)
    twice = set(tracker.lost_ids)
    assert len(twice) == 2
    (back,) = tracker.update(IMAGE, [face(200.0)], 2.0)
    assert back.id in twice and tracker.lost_ids == []  # the other id named nobody: dropped
    assert tracker.stats.merged == 1
    tracker.update(IMAGE, [face(200.0)], 2.2)
    tracker.update(GONE, None, 2.3)
    (again,) = tracker.update(IMAGE, [face(120.0)], 4.0)
    assert again.id == back.id


def test_two_lost_people_are_not_merged_by_a_face_like_one_of_them():
    embed = scripted(lambda x: A if x < 150 else B)
    tracker = Tracker(embed, recheck_s=2.0)
    tracker.update(IMAGE, [face(60.0), face(200.0)], 0.0)
    tracker.update(IMAGE, [face(60.0), face(200.0)], 0.2)
    tracker.update(GONE, None, 0.3)
    lost = sorted(tracker.lost_ids)
    (back,) = tracker.update(IMAGE, [face(60.0)], 2.0)
    assert back.id in lost and sorted(tracker.lost_ids) == [i for i in lost if i != back.id]
    assert tracker.stats.merged == 0


def test_a_crop_the_landmarker_doubts_is_replaced_by_the_first_sure_one():
    """crossing-4@holdout: a face's first box had landmark score 0.0, its crop aligned on doubtful
    points embedded like nobody (0.1 to every later crop of the face) and was kept as the person's
    look; no later crop was like it, so none was learnt, and the face lost its id to a new track as
    another face passed behind it. A crop the landmarker doubts is a poor one: the first sure crop
    replaces it."""
    seen = []

    def by_x(x):
        seen.append(x)
        return B if len(seen) == 1 else A  # the doubted first crop embeds like nobody

    tracker = Tracker(scripted(by_x), recheck_s=2.0)
    doubted = face(200.0)
    doubted.landmarks68, doubted.landmark_score = np.zeros((68, 2), np.float32), 0.1
    tracker.update(IMAGE, [doubted], 0.0)
    (first,) = tracker.update(IMAGE, [face(200.0)], 0.2)  # sure: confirmed, and its crop learnt
    tracker.update(GONE, None, 0.3)
    (back,) = tracker.update(IMAGE, [face(120.0)], 2.0)
    assert back.id == first.id
