"""`output.record`: the live output recorded with its sound, on a thread that can never stall the show."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from bridge.io.record import EncoderSettings, RecordedSink, Recorder, record_path
from bridge.obs.commands import parse_command
from bridge.pipeline import PassThrough, Pipeline
from bridge.types import AudioBlock, Frame, SinkStatus
from tests.conftest import REPO
from tests.e2e_tools import free_port, get_status, post_command, wait_status
from tests.media_tools import SAMPLE_RATE, beeps, lag_of, read_clip, tone_match
from tests.ndi_tools import NdiSender, decode, pattern, unique_name, write_profile

FPS = 30
PER_FRAME = SAMPLE_RATE // FPS
TONE = beeps(60.0)


def sound_for(number: int) -> AudioBlock:
    piece = TONE[number * PER_FRAME:(number + 1) * PER_FRAME]
    return AudioBlock(np.stack([piece, piece]), SAMPLE_RATE, number * 333_333)


def numbered(number: int, size: tuple[int, int] = (320, 180)) -> Frame:
    return Frame(image=pattern(number, *size), sequence=number, timecode=number * 333_333 + 1, frame_rate=(FPS, 1),
                 received_at=time.monotonic(), audio=[sound_for(number)])


def check_sync(path: Path, first: int = 0) -> tuple[int, float]:
    """Frames in the file, and how far (s) the sound is from its pictures: tone sample n*PER_FRAME goes with frame n."""
    clip = read_clip(path)
    assert clip.video_codec == "h264" and clip.audio_codec == "aac"
    numbers = [decode(p) for p in clip.pictures]
    lag = lag_of(TONE[first * PER_FRAME:], clip.audio)  # recorded[i] ~ tone[first*PER_FRAME + i - lag]
    offsets = [t - ((n - first) * PER_FRAME + lag) / SAMPLE_RATE for t, n in zip(clip.times, numbers)]
    return len(numbers), float(np.median(offsets))


def test_a_recording_holds_the_pictures_and_sound_in_step(tmp_path: Path) -> None:
    recorder = Recorder(str(tmp_path / "show-{time}.mkv"), EncoderSettings())
    assert recorder.start()[0]
    for n in range(90):  # sent 1/30 s apart
        recorder.offer(numbered(n), 100.0 + n / FPS)
    recorder.close()
    status = recorder.status()
    assert status["state"] == "stopped" and status["frames"] == 90, status
    path = Path(status["file"])
    assert path.name.startswith("show-2") and path.suffix == ".mkv"
    frames, offset = check_sync(path)
    assert frames == 90
    assert abs(offset) <= 1.5 / FPS, f"sound {offset * 1000:.0f} ms off its pictures"
    clip = read_clip(path, keep_pictures=False)
    assert abs(len(clip.audio) / SAMPLE_RATE - 3.0) < 2 / FPS
    assert tone_match(TONE, clip.audio[:SAMPLE_RATE]) > 0.9


def test_a_new_recording_never_overwrites_an_old_one(tmp_path: Path) -> None:
    (tmp_path / "show.mkv").write_bytes(b"last week")
    assert record_path(str(tmp_path / "show.mkv")) == tmp_path / "show-1.mkv"
    recorder = Recorder("", EncoderSettings())
    assert recorder.start() == (False, "no recording file: set output.record in the profile")


class Source:
    """A camera at 30 fps: numbered pictures with their sound."""

    def __init__(self, count: int):
        self.count, self.sent, self._next = count, 0, time.monotonic()
        self.at: list[float] = []

    def capture(self, timeout_s: float = 0.1) -> Frame | None:
        if self.sent >= self.count:
            time.sleep(timeout_s)
            return None
        time.sleep(max(0.0, self._next - time.monotonic()))
        self._next += 1 / FPS
        self.sent += 1
        self.at.append(time.monotonic())
        return numbered(self.sent - 1, (640, 360))


class CountingSink:
    def __init__(self) -> None:
        self.at: list[float] = []

    def send(self, frame: Frame) -> None:
        if not frame.held:
            self.at.append(time.monotonic())

    def status(self) -> SinkStatus:
        return SinkStatus("test", 0)

    def close(self) -> None:
        pass


class BlockingWriter:
    """A disk that stops answering: every write waits until the test ends."""

    release = threading.Event()

    def __init__(self, *_: object) -> None:
        pass

    def write(self, *_: object) -> None:
        self.release.wait(30)

    def close(self) -> None:
        pass


class FailingWriter(BlockingWriter):
    """A disk that fills up after a few frames."""

    def __init__(self, *_: object) -> None:
        self.written = 0

    def write(self, *_: object) -> None:
        self.written += 1
        if self.written > 5:
            raise OSError(28, "No space left on device")


@pytest.mark.parametrize("writer", [BlockingWriter, FailingWriter], ids=["blocks", "raises"])
def test_a_stuck_or_failing_recording_costs_the_live_output_nothing(tmp_path, writer, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO)
    source, sink = Source(150), CountingSink()
    recorder = Recorder(str(tmp_path / "r.mkv"), EncoderSettings(), writer=writer)
    recorder.start()
    # no late-frame skipping: on a busy machine the pipeline itself may skip one, which is not what is tested here
    pipeline = Pipeline(source, PassThrough(), RecordedSink(sink, recorder), overlap=False, drop_late=False, queue_frames=8)
    pipeline.start()
    try:
        deadline = time.monotonic() + 15
        while len(sink.at) < 150 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        pipeline.stop()
        BlockingWriter.release.set()
        recorder.close()
    BlockingWriter.release.clear()
    assert pipeline.counters.dropped == 0 and len(sink.at) == 150, f"the live output lost frames: {len(sink.at)}"
    rate = (len(sink.at) - 1) / (sink.at[-1] - sink.at[0])
    # a gap the (busy, shared) machine put into the source itself is not the recording's doing
    gap, source_gap = float(np.diff(sink.at).max()), float(np.diff(source.at).max())
    assert rate >= 28 and gap < source_gap + 0.1, f"the live output slowed: {rate:.1f} fps, gap {gap:.3f} s"
    stopped = [r.getMessage() for r in caplog.records if "recording stopped" in r.getMessage()]
    assert len(stopped) == 1, stopped
    assert "r.mkv" in stopped[0] and "\n" not in stopped[0]
    assert ("fell 90 frames behind" if writer is BlockingWriter else "No space left on device") in stopped[0]
    assert recorder.status()["state"] == "failed"


def test_recording_commands_are_part_of_the_vocabulary() -> None:
    assert parse_command({"realm": "facebridge", "action": "start_recording"}).action == "start_recording"
    assert parse_command({"realm": "facebridge", "action": "stop_recording"}).action == "stop_recording"


# ── the bridge as a user runs it ────────────────────────────────────────────────────────────

def send_numbered(name: str, count: int, stop: threading.Event, first: int = 0) -> None:
    sender = NdiSender(name)
    try:
        deadline = time.monotonic() + 20
        while sender.connections() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        start = time.monotonic()
        for i in range(count):
            if stop.is_set():
                break
            time.sleep(max(0.0, start + i / FPS - time.monotonic()))
            sender.send(numbered(first + i, (640, 360)))
    finally:
        sender.close()


def bridge(tmp_path: Path, record: str, port: int, on_start: bool) -> tuple[subprocess.Popen[str], str]:
    source = unique_name("fb-rec-in")
    profile = write_profile(tmp_path, f"input:\n  ndi_source: placeholder\noutput:\n  record: {record}\n"
                                      f"  record_on_start: {str(on_start).lower()}\nanalysis:\n  enabled: false\n"
                                      f"telemetry:\n  port: {port}\n")
    process = subprocess.Popen([sys.executable, "-m", "bridge.cli", "run", "--profile", str(profile), "--input", source,
                                "--output", unique_name("fb-rec-out")], cwd=REPO, env=os.environ.copy(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return process, source


@pytest.mark.slow
@pytest.mark.usefixtures("ndi_runtime")
def test_the_bridge_records_what_it_sends_started_and_stopped_over_http(tmp_path: Path) -> None:
    port = free_port()
    process, source = bridge(tmp_path, str(tmp_path / "air-{time}.mkv"), port, on_start=False)
    stop = threading.Event()
    feeding = threading.Thread(target=send_numbered, args=(source, 60 * FPS, stop), daemon=True)
    feeding.start()
    try:
        assert wait_status(port, lambda s: s.get("frames", {}).get("out", 0) > 30, 30), "no frames through the bridge"
        assert get_status(port)["recording"]["state"] == "off"
        assert post_command(port, json.dumps({"action": "start_recording"}).encode())[0] == 202
        recording = wait_status(port, lambda s: s["recording"]["frames"] >= 100, 15)["recording"]
        assert recording["state"] == "recording" and recording["file"].endswith(".mkv"), recording
        assert post_command(port, json.dumps({"action": "stop_recording"}).encode())[0] == 202
        done = wait_status(port, lambda s: s["recording"]["state"] == "stopped", 10)["recording"]
        assert done["state"] == "stopped", done
    finally:
        stop.set()
        process.send_signal(signal.SIGINT)
        text = process.communicate(timeout=10)[0]
        print(text)
    assert process.returncode == 0 and "Traceback" not in text
    clip = read_clip(Path(done["file"]))
    first = decode(clip.pictures[0])
    frames, offset = check_sync(Path(done["file"]), first)
    assert frames >= 100
    assert abs(offset) <= 2 / FPS, f"the recorded sound is {offset * 1000:.0f} ms off its pictures"
    assert abs(len(clip.audio) / SAMPLE_RATE - (clip.times[-1] - clip.times[0])) < 0.2
    assert tone_match(TONE, clip.audio[: 2 * SAMPLE_RATE]) > 0.9, "the recorded sound is not what was sent"


@pytest.mark.slow
@pytest.mark.usefixtures("ndi_runtime")
def test_a_fragmented_mp4_recording_survives_the_bridge_being_killed(tmp_path: Path) -> None:
    port = free_port()
    target = tmp_path / "air.mp4"
    process, source = bridge(tmp_path, str(target), port, on_start=True)
    stop = threading.Event()
    feeding = threading.Thread(target=send_numbered, args=(source, 60 * FPS, stop), daemon=True)
    feeding.start()
    try:
        assert wait_status(port, lambda s: s.get("recording", {}).get("seconds", 0) >= 4.5, 40), "recording never ran"
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=10)
        stop.set()
    with av.open(str(target)) as clip:
        pictures = sum(1 for _ in clip.decode(video=0))
    assert pictures >= 2 * FPS, f"only {pictures} frames survived the crash"
