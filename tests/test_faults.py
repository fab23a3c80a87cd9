"""Faults the show must survive: failing models, broken target files, corrupt NDI frames, garbage commands."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest

from bridge.facestage.build import build_face_stage
from bridge.io import ndi as ndi_io
from bridge.io.demo_source import DemoScene
from bridge.obs.commands import Command
from bridge.pipeline import Pipeline
from bridge.profile import load_profile
from bridge.runtime import assets
from bridge.facestage.stage import FaceStage
from bridge.swap.base import SwapOutput
from bridge.types import AudioBlock, Frame
from tests.e2e_tools import TARGET_NAMES, face_profile, free_port, get_status, post_command, wait_status
from tests.ndi_tools import start_bridge, stop_process, unique_name

WIDTH, HEIGHT, FPS = 640, 360, 30.0
FRAMES = 24


@pytest.fixture(scope="module")
def scene(photo_paths: dict[str, Path]) -> DemoScene:
    return DemoScene(WIDTH, HEIGHT, 2, cv2.imread(str(photo_paths["t1.jpg"])))


def frames(scene: DemoScene, count: int = FRAMES) -> list[Frame]:
    return [Frame(image=scene.render(i, FPS), sequence=i, timecode=i, frame_rate=(30, 1),
                  received_at=time.monotonic()) for i in range(count)]


def build_stage(folder: Path, targets: dict[str, Path] | None = None) -> FaceStage:
    return build_face_stage(load_profile(face_profile(folder, targets=targets, detect_every=1)))


def every_third(real: Any, fault: Any) -> Any:
    """`real`, except that calls 3, 6, 9, ... get `fault(*args)` instead."""
    calls = {"n": 0}

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        return fault(*args, **kwargs) if calls["n"] % 3 == 0 else real(*args, **kwargs)
    wrapped.calls = calls  # type: ignore[attr-defined]
    return wrapped


def raise_error(*_: Any, **__: Any) -> Any:
    raise RuntimeError("injected model failure")


def nan_output(crop: Any, *_: Any) -> SwapOutput:
    return SwapOutput(np.full(crop.image.shape, np.nan, np.float32), np.full(crop.image.shape[:2], np.nan, np.float32))


def wrong_shape(crop: Any, *_: Any) -> SwapOutput:
    return SwapOutput(np.zeros((7, 5, 3), np.uint8), np.ones((3, 3), np.float32))


def garbage_batch(make: Any) -> Any:
    return lambda crops, prepared: [make(crop) for crop in crops]


def run_frames(stage: FaceStage, scene: DemoScene) -> list[Frame]:
    out = []
    for frame in frames(scene):
        result = stage.process(frame)  # an exception here is the bug this file looks for
        assert result.image.shape == (HEIGHT, WIDTH, 3) and result.image.dtype == np.uint8
        out.append(result)
    return out


# ── (a) models that fail ────────────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("fault", ["raise", "nan", "wrong_shape"])
def test_a_swapper_failing_on_every_third_call_never_loses_a_frame(fault: str, scene: DemoScene, tmp_path: Path) -> None:
    stage = build_stage(tmp_path)
    swapper = stage.swapping.swapper
    make = {"raise": raise_error, "nan": nan_output, "wrong_shape": wrong_shape}[fault]
    batch_fault = raise_error if fault == "raise" else garbage_batch(make)
    swapper.swap_batch = every_third(swapper.swap_batch, batch_fault)  # type: ignore[method-assign]
    swapper.swap = every_third(swapper.swap, make)  # type: ignore[method-assign]
    out = run_frames(stage, scene)
    assert len(out) == FRAMES
    assert swapper.swap_batch.calls["n"] >= FRAMES // 2, "the swapper was hardly called: no faces found?"
    status = stage.status()
    assert status.swap_errors > 0 or status.fallbacks > 0, f"faults not counted: {status}"
    assert all(np.isfinite(f.image).all() for f in out)


def test_a_detector_raising_every_third_frame_passes_those_frames_through_counted(scene: DemoScene,
                                                                                   tmp_path: Path) -> None:
    """FaceStage itself lets a detector error through; the pipeline must catch it, count it and send the frame."""
    stage = build_stage(tmp_path)
    stage.detector.detect = every_third(stage.detector.detect, raise_error)  # type: ignore[method-assign]
    inputs = frames(scene)
    source_lock = threading.Lock()

    class Source:
        def capture(self, timeout_s: float = 0.1) -> Frame | None:
            with source_lock:
                if not inputs:
                    time.sleep(timeout_s)
                    return None
                frame = inputs.pop(0)
            time.sleep(0.04)  # a paced source: the latest-frame queue must not drop what we count
            frame.received_at = time.monotonic()
            return frame

    sent: list[Frame] = []

    class Sink:
        def send(self, frame: Frame) -> None:
            sent.append(frame)

    pipeline = Pipeline(Source(), stage, Sink(), queue_frames=FRAMES, on_loss="hold", loss_after_s=30)
    pipeline.start()
    try:
        deadline = time.monotonic() + 30
        while pipeline.counters.frames_out + pipeline.counters.dropped < FRAMES and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pipeline.stop_event.is_set(), "a pipeline thread died"
    finally:
        pipeline.stop()
    assert pipeline.counters.frames_out + pipeline.counters.dropped == FRAMES, vars(pipeline.counters)
    assert pipeline.counters.stage_errors >= (FRAMES - pipeline.counters.dropped) // 3 - 1
    numbers = [f.sequence for f in sent]
    assert numbers == sorted(set(numbers)), "frames repeated or out of order"
    if pipeline.counters.dropped == 0:
        assert numbers == list(range(FRAMES)), "a frame whose detection failed did not come out"


def test_a_detector_returning_nan_boxes_or_junk_shapes_does_not_crash_the_stage(scene: DemoScene, tmp_path: Path) -> None:
    stage = build_stage(tmp_path)
    real = stage.detector.detect
    junk = {"n": 0}

    def garbage(image: np.ndarray, **kwargs: Any) -> Any:  # kwargs: the whole frame's edges=True
        faces = real(image, **kwargs)
        junk["n"] += 1
        for face in faces:
            if junk["n"] % 2:
                face.box = np.full(4, np.nan, np.float32)
                face.kps5 = None if face.kps5 is None else np.full_like(face.kps5, np.nan)
            else:
                face.box = np.asarray([1e9, -1e9, -5.0, 3e9], np.float32)
        return faces

    stage.detector.detect = every_third(real, garbage)  # type: ignore[method-assign]
    drawn: list[list[Any]] = []
    for frame in frames(scene):
        result = stage.process(frame)  # an exception here is the bug this test looks for
        assert result.image.shape == (HEIGHT, WIDTH, 3) and np.isfinite(result.image).all()
        drawn.append(list(stage.last_tracks))
    assert len(drawn) == FRAMES
    for tracks in drawn:  # no junk box reaches tracking, mapping or the swap
        for track in tracks:
            box = np.asarray(track.face.box, np.float64)
            assert np.isfinite(box).all() and box[2] > box[0] and box[3] > box[1], box
            assert -WIDTH <= box[0] and box[2] <= 2 * WIDTH and -HEIGHT <= box[1] and box[3] <= 2 * HEIGHT, box
    real_frames = [tracks for i, tracks in enumerate(drawn) if (i + 1) % 3]
    assert sum(1 for tracks in real_frames if tracks) >= len(real_frames) - 2, "the real detections stopped counting"
    status = stage.status()
    assert status.swap_errors == 0 and status.leaks == 0, status  # the junk frames cost no swap and show no face


# ── (b) reload_targets with a broken target file ────────────────────────────────────────────────

@pytest.mark.parametrize("damage", ["deleted", "corrupt"])
def test_reload_with_a_broken_target_image_keeps_the_old_targets_and_logs_one_error(
        damage: str, scene: DemoScene, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    copies = {}
    for name, path in assets.demo_targets().items():
        copies[name] = tmp_path / f"{name}{Path(path).suffix}"
        shutil.copy(path, copies[name])
    stage = build_stage(tmp_path, copies)
    before = dict(stage.targets)
    assert list(before) == list(TARGET_NAMES)
    if damage == "deleted":
        copies["guest5"].unlink()
    else:
        copies["guest5"].write_bytes(b"\x89PNG\r\n\x1a\n not really a picture")
    caplog.clear()
    with caplog.at_level(logging.INFO):
        stage.apply(Command("reload_targets", source="test"))
        stage.process(frames(scene, 1)[0])  # still swaps
    assert stage.targets == before, "targets changed although the reload failed"
    assert stage.mapping.targets == list(TARGET_NAMES)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    message = errors[0].getMessage()
    assert "guest5" in message and "\n" not in message, message
    assert "Traceback" not in caplog.text


# ── (c) corrupt or partial NDI frames ───────────────────────────────────────────────────────────

class _Lib:
    FOURCC_VIDEO_TYPE_UYVY = "FOURCC_VIDEO_TYPE_UYVY"
    FOURCC_VIDEO_TYPE_BGRX = "FOURCC_VIDEO_TYPE_BGRX"
    FOURCC_VIDEO_TYPE_BGRA = "FOURCC_VIDEO_TYPE_BGRA"
    FOURCC_VIDEO_TYPE_RGBX = "FOURCC_VIDEO_TYPE_RGBX"
    FOURCC_VIDEO_TYPE_RGBA = "FOURCC_VIDEO_TYPE_RGBA"


def video(width: int, height: int, data: Any, fourcc: str = "FOURCC_VIDEO_TYPE_BGRX") -> SimpleNamespace:
    return SimpleNamespace(xres=width, yres=height, FourCC=fourcc, data=data, frame_rate_N=30, frame_rate_D=1,
                           timecode=0, timestamp=0, metadata=None)


def bare_receiver(monkeypatch: pytest.MonkeyPatch) -> ndi_io.NdiReceiver:
    """A receiver with no NDI library behind it: only its frame conversion and pairing are under test."""
    monkeypatch.setattr(ndi_io, "_ndi", lambda: _Lib)
    receiver = ndi_io.NdiReceiver.__new__(ndi_io.NdiReceiver)
    receiver.stats = ndi_io.ReceiverStats()
    receiver._connected_to = "test"
    receiver._sequence = 0
    receiver._last_video = 0.0
    receiver._pending_audio, receiver._pending_metadata = [], []
    receiver._audio_lock = threading.Lock()
    return receiver


@pytest.mark.parametrize("bad", [
    video(0, 0, np.zeros(0, np.uint8)),
    video(64, 36, np.zeros(0, np.uint8)),
    video(64, 36, None),
    video(64, 36, np.zeros(64 * 36 * 4 - 1, np.uint8)),
    video(64, 36, np.zeros((36, 64 * 4 - 4), np.uint8)),
    video(64, 36, np.zeros(64 * 20 * 2, np.uint8), "FOURCC_VIDEO_TYPE_UYVY"),
    video(64, -36, np.zeros(64 * 36 * 4, np.uint8)),
    video(64, 36, np.zeros(64 * 36 * 4, np.uint8), "FOURCC_VIDEO_TYPE_P216"),
], ids=["zero-size", "empty-buffer", "no-buffer", "one-byte-short", "narrow-stride", "uyvy-half", "negative-height",
        "unknown-format"])
def test_a_corrupt_ndi_frame_is_skipped_and_counted(bad: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    receiver = bare_receiver(monkeypatch)
    assert receiver._to_frame(bad) is None
    assert receiver.stats.skipped_frames == 1
    assert receiver.stats.video_frames == 0


def test_a_good_ndi_frame_after_a_corrupt_one_still_converts(monkeypatch: pytest.MonkeyPatch) -> None:
    receiver = bare_receiver(monkeypatch)
    assert receiver._to_frame(video(64, 36, np.zeros(10, np.uint8))) is None
    picture = np.random.default_rng(1).integers(0, 255, (36, 64 * 4 + 32), np.uint8)  # padded rows (stride > width)
    frame = receiver._to_frame(video(64, 36, picture))
    assert frame is not None and frame.image.shape == (36, 64, 3)
    assert np.array_equal(frame.image, picture[:, :64 * 4].reshape(36, 64, 4)[..., :3])
    assert (receiver.stats.skipped_frames, receiver.stats.video_frames) == (1, 1)


@pytest.mark.parametrize("data,height,width,channels", [
    (np.zeros(0, np.uint8), 10, 10, 4),
    (np.zeros(399, np.uint8), 10, 10, 4),
    (np.zeros((10, 10, 3), np.uint8), 10, 10, 4),
])
def test_rows_refuses_a_buffer_smaller_than_the_frame(data: np.ndarray, height: int, width: int, channels: int) -> None:
    with pytest.raises(ValueError, match="too small"):
        ndi_io._rows(data, height, width, channels)


# ── (d) garbage on the HTTP command endpoint of a running bridge ───────────────────────────────

GARBAGE = [b"", b"{", b"null", b"[]", b"42", b'"next_target"', b'{"action": 7}', b'{"action": "explode"}',
           b'{"action": "select_target", "slot": "two"}', b'{"action": "select_target", "slot": true}',
           b'{"action": "cycle_face_target", "track": -1e309}', b"\xff\xfe\x00garbage", b"[" * 2000 + b"]" * 2000,
           b'{"realm": "other", "action": "next_target"}', b'{"action": "set_bypass", "on": "yes"}']


@pytest.mark.slow
@pytest.mark.usefixtures("ndi_runtime")
def test_garbage_commands_get_400_and_the_bridge_keeps_running(tmp_path: Path) -> None:
    port = free_port()
    profile = tmp_path / "pass.yaml"
    profile.write_text(f"input:\n  ndi_source: placeholder\nanalysis:\n  enabled: false\ntelemetry:\n  port: {port}\n")
    process = start_bridge(profile, unique_name("fb-in"), unique_name("fb-out"))
    try:
        assert wait_status(port, lambda s: "frames" in s, 20), "the HTTP API never answered"
        answers = {body[:40]: post_command(port, body) for body in GARBAGE}
        wrong = {body: answer for body, answer in answers.items() if answer[0] != 400}
        assert not wrong, f"not answered 400: {wrong}"
        assert all(text.strip() and "\n" not in text.strip() and "Traceback" not in text for _, text in answers.values())
        assert post_command(port, b"[" * 5000 + b"]" * 5000)[0] == 413  # too big to be a command
        assert process.poll() is None, "the bridge died"
        assert post_command(port, b'{"action": "next_target"}')[0] == 202  # still takes good ones
        assert get_status(port)["frames"]["held"] >= 0
    finally:
        code, _, output = stop_process(process)
    assert code == 0, output
    assert "Traceback" not in output, output


def test_audio_goes_with_the_frame_whose_timecode_span_holds_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bridge's own pairing, without a network: a block that arrives before its picture
    waits for it, one that arrives late rides with the next frame, and what is left when the
    input stops is handed to the hold."""
    receiver = bare_receiver(monkeypatch)
    span = 333_333  # one frame at 30 fps, in 100 ns units
    picture = np.zeros((36, 64, 4), np.uint8)

    def arrives(n: int) -> None:
        receiver._pending_audio.append(AudioBlock(np.zeros((2, 4), np.float32), 48000, n * span))

    def frame(n: int) -> list[int]:
        got = receiver._to_frame(SimpleNamespace(**{**vars(video(64, 36, picture)), "timecode": n * span}))
        assert got is not None
        return [b.timecode // span for b in got.audio]

    arrives(0)
    arrives(1)  # early: before frame 0's picture
    assert frame(0) == [0]
    assert frame(1) == [1]
    assert frame(2) == []
    arrives(2)  # late: after its picture
    arrives(3)
    assert frame(3) == [2, 3]
    arrives(4)  # the input stops here
    assert [b.timecode // span for b in receiver.take_pending_audio()] == [4]
