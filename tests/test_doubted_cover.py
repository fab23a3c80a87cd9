"""A face whose look goes odd while its flow still holds (it turned, or went half behind
something) is covered where flow put it until the detector has looked again, not shown raw:
Tracker.doubted lists it, the face stage blurs it as a fallback."""

from __future__ import annotations

import cv2
import numpy as np

from bridge.faces.boxes import iou_matrix
from bridge.track.tracker import Tracker
from tests.test_track_motion import DT, Blurred, face, scene


def _turned(x: float) -> np.ndarray:
    """scene(x) with another texture where the face is (the same place, another look)."""
    image = scene(x)
    texture = np.random.default_rng(99).integers(0, 255, (14, 14, 3), np.uint8)
    image[80:150, int(x):int(x) + 70] = cv2.resize(texture, (70, 70), interpolation=cv2.INTER_NEAREST)
    return image


def _followed(tracker: Tracker) -> None:
    for i in range(3):
        tracker.update(scene(100), [face(100)], i * DT)


def test_a_face_whose_look_fails_while_its_flow_holds_is_covered_until_the_next_look() -> None:
    tracker = Tracker(flow=Blurred(fails_from=99, speed=0))
    _followed(tracker)
    assert tracker.update(_turned(100), None, 3 * DT) == [], "stopped: its patch disagrees"
    assert tracker.stats.hidden["look"] == 1
    (cover,) = tracker.doubted(3 * DT)
    assert cover.state == "fallback" and iou_matrix(cover.face.box[None], face(100).box[None])[0, 0] > 0.9
    assert tracker.doubted(5 * DT) == [], "the detector has looked since: its turn"


def test_a_face_whose_flow_failed_is_not_covered_as_doubted() -> None:
    """Flow failing (no points agree) is how a face that left looks: no cover, no ghost."""
    tracker = Tracker(flow=Blurred(fails_from=3, speed=0))
    _followed(tracker)
    assert tracker.update(_turned(100), None, 3 * DT) == []
    assert tracker.stats.hidden["flow"] == 1
    assert tracker.doubted(3 * DT) == []


def test_a_doubted_face_found_again_is_not_covered() -> None:
    tracker = Tracker(flow=Blurred(fails_from=99, speed=0))
    _followed(tracker)
    tracker.update(_turned(100), None, 3 * DT)
    tracker.update(scene(100), [face(100)], 3.5 * DT)  # the detector finds it at once
    assert tracker.doubted(3.5 * DT) == []
