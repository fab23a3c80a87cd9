"""Recording what goes on air (`output.record`): H.264 + AAC in a file that survives a crash.

The send thread only offers each sent frame to a bounded queue and never waits: an encoder
thread of its own writes the file. When the disk or the encoder cannot keep up (the queue is
full) or fails, the recording stops with one line and the live output carries on untouched.
Pictures are stamped with the time they were sent and the sound is laid end to end from the
first frame (silence fills a gap, e.g. while the input is gone), so the file plays as it aired.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import av
import cv2
import numpy as np

from bridge.io.color import bgr_to_i420
from bridge.io.ffmpeg import audio_frame, even
from bridge.types import AudioBlock, Frame, SinkStatus

log = logging.getLogger(__name__)

SAMPLE_RATE = 48000
VIDEO_TIME_BASE = Fraction(1, 90000)
GAP_FILL_S = 0.2  # sound further behind the pictures than this is caught up with silence
KEYFRAME_S = 2.0  # a crash loses at most this much of a fragmented mp4
RECORD_NICE = 10


@dataclass
class EncoderSettings:
    crf: int = 20
    preset: str = "veryfast"
    fps: int = 30  # nominal; each picture keeps the time it was sent


class Writer(Protocol):
    """What the encoder thread writes to (the PyAV writer, or a test's failing one)."""

    def write(self, image: np.ndarray, audio: list[AudioBlock], at_s: float) -> None: ...
    def close(self) -> None: ...


class AvWriter:
    """H.264 + AAC into .mkv, or .mp4 written as fragments (a crash keeps all but the last one)."""

    def __init__(self, path: Path, size: tuple[int, int], settings: EncoderSettings):
        fragmented = path.suffix.lower() == ".mp4"
        # what is encoded reaches the disk within about a second: fragments or clusters that end at
        # each keyframe / second, flushed as written (a crash loses only the last one)
        options = ({"movflags": "frag_keyframe+empty_moov+default_base_moof"} if fragmented
                   else {"cluster_time_limit": str(int(KEYFRAME_S * 1000))})
        options["flush_packets"] = "1"
        self._container = av.open(str(path), "w", format="mp4" if fragmented else "matroska", options=options)
        self.size = even(size)
        video = self._container.add_stream("libx264", rate=settings.fps, options={
            "crf": str(settings.crf), "preset": settings.preset, "g": str(int(settings.fps * KEYFRAME_S)),
            "bf": "0"})  # no B-frames: each picture is written as it comes, nothing waits for the next
        video.width, video.height = self.size
        video.pix_fmt = "yuv420p"
        video.codec_context.time_base = VIDEO_TIME_BASE
        video.codec_context.colorspace = video.codec_context.color_primaries = video.codec_context.color_trc = 1  # BT.709
        self._video = video
        open_at_low_priority(video.codec_context)
        self._audio = self._container.add_stream("aac", rate=SAMPLE_RATE)
        self._audio.layout = "stereo"
        self._to_stereo = av.AudioResampler(format="fltp", layout="stereo", rate=SAMPLE_RATE)
        self._samples = 0  # written so far
        self._last_pts = -1

    def write(self, image: np.ndarray, audio: list[AudioBlock], at_s: float) -> None:
        if audio:
            behind = at_s - self._samples / SAMPLE_RATE - sum(b.samples.shape[1] / b.sample_rate for b in audio)
            if behind > GAP_FILL_S:
                self._sound(AudioBlock(np.zeros((2, int(behind * SAMPLE_RATE)), np.float32), SAMPLE_RATE))
            for block in audio:
                self._sound(block)
        elif at_s - self._samples / SAMPLE_RATE > GAP_FILL_S:  # no sound for a while: keep the track level
            self._sound(AudioBlock(np.zeros((2, int((at_s - self._samples / SAMPLE_RATE) * SAMPLE_RATE)), np.float32),
                                   SAMPLE_RATE))
        if (image.shape[1], image.shape[0]) != self.size:
            image = cv2.resize(image, self.size)
        picture = av.VideoFrame.from_ndarray(bgr_to_i420(image), format="yuv420p")
        pts = max(int(at_s / VIDEO_TIME_BASE), self._last_pts + 1)
        picture.pts, picture.time_base = pts, VIDEO_TIME_BASE
        self._last_pts = pts
        self._mux(self._video.encode(picture))

    def _sound(self, block: AudioBlock) -> None:
        for converted in self._to_stereo.resample(audio_frame(block)):
            converted.pts, converted.time_base = self._samples, Fraction(1, SAMPLE_RATE)
            self._samples += converted.samples
            self._mux(self._audio.encode(converted))

    def _mux(self, packets: list[av.Packet]) -> None:
        if packets:
            self._container.mux(packets)

    def close(self) -> None:
        try:
            self._mux(self._video.encode(None))
            self._mux(self._audio.encode(None))
        finally:
            self._container.close()


WriterFactory = Callable[[Path, tuple[int, int], EncoderSettings], Writer]


@dataclass
class RecordingStatus:
    state: str = "off"  # off | recording | stopped | failed
    file: str = ""
    frames: int = 0
    seconds: float = 0.0
    error: str = ""


class Recording:
    """One file: frames offered from the send thread, encoded on a thread of its own."""

    def __init__(self, path: Path, settings: EncoderSettings, writer: WriterFactory = AvWriter, queue_frames: int = 90):
        self.path, self.settings, self._make_writer = path, settings, writer
        self._queue: queue.Queue[tuple[np.ndarray, list[AudioBlock], float] | None] = queue.Queue(maxsize=queue_frames)
        self.status = RecordingStatus("recording", str(path))
        self._started_at: float | None = None
        self._thread = threading.Thread(target=self._run, name="facebridge-record", daemon=True)
        self._thread.start()

    @property
    def active(self) -> bool:
        return self.status.state == "recording"

    def offer(self, frame: Frame, sent_at: float) -> None:
        """Called by the send thread: never blocks, never raises."""
        if not self.active:
            return
        if self._started_at is None:
            self._started_at = sent_at
        try:
            self._queue.put_nowait((frame.image, list(frame.audio), sent_at - self._started_at))
        except queue.Full:
            self._fail(f"writing fell {self._queue.maxsize} frames behind (slow or full disk, or too little CPU for "
                       f"output.preset {self.settings.preset!r})")

    def stop(self, wait_s: float = 0.0) -> None:
        """Finish the file after what is queued; never blocks longer than `wait_s` (a stuck writer is left behind)."""
        if self.status.state == "recording":
            self.status.state = "stopped"
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                pass  # the thread also ends on an empty queue once stopped
        self._thread.join(wait_s) if wait_s else None

    def _fail(self, reason: str) -> None:
        if self.status.state != "recording":
            return
        self.status.state, self.status.error = "failed", reason
        log.error("recording stopped: %s: %s; the show goes on without it", self.path, reason)

    def _run(self) -> None:
        writer: Writer | None = None
        try:
            while True:
                try:
                    item = self._queue.get(timeout=0.5)
                except queue.Empty:
                    if self.status.state != "recording":
                        break
                    continue
                if item is None or self.status.state == "failed":
                    break
                image, audio, at_s = item
                if writer is None:
                    writer = self._make_writer(self.path, (image.shape[1], image.shape[0]), self.settings)
                writer.write(image, audio, at_s)
                self.status.frames += 1
                self.status.seconds = round(at_s, 2)
        except Exception as error:  # disk full, encoder refused, file gone: the recording ends, not the show
            self._fail(" ".join(str(getattr(error, "strerror", None) or error or type(error).__name__).split()))
        finally:
            if writer is not None:
                try:
                    writer.close()
                except Exception as error:
                    self._fail(f"could not finish the file ({error})")
        if self.status.state == "stopped" and writer is None:
            log.info("recording ended before the first frame: %s not written", self.path)
        elif self.status.state == "stopped":
            log.info("recording finished: %s (%d frames, %.1f s)", self.path, self.status.frames, self.status.seconds)


def open_at_low_priority(codec: av.codec.context.CodecContext) -> None:
    """Open `codec` from a short-lived thread of lower priority, so the encoder's own threads
    (they inherit it) give way to the live output when the CPU is short: the recording then
    falls behind and stops, never the show. The Python thread that feeds it keeps its normal
    priority: a lowered thread holding the GIL would stall the live threads behind it."""
    failed: list[BaseException] = []

    def open_() -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), RECORD_NICE)  # Linux: this thread only
        except (AttributeError, OSError):
            pass  # another OS: normal priority
        try:
            codec.open()
        except BaseException as error:  # handed to the caller's thread
            failed.append(error)

    opener = threading.Thread(target=open_, name="facebridge-record-open", daemon=True)
    opener.start()
    opener.join()
    if failed:
        raise failed[0]


