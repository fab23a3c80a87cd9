"""Lip sync arithmetic: the picture-delay estimate, when the offset follows it, where originals are kept.

These need no OBS: the OBS side (offsets set, read back and restored on a real input) is in
test_obs_wiring.py.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from bridge.obs.lipsync import (OBS_OFFSET_RANGE_MS, UNDEFINED_TIMESTAMP, OffsetPolicy, OffsetStore, PictureDelay,
                                obs_hop_ms)
from bridge.profile import ProfileError, parse_profile
from bridge.types import Frame

NOW_NS = 1_764_000_000 * 10**9  # a fixed wall clock for the estimator


def frame(stamp: int, fps: tuple[int, int] = (30, 1)) -> Frame:
    return Frame(image=np.zeros((2, 2, 3), np.uint8), sequence=0, timestamp=stamp, frame_rate=fps)


def stamp_before_now(ms: float) -> int:
    return NOW_NS // 100 - int(ms * 10_000)


def test_the_estimate_is_the_median_delay_and_ignores_outliers_and_bad_stamps() -> None:
    rng = random.Random(7)
    delay = PictureDelay(window=60, clock_ns=lambda: NOW_NS)
    for _ in range(60):
        delay.add(frame(stamp_before_now(rng.uniform(40, 60))))
    for bad in (0, -5, UNDEFINED_TIMESTAMP, stamp_before_now(-30), stamp_before_now(60_000)):
        delay.add(frame(bad))  # no stamp, undefined, from the future, another machine's clock
    for _ in range(5):
        delay.add(frame(stamp_before_now(900)))  # a few stalled frames move a median little
    assert delay.median_ms() == pytest.approx(50, abs=6)
    assert delay.rejected == 2


def test_no_estimate_before_enough_frames_and_the_frame_rate_is_taken_from_them() -> None:
    delay = PictureDelay(window=60, clock_ns=lambda: NOW_NS)
    for _ in range(10):
        delay.add(frame(stamp_before_now(30), fps=(60000, 1001)))
    assert delay.median_ms() is None  # a quarter of the window at least
    for _ in range(10):
        delay.add(frame(stamp_before_now(30), fps=(60000, 1001)))
    assert delay.median_ms() == pytest.approx(30, abs=0.01)
    assert delay.frame_interval_ms == pytest.approx(16.683, abs=0.01)


def test_the_hop_back_into_obs_grows_with_the_latency_mode() -> None:
    interval = 1000 / 30
    assert obs_hop_ms(2, interval) < obs_hop_ms(1, interval) < obs_hop_ms(0, interval)


def test_the_offset_moves_only_past_one_frame_and_not_faster_than_the_interval() -> None:
    policy = OffsetPolicy(min_interval_s=5.0)
    frame_ms = 1000 / 30
    assert policy.propose(100.4, frame_ms, now=0.0) == 100  # the first estimate is always set
    assert policy.propose(130.0, frame_ms, now=10.0) is None  # within a frame
    assert policy.propose(140.0, frame_ms, now=3.0) is None  # past a frame, but too soon
    assert policy.propose(140.0, frame_ms, now=10.0) == 140
    assert policy.propose(60.0, frame_ms, now=12.0) is None  # too soon after the last change
    assert policy.propose(60.0, frame_ms, now=15.0) == 60
    assert policy.changes == 3
    assert OffsetPolicy().propose(99_999, frame_ms, now=0.0) == OBS_OFFSET_RANGE_MS[1]


def test_a_wobbling_estimate_changes_the_offset_rarely() -> None:
    rng = random.Random(3)
    policy = OffsetPolicy(min_interval_s=5.0)
    for second in range(600):  # ten minutes of an estimate wobbling ±15 ms around 80 ms
        policy.propose(80 + rng.uniform(-15, 15), 1000 / 30, now=float(second))
    assert policy.changes == 1


def test_originals_survive_a_restart_and_a_broken_file_is_no_crash(tmp_path: Path) -> None:
    path = tmp_path / "state" / "offsets.json"
    OffsetStore(path).save("127.0.0.1:4455", {"Mic": 37})
    assert OffsetStore(path).originals("127.0.0.1:4455") == {"Mic": 37}
    OffsetStore(path).save("127.0.0.1:4455", {})
    assert OffsetStore(path).originals("127.0.0.1:4455") == {}
    path.write_text("{not json")
    assert OffsetStore(path).originals("127.0.0.1:4455") == {}


@pytest.mark.parametrize("name", ["STUDIO (OBS PGM)", "OBS PGM", "host (OBS Preview)"])
def test_the_profile_refuses_obs_program_output_as_the_input(name: str, tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as error:
        parse_profile(f"input:\n  ndi_source: '{name}'\n", "show.yaml", tmp_path, env={})
    (line,) = str(error.value).splitlines()
    assert line.startswith("show.yaml: input.ndi_source:") and "feedback loop" in line and "obs.camera_source" in line
    parse_profile("input:\n  ndi_source: 'STUDIO (Webcam)'\n", "show.yaml", tmp_path, env={})
