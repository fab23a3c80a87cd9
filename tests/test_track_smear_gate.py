"""A face smeared one way by its motion is no crop to learn from, though the sharpness test passes
it (across the smear its edges stay crisp): on the identity suite's fast clips such crops embed
0.03-0.37 like the person, and the galleries learnt from them named the person no one on their
next sharp crop. Real photos of the suite's people with a synthetic line-shaped smear; the
tracker test with a scripted recogniser (which crops it learns is what is asked)."""

import math

import cv2
import numpy as np
import pytest

from bridge.faces.deblur import line_kernel
from bridge.track.gallery import crop_quality, normalise
from bridge.track.tracker import Tracker
from bridge.types import Face
from tests.suite_clips import PEOPLE
from tests.track_scenes import person_scene

HEIGHT = 130.0  # face px tall, about the fast clips' (80-180)


def _face(box, kps) -> Face:
    return Face(box=np.float32(box).copy(), score=0.9, kps5=np.float32(kps).copy(), landmark_score=0.9)


def _smeared(image: np.ndarray, share: float, degrees: float = 0.0) -> np.ndarray:
    length = share * HEIGHT
    return cv2.filter2D(image, -1, line_kernel(length * math.cos(math.radians(degrees)),
                                               length * math.sin(math.radians(degrees))))


def test_a_face_smeared_sideways_is_no_crop_to_learn_from_though_it_measures_sharp():
    """Each of the 8 people smeared sideways by 0.15 and 0.25 face sizes: the gate calls every one
    blurred (the sharpness test alone passed 6 of the 16: people 5-7, whose faces keep crisp
    horizontal edges); each person still is a crop worth learning from."""
    passed_sharpness = 0
    for person in PEOPLE:
        image, box, kps = person_scene(person, HEIGHT)
        assert crop_quality(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), _face(box, kps)) is None
        for share in (0.15, 0.25):
            gray = cv2.cvtColor(_smeared(image, share), cv2.COLOR_BGR2GRAY)
            assert crop_quality(gray, _face(box, kps)) == "blurred"
            passed_sharpness += crop_quality(gray, _face(box, kps), max_smear=0.0) is None
    assert passed_sharpness >= 4  # the smear's length decides these, not the sharpness test


def test_a_short_smear_is_judged_by_the_sharpness_test_alone():
    """A smear of 0.03 face sizes (a face moving slowly): the gate says what the sharpness test says."""
    for person in PEOPLE:
        image, box, kps = person_scene(person, HEIGHT)
        gray = cv2.cvtColor(_smeared(image, 0.03), cv2.COLOR_BGR2GRAY)
        assert crop_quality(gray, _face(box, kps)) == crop_quality(gray, _face(box, kps), max_smear=0.0)


@pytest.fixture(scope="module")
def smeared_scene():
    """Person 6 smeared sideways by a quarter of its face: the sharpness test passes it."""
    image, box, kps = person_scene(PEOPLE[6], HEIGHT)
    image = _smeared(image, 0.25)
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    assert crop_quality(gray, _face(box, kps), max_smear=0.0) is None
    assert crop_quality(gray, _face(box, kps)) == "blurred"
    return image, box, kps


def _gallery_after(scene, step: float) -> int:
    """Entries the face's gallery holds after 10 frames moving `step` px a frame, the picture as
    smeared on every frame; each crop embeds a little unlike the others (0.6), so that each one
    learnt takes an entry of its own."""
    image, box, kps = scene
    basis = np.eye(32, dtype=np.float32)
    asked: list[int] = []

    def embed(frame, faces):
        asked.extend(range(len(asked), len(asked) + len(faces)))
        return [normalise(basis[0] + 0.8 * basis[1 + k]) for k in asked[-len(faces):]]

    tracker = Tracker(embed, recheck_s=2.0)
    for n in range(10):
        shift = np.float32([[1, 0, n * step], [0, 1, 0]])
        frame = cv2.warpAffine(image, shift, (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REPLICATE)
        moved = np.float32([n * step, 0])
        tracks = tracker.update(frame, [_face(box + np.tile(moved, 2), kps + moved)], n / 30)
        assert len(tracks) == 1
    (entry,) = tracker._entries.values()
    return len(entry.gallery)


def test_a_fast_face_smeared_by_its_motion_learns_none_of_its_smeared_crops(smeared_scene):
    """Moving 0.2 face sizes a frame, smeared a quarter of its face: only the first crop (no
    velocity yet) is learnt, the young track's re-checks learn none."""
    assert _gallery_after(smeared_scene, 0.2 * HEIGHT) == 1


def test_a_still_face_whose_picture_reads_as_smeared_is_learnt(smeared_scene):
    """The same picture standing still: a smear longer than the face moved in a frame is its
    picture's own look (a striped collar, a face soft one way), and its crops are learnt."""
    assert _gallery_after(smeared_scene, 0.0) >= 2


def test_a_still_face_has_its_smear_read_only_where_it_can_change_something(smeared_scene, monkeypatch):
    """The smear's length costs more than the rest of the gate: the tracker reads it only for a
    face moving far enough a frame to be smeared that far (Tracker._smearing), or where motion
    decides for a fast track (Tracker._pair), or for a fresh detection (someone back?); the still
    face's crops are learnt without it, after its first frame."""
    from bridge.track.gallery import CropLook

    reads: list[int] = []
    read = CropLook._smeared_long

    def counted(self):  # type: ignore[no-untyped-def]
        reads.append(1)
        return read(self)

    monkeypatch.setattr(CropLook, "_smeared_long", counted)
    assert _gallery_after(smeared_scene, 0.0) >= 2
    assert len(reads) == 1, "only the first frame's fresh detection (of 10 frames)"
    reads.clear()
    assert _gallery_after(smeared_scene, 0.2 * HEIGHT) == 1
    assert reads, "a fast face's crops are asked for their smear"
    image, box, kps = smeared_scene
    look = CropLook(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), _face(box, kps))
    reads.clear()
    assert look.rough() is None and reads == []
    assert look.fault() == "blurred" and look.smeared and len(reads) == 1