def record_path(pattern: str, now: datetime | None = None) -> Path:
    """The file for a new recording: {time} becomes the start time; an existing file gets -1, -2, ... instead."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    path = Path(pattern.replace("{time}", stamp)).expanduser()
    candidate, n = path, 0
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


class Recorder:
    """Starts and stops recordings of the live output (profile, commands) and says how it stands."""

    def __init__(self, pattern: str, settings: EncoderSettings, writer: WriterFactory = AvWriter):
        self.pattern, self.settings, self._writer = pattern, settings, writer
        if pattern:  # numba loads the conversion on its first call, holding the GIL for up to a
            # second: here, before the show starts, not in the encoder thread while it runs
            bgr_to_i420(np.zeros((2, 2, 3), np.uint8))
        self.current: Recording | None = None
        self._lock = threading.Lock()

    def start(self) -> tuple[bool, str]:
        with self._lock:
            if self.current is not None and self.current.active:
                return False, f"already recording to {self.current.path}"
            if not self.pattern:
                return False, "no recording file: set output.record in the profile"
            try:
                path = record_path(self.pattern)
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                log.error("recording not started: %s: %s (check output.record)", self.pattern, error)
                return False, f"cannot record to {self.pattern}: {error}"
            self.current = Recording(path, self.settings, self._writer)
        log.info("recording to %s", path)
        return True, f"recording to {path}"

    def stop(self) -> tuple[bool, str]:
        with self._lock:
            current = self.current
        if current is None or not current.active:
            return False, "not recording"
        current.stop()
        return True, f"recording stopped: {current.path}"

    def offer(self, frame: Frame, sent_at: float) -> None:
        current = self.current
        if current is not None:
            current.offer(frame, sent_at)

    def status(self) -> dict[str, Any]:
        current = self.current
        if current is None:
            return {"state": "off", "file": "", "frames": 0, "seconds": 0.0, "error": ""}
        s = current.status
        return {"state": s.state, "file": s.file, "frames": s.frames, "seconds": s.seconds, "error": s.error}

    def close(self) -> None:
        with self._lock:
            current = self.current
        if current is not None:
            current.stop(wait_s=3.0)


class RecordedSink:
    """The live sink with a recording tap: the sink sends first; the recorder only gets offered the frame."""

    def __init__(self, sink: Any, recorder: Recorder):
        self.sink, self.recorder = sink, recorder

    def send(self, frame: Frame) -> None:
        self.sink.send(frame)
        try:
            self.recorder.offer(frame, time.monotonic())
        except Exception as error:  # the recording must never cost the live output a frame
            log.error("recording tap failed (%s); the show goes on", error)

    def status(self) -> SinkStatus:
        return self.sink.status()  # type: ignore[no-any-return]

    def close(self) -> None:
        self.recorder.close()
        self.sink.close()
