"""The per-frame swap stage: every face swapped, failures fall back per track and are counted."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.swap.base import CropGeometry, FaceCrop, SwapOutput
from bridge.swap.compose import Compose
from bridge.swap.fallback import SwapFallback
from bridge.swap.label import Label
from bridge.facestage.swapping import FaceToSwap, Swapping
from bridge.types import Face, Target


class PaintSwapper:
    """Paints the crop white; raises on the frames listed in `fail_on` (a mid-stream failure)."""

    name = "paint"
    crop_geometry = CropGeometry("arcface_128", 64)

    def __init__(self, fail_on: set[int] = frozenset()) -> None:  # type: ignore[assignment]
        self.fail_on = fail_on
        self.frame = 0

    def cache_key(self) -> str:
        return "paint"

    def prepare(self, target_faces):
        return {"latent": np.zeros(1, np.float32)}

    def swap(self, crop: FaceCrop, prepared) -> SwapOutput:
        if self.frame in self.fail_on:
            raise RuntimeError("CUDA out of memory")
        return SwapOutput(np.full_like(crop.image, 255))

    def swap_batch(self, crops, prepared):
        return [self.swap(c, p) for c, p in zip(crops, prepared)]


def _face(x: float, y: float, size: float = 60) -> Face:
    kps = np.array([[0.36, 0.40], [0.64, 0.40], [0.5, 0.56], [0.39, 0.72], [0.61, 0.72]], np.float32) * size
    return Face(box=np.array([x, y, x + size, y + size], np.float32), score=1.0, kps5=kps + [x, y])


def _target() -> Target:
    return Target("t", [], prepared={"paint": {"latent": np.zeros(1, np.float32)}})


def _frame() -> np.ndarray:
    return np.full((240, 320, 3), 50, np.uint8)


def _centre(frame: np.ndarray, face: Face) -> int:
    x0, y0, x1, y1 = face.box.astype(int)
    return int(frame[(y0 + y1) // 2, (x0 + x1) // 2, 0])


@pytest.mark.parametrize("mode, expected", [("hold", 255), ("blur", 50), ("pass", 50)])
def test_a_swapper_that_raises_mid_stream_does_not_stop_the_output(mode, expected):
    swapper = PaintSwapper(fail_on={1})
    stage = Swapping(swapper, Compose(mask_blur=0.1), SwapFallback(mode))
    faces = [FaceToSwap(7, _face(40, 40), _target()), FaceToSwap(9, _face(200, 100), _target())]
    first = stage.swap_faces(_frame(), faces)
    assert _centre(first, faces[0].face) == 255
    swapper.frame = 1
    second = stage.swap_faces(_frame(), faces)  # must not raise
    assert _centre(second, faces[0].face) == expected and _centre(second, faces[1].face) == expected
    assert stage.fallback.errors == 2 and stage.fallback.errors_by_track == {7: 1, 9: 1}
    swapper.frame = 2
    assert _centre(stage.swap_faces(_frame(), faces), faces[0].face) == 255  # back to normal


def test_hold_without_a_previous_swap_blurs_the_face():
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[::2] = 255  # stripes a blur turns grey
    face = FaceToSwap(3, _face(100, 80), _target())
    stage = Swapping(PaintSwapper(fail_on={0}), Compose(mask_blur=0.1), SwapFallback("hold"))
    out = stage.swap_faces(frame.copy(), [face])
    x0, y0, x1, y1 = face.face.box.astype(int)
    centre = out[(y0 + y1) // 2 - 5:(y0 + y1) // 2 + 5, (x0 + x1) // 2, 0].astype(int)
    assert np.all(np.abs(centre - 127) < 40)


def test_hold_expires_after_its_frames():
    fallback = SwapFallback("hold", hold_frames=2)
    crop = FaceCrop(np.full((64, 64, 3), 50, np.uint8), np.eye(2, 3, dtype=np.float32))
    fallback.remember(1, SwapOutput(np.full((64, 64, 3), 255, np.uint8)))
    held = [int(fallback.apply(1, crop).image[32, 32, 0]) for _ in range(3)]
    assert held == [255, 255, 50]


def test_target_not_prepared_for_the_swapper_falls_back_instead_of_crashing():
    stage = Swapping(PaintSwapper(), Compose(), SwapFallback("pass"))
    unprepared = Target("nobody", [])
    frame = _frame()
    stage.swap_faces(frame, [FaceToSwap(1, _face(40, 40), unprepared)])
    assert (frame == 50).all() and stage.fallback.errors == 1


def test_label_is_drawn_on_every_frame_even_without_faces():
    stage = Swapping(PaintSwapper(), Compose(label=Label(corner="bottom-right")), SwapFallback())
    for faces in ([], [], [FaceToSwap(1, _face(40, 40), _target())]):  # frames without faces, then with one
        out = stage.swap_faces(_frame(), faces)
        changed = np.argwhere((out != 50).any(axis=2))
        label = changed[(changed[:, 0] > 120) & (changed[:, 1] > 160)]  # the bottom-right quarter
        assert len(label) > 0, "no label drawn"
        bottom, right = label.max(axis=0)
        assert bottom >= 240 - 20 and right >= 320 - 20, "the label is not in its corner"
        plate = out[label[:, 0], label[:, 1]].max(axis=1)
        assert (plate < 50).any() and (plate > 200).any(), "no dark plate with white text"
        elsewhere = (out[:120, 160:] != 50).any()  # the top-right quarter holds neither face nor label
        assert not elsewhere


def test_unknown_fallback_mode_is_a_clear_error():
    with pytest.raises(ValueError, match="hold, blur, pass"):
        SwapFallback("explode")  # type: ignore[arg-type]

