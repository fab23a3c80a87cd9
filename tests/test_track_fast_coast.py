"""A fast face the detector misses while it moves (its motion smear) coasts on flow, with
evidence on every frame, FAST_COAST times longer than max_coast_s; a slow face still stops at
max_coast_s (its flow has had time to drift, and the detector should have found it)."""

import numpy as np

from bridge.track.tracker import Tracker
from tests.test_track_motion import DT, Blurred, face, scene

COAST_S = 0.2  # a short max_coast_s keeps the face inside the picture: 6 frames, doubled 12


def coasted(speed: float) -> list[int]:
    """Tracks drawn on each of 10 undetected frames after 6 detected ones, the face moving right
    at `speed` px a frame (flow follows it)."""
    tracker = Tracker(flow=Blurred(fails_from=10 ** 6, speed=speed), max_coast_s=COAST_S)
    x = 40.0
    for i in range(6):
        tracker.update(scene(x), [face(x)], i * DT)
        x += speed
    drawn = []
    for i in range(6, 16):
        drawn.append(len(tracker.update(scene(x), None, i * DT)))
        x += speed
    return drawn


def test_a_fast_face_undetected_past_max_coast_s_stays_drawn_on_flow():
    assert coasted(20.0) == [1] * 10  # 0.33 s undetected, under 2 x COAST_S


def test_a_slow_face_undetected_past_max_coast_s_stops():
    drawn = coasted(2.0)
    assert drawn[0] == 1 and drawn[-1] == 0
