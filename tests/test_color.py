"""BGR → UYVY for send, checked against BT.709 limited-range values and the receive side's inverse."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.io.color import bgr_to_i420, bgr_to_uyvy, uyvy_to_bgr
from tests.ndi_tools import psnr


def patch(bgr: tuple[int, int, int], width: int = 4) -> np.ndarray:
    return np.full((2, width, 3), bgr, np.uint8)


@pytest.mark.parametrize("bgr,yuv", [
    ((0, 0, 0), (16, 128, 128)),
    ((255, 255, 255), (235, 128, 128)),
    ((128, 128, 128), (126, 128, 128)),
    ((0, 0, 255), (63, 102, 240)),  # red
    ((0, 255, 0), (173, 42, 26)),  # green
    ((255, 0, 0), (32, 240, 118)),  # blue
], ids=["black", "white", "grey", "red", "green", "blue"])
def test_flat_colours_get_their_bt709_limited_range_values(bgr: tuple[int, int, int], yuv: tuple[int, int, int]) -> None:
    uyvy = bgr_to_uyvy(patch(bgr))
    y, u, v = yuv
    assert np.array_equal(uyvy[..., 1], np.full((2, 4), y))
    assert np.array_equal(uyvy[:, 0::2, 0], np.full((2, 2), u))
    assert np.array_equal(uyvy[:, 1::2, 0], np.full((2, 2), v))


def test_every_grey_keeps_neutral_chroma_and_comes_back_within_a_level() -> None:
    greys = np.repeat(np.arange(256, dtype=np.uint8), 2)[None, :, None].repeat(3, axis=2)
    uyvy = bgr_to_uyvy(greys)
    assert np.all(uyvy[..., 0] == 128)
    assert (uyvy[..., 1].min(), uyvy[..., 1].max()) == (16, 235)
    assert np.abs(uyvy_to_bgr(uyvy).astype(int) - greys).max() <= 1


def test_a_photo_round_trips_close_to_identity(group_photo: np.ndarray) -> None:
    assert psnr(uyvy_to_bgr(bgr_to_uyvy(group_photo)), group_photo) >= 45  # 47.8 dB: chroma is shared per pair
    pairs = group_photo.copy()
    pairs[:, 1::2] = pairs[:, 0::2]  # nothing for chroma subsampling to lose: only rounding is left
    assert np.abs(uyvy_to_bgr(bgr_to_uyvy(pairs)).astype(int) - pairs).max() <= 2


def test_the_buffer_is_reused_and_odd_widths_repeat_their_last_column() -> None:
    picture = np.random.default_rng(3).integers(0, 256, (6, 10, 3), np.uint8)
    out = bgr_to_uyvy(picture)
    assert bgr_to_uyvy(picture[:, ::-1], out) is out  # a non-contiguous view works too
    assert not np.array_equal(out, bgr_to_uyvy(picture))
    odd = bgr_to_uyvy(picture[:, :9])
    assert odd.shape == (6, 10, 2)
    assert np.array_equal(odd, bgr_to_uyvy(np.concatenate([picture[:, :9], picture[:, 8:9]], axis=1)))


@pytest.mark.parametrize("size", [(1920, 1080), (642, 362)])
def test_bgr_to_i420_is_ffmpegs_bt709_within_one_level(size: tuple[int, int]) -> None:
    import av

    rng = np.random.default_rng(3)
    picture = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    picture[: size[1] // 3] = 128  # greys stay exactly neutral
    ours = bgr_to_i420(picture)
    ffmpeg = av.VideoFrame.from_ndarray(picture, format="bgr24").reformat(format="yuv420p", dst_colorspace="ITU709").to_ndarray()
    assert ours.shape == ffmpeg.shape == (size[1] * 3 // 2, size[0])
    assert np.abs(ours.astype(int) - ffmpeg.astype(int)).max() <= 1
    chroma = ours[size[1]:].reshape(2, -1)
    assert (chroma[:, : (size[1] // 6) * (size[0] // 2)] == 128).all()
    with pytest.raises(ValueError, match="even sides"):
        bgr_to_i420(picture[:, :-1])
