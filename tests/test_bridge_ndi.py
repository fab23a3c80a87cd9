"""The bridge as a user runs it (a subprocess), between real NDI peers on loopback."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.ndi_tools import (COUNTER_MOD, PREROLL, SAMPLES_PER_FRAME, PatternSender, Recorder, start_bridge, stop_process, timecode_of,
                             unique_name, write_profile)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ndi_runtime")]

PASS_THROUGH = "input:\n  ndi_source: placeholder\n  on_loss: {on_loss}\nanalysis:\n  enabled: false\ntelemetry:\n  port: 0\n"


@pytest.fixture
def bridge(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Start a pass-through bridge between a fresh input name and a fresh output name."""
    started = []

    def start(on_loss: str = "hold") -> tuple[str, str, object]:
        source, output = unique_name("fb-in"), unique_name("fb-out")
        process = start_bridge(write_profile(tmp_path, PASS_THROUGH.format(on_loss=on_loss)), source, output)
        started.append(process)
        return source, output, process

    yield start
    for process in started:
        if process.poll() is None:
            print(stop_process(process)[2])  # shown by pytest when the test failed


def test_every_frame_arrives_in_order_with_its_audio(bridge) -> None:  # type: ignore[no-untyped-def]
    source, output, process = bridge()
    recorder = Recorder(output)
    direct = Recorder(source)
    sender = PatternSender(source)
    try:
        recorder.wait_connected()
        sender.send_range(range(90), receivers=2,  # the bridge and the direct recorder
                          flowing=lambda: recorder.flowing_steadily() and direct.flowing_steadily())
        assert recorder.wait_for(lambda r: r.latest_number() == 89, 10), "last frame never came out"
        time.sleep(0.6)  # the output starts holding, and held frames carry any audio still on its way
    finally:
        sender.close()
        recorder.close()
        direct.close()
    frames = [f for f in recorder.frames if f.number < PREROLL]
    del frames[next(i for i, f in enumerate(frames) if f.number == 89) + 1:]  # then the output holds the last frame
    numbers = [f.number for f in frames]
    assert numbers == list(range(90)), f"frames lost, reordered or duplicated: {numbers}"
    assert [f.timecode for f in frames] == [timecode_of(n) for n in numbers], "source timecode not kept"
    through_bridge = float(np.median([f.psnr for f in frames]))
    loopback = float(np.median([f.psnr for f in direct.frames]))
    assert through_bridge >= loopback - 3.0, f"bridge PSNR {through_bridge:.1f} dB vs direct {loopback:.1f} dB"

    counted = [b for b in recorder.audio if round(float(b.samples[1, 0]) * 65536) < PREROLL]
    samples = np.concatenate([block.samples for block in counted], axis=1)
    counter = np.round((samples[0] + 0.5) * COUNTER_MOD).astype(np.int64)
    assert samples.shape[1] == 90 * SAMPLES_PER_FRAME, "audio samples lost"
    assert np.array_equal(counter, np.arange(90 * SAMPLES_PER_FRAME) % COUNTER_MOD), "audio out of order"
    for frame in frames:
        # NDI carries sound and pictures as separate streams whose arrival order can swap, so
        # a block may ride with a neighbouring frame; its timecode is what a receiver syncs on.
        for block in frame.audio:
            tag = round(float(block.samples[1, 0]) * 65536)
            assert block.timecode == timecode_of(tag), "audio timecode changed"


def test_output_keeps_its_rate_while_the_source_is_gone_and_reconnects(bridge) -> None:  # type: ignore[no-untyped-def]
    source, output, process = bridge()
    recorder = Recorder(output)
    try:
        recorder.wait_connected()
        first = PatternSender(source)
        first.send_range(range(60), flowing=recorder.flowing_steadily)
        first.close()
        gone_at = time.monotonic()
        time.sleep(3.0)
        back_at = time.monotonic()
        second = PatternSender(source)
        sender = threading.Thread(target=second.send_range, args=(range(1000, 1060),), daemon=True)
        sender.start()
        assert recorder.wait_for(lambda r: r.latest_number() == 1059, 12), \
            "frames after the source came back never arrived"
        sender.join()
        second.close()
    finally:
        recorder.close()
    during_gap = [f for f in recorder.frames if gone_at + 0.5 <= f.at <= back_at]
    rate = len(during_gap) / (back_at - gone_at - 0.5)
    assert rate >= 25, f"output fell to {rate:.1f} fps while the source was gone"
    shown = {f.number for f in during_gap}
    before_gap = [f.number for f in recorder.frames if f.at < gone_at + 0.5]
    assert shown <= {before_gap[-1]}, f"the gap showed {shown}, not the last frame {before_gap[-1]}"
    after = [f.number for f in recorder.frames if 1000 <= f.number < PREROLL]
    assert after == sorted(after) and after[-1] == 1059, "frames after the return are not the new ones, in order"
    assert process.poll() is None, "the bridge exited instead of reconnecting"


def test_resolution_change_mid_stream_is_followed(bridge) -> None:  # type: ignore[no-untyped-def]
    source, output, _ = bridge()
    recorder = Recorder(output)
    sender = PatternSender(source)
    try:
        recorder.wait_connected()
        sender.send_range(range(30), size=(1280, 720), flowing=lambda: recorder.latest_number() >= PREROLL)
        sender.send_range(range(30, 60), size=(1920, 1080), preroll_s=0)
        assert recorder.wait_for(lambda r: r.latest_number() == 59, 10)
    finally:
        sender.close()
        recorder.close()
    sizes = {f.number: f.size for f in recorder.frames}
    assert all(n in sizes for n in range(60)), "frames lost around the change"
    assert all(sizes[n] == (1280, 720) for n in range(30)), "720p part changed"
    assert all(sizes[n] == (1920, 1080) for n in range(30, 60)), "1080p part not followed"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_stops_cleanly_within_two_seconds(bridge, sig: int) -> None:  # type: ignore[no-untyped-def]
    source, output, process = bridge()
    sender = PatternSender(source)
    feeding = threading.Thread(target=sender.send_range, args=(range(60),), kwargs={"wait_for_receiver_s": 5}, daemon=True)
    feeding.start()
    time.sleep(2.5)
    code, seconds, text = stop_process(process, sig)
    feeding.join()
    sender.close()
    assert code == 0, text
    assert seconds < 2.0, f"took {seconds:.2f} s to stop"
    assert "Traceback" not in text
