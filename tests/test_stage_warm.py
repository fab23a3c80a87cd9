"""A face stage is warmed up before it goes on air: each model's first inference, numba's kernels
and OpenCV's tables are paid for on a picture of a target, not on the show's first frame, and
the warm-up leaves none of the show's state behind."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numba.core.dispatcher
import pytest

from bridge import live
from bridge.facestage import warm
from bridge.facestage.warm import WARM_TRACK, warm_up
from bridge.io.demo_source import DemoScene
from bridge.profile import load_profile
from bridge.types import Frame
from tests.e2e_tools import face_profile


def _count(owner: object, name: str, calls: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    inner = getattr(owner, name)

    def counted(*args, **kwargs):
        calls.append(name)
        return inner(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)


def test_the_warm_up_runs_every_model_and_the_swap_once_and_leaves_no_state(tmp_path: Path, monkeypatch, group_photo) -> None:
    from bridge.facestage.build import build_face_stage

    stage = build_face_stage(load_profile(face_profile(tmp_path, detect_every=2)))
    calls: list[str] = []
    _count(stage.detector, "detect", calls, monkeypatch)
    _count(stage.landmarker, "landmark", calls, monkeypatch)
    _count(stage.tracker, "embed", calls, monkeypatch)
    _count(stage.swapping.swapper, "swap_batch", calls, monkeypatch)
    warmed = warm_up(stage)
    assert calls == ["detect", "landmark", "embed", "swap_batch"]
    assert warmed.faces >= 1 and warmed.embedded and warmed.swapped
    # nothing of the show's state: no track, no face remembered for the fallback or the colour, no count
    assert stage.tracker.stats.frames == 0 and stage.tracker.stats.embeddings == 0
    assert WARM_TRACK not in stage.swapping.fallback._last
    assert WARM_TRACK not in stage.swapping.compose._colour and WARM_TRACK not in stage.swapping.compose._skin
    status = stage.status()
    assert (status.faces, status.tracks, status.fallbacks, status.leaks, status.swap_errors) == (0, [], 0, 0, 0)
    # the first frame of the show then starts at track 1, detection due
    scene = DemoScene(640, 360, 2, group_photo)
    out = stage.process(Frame(image=scene.render(0, 30.0), sequence=0, frame_rate=(30, 1)))
    assert [d["id"] for d in out.drawn] in ([], [1], [1, 2])


def test_the_warm_up_picture_shows_a_target_photo_the_detector_finds(tmp_path: Path) -> None:
    from bridge.facestage.build import build_face_stage

    stage = build_face_stage(load_profile(face_profile(tmp_path)))
    picture, target = warm.warm_picture(stage.targets)
    assert picture.shape == (720, 1280, 3) and target is next(iter(stage.targets.values()))
    assert len(stage.detector.detect(picture)) == 1


def test_a_live_stage_compiles_no_kernel_on_its_first_frame(tmp_path: Path, monkeypatch, group_photo) -> None:
    stage = live.build_stage(load_profile(face_profile(tmp_path, detect_every=2)))
    compiled: list[str] = []
    inner = numba.core.dispatcher.Dispatcher._compile_for_args

    def spy(self, *args, **kwargs):  # numba compiles, or loads from its cache, on a kernel's first call
        compiled.append(self.py_func.__name__)
        return inner(self, *args, **kwargs)

    monkeypatch.setattr(numba.core.dispatcher.Dispatcher, "_compile_for_args", spy)
    scene = DemoScene(1280, 720, 2, group_photo)
    out = stage.process(Frame(image=scene.render(0, 30.0), sequence=0, frame_rate=(30, 1)))
    assert out.drawn and compiled == []


def test_a_failing_warm_up_is_one_warning_and_the_stage_still_goes_on_air(tmp_path: Path, monkeypatch, caplog) -> None:
    def broken(stage):
        raise RuntimeError("no picture")

    monkeypatch.setattr(warm, "warm_up", broken)
    with caplog.at_level(logging.WARNING, logger="facebridge"):
        stage = live.build_stage(load_profile(face_profile(tmp_path)))
    assert stage.tracker.stats.frames == 0
    assert [r.getMessage() for r in caplog.records] == [
        "face stage warm-up failed (RuntimeError: no picture); the first frames may be dropped"]
