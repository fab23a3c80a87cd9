"""The per-person gallery: diverse entries, best-of matching, the quality gate."""

import cv2
import numpy as np

from bridge.track import gallery
from bridge.track.gallery import CropLook, Gallery, crop_quality
from bridge.types import Face


def unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


def test_a_returning_side_view_matches_the_entry_it_resembles_not_the_average():
    front, side = unit([1, 0, 0, 0]), unit([0.3, 1, 0, 0])
    g = Gallery(size=4)
    g.add(front)
    g.add(side)
    assert len(g) == 2
    assert g.similarity(side) > 0.99  # the average of the two would give only ~0.8
    assert g.similarity(unit([0, 0, 1, 0])) < 0.1


def test_a_close_embedding_refreshes_an_entry_and_a_full_gallery_stays_spread_out():
    g = Gallery(size=3, refresh_above=0.9)
    g.add(unit([1, 0, 0]))
    g.add(unit([1, 0.05, 0]))
    assert len(g) == 1  # refreshed, not added
    g.add(unit([0, 1, 0]))
    g.add(unit([0, 0, 1]))
    g.add(unit([0.1, 0, 1]))  # close to the third: refreshes it
    assert len(g) == 3
    for axis in np.eye(3, dtype=np.float32):
        assert g.similarity(axis) > 0.9


def test_a_crop_that_fails_the_gate_stands_in_only_until_a_good_one_comes():
    g = Gallery()
    g.add(unit([1, 0, 0]), good=False)
    assert g.provisional and len(g) == 1
    g.add(unit([0, 1, 0]), good=False)  # still nothing better: the newer stand-in
    g.add(unit([0, 0, 1]))
    assert not g.provisional and len(g) == 1 and g.similarity(unit([0, 0, 1])) > 0.99
    g.add(unit([1, 0, 0]), good=False)  # a poor crop never displaces a good entry
    assert len(g) == 1 and g.similarity(unit([1, 0, 0])) < 0.1


def _face_image():
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (30, 40), dtype=np.uint8)
    return cv2.GaussianBlur(cv2.resize(small, (320, 240), interpolation=cv2.INTER_NEAREST), (0, 0), 1.0)


def _face(box, yaw=0.0):
    x0, y0, x1, y1 = box
    w = x1 - x0
    cx = (x0 + x1) / 2
    kps = np.float32([[cx - 0.2 * w, y0 + 0.4 * w], [cx + 0.2 * w, y0 + 0.4 * w], [cx + yaw * 0.4 * w, y0 + 0.6 * w],
                      [cx - 0.15 * w, y0 + 0.8 * w], [cx + 0.15 * w, y0 + 0.8 * w]])
    return Face(box=np.float32(box), score=0.9, kps5=kps)


def test_quality_gate_skips_tiny_blurred_and_profile_crops():
    gray = _face_image()
    assert crop_quality(gray, _face([100, 60, 200, 170])) is None
    assert crop_quality(gray, _face([100, 60, 130, 95])) == "tiny"
    assert crop_quality(cv2.GaussianBlur(gray, (0, 0), 6), _face([100, 60, 200, 170])) == "blurred"
    assert crop_quality(gray, _face([100, 60, 200, 170], yaw=0.6)) == "profile"
    assert crop_quality(gray, _face([0, 60, 100, 170])) == "partial"  # cut by the frame's edge


def test_a_crops_look_read_once_answers_as_the_gate_does_against_any_other_faces(monkeypatch):
    """The tracker reads each detection's crop once a frame (CropLook) and asks about it against
    different other faces: every answer is crop_quality's, and the pixels are read once."""
    sharp, blurred = _face_image(), cv2.GaussianBlur(_face_image(), (0, 0), 6)
    beside, over = np.float32([[205, 60, 300, 170]]), np.float32([[60, 60, 160, 170], [205, 60, 300, 170]])
    resized, resize = [], cv2.resize
    monkeypatch.setattr(gallery.cv2, "resize", lambda *a, **k: resized.append(1) or resize(*a, **k))
    for gray in (sharp, blurred):
        for face in (_face([100, 60, 200, 170]), _face([100, 60, 200, 170], yaw=0.6), _face([100, 60, 130, 95]),
                     _face([0, 60, 100, 170])):
            look = CropLook(gray, face)
            before = len(resized)
            for others, most in ((None, 0.2), (beside, 0.2), (over, 0.2), (over, 0.05), (over, 0.9), (beside[:0], 0.2)):
                assert look.fault(others, most) == crop_quality(gray, face, others=others, max_covered=most)
            # twice for the look (the inner face, the box shrunk for its smear), twice per crop_quality beside it
            assert len(resized) - before <= 14
    look = CropLook(blurred, _face([100, 60, 200, 170]))
    start = len(resized)
    assert look.fault(over) == "covered" and len(resized) == start  # covered: its pixels not read yet
    assert look.fault() == "blurred" and look.fault(beside) == "blurred" and look.fault(over, 0.9) == "blurred"
    assert len(resized) - start == 1  # read once, however often asked
