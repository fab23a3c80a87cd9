"""Target loading: faces found, prepared per swapper, cached on disk, clear errors for bad images."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from bridge.faces.detect import UlfdDetector
from bridge.faces.embed import Recogniser
from bridge.faces.landmarks import Landmarker68
from bridge.swap.warp68 import Warp68Swapper
from bridge.facestage.targets import TargetError, TargetLibrary


@pytest.fixture(scope="module")
def find_faces(models_dir):
    detector = UlfdDetector(models_dir / "fr_detect.onnx")
    landmarker = Landmarker68(models_dir / "fr_landmark.onnx")
    recogniser = Recogniser(models_dir / "fr_feature.onnx")
    calls = []

    def run(image):
        calls.append(image.shape)
        return recogniser.embed(image, landmarker.landmark(image, detector.detect(image)))

    run.calls = calls  # type: ignore[attr-defined]
    return run


def _library(find_faces, cache_dir):
    return TargetLibrary(find_faces, [Warp68Swapper()], "fr_detect+fr_landmark+fr_feature", cache_dir)


def test_target_is_prepared_for_each_swapper_with_its_embedding(find_faces, photo_paths, tmp_path):
    target = _library(find_faces, tmp_path).load("hanks", [photo_paths["Tom_Hanks_54745.png"]])
    assert target.name == "hanks"
    assert target.embedding is not None and abs(np.linalg.norm(target.embedding) - 1) < 1e-4
    prepared = target.prepared["warp68"]
    assert prepared["texture"].dtype == np.uint8 and prepared["triangles"].shape[1] == 3


def test_second_load_comes_from_the_disk_cache_without_running_models(find_faces, photo_paths, tmp_path):
    first = _library(find_faces, tmp_path).load("hanks", [photo_paths["Tom_Hanks_54745.png"]])
    before = len(find_faces.calls)
    again = _library(find_faces, tmp_path).load("hanks", [photo_paths["Tom_Hanks_54745.png"]])
    assert len(find_faces.calls) == before
    np.testing.assert_array_equal(again.prepared["warp68"]["texture"], first.prepared["warp68"]["texture"])
    np.testing.assert_allclose(again.embedding, first.embedding)


def test_cache_is_keyed_by_image_content_not_name(find_faces, photo_paths, tmp_path):
    library = _library(find_faces, tmp_path / "cache")
    copy = tmp_path / "renamed.png"
    shutil.copy(photo_paths["Tom_Hanks_54745.png"], copy)
    library.load("hanks", [photo_paths["Tom_Hanks_54745.png"]])
    before = len(find_faces.calls)
    library.load("hanks", [copy])
    assert len(find_faces.calls) == before
    image = cv2.imread(str(copy))
    cv2.imwrite(str(copy), cv2.flip(image, 1))  # other content under the same name
    library.load("hanks", [copy])
    assert len(find_faces.calls) == before + 1


def test_more_images_average_the_embedding(find_faces, photo_paths, tmp_path):
    flipped = tmp_path / "flipped.png"
    cv2.imwrite(str(flipped), cv2.flip(cv2.imread(str(photo_paths["Tom_Hanks_54745.png"])), 1))
    library = _library(find_faces, None)
    one = library.load("a", [photo_paths["Tom_Hanks_54745.png"]])
    other = library.load("b", [flipped])
    both = library.load("c", [photo_paths["Tom_Hanks_54745.png"], flipped])
    mean = one.embedding + other.embedding
    np.testing.assert_allclose(both.embedding, mean / np.linalg.norm(mean), atol=1e-5)


def test_unreadable_image_names_the_file(find_faces, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(TargetError, match="broken.png: not an image"):
        _library(find_faces, None).load("x", [broken])
    with pytest.raises(TargetError, match="missing.png: cannot read"):
        _library(find_faces, None).load("x", [tmp_path / "missing.png"])


def test_image_without_a_face_names_the_file(find_faces, tmp_path):
    wall = tmp_path / "wall.png"
    cv2.imwrite(str(wall), np.full((240, 320, 3), 180, np.uint8))
    with pytest.raises(TargetError, match="wall.png: no face found"):
        _library(find_faces, None).load("x", [wall])


def test_two_equal_faces_are_ambiguous(find_faces, photo_paths, tmp_path):
    portrait = cv2.imread(str(photo_paths["Tom_Hanks_54745.png"]))
    pair = tmp_path / "pair.png"
    cv2.imwrite(str(pair), cv2.copyMakeBorder(np.hstack([portrait, portrait]), 40, 40, 40, 40, cv2.BORDER_CONSTANT))
    with pytest.raises(TargetError, match="pair.png: 2 faces of similar size"):
        _library(find_faces, None).load("x", [pair])


def test_group_photo_with_one_clearly_largest_face_is_accepted(find_faces, photo_paths, tmp_path):
    group = cv2.imread(str(photo_paths["t1.jpg"]))
    big = cv2.resize(group[260:420, 440:600], None, fx=3, fy=3)  # one face, blown up
    scene = group.copy()
    scene[0:big.shape[0], 0:big.shape[1]] = big
    path = tmp_path / "scene.png"
    cv2.imwrite(str(path), scene)
    target = _library(find_faces, None).load("x", [path])
    assert target.prepared["warp68"]["texture"].shape[0] > 300
