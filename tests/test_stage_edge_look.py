"""The face stage between detections (detect_every 2): a low box at the frame's edge that the
landmarker doubts, no track following it, asks for a detection on the next frame (a face walking
in scores higher a frame later), backing off while it finds nothing new."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from bridge.facestage.build import build_face_stage
from bridge.profile import load_profile
from bridge.types import Frame
from tests.e2e_tools import face_profile


def _cut_face(portrait: np.ndarray, shift: int) -> np.ndarray:
    """A 720p frame with the portrait's face (336 px) slid `shift` px out past the left edge."""
    face = cv2.resize(portrait, (336, 336), interpolation=cv2.INTER_CUBIC)
    canvas = np.full((720, 1280, 3), 90, np.uint8)
    canvas[200:536, :336 - shift] = face[:, shift:]
    return canvas


def _detected_on(tmp_path: Path, frames: list[np.ndarray]) -> list[int]:
    stage = build_face_stage(load_profile(face_profile(tmp_path, detect_every=2)))
    ran: list[int] = []
    detect = stage.detector.detect
    index = {"i": 0}

    def spy(image, **kwargs):
        if image.shape[:2] == (720, 1280):  # the whole frame (not a tile or a crop)
            ran.append(index["i"])
        return detect(image, **kwargs)

    stage.detector.detect = spy
    for i, image in enumerate(frames):
        index["i"] = i
        stage.process(Frame(image=image.copy(), sequence=i, frame_rate=(30, 1), received_at=100.0 + i / 30))
    return ran


def test_a_doubted_box_at_the_edge_asks_for_the_next_frame_and_backs_off(tmp_path, portrait_photo):
    doubted = _detected_on(tmp_path, [_cut_face(portrait_photo, 100)] * 16)  # 0.44, landmarks 0.66
    blank = _detected_on(tmp_path, [np.full((720, 1280, 3), 90, np.uint8)] * 16)
    assert blank == list(range(0, 16, 2))
    assert 1 in doubted and set(blank) <= set(doubted)
    assert len(doubted) - len(blank) <= 4  # backs off: 2, 4, 8 frames while it finds nothing new

