"""The overlapped pipeline (analyse thread + swap thread) keeps order, commands, errors and audio right."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import pytest

from bridge.pipeline import LatestFrames, PassThrough, Pipeline, RateMeter
from bridge.types import AudioBlock, Frame


@dataclass
class Marked:
    frame: Frame
    analysed_in: str


class SplitFake:
    """Analyse marks the frame; finish records the order and which command was live."""

    def __init__(self, analyse_s: float = 0.0, finish_s: float = 0.0, fail_on: int = -1):
        self.analyse_s, self.finish_s, self.fail_on = analyse_s, finish_s, fail_on
        self.finished: list[tuple[int, str, str]] = []
        self.mode = "a"
        self.overlapped = 0
        self._in_finish = threading.Event()

    def analyse(self, frame: Frame) -> Marked:
        if self._in_finish.is_set():
            self.overlapped += 1
        if frame.sequence == self.fail_on:
            raise ValueError("bad frame")
        time.sleep(self.analyse_s)
        return Marked(frame, threading.current_thread().name)

    def finish(self, marked: Marked) -> Frame:
        self._in_finish.set()
        time.sleep(self.finish_s)
        self.finished.append((marked.frame.sequence, marked.analysed_in, self.mode))
        self._in_finish.clear()
        return marked.frame

    def process(self, frame: Frame) -> Frame:
        return self.finish(self.analyse(frame))


class ListSource:
    def __init__(self, count: int, every_s: float = 0.0):
        self.frames = [Frame(image=np.zeros((4, 4, 3), np.uint8), sequence=i, received_at=0.0,
                             audio=[AudioBlock(np.full((1, 10), i, np.float32), 48000)]) for i in range(count)]
        self.every_s = every_s

    def capture(self, timeout_s: float = 0.1) -> Frame | None:
        if not self.frames:
            time.sleep(timeout_s)
            return None
        time.sleep(self.every_s)
        frame = self.frames.pop(0)
        frame.received_at = time.monotonic()
        return frame


class ListSink:
    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def send(self, frame: Frame) -> None:
        if not frame.held:
            self.frames.append(frame)


def run(stage: object, source: ListSource, seconds: float, **kwargs: object) -> tuple[Pipeline, ListSink]:
    sink = ListSink()
    pipeline = Pipeline(source, stage, sink, **kwargs)  # type: ignore[arg-type]
    pipeline.start()
    deadline = time.monotonic() + seconds
    while (source.frames or len(pipeline.incoming) or pipeline.counters.frames_out < pipeline.counters.frames_in
           - pipeline.incoming.dropped) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    pipeline.stop()
    return pipeline, sink


def test_split_stage_runs_on_two_threads_and_keeps_frame_order() -> None:
    stage = SplitFake(analyse_s=0.01, finish_s=0.01)
    pipeline, sink = run(stage, ListSource(30, every_s=0.012), 5)
    assert pipeline.overlap
    assert [f.sequence for f in sink.frames] == [s for s, _, _ in stage.finished]
    assert [f.sequence for f in sink.frames] == sorted(f.sequence for f in sink.frames)
    assert {name for _, name, _ in stage.finished} == {"facebridge-analyse"}
    assert stage.overlapped > 0, "analysis never ran while a frame was being swapped"


def test_overlap_off_or_a_plain_stage_uses_one_processing_thread() -> None:
    assert not Pipeline(ListSource(0), PassThrough(), ListSink()).overlap
    stage = SplitFake()
    pipeline, _ = run(stage, ListSource(5), 3, overlap=False)
    assert not pipeline.overlap
    assert {name for _, name, _ in stage.finished} == {"facebridge-process"}


def test_commands_apply_in_the_swap_thread_between_frames() -> None:
    stage = SplitFake(finish_s=0.01)
    applied_in: list[str] = []

    def apply(mode: str) -> None:
        applied_in.append(threading.current_thread().name)
        stage.mode = mode

    source = ListSource(40, every_s=0.01)
    sink = ListSink()
    pipeline = Pipeline(source, stage, sink, apply_command=apply)  # type: ignore[arg-type]
    pipeline.start()
    while len(stage.finished) < 10:
        time.sleep(0.005)
    pipeline.submit("b")
    time.sleep(0.6)
    pipeline.stop()
    modes = [mode for _, _, mode in stage.finished]
    assert applied_in == ["facebridge-swap"]
    assert modes == sorted(modes) and modes[0] == "a" and modes[-1] == "b", "command not applied between frames"


def test_a_failed_analysis_passes_its_frame_through_in_order() -> None:
    stage = SplitFake(fail_on=3)
    pipeline, sink = run(stage, ListSource(8, every_s=0.01), 3)
    assert [f.sequence for f in sink.frames] == list(range(8))
    assert pipeline.counters.stage_errors == 1
    assert 3 not in [s for s, _, _ in stage.finished]


def test_overload_drops_old_frames_but_keeps_every_audio_block() -> None:
    stage = SplitFake(analyse_s=0.03, finish_s=0.03)
    pipeline, sink = run(stage, ListSource(40, every_s=0.005), 8, queue_frames=2)
    assert pipeline.incoming.dropped > 0, "the source should outrun this stage"
    audio = [int(block.samples[0, 0]) for frame in sink.frames for block in frame.audio]
    assert audio == list(range(40)), "audio of dropped frames was lost or reordered"


class Named(SplitFake):
    """A split stage that records its own name on every frame it analyses and finishes."""

    def __init__(self, name: str, log: list[tuple[int, str, str]]):
        super().__init__(analyse_s=0.01, finish_s=0.01)
        self.name, self.log = name, log

    def analyse(self, frame: Frame) -> Marked:
        return Marked(frame, self.name)

    def finish(self, marked: Marked) -> Frame:
        time.sleep(self.finish_s)
        self.log.append((marked.frame.sequence, marked.analysed_in, self.name))
        return marked.frame


@pytest.mark.parametrize("overlap", [True, False])
def test_a_replaced_stage_takes_over_between_frames(overlap: bool) -> None:
    """A reloaded profile's stage: every frame is analysed and finished by one stage, none lost."""
    log: list[tuple[int, str, str]] = []
    source = ListSource(60, every_s=0.008)
    sink = ListSink()
    pipeline = Pipeline(source, Named("old", log), sink, overlap=overlap, queue_frames=60,  # type: ignore[arg-type]
                        drop_late=False)
    pipeline.start()
    while len(log) < 15:
        time.sleep(0.002)
    pipeline.replace_stage(Named("new", log))  # type: ignore[arg-type]
    deadline = time.monotonic() + 5
    while len(sink.frames) < 60 and time.monotonic() < deadline:
        time.sleep(0.01)
    pipeline.stop()
    assert [f.sequence for f in sink.frames] == list(range(60))
    assert all(analysed == finished for _, analysed, finished in log), "a frame was split across two stages"
    names = [finished for _, _, finished in log]
    assert names == sorted(names, key=lambda n: n == "new") and names[0] == "old" and names[-1] == "new"


