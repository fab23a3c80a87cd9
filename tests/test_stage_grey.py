"""One grey image per frame: the face stage makes it while analysing and hands it to the CPU
landmarker and to the tracker (each converted the whole frame itself before)."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from bridge.facestage.build import build_face_stage
from bridge.io.demo_source import DemoScene
from bridge.profile import load_profile
from bridge.track.tracker import Tracker
from bridge.types import Frame
from tests import clips
from tests.e2e_tools import face_profile


def test_the_tracker_given_the_frames_grey_follows_as_when_it_converts_itself():
    clip = clips.four_faces(frames=30, size=(640, 360))
    runs = []
    for given in (False, True):
        tracker, out = Tracker(clips.TruthEmbedder(clip)), []
        for i, image in enumerate(clip.frames):
            grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if given else None
            faces = clips.truth_faces(clip, i, jitter=1.0, rng=np.random.default_rng(i)) if i % 2 == 0 else None
            out.append([(t.id, t.state, t.face.box.tolist()) for t in tracker.update(image, faces, clip.time(i), gray=grey)])
        runs.append(out)
    assert sum(len(f) for f in runs[0]) > 80 and runs[0] == runs[1]


def test_a_grey_image_of_another_size_is_refused_with_both_sizes():
    image = np.zeros((360, 640, 3), np.uint8)
    with pytest.raises(ValueError, match=r"grey image \(180, 320\).*\(360, 640\)"):
        Tracker().update(image, [], 0.0, gray=np.zeros((180, 320), np.uint8))


def test_the_stage_converts_each_frame_once_for_landmarks_and_tracking(tmp_path: Path, photo_paths, monkeypatch):
    stage = build_face_stage(load_profile(face_profile(tmp_path, detect_every=2)))
    scene = DemoScene(640, 360, 2, cv2.imread(str(photo_paths["t1.jpg"])))
    seen: dict[str, list] = {"landmarks": [], "tracker": []}
    landmark, update = stage.landmarker.landmark, stage.tracker.update

    def spy_landmark(image, faces):
        seen["landmarks"].append(image)
        return landmark(image, faces)

    def spy_update(image, faces, now, gray=None):
        seen["tracker"].append(gray)
        return update(image, faces, now, gray=gray)

    monkeypatch.setattr(stage.landmarker, "landmark", spy_landmark)
    monkeypatch.setattr(stage.tracker, "update", spy_update)
    converted = []
    real_cvt = cv2.cvtColor

    def counting_cvt(src, code, *args, **kwargs):
        if code == cv2.COLOR_BGR2GRAY and src.shape[:2] == (360, 640):
            converted.append(src)
        return real_cvt(src, code, *args, **kwargs)

    monkeypatch.setattr(cv2, "cvtColor", counting_cvt)  # one module object: the stage's, the landmarker's, the tracker's
    drawn = 0
    for i in range(6):
        image = scene.render(i, 30.0)
        expected = real_cvt(image, cv2.COLOR_BGR2GRAY)
        frame = stage.process(Frame(image=image, sequence=i, timecode=i, frame_rate=(30, 1), received_at=time.monotonic()))
        drawn += len(frame.drawn)
        assert np.array_equal(seen["tracker"][-1], expected)
    assert len(converted) == 6  # one whole-frame conversion a frame
    # detection every 2nd frame, or sooner on a change: each time on the frame's grey
    assert 3 <= len(seen["landmarks"]) <= 6 and all(g.ndim == 2 for g in seen["landmarks"])
    assert drawn >= 10  # the two faces were found, landmarked and followed
