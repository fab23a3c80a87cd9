from __future__ import annotations

import cv2
import numpy as np
import pytest

from bridge.faces import detect, embed, landmarks
from bridge.types import Face
from tests import onnx_graphs


@pytest.fixture(scope="module")
def stages(models_dir):
    return (detect.UlfdDetector(models_dir / "fr_detect.onnx"), landmarks.Landmarker68(models_dir / "fr_landmark.onnx"),
            embed.Recogniser(models_dir / "fr_feature.onnx"))


@pytest.fixture(scope="module")
def group_faces(stages, group_photo) -> list[Face]:
    detector, landmarker, recogniser = stages
    return recogniser.embed(group_photo, landmarker.landmark(group_photo, detector.detect(group_photo)))


def _again(recogniser, image, faces, noise=None):
    copies = [Face(box=f.box, score=f.score, kps5=f.kps5 + (0 if noise is None else noise[i])) for i, f in enumerate(faces)]
    return recogniser.embed(image, copies)


def test_embeddings_are_unit_length_512(group_faces) -> None:
    for face in group_faces:
        assert face.embedding.shape == (512,) and face.embedding.dtype == np.float32
        assert np.linalg.norm(face.embedding) == pytest.approx(1.0, abs=1e-5)


def test_different_people_are_far_apart(group_faces) -> None:
    e = np.stack([f.embedding for f in group_faces])
    similarity = e @ e.T
    assert similarity[~np.eye(len(e), dtype=bool)].max() <= 0.5


@pytest.mark.parametrize("change", ["blur", "brightness"])
def test_same_face_under_blur_or_brightness_stays_close(stages, group_photo, group_faces, change) -> None:
    changed = (cv2.GaussianBlur(group_photo, (0, 0), 1.0) if change == "blur"
               else cv2.convertScaleAbs(group_photo, alpha=1.0, beta=40))
    again = _again(stages[2], changed, group_faces)
    assert min(embed.cosine(a.embedding, b.embedding) for a, b in zip(group_faces, again)) >= 0.9


def test_same_face_with_small_landmark_noise_stays_close(stages, group_photo, group_faces) -> None:
    noise = np.random.default_rng(0).normal(0, 1.0, (len(group_faces), 5, 2)).astype(np.float32)
    again = _again(stages[2], group_photo, group_faces, noise)
    assert min(embed.cosine(a.embedding, b.embedding) for a, b in zip(group_faces, again)) >= 0.9


def test_the_portrait_face_is_found_and_embedded(stages, portrait_photo) -> None:
    detector, landmarker, recogniser = stages
    faces = recogniser.embed(portrait_photo, landmarker.landmark(portrait_photo, detector.detect(portrait_photo)))
    assert len(faces) == 1 and np.linalg.norm(faces[0].embedding) == pytest.approx(1.0, abs=1e-5)


def test_a_face_without_points_is_a_readable_error(stages, group_photo) -> None:
    with pytest.raises(embed.EmbeddingError, match="five landmarks"):
        stages[2].embed(group_photo, [Face(box=np.array([0, 0, 10, 10], np.float32), score=1.0)])


def test_arcface_graph_embeds_a_batch_in_one_call_equal_to_one_by_one(tmp_path, group_photo, group_faces) -> None:
    path = onnx_graphs.save(onnx_graphs.arcface_graph(), tmp_path / "arcface_w600k_r50.onnx")
    recogniser = embed.Recogniser(path)
    assert recogniser.batched and recogniser.mean == 127.5 and recogniser.template == "arcface_112_v2"
    batch = _again(recogniser, group_photo, group_faces)
    singles = [_again(recogniser, group_photo, [f])[0] for f in group_faces]
    for a, b in zip(batch, singles):
        np.testing.assert_allclose(a.embedding, b.embedding, atol=1e-5)
    assert np.linalg.norm(batch[0].embedding - batch[1].embedding) > 0.1


def test_empty_face_list_embeds_nothing(stages, group_photo) -> None:
    assert stages[2].embed(group_photo, []) == []
