"""A built-in NDI test source: real faces from the test photos moving over a scene, with a tone.

Lets anyone try the bridge without OBS or a camera. Faces are cut from insightface's
six-person photo (docs/models.md §8); their boxes below were measured on that file, whose
content is pinned by sha256 in runtime/assets.py.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from bridge.io.ndi import NdiSender
from bridge.runtime import assets
from bridge.types import AudioBlock, Frame

log = logging.getLogger(__name__)

# Face boxes (x0, y0, x1, y1) in t1.jpg, left to right, found by the ULFD detector.
GROUP_FACE_BOXES = [
    (55, 266, 169, 392), (269, 150, 366, 278), (464, 266, 576, 412),
    (742, 341, 846, 475), (904, 53, 1006, 202), (1130, 269, 1227, 398),
]
MAX_FACES = len(GROUP_FACE_BOXES)
SAMPLE_RATE = 48000
TONE_HZ = 440.0


@dataclass
class Sprite:
    picture: np.ndarray  # BGR
    alpha: np.ndarray  # float32 0..1, feathered ellipse

    def __post_init__(self) -> None:
        self.alpha3 = cv2.merge([self.alpha] * 3)


def cut_heads(group_photo: np.ndarray, count: int, height: int) -> list[Sprite]:
    """Head-and-shoulders cut-outs of the first `count` faces, scaled to `height` pixels tall."""
    sprites = []
    photo_h, photo_w = group_photo.shape[:2]
    for x0, y0, x1, y1 in GROUP_FACE_BOXES[:count]:
        cx, cy, size = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * 1.7
        left, top = int(max(0, cx - size / 2)), int(max(0, cy - size / 2))
        right, bottom = int(min(photo_w, cx + size / 2)), int(min(photo_h, cy + size / 2))
        crop = group_photo[top:bottom, left:right]
        scale = height / crop.shape[0]
        crop = cv2.resize(crop, (max(1, int(crop.shape[1] * scale)), height), interpolation=cv2.INTER_AREA)
        h, w = crop.shape[:2]
        alpha = np.zeros((h, w), np.float32)
        cv2.ellipse(alpha, (w // 2, h // 2), (int(w * 0.42), int(h * 0.47)), 0, 0, 360, 1.0, -1)
        alpha = cv2.GaussianBlur(alpha, (0, 0), max(1.0, w * 0.04))
        sprites.append(Sprite(crop, alpha))
    return sprites


class DemoScene:
    """Renders frame i of the test scene: a moving background and K faces on slow paths.

    churn_s > 0: faces come and go; each is away for the last `AWAY` of every `churn_s`-second
    cycle, the cycles staggered so someone enters or leaves every few seconds.
    """

    AWAY = 0.3

    def __init__(self, width: int, height: int, faces: int, group_photo: np.ndarray, churn_s: float = 0.0):
        if not 0 <= faces <= MAX_FACES:
            raise ValueError(f"--faces must be between 0 and {MAX_FACES}, got {faces}")
        if churn_s < 0:
            raise ValueError(f"--churn must be 0 (faces stay) or a cycle in seconds, got {churn_s:g}")
        self.width, self.height, self.churn_s = width, height, churn_s
        self.sprites = cut_heads(group_photo, faces, max(48, height // 3))
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        self._base = np.dstack([60 + 40 * xs / width, 50 + 30 * ys / height, 70 + 50 * (1 - ys / height)]).astype(np.uint8)

    def positions(self, index: int, fps: float) -> list[tuple[int, int]]:
        """Top-left corner of each face at frame `index` (pure function of time, so tests can predict it)."""
        t = index / fps
        out = []
        count = max(1, len(self.sprites))
        for k, sprite in enumerate(self.sprites):
            h, w = sprite.picture.shape[:2]
            lane = (k + 0.5) / count
            cx = self.width * (lane + 0.08 * math.sin(0.7 * t + k))
            cy = self.height * (0.5 + 0.15 * math.sin(0.5 * t + 2.1 * k))
            out.append((int(cx - w / 2), int(cy - h / 2)))
        return out

    def present(self, index: int, fps: float) -> list[bool]:
        """Which faces are in the picture at frame `index`."""
        if self.churn_s <= 0:
            return [True] * len(self.sprites)
        count = max(1, len(self.sprites))
        phase = index / fps / self.churn_s
        return [(phase + k / count) % 1.0 < 1.0 - self.AWAY for k in range(len(self.sprites))]

    def render(self, index: int, fps: float) -> np.ndarray:
        shift = (index * 4) % self.width
        picture = np.roll(self._base, shift, axis=1)
        for sprite, (x, y), here in zip(self.sprites, self.positions(index, fps), self.present(index, fps)):
            if here:
                _blend(picture, sprite, x, y)
        cv2.putText(picture, f"facebridge demo {index}", (16, 36), cv2.FONT_HERSHEY_SIMPLEX, 0.9,
                    (235, 235, 235), 2, cv2.LINE_AA)
        return picture


def _blend(picture: np.ndarray, sprite: Sprite, x: int, y: int) -> None:
    h, w = sprite.picture.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, picture.shape[1]), min(y + h, picture.shape[0])
    if x0 >= x1 or y0 >= y1:
        return
    roi = picture[y0:y1, x0:x1]
    src = sprite.picture[y0 - y:y1 - y, x0 - x:x1 - x]
    a = sprite.alpha3[y0 - y:y1 - y, x0 - x:x1 - x]
    picture[y0:y1, x0:x1] = cv2.add(cv2.multiply(roi, 1 - a, dtype=cv2.CV_8U), cv2.multiply(src, a, dtype=cv2.CV_8U))


def tone(first_sample: int, count: int, channels: int = 2) -> np.ndarray:
    t = (first_sample + np.arange(count)) / SAMPLE_RATE
    wave = (0.2 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)
    return np.repeat(wave[None, :], channels, axis=0)


def run_demo_source(name: str, width: int, height: int, fps: float, faces: int, seconds: float,
                    stop: threading.Event, photo: Path | None = None, churn_s: float = 0.0,
                    sent: list[int] | None = None) -> int:
    """Send the demo scene as NDI source `name` until `seconds` pass (0 = forever) or `stop` is set.

    Returns the number of frames sent; `sent`, when given, holds that count as it grows."""
    photo = photo or assets.fetch_photos()["t1.jpg"]
    group = cv2.imread(str(photo))
    if group is None:
        raise ValueError(f"cannot read the demo photo {photo}")
    scene = DemoScene(width, height, faces, group, churn_s)
    sender = NdiSender(name)
    rate = (int(round(fps * 1000)), 1000)
    sent_samples = 0
    start = time.monotonic()
    index = 0
    try:
        log.info("sending NDI demo source %r at %dx%d, %.3g fps, %d faces", sender.full_name, width, height, fps, faces)
        while not stop.is_set() and (seconds <= 0 or index < seconds * fps):
            due = start + index / fps
            delay = due - time.monotonic()
            if delay > 0:
                stop.wait(delay)
            samples_due = int(round((index + 1) * SAMPLE_RATE / fps)) - sent_samples
            audio = AudioBlock(tone(sent_samples, samples_due), SAMPLE_RATE, timecode=int(index * 1e7 / fps))
            sent_samples += samples_due
            sender.send(Frame(image=scene.render(index, fps), sequence=index, timecode=int(index * 1e7 / fps),
                              frame_rate=rate, audio=[audio]))
            index += 1
            if sent is not None:
                sent[:] = [index]
    finally:
        sender.close()
    return index
