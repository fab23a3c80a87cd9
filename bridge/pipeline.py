"""Threads and queues: receive → process → send, with latency accounting.

Stages know nothing of threads or NDI. The receive thread keeps only the newest frames;
the process thread applies commands between frames and runs the stage; the send thread
sends what is ready and, when the input goes quiet, keeps the output's frame rate by
holding the last frame, a slate or black.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import cv2
import numpy as np

from bridge.types import AudioBlock, Frame, SinkStatus, SourceStatus

log = logging.getLogger(__name__)


class Stage(Protocol):
    def process(self, frame: Frame) -> Frame: ...


class FrameSource(Protocol):
    def capture(self, timeout_s: float = 0.1) -> Frame | None: ...


class FrameSink(Protocol):
    def send(self, frame: Frame) -> None: ...


class LiveSource(FrameSource, Protocol):
    """What the live show receives from: NDI (`io.ndi.NdiReceiver`) or FFmpeg (`io.url_source.UrlSource`).
    Another input is one class with these methods and one line in `bridge.live.SOURCES`."""

    def status(self) -> SourceStatus: ...
    def take_pending_audio(self) -> list[AudioBlock]: ...
    def close(self) -> None: ...


class LiveSink(FrameSink, Protocol):
    """What the live show sends to: NDI (`io.ndi.NdiSender`), with the recording's tap (`io.record.RecordedSink`)."""

    def status(self) -> SinkStatus: ...
    def close(self) -> None: ...


class PassThrough:
    """The stage that changes nothing (the bridge with no face work)."""

    def process(self, frame: Frame) -> Frame:
        return frame


class LatestFrames:
    """A bounded queue that drops the oldest frame when full, handing its audio and metadata on.

    Dropping a picture is fine under overload; dropping sound is not, so a dropped frame's
    audio and metadata travel with the frame that replaced it.
    """

    def __init__(self, capacity: int):
        self._frames: deque[Frame] = deque()
        self._capacity = capacity
        self._ready = threading.Condition()
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        with self._ready:
            while len(self._frames) >= self._capacity:
                self._drop_oldest(frame)
            self._frames.append(frame)
            self._ready.notify()

    def get(self, timeout_s: float, late_after_s: float | None = None) -> Frame | None:
        """The oldest frame; with `late_after_s`, frames older than that are dropped while a newer one waits."""
        with self._ready:
            if not self._frames:
                self._ready.wait(timeout_s)
            if late_after_s is not None:
                now = time.monotonic()
                while len(self._frames) > 1 and now - self._frames[0].received_at > late_after_s:
                    self._drop_oldest(self._frames[-1])
            return self._frames.popleft() if self._frames else None

    def _drop_oldest(self, newest: Frame) -> None:
        oldest = self._frames.popleft()
        successor = self._frames[0] if self._frames else newest
        successor.audio[:0] = oldest.audio
        successor.metadata[:0] = oldest.metadata
        self.dropped += 1

    def __len__(self) -> int:
        return len(self._frames)


class Handoff:
    """One slot between the analyse and swap threads: the analyse thread waits for it to be free,
    so an overloaded pipeline drops in the incoming queue (counted, audio kept), never analysed work."""

    def __init__(self) -> None:
        self._item: Any = None
        self._changed = threading.Condition()

    def put(self, item: Any, stop: threading.Event) -> bool:
        """False when stopped before the slot freed."""
        with self._changed:
            while self._item is not None:
                if stop.is_set():
                    return False
                self._changed.wait(0.05)
            self._item = item
            self._changed.notify_all()
            return True

    def get(self, timeout_s: float) -> Any:
        with self._changed:
            if self._item is None:
                self._changed.wait(timeout_s)
            item, self._item = self._item, None
            if item is not None:
                self._changed.notify_all()
            return item


class LatencyWindow:
    """Receive-to-send latency of the most recent frames, in seconds."""

    def __init__(self, size: int = 600):
        self._values: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self._values.append(seconds)

    def percentiles(self) -> dict[str, float]:
        with self._lock:
            values = np.array(self._values) if self._values else None
        if values is None:
            return {"p50_ms": 0.0, "p95_ms": 0.0, "max_ms": 0.0}
        p50, p95 = np.percentile(values, [50, 95])
        return {"p50_ms": float(p50 * 1e3), "p95_ms": float(p95 * 1e3), "max_ms": float(values.max() * 1e3)}


class RateMeter:
    """Frames per second over the last couple of seconds."""

    def __init__(self, window_s: float = 2.0):
        self._times: deque[float] = deque()
        self._window_s = window_s
        self._lock = threading.Lock()

    def tick(self, at: float) -> None:
        with self._lock:
            self._times.append(at)
            while self._times and self._times[0] < at - self._window_s:
                self._times.popleft()

    def fps(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            recent = [t for t in self._times if t >= now - self._window_s]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6)


