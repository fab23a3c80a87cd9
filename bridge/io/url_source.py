"""Live input through FFmpeg (`input.url`): a file, a webcam or a network stream, as `Frame`s.

It behaves like the NDI receiver: `capture` hands out the next picture with the sound that
came before it, the pipeline holds or slates while it is gone, and it opens the input again
on its own. A thread reads and decodes, and lets each picture go at its own timestamp, so a
file plays in real time (and round again with `loop`) and a live stream is not delayed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import av

from bridge.io.ffmpeg import (AudioConverter, MediaError, decodable_audio, open_args, open_input, rate_of, shown,
                              upright_bgr, video_stream)
from bridge.types import AudioBlock, Frame, SourceStatus

log = logging.getLogger(__name__)

TIMECODE_UNITS = 10_000_000
BEHIND_RESYNC_S = 0.5  # further behind its timestamps than this (a live burst): catch up instead of waiting
REOPEN_AFTER_S = 1.0


@dataclass
class SourceStats:
    """A URL source's counts (the same names as the NDI receiver's); `status()` hands /status its part."""

    video_frames: int = 0
    audio_blocks: int = 0
    skipped_frames: int = 0
    connects: int = 0
    source: str = ""
    formats: set[str] = field(default_factory=set)


class UrlSource:
    """Frames from FFmpeg, paced by their timestamps; reopened when the input fails or goes quiet."""

    def __init__(self, url: str, options: dict[str, str] | None = None, *, loop: bool = False, timeout_s: float = 5.0,
                 wait_log_s: float = 5.0, queue_frames: int = 3):
        self.url, self.name = url, shown(url)
        self.options = {k: str(v) for k, v in (options or {}).items()}
        self.args = open_args(url, self.options)
        self.loop, self.timeout_s, self.wait_log_s = loop, timeout_s, wait_log_s
        self.stats = SourceStats()
        self.ended = False  # a file without loop played to its end
        self.dropped = 0  # pictures replaced before `capture` took them (their sound kept)
        self._frames: deque[Frame] = deque()
        self._capacity = queue_frames
        self._ready = threading.Condition()
        self._pending_audio: list[tuple[float, AudioBlock]] = []
        self._connected = False
        self._stop = threading.Event()
        self._clock_base = int(time.time() * TIMECODE_UNITS)  # timecodes count from the wall clock, as NDI's do
        self._sequence = 0
        self._last_wait_log = -1e9
        # reading starts with the first `capture`: pictures read before the pipeline runs would
        # only be dropped as late
        self._thread = threading.Thread(target=self._run, name="facebridge-url-input", daemon=True)

    # -- what the pipeline and /status use ------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected

    def transport_dropped(self) -> int:
        return self.dropped

    def status(self) -> SourceStatus:
        return SourceStatus(self.stats.source, self.connected, self.stats.connects, self.stats.skipped_frames,
                            self.transport_dropped())

    def capture(self, timeout_s: float = 0.1) -> Frame | None:
        if self._thread.ident is None and not self._stop.is_set():
            self._thread.start()
        with self._ready:
            if not self._frames:
                self._ready.wait(timeout_s)
            return self._frames.popleft() if self._frames else None

    def take_pending_audio(self) -> list[AudioBlock]:
        with self._ready:
            pending, self._pending_audio = self._pending_audio, []
        return [block for _, block in pending]

    def close(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(1.0)  # a read stuck on the network ends at its own timeout (daemon thread)

    # -- the reading thread ---------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                container = open_input(self.url, self.options, self.timeout_s)
            except MediaError as error:
                self._log_wait(f"waiting for {error}")
                self._stop.wait(REOPEN_AFTER_S)
                continue
            try:
                self._connected = True
                self.stats.connects += 1
                self.stats.source = self.name
                log.info("receiving %s" if self.stats.connects == 1 else "%s is back", self.name)
                self._play(container)
            except Exception as error:  # whatever FFmpeg or a damaged stream throws: open it again
                if not self._stop.is_set():
                    self._log_wait(f"{self.name}: lost ({_reason(error)}); opening it again")
            finally:
                self._connected = False
                container.close()
            if self.ended:
                log.warning("%s: the file ended; the output holds (set input.loop: true to play it again)", self.name)
                return
            self._stop.wait(REOPEN_AFTER_S if not self._stop.is_set() else 0)

    def _log_wait(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_wait_log >= self.wait_log_s:
            log.warning(message)
            self._last_wait_log = now

    def _play(self, container: av.container.InputContainer) -> None:
        video = video_stream(container, self.name)
        audio = decodable_audio(container)
        rate = rate_of(video)
        interval = rate[1] / rate[0]
        self.stats.formats.add(video.codec_context.name)
        converter = AudioConverter()
        offset = 0.0  # seconds added to the file's timestamps on each round (loop)
        clock: tuple[float, float] | None = None  # (media time, monotonic time) it was due at
        while not self._stop.is_set():
            first = last = None
            streams = [video] + ([audio] if audio is not None else [])
            for packet in container.demux(*streams):
                for decoded in packet.decode():
                    if self._stop.is_set():
                        return
                    if decoded.time is None:
                        continue
                    at = float(decoded.time) + offset
                    if packet.stream.type == "audio":
                        for block in converter.blocks(decoded, self._timecode(at)):
                            with self._ready:
                                self._pending_audio.append((at, block))
                            self.stats.audio_blocks += 1
                        continue
                    first = at if first is None else first
                    last = at
                    clock = self._wait_until(at, clock)
                    self._emit(Frame(image=upright_bgr(decoded), sequence=self._sequence, timecode=self._timecode(at),
                                     frame_rate=rate, received_at=time.monotonic(), audio=self._audio_before(at + interval)))
            if self.args.live:
                raise MediaError("the stream ended")
            if not self.loop or first is None:
                self.ended = True
                return
            offset += last - first + interval
            container.seek(0)

    def _timecode(self, at: float) -> int:
        return self._clock_base + int(at * TIMECODE_UNITS)

    def _wait_until(self, at: float, clock: tuple[float, float] | None) -> tuple[float, float]:
        """Sleep until the picture at media time `at` is due; resync when far behind or the timestamps jump."""
        now = time.monotonic()
        if clock is None:
            return at, now
        due = clock[1] + (at - clock[0])
        if now - due > BEHIND_RESYNC_S or due - now > 2 * BEHIND_RESYNC_S + 1.0:
            return at, now
        if due > now:
            self._stop.wait(due - now)
        return clock

    def _audio_before(self, end: float) -> list[AudioBlock]:
        with self._ready:
            now = [block for at, block in self._pending_audio if at < end]
            self._pending_audio = [(at, block) for at, block in self._pending_audio if at >= end]
        return now

    def _emit(self, frame: Frame) -> None:
        self._sequence += 1
        self.stats.video_frames += 1
        with self._ready:
            while len(self._frames) >= self._capacity:  # nobody is taking them: the oldest goes, its sound stays
                oldest = self._frames.popleft()
                successor = self._frames[0] if self._frames else frame
                successor.audio[:0] = oldest.audio
                self.dropped += 1
            self._frames.append(frame)
            self._ready.notify()


def _reason(error: BaseException) -> str:
    return " ".join(str(getattr(error, "strerror", None) or error or type(error).__name__).split())
