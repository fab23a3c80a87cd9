"""A motion-blurred face is embedded from its deblurred picture (real recogniser, real photos of
the suite's people, a synthetic line-shaped smear): closer to the person, no closer to others."""

import math

import cv2
import numpy as np
import pytest

from bridge.faces.deblur import line_kernel
from bridge.faces.embed import Recogniser
from bridge.track.gallery import crop_quality
from bridge.track.sharpen import embed_sharpened
from bridge.track.tracker import embed_with
from bridge.types import Face
from tests.suite_clips import PEOPLE
from tests.track_scenes import person_scene


@pytest.fixture(scope="module")
def recogniser(models_dir):
    return Recogniser(models_dir / "fr_feature.onnx")


def _face(box, kps):
    return Face(box=box.copy(), score=0.9, kps5=kps.copy())


def test_a_smeared_face_embeds_closer_to_its_person_deblurred(recogniser):
    """Each of the 8 people smeared 20 px: of those the quality gate calls blurred, embedded
    deblurred, the similarity to the sharp face rises on most, and more are told apart from
    the best other person."""
    plain_embed, sharp_embed = embed_with(recogniser), embed_sharpened(recogniser)
    sharp = {}
    for k, person in enumerate(PEOPLE):
        image, box, kps = person_scene(person)
        sharp[k] = plain_embed(image, [_face(box, kps)])[0]
    rose, apart_before, apart_after, judged = 0, 0, 0, 0
    for k, person in enumerate(PEOPLE):
        image, box, kps = person_scene(person)
        degrees = 30.0 * k
        smeared = cv2.filter2D(image, -1, line_kernel(20 * math.cos(math.radians(degrees)), 20 * math.sin(math.radians(degrees))))
        if crop_quality(cv2.cvtColor(smeared, cv2.COLOR_BGR2GRAY), _face(box, kps), max_smear=0.0) != "blurred":
            continue  # embedded as it is (the next test): only what the sharpness test calls blurred is deblurred
        judged += 1
        plain = plain_embed(smeared, [_face(box, kps)])[0]
        vector = sharp_embed(smeared, [_face(box, kps)])[0]
        before, after = float(plain @ sharp[k]), float(vector @ sharp[k])
        rose += after > before + 0.05
        apart_before += before > max(float(plain @ sharp[o]) for o in sharp if o != k) + 0.1
        apart_after += after > max(float(vector @ sharp[o]) for o in sharp if o != k) + 0.1
    assert judged >= 6
    assert rose >= judged - 1  # measured: 5 of 6 (0.10-0.23 → 0.30-0.78), one fell (0.30 → 0.08)
    assert apart_after >= apart_before + 2  # told apart from everyone else by 0.1: measured 1 → 4 of 6


def test_a_sharp_face_is_embedded_as_it_is(recogniser):
    """Not blurred: the same embedding as the plain recogniser's (deblurring a sharp face loses detail)."""
    image, box, kps = person_scene(PEOPLE[0])
    faces = [_face(box, kps)]
    assert crop_quality(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), faces[0]) is None
    plain = embed_with(recogniser)(image, [_face(box, kps)])[0]
    ours = embed_sharpened(recogniser)(image, faces)
    assert len(ours) == 1 and np.allclose(ours[0], plain, atol=1e-5)
    assert faces[0].embedding is not None and np.allclose(faces[0].embedding, plain, atol=1e-5)


def test_faces_come_back_in_order_with_blurred_and_sharp_mixed(recogniser):
    """One call with a sharp and a smeared face: one embedding each, in the faces' order, each as
    a call with that face alone gives."""
    image, box, kps = person_scene(PEOPLE[0])
    canvas = np.vstack([image, cv2.filter2D(image, -1, line_kernel(20, 0))])
    drop = np.float32([0, image.shape[0]])
    top, below = _face(box, kps), _face(box + np.tile(drop, 2), kps + drop)
    gray = cv2.cvtColor(canvas, cv2.COLOR_BGR2GRAY)
    assert crop_quality(gray, top) is None and crop_quality(gray, below) == "blurred"
    embed = embed_sharpened(recogniser)
    vectors = embed(canvas, [top, below])
    assert len(vectors) == 2
    assert np.allclose(vectors[0], embed(canvas, [_face(box, kps)])[0], atol=1e-5)
    assert np.allclose(vectors[1], embed(canvas, [_face(box + np.tile(drop, 2), kps + drop)])[0], atol=1e-5)



def _cut_at_top(person, dx, dy):
    """The person smeared (dx, dy) with the face's top fifth out of the frame and the box of
    what shows a few pixels in, as the detector gives it: (image, box, kps5)."""
    image, box, kps = person_scene(person)
    smeared = cv2.filter2D(image, -1, line_kernel(dx, dy))
    cut = int(box[1] + 0.2 * (box[3] - box[1]))
    shift = np.float32([0, cut])
    shown = box - np.tile(shift, 2)
    shown[1] = 6.0
    return np.ascontiguousarray(smeared[cut:]), shown, kps - shift


@pytest.mark.parametrize("dx, dy, deblurred", [(20.0, 6.0, False), (6.0, 20.0, True)])
def test_by_the_frame_edge_only_a_smear_across_it_is_deblurred(recogniser, monkeypatch, dx, dy, deblurred):
    """A face by the top edge (cut by it, its box a few pixels in) that the gate calls smeared:
    read along the edge, the smear is the cut's (reentry-1, no motion blur: a face coming in
    deblurred to 0.19 against its person, 0.93 as it was), so it is embedded as it is; read
    across it, it is a face coming in or going out fast, and is deblurred."""
    from bridge.track import sharpen

    judged = 0
    for person in PEOPLE:
        image, shown, kps = _cut_at_top(person, dx, dy)
        with monkeypatch.context() as m:
            m.setattr(sharpen, "EDGE_MARGIN", 0.0)
            if not sharpen._smeared(image, _face(shown, kps)):
                continue  # not one the gate would deblur anywhere: says nothing here
        judged += 1
        plain = embed_with(recogniser)(image, [_face(shown, kps)])[0]
        ours = embed_sharpened(recogniser)(image, [_face(shown, kps)])[0]
        assert np.allclose(ours, plain, atol=1e-5) != deblurred, person.photo
    assert judged >= 4