@dataclass
class PipelineCounters:
    frames_in: int = 0
    frames_out: int = 0
    frames_held: int = 0  # sent while the input was gone
    stage_errors: int = 0
    last_input_at: float = 0.0
    last_output_at: float = 0.0
    input_size: tuple[int, int] = (0, 0)
    input_rate: tuple[int, int] = (0, 1)
    queues: tuple[LatestFrames, ...] = field(default=(), repr=False)

    @property
    def dropped(self) -> int:
        """Received but never processed (overload): what the queues dropped."""
        return sum(q.dropped for q in self.queues)


def slate_picture(width: int, height: int, text: str) -> np.ndarray:
    picture = np.full((height, width, 3), 32, np.uint8)
    scale = max(0.5, width / 1280)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    cv2.putText(picture, text, ((width - tw) // 2, (height + th) // 2), cv2.FONT_HERSHEY_SIMPLEX,
                scale, (200, 200, 200), 2, cv2.LINE_AA)
    return picture


class Pipeline:
    """Wires a frame source, a stage and a frame sink with threads.

    Three threads (receive → process → send) for a plain stage; four for a stage with
    `analyse`/`finish` when `overlap` is on: while frame t is tracked and swapped, frame t+1
    is already being detected (receive → analyse → swap → send). `analyse` needs nothing from
    earlier frames and returns something with a `.frame`; `finish` sees frames in order.
    """

    def __init__(self, source: FrameSource, stage: Stage, sink: FrameSink, *, queue_frames: int = 2,
                 on_loss: str = "hold", loss_after_s: float = 0.25, slate_text: str = "facebridge: waiting for input",
                 apply_command: Callable[[Any], None] | None = None, overlap: bool = True,
                 on_sent: Callable[[Frame, float], None] | None = None, drop_late: bool = True,
                 on_received: Callable[[Frame], None] | None = None):
        self.source, self.stage, self.sink = source, stage, sink
        self._next_stage: Stage | None = None
        self.overlap = overlap and callable(getattr(stage, "analyse", None)) and callable(getattr(stage, "finish", None))
        self.handoff = Handoff()
        self.on_loss, self.loss_after_s, self.slate_text = on_loss, loss_after_s, slate_text
        self.apply_command = apply_command
        self.incoming = LatestFrames(queue_frames)
        self.outgoing = LatestFrames(2)
        self.commands: queue.Queue[Any] = queue.Queue(maxsize=256)
        self.counters = PipelineCounters(queues=(self.incoming, self.outgoing))
        self.latency = LatencyWindow()
        self.output_rate = RateMeter()
        self.on_sent = on_sent
        self.on_received = on_received  # sees each input picture before the stage changes it (the dock's input view)
        self.drop_late = drop_late
        self.stop_event = threading.Event()
        self._threads: list[threading.Thread] = []
        self._stage_errors_seen: set[str] = set()
        self._telemetry_failed = False

    # -- control -------------------------------------------------------------------------
    def start(self) -> None:
        work = ((("analyse", self._analyse_loop), ("swap", self._swap_loop)) if self.overlap
                else (("process", self._process_loop),))
        for name, target in (("receive", self._receive_loop), *work, ("send", self._send_loop)):
            thread = threading.Thread(target=self._guard(target), name=f"facebridge-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 1.5) -> None:
        self.stop_event.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def replace_stage(self, stage: Stage) -> None:
        """Use `stage` from the next frame on; frames already analysed finish on the stage that began them."""
        self._next_stage = stage

    def _stage_for_next_frame(self) -> Stage:
        if self._next_stage is not None:
            self.stage, self._next_stage = self._next_stage, None
        return self.stage

    def submit(self, command: Any) -> bool:
        """Queue a command to apply between frames; False when the queue is full."""
        try:
            self.commands.put_nowait(command)
            return True
        except queue.Full:
            return False

    def _guard(self, loop: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                loop()
            except Exception:  # a dead thread would freeze the show: log and stop cleanly instead
                log.exception("pipeline thread %s failed", threading.current_thread().name)
                self.stop_event.set()
        return run

    # -- threads -------------------------------------------------------------------------
    def _receive_loop(self) -> None:
        while not self.stop_event.is_set():
            frame = self.source.capture(0.1)
            if frame is None:
                continue
            self.counters.frames_in += 1
            self.counters.last_input_at = frame.received_at or time.monotonic()
            self.counters.input_size = frame.size
            self.counters.input_rate = frame.frame_rate
            if self.on_received is not None:
                self._report(self.on_received, frame)
            self.incoming.put(frame)

    def _process_loop(self) -> None:
        while not self.stop_event.is_set():
            self._apply_commands()
            frame = self.incoming.get(0.05, self._late_after())
            if frame is None:
                continue
            stage = self._picked_up(frame)
            try:
                result = stage.process(frame)
            except Exception as error:  # the frame still goes out, unchanged
                self._stage_failed(error)
                result = frame
            self.outgoing.put(result)

    def _late_after(self) -> float | None:
        """How old a waiting frame may grow while a newer one waits: one frame interval."""
        return _interval(self.counters.input_rate) if self.drop_late else None

    def _picked_up(self, frame: Frame) -> Stage:
        """The stage for this frame (a replacement takes over here, between frames)."""
        if frame.received_at:
            frame.timings["queue"] = time.monotonic() - frame.received_at
        return self._stage_for_next_frame()

    def _analyse_loop(self) -> None:
        while not self.stop_event.is_set():
            frame = self.incoming.get(0.05, self._late_after())
            if frame is None:
                continue
            stage = self._picked_up(frame)
            item: Any
            try:
                # A stage that cannot split (pass-through) does all its work here.
                item = stage.analyse(frame) if hasattr(stage, "analyse") else stage.process(frame)
            except Exception as error:  # handed on as a bare frame: it goes out unchanged, in order
                self._stage_failed(error)
                item = frame
            if not self.handoff.put((stage, item), self.stop_event):
                return

    def _swap_loop(self) -> None:
        while not self.stop_event.is_set():
            self._apply_commands()
            handed = self.handoff.get(0.05)
            if handed is None:
                continue
            stage, item = handed
            if isinstance(item, Frame):
                self.outgoing.put(item)
                continue
            try:
                result = stage.finish(item)
            except Exception as error:
                self._stage_failed(error)
                result = item.frame
            self.outgoing.put(result)

    def _stage_failed(self, error: Exception) -> None:
        self.counters.stage_errors += 1
        kind = type(error).__name__
        if kind not in self._stage_errors_seen:
            self._stage_errors_seen.add(kind)
            log.error("processing failed (%s: %s); frames pass through unchanged while it does", kind, error)

    def _apply_commands(self) -> None:
        while True:
            try:
                command = self.commands.get_nowait()
            except queue.Empty:
                return
            if self.apply_command is not None:
                try:
                    self.apply_command(command)
                except Exception as error:
                    log.error("command %r failed: %s", command, error)

    def _send_loop(self) -> None:
        last: Frame | None = None
        next_hold = 0.0
        while not self.stop_event.is_set():
            interval = _interval(last.frame_rate if last else (30, 1))
            frame = self.outgoing.get(interval / 2)
            now = time.monotonic()
            if frame is not None:
                self.sink.send(frame)
                done = time.monotonic()
                frame.timings["send"] = done - now
                self.latency.add(done - frame.received_at)
                self.counters.frames_out += 1
                self.counters.last_output_at = done
                self.output_rate.tick(done)
                self._report_sent(frame, done - frame.received_at)
                last = frame
                next_hold = done + max(self.loss_after_s, interval)
                continue
            if last is None or now < next_hold:
                continue
            held = self._hold_frame(last)
            self.sink.send(held)
            self.counters.frames_held += 1
            self.counters.last_output_at = time.monotonic()
            self.output_rate.tick(self.counters.last_output_at)
            next_hold += interval
            if next_hold < now:  # fell behind (e.g. stalled sink): resync instead of bursting
                next_hold = now + interval

    def _report_sent(self, frame: Frame, latency_s: float) -> None:
        if self.on_sent is not None:
            self._report(self.on_sent, frame, latency_s)

    def _report(self, hook: Callable[..., None], *args: Any) -> None:
        try:
            hook(*args)
        except Exception as error:  # telemetry must never stop the output
            if not self._telemetry_failed:
                self._telemetry_failed = True
                log.error("frame telemetry failed (%s: %s); frames go out regardless", type(error).__name__, error)

    def _hold_frame(self, last: Frame) -> Frame:
        width, height = last.size
        if self.on_loss == "slate":
            image = slate_picture(width, height, self.slate_text)
        elif self.on_loss == "black":
            image = np.zeros_like(last.image)
        else:
            image = last.image
        # Sound that arrived after the last picture leaves with the first held frame.
        leftover = getattr(self.source, "take_pending_audio", None)
        return Frame(image=image, sequence=last.sequence, frame_rate=last.frame_rate, held=True,
                     received_at=time.monotonic(), audio=leftover() if leftover else [])


def _interval(rate: tuple[int, int]) -> float:
    numerator, denominator = rate
    return denominator / numerator if numerator > 0 else 1 / 30
