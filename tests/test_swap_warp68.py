"""warp68: the classic CPU swapper, on real photos with the real CPU models."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from bridge.faces.detect import UlfdDetector
from bridge.faces.embed import Recogniser, cosine
from bridge.faces.landmarks import Landmarker68
from bridge.swap.base import SwapperError, TargetFace, crop_face
from bridge.swap.compose import Compose
from bridge.swap.warp68 import (Warp68Swapper, piecewise_affine, piecewise_affine_naive, remap_tables_numpy,
                                triangle_affines, triangle_labels, triangulate, _remap_tables)
from bridge.types import Face


@pytest.fixture(scope="module")
def analyse(models_dir):
    detector = UlfdDetector(models_dir / "fr_detect.onnx")
    landmarker = Landmarker68(models_dir / "fr_landmark.onnx")
    recogniser = Recogniser(models_dir / "fr_feature.onnx")

    def run(image: np.ndarray, embed: bool = True) -> list[Face]:
        faces = landmarker.landmark(image, detector.detect(image))
        return recogniser.embed(image, faces) if embed else faces

    run.recogniser = recogniser  # type: ignore[attr-defined]
    return run


@pytest.fixture(scope="module")
def hanks(analyse, portrait_photo):
    (face,) = analyse(portrait_photo)
    return TargetFace(portrait_photo, face)


def test_fast_warp_matches_the_per_triangle_warp(hanks, group_photo, analyse):
    swapper = Warp68Swapper()
    prepared = swapper.prepare([hanks])
    face = analyse(group_photo, embed=False)[0]
    crop = crop_face(group_photo, face, swapper.crop_geometry)
    from bridge.swap.warp68 import extend_landmarks
    destination = extend_landmarks(crop.landmarks68)
    shape = crop.image.shape[:2]
    fast, labels = piecewise_affine(prepared["texture"], prepared["shape"], destination, prepared["triangles"], shape)
    naive = piecewise_affine_naive(prepared["texture"], prepared["shape"], destination, prepared["triangles"], shape)
    inside = labels > 0
    # Edge pixels may be assigned to the neighbouring triangle; the bulk must agree.
    close = np.abs(fast.astype(int) - naive.astype(int)).max(axis=2) <= 2
    assert close[inside].mean() > 0.97


def test_numba_remap_tables_equal_the_numpy_ones():
    points = np.array([[0, 0], [40, 0], [0, 30], [40, 30], [20, 15]], np.float32)
    triangles = triangulate(points)
    moved = points + np.array([3, 2], np.float32)
    labels = triangle_labels(moved, triangles, (36, 48))
    affines = triangle_affines(points, moved, triangles)
    fast_x, fast_y = _remap_tables(labels, affines)
    slow_x, slow_y = remap_tables_numpy(labels, affines)
    np.testing.assert_allclose(fast_x, slow_x, atol=1e-4)
    np.testing.assert_allclose(fast_y, slow_y, atol=1e-4)
    # a pure translation: every covered pixel samples 3 px left, 2 px up
    ys, xs = np.nonzero(labels)
    np.testing.assert_allclose(fast_x[ys, xs], xs - 3, atol=1e-3)


def test_warp68_turns_every_group_face_into_the_target(hanks, group_photo, analyse):
    swapper = Warp68Swapper()
    prepared = swapper.prepare([hanks])
    faces = analyse(group_photo)
    assert len(faces) == 6
    frame = group_photo.copy()
    compose = Compose(mask_blur=0.1)
    for face in faces:
        crop = crop_face(frame, face, swapper.crop_geometry)
        compose.paste_face(frame, crop, swapper.swap(crop, prepared))
    swapped = analyse.recogniser.embed(frame, copy.deepcopy(faces))
    print("\nface  cos(swap, target)  cos(swap, original)")
    for index, (before, after) in enumerate(zip(faces, swapped)):
        to_target, to_original = cosine(after.embedding, hanks.face.embedding), cosine(after.embedding, before.embedding)
        print(f"{index}  {to_target:.3f}  {to_original:.3f}")
        assert to_target > to_original, f"face {index}: still closer to the original ({to_target:.3f} ≤ {to_original:.3f})"


def test_warp68_leaves_everything_outside_its_mask_untouched(hanks, group_photo, analyse):
    swapper = Warp68Swapper()
    prepared = swapper.prepare([hanks])
    face = analyse(group_photo, embed=False)[0]
    frame = group_photo.copy()
    crop = crop_face(frame, face, swapper.crop_geometry)
    swapped = swapper.swap(crop, prepared)
    Compose().paste_face(frame, crop, swapped)
    changed = np.any(frame != group_photo, axis=2)
    x0, y0 = -crop.affine[:, 2].astype(int)
    h, w = crop.image.shape[:2]
    outside_crop = np.ones_like(changed)
    outside_crop[y0:y0 + h, x0:x0 + w] = False
    assert not changed[outside_crop].any()
    inside_crop = changed[y0:y0 + h, x0:x0 + w]
    assert not inside_crop[swapped.mask == 0].any()
    assert inside_crop[swapped.mask > 0.5].mean() > 0.9  # the face itself did change


def test_target_without_68_landmarks_is_a_clear_error(portrait_photo):
    face = Face(box=np.array([0, 0, 100, 100], np.float32), score=1.0)
    with pytest.raises(SwapperError, match="68-point"):
        Warp68Swapper().prepare([TargetFace(portrait_photo, face)])
