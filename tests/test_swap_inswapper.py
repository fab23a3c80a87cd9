"""inswapper_128: emap, latent math, pre/post-processing, batching — on a graph with the real signature."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.swap.base import FaceCrop, SwapperError, TargetFace
from bridge.swap.inswapper import InSwapper, inswapper_latent, read_emap
from bridge.types import Face
from tests.swap_graphs import identity_swapper, inswapper_like


@pytest.fixture()
def emap() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.normal(0, 1, (512, 512)).astype(np.float32)


def _target(embedding: np.ndarray) -> TargetFace:
    return TargetFace(np.zeros((8, 8, 3), np.uint8), Face(np.zeros(4, np.float32), 1.0, embedding=embedding))


def test_emap_is_the_graphs_last_initializer(tmp_path, emap):
    np.testing.assert_array_equal(read_emap(inswapper_like(tmp_path / "m.onnx", emap)), emap)


def test_latent_is_normalised_embedding_times_emap_normalised_again(emap):
    embedding = np.random.default_rng(1).normal(0, 3, 512).astype(np.float32)  # a raw, unnormalised vector
    expected = (embedding / np.linalg.norm(embedding)) @ emap
    np.testing.assert_allclose(inswapper_latent(embedding, emap), expected / np.linalg.norm(expected), rtol=1e-4)
    np.testing.assert_allclose(inswapper_latent(embedding, emap, "facefusion"), expected, rtol=1e-4)


def test_prepare_averages_the_target_images_then_maps_through_emap(tmp_path, emap):
    swapper = InSwapper(inswapper_like(tmp_path / "m.onnx", emap))
    a, b = np.eye(512, dtype=np.float32)[0], np.eye(512, dtype=np.float32)[1]
    latent = swapper.prepare([_target(a), _target(b)])["latent"]
    mean = (a + b) / np.sqrt(2)
    expected = mean @ emap
    np.testing.assert_allclose(latent, expected / np.linalg.norm(expected), rtol=1e-4)


def test_crop_goes_in_as_rgb_unit_range_and_comes_back_as_bgr(tmp_path):
    emap = np.eye(512, dtype=np.float32)
    swapper = InSwapper(inswapper_like(tmp_path / "m.onnx", emap))
    crop = np.zeros((128, 128, 3), np.uint8)
    crop[..., 0], crop[..., 1], crop[..., 2] = 10, 100, 200  # B, G, R
    latent = np.zeros(512, np.float32)
    latent[0] = 0.3  # the graph adds source[0..2] to the R, G, B planes
    out = swapper.swap(FaceCrop(crop, np.eye(2, 3, dtype=np.float32)), {"latent": latent}).image
    assert out.dtype == np.uint8 and out.shape == crop.shape
    assert tuple(out[64, 64]) == (10, 100, 255)  # R: 200/255 + 0.3 → clipped to 1 → 255
    latent[:3] = [-0.1, 0.0, 0.1]  # R−, G, B+
    out = swapper.swap(FaceCrop(crop, np.eye(2, 3, dtype=np.float32)), {"latent": latent}).image
    assert tuple(out[64, 64]) == (round(10 + 25.5), 100, round(200 - 25.5))


def test_fixed_batch_graph_is_looped_and_free_batch_graph_is_called_once(tmp_path):
    emap = np.eye(512, dtype=np.float32)
    looped = InSwapper(inswapper_like(tmp_path / "fixed.onnx", emap, batch=1))
    batched = InSwapper(inswapper_like(tmp_path / "free.onnx", emap, batch="n"))
    assert not looped.batched and batched.batched
    calls = []
    original = batched.session.run
    batched.session.run = lambda names, feeds: calls.append(feeds["target"].shape) or original(names, feeds)  # type: ignore[method-assign]
    crops = [FaceCrop(np.full((128, 128, 3), v, np.uint8), np.eye(2, 3, dtype=np.float32)) for v in (10, 50, 90)]
    prepared = [{"latent": np.zeros(512, np.float32)}] * 3
    outputs = batched.swap_batch(crops, prepared)
    assert calls == [(3, 3, 128, 128)]
    assert [int(o.image[0, 0, 0]) for o in outputs] == [10, 50, 90]
    assert [int(o.image[0, 0, 0]) for o in looped.swap_batch(crops, prepared)] == [10, 50, 90]


def test_graph_without_emap_is_a_clear_error(tmp_path):
    with pytest.raises(SwapperError, match="no initializers"):
        InSwapper(identity_swapper(tmp_path / "plain.onnx"))


def test_missing_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(SwapperError, match="missing"):
        InSwapper(tmp_path / "inswapper_128.onnx")
