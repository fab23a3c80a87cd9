"""Recorded clips in and out, for rehearsal mode (`facebridge process`)."""

from __future__ import annotations

from pathlib import Path

import cv2

from bridge.types import Frame


class ClipError(RuntimeError):
    """A clip that cannot be read or written (one readable line naming the file)."""


class ClipReader:
    """Frames of a video file, in order, with their timing."""

    def __init__(self, path: Path):
        self.path = path
        self._capture = cv2.VideoCapture(str(path))
        if not path.is_file():
            raise ClipError(f"{path}: no such file")
        if not self._capture.isOpened():
            raise ClipError(f"{path}: not a video OpenCV can read")
        fps = self._capture.get(cv2.CAP_PROP_FPS) or 30.0
        self.fps = fps if fps > 0 else 30.0
        self.frame_count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT)) or 0
        self.size = (int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))

    def __iter__(self):  # type: ignore[no-untyped-def]
        index = 0
        rate = (int(round(self.fps * 1000)), 1000)
        while True:
            ok, image = self._capture.read()
            if not ok:
                return
            yield Frame(image=image, sequence=index, timecode=int(index * 1e7 / self.fps), frame_rate=rate,
                        received_at=index / self.fps)
            index += 1

    def close(self) -> None:
        self._capture.release()


class ClipWriter:
    """Writes frames to a video file at the clip's rate (codec by file extension)."""

    CODECS = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "mp4v", ".mov": "mp4v"}

    def __init__(self, path: Path, fps: float, size: tuple[int, int]):
        codec = self.CODECS.get(path.suffix.lower())
        if codec is None:
            raise ClipError(f"{path}: unsupported output type {path.suffix!r}; use .mp4, .avi, .mkv or .mov")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, size)
        if not self._writer.isOpened():
            raise ClipError(f"{path}: cannot write a video here")
        self.size = size

    def write(self, frame: Frame) -> None:
        image = frame.image
        if frame.size != self.size:
            image = cv2.resize(image, self.size)
        self._writer.write(image)

    def close(self) -> None:
        self._writer.release()
