"""warp68: the classic CPU swapper, on real photos with the real CPU models."""

from __future__ import annotations

import copy

import cv2
import numpy as np
import pytest

from bridge.faces.detect import UlfdDetector
from bridge.faces.embed import Recogniser, cosine
from bridge.faces.landmarks import Landmarker68
from bridge.swap.base import SwapperError, TargetFace, crop_face
from bridge.swap.compose import Compose
from bridge.swap.warp68 import (Warp68Swapper, extend_landmarks, piecewise_affine, piecewise_affine_naive,
                                remap_tables, triangulate)
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
    destination = extend_landmarks(crop.landmarks68)
    shape = crop.image.shape[:2]
    fast, inside = piecewise_affine(prepared["texture"], prepared["shape"], destination, prepared["triangles"], shape)
    naive = piecewise_affine_naive(prepared["texture"], prepared["shape"], destination, prepared["triangles"], shape)
    inside = inside > 0
    difference = np.abs(fast.astype(int) - naive.astype(int)).max(axis=2)
    # The per-triangle warp gives a pixel on a shared edge to whichever triangle is pasted
    # last; the fast path to the triangle holding its centre. Away from edges both must agree.
    edges = np.zeros(shape, np.uint8)
    cv2.polylines(edges, [np.round(destination[t]).astype(np.int32) for t in prepared["triangles"]], True, 1,
                  thickness=3)
    away = inside & (edges == 0)
    assert away.sum() > 1000
    assert (difference[away] <= 2).all()
    assert difference[inside].mean() < 1.5


def fill_convex_labels(destination: np.ndarray, triangles: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """OpenCV's own rasterisation (one fillConvexPoly per triangle): the reference coverage."""
    labels = np.zeros(shape, np.int32)
    fixed = np.round(destination * 16).astype(np.int32)
    for index, triangle in enumerate(triangles):
        cv2.fillConvexPoly(labels, fixed[triangle], index + 1, lineType=cv2.LINE_8, shift=4)
    return labels


def test_remap_tables_follow_each_triangles_affine():
    points = np.array([[0, 0], [40, 0], [0, 30], [40, 30], [20, 15]], np.float32)
    triangles = triangulate(points)
    moved = points + np.array([3, 2], np.float32)
    map_x, map_y, inside = remap_tables(points, moved, triangles, (36, 48))
    # a pure translation: every covered pixel samples 3 px left, 2 px up; nothing else is touched
    ys, xs = np.nonzero(inside)
    np.testing.assert_allclose(map_x[ys, xs], xs - 3, atol=1e-3)
    np.testing.assert_allclose(map_y[ys, xs], ys - 2, atol=1e-3)
    assert inside.sum() == 41 * 31  # the moved 40x30 rectangle's pixel centres, borders included
    assert (map_x[inside == 0] == -1).all() and (map_y[inside == 0] == -1).all()


def test_remap_tables_invert_a_global_affine_in_every_triangle():
    rng = np.random.default_rng(3)
    source = rng.uniform(5, 95, (30, 2)).astype(np.float32)
    angle, scale = 0.3, 1.4
    forward = np.array([[scale * np.cos(angle), -scale * np.sin(angle), 20.0],
                        [scale * np.sin(angle), scale * np.cos(angle), 10.0]])
    destination = (source @ forward[:, :2].T + forward[:, 2]).astype(np.float32)
    map_x, map_y, inside = remap_tables(source, destination, triangulate(destination), (200, 200))
    ys, xs = np.nonzero(inside)
    assert len(ys) > 1000
    back = cv2.invertAffineTransform(forward)
    np.testing.assert_allclose(map_x[ys, xs], back[0, 0] * xs + back[0, 1] * ys + back[0, 2], atol=2e-3)
    np.testing.assert_allclose(map_y[ys, xs], back[1, 0] * xs + back[1, 1] * ys + back[1, 2], atol=2e-3)


def test_rasterised_face_has_no_gaps_and_matches_opencvs_coverage(hanks, group_photo, analyse):
    swapper = Warp68Swapper()
    prepared = swapper.prepare([hanks])
    for face in analyse(group_photo, embed=False):
        crop = crop_face(group_photo, face, swapper.crop_geometry)
        destination = extend_landmarks(crop.landmarks68)
        shape = crop.image.shape[:2]
        _, _, inside = remap_tables(prepared["shape"], destination, prepared["triangles"], shape)
        reference = fill_convex_labels(destination, prepared["triangles"], shape) > 0
        # the hull is one solid region: filling its outline adds no pixel the triangles missed
        contours, _ = cv2.findContours(inside, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        assert len(contours) == 1
        solid = cv2.drawContours(np.zeros_like(inside), contours, -1, 1, thickness=cv2.FILLED)
        assert (solid > inside).sum() == 0
        # the same pixels as OpenCV's rasteriser, up to its rounding along the outline
        differ = (inside > 0) != reference
        assert differ.sum() <= 0.02 * reference.sum()


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