def test_a_plain_stage_can_replace_a_split_one_mid_stream() -> None:
    log: list[tuple[int, str, str]] = []
    source = ListSource(40, every_s=0.008)
    pipeline = Pipeline(source, Named("old", log), ListSink(), queue_frames=40)  # type: ignore[arg-type]
    pipeline.start()
    while len(log) < 10:
        time.sleep(0.002)
    pipeline.replace_stage(PassThrough())
    deadline = time.monotonic() + 5
    while pipeline.counters.frames_out + pipeline.counters.dropped < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    pipeline.stop()
    # the backlog the slow stage left flushes at once: a frame may drop, but only counted
    assert pipeline.counters.frames_out + pipeline.counters.dropped == 40
    assert pipeline.counters.stage_errors == 0


def test_every_sent_frame_reports_its_stage_times_and_latency() -> None:
    reported: list[tuple[dict[str, float], float]] = []
    stage = SplitFake(analyse_s=0.005, finish_s=0.005)
    pipeline, sink = run(stage, ListSource(20, every_s=0.01), 3,
                         on_sent=lambda frame, latency: reported.append((dict(frame.timings), latency)))
    assert len(reported) == len(sink.frames) == 20
    for timings, latency in reported:
        assert {"queue", "send"} <= set(timings)
        assert 0 <= timings["queue"] <= latency and latency >= 0.01  # at least analyse + finish


def test_output_rate_counts_the_frames_of_the_last_seconds() -> None:
    meter = RateMeter(window_s=2.0)
    for i in range(61):
        meter.tick(100 + i / 30)  # two seconds at 30 fps
    assert meter.fps(now=102.0) == pytest.approx(30, rel=0.02)
    assert meter.fps(now=110.0) == 0.0  # nothing sent lately


def test_a_failing_telemetry_hook_never_stops_the_output() -> None:
    def broken(frame: Frame, latency: float) -> None:
        raise RuntimeError("scrape went wrong")

    pipeline, sink = run(SplitFake(), ListSource(10, every_s=0.005), 3, on_sent=broken)
    assert len(sink.frames) == 10 and pipeline.counters.stage_errors == 0


def test_a_late_frame_is_skipped_when_a_newer_one_waits_and_its_sound_goes_on() -> None:
    queue = LatestFrames(capacity=4)
    now = time.monotonic()
    for i, age in enumerate((0.120, 0.080, 0.040, 0.005)):
        queue.put(Frame(image=np.zeros((2, 2, 3), np.uint8), sequence=i, received_at=now - age,
                        audio=[AudioBlock(np.full((1, 4), i, np.float32), 48000)]))
    taken = queue.get(0.01, late_after_s=1 / 30)
    assert taken is not None and taken.sequence == 3 and queue.dropped == 3
    assert [int(block.samples[0, 0]) for block in taken.audio] == [0, 1, 2, 3]
    queue.put(Frame(image=np.zeros((2, 2, 3), np.uint8), sequence=4, received_at=now - 1.0))
    assert queue.get(0.01, late_after_s=1 / 30).sequence == 4, "the only frame waiting is never skipped"


def test_under_overload_drop_late_keeps_latency_near_the_processing_time() -> None:
    def p95(drop_late: bool) -> float:
        stage = SplitFake(analyse_s=0.045, finish_s=0.045)  # ≈22 fps through two threads: overloaded at 30
        source = ListSource(60, every_s=1 / 30)
        for frame in source.frames:
            frame.frame_rate = (30, 1)
        pipeline, sink = run(stage, source, 6, queue_frames=6, drop_late=drop_late)
        return float(np.percentile(pipeline.latency._values, 95))  # noqa: SLF001

    late, queued = p95(True), p95(False)
    assert late < 0.045 + 0.045 + 1 / 30 + 0.03, f"p95 {late * 1e3:.0f} ms with drop_late"
    assert late < queued, f"drop_late {late * 1e3:.0f} ms vs queued {queued * 1e3:.0f} ms"
