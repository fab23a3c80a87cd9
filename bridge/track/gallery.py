"""What one person looks like: a small gallery of diverse recogniser embeddings.

One averaged embedding forgets the side of a face it saw a minute ago, so a person who comes
back turned a little the other way can miss their own id. The gallery keeps up to `size`
embeddings that differ from each other (poses, light), each refreshed when a close one
arrives, and a face is matched by the best of them. Only crops worth learning from enter it
(`crop_quality`): not tiny, not blurred, not in profile; until a good one arrives, the first
crop stands in so that the person can be re-identified at all.
"""

from __future__ import annotations

import cv2
import numpy as np

from bridge.faces.embed import l2_normalise
from bridge.types import Face


def normalise(v: np.ndarray) -> np.ndarray:
    """One embedding, flat and of unit length."""
    return l2_normalise(np.ravel(v))


def crop_quality(gray: np.ndarray, face: Face, *, min_size: float = 40.0, min_sharpness: float = 0.22,
                 max_yaw: float = 0.5, others: np.ndarray | None = None, max_covered: float = 0.2) -> str | None:
    """Why this crop is not worth learning from ("tiny", "partial", "covered", "blurred", "profile"),
    or None when it is.

    min_size: least box side in pixels (the recogniser sees 112 px; far smaller is mostly guess).
    min_sharpness: least mean |Laplacian| / grey std on the inner face (contrast-free; motion
        blur and defocus lower it; sharp faces measure 0.27-0.34, a 15 px motion blur 0.13-0.21).
    max_yaw: largest offset of the nose from the eyes' midpoint, in eye distances (a head
        turned 45° or more gives an embedding unlike the front view; the test photos' three-quarter
        faces measure 0.37-0.45).
    others: (N, 4) boxes of the other faces on the frame; a crop that one of them covers by more
        than `max_covered` of its area holds part of that face too (one in front of the other, in
        a crowd or a crossing) and embeds like neither.
    """
    return CropLook(gray, face, min_size=min_size, min_sharpness=min_sharpness,
                    max_yaw=max_yaw).fault(others, max_covered)


class CropLook:
    """One crop's `crop_quality`, its pixels read at most once however often it is asked: the
    tracker asks about each detection three or four times a frame, against different other
    faces (60-80 µs each at 1080p, most of it the sharpness test, which no other face changes).
    Parameters as crop_quality's."""

    def __init__(self, gray: np.ndarray, face: Face, *, min_size: float = 40.0, min_sharpness: float = 0.22,
                 max_yaw: float = 0.5) -> None:
        self.gray, self.face, self.min_sharpness, self.max_yaw = gray, face, min_sharpness, max_yaw
        x0, y0, x1, y1 = self.box = tuple(float(v) for v in face.box)
        h, w = gray.shape[:2]
        self.cut: str | None = None  # what no other face changes, found before they are asked about
        if min(x1 - x0, y1 - y0) < min_size:
            self.cut = "tiny"
        elif x0 <= 1 or y0 <= 1 or x1 >= w - 1 or y1 >= h - 1:
            self.cut = "partial"  # cut by the frame's edge (walking in or out): half a face embeds like nobody
        self._own: str | None = None
        self._read = False

    def fault(self, others: np.ndarray | None = None, max_covered: float = 0.2) -> str | None:
        """crop_quality's answer with `others` as the other faces on the frame."""
        if self.cut is not None:
            return self.cut
        if others is not None and len(others):
            x0, y0, x1, y1 = self.box
            ix = np.maximum(np.minimum(x1, others[:, 2]) - np.maximum(x0, others[:, 0]), 0)  # np.clip's numbers
            iy = np.maximum(np.minimum(y1, others[:, 3]) - np.maximum(y0, others[:, 1]), 0)
            if float((ix * iy).max()) > max_covered * max(1.0, (x1 - x0) * (y1 - y0)):
                return "covered"
        if not self._read:
            self._own, self._read = self._own_fault(), True
        return self._own

    def _own_fault(self) -> str | None:
        """The crop's own faults, the other faces aside: turned away, too small inside, blurred."""
        face, gray = self.face, self.gray
        x0, y0, x1, y1 = self.box
        h, w = gray.shape[:2]
        if face.kps5 is not None:
            kps = np.asarray(face.kps5, np.float32)
            eyes = kps[1] - kps[0]
            distance = float(np.linalg.norm(eyes))
            if distance < 1e-3:
                return "profile"
            mid = (kps[0] + kps[1]) / 2
            offset = abs(float(np.dot(kps[2] - mid, eyes / distance)))
            if offset / distance > self.max_yaw or distance < 0.25 * (x1 - x0):
                return "profile"
        mx, my = (x1 - x0) * 0.2, (y1 - y0) * 0.2
        ix0, iy0, ix1, iy1 = int(max(0, x0 + mx)), int(max(0, y0 + my)), int(min(w, x1 - mx)), int(min(h, y1 - my))
        if ix1 - ix0 < 8 or iy1 - iy0 < 8:
            return "tiny"
        patch = cv2.resize(gray[iy0:iy1, ix0:ix1], (48, 48), interpolation=cv2.INTER_AREA).astype(np.float32)
        std = float(patch.std())
        if std < 1.0:
            return "blurred"
        sharpness = float(np.abs(cv2.Laplacian(patch, cv2.CV_32F)).mean()) / std
        return "blurred" if sharpness < self.min_sharpness else None


class Gallery:
    """Up to `size` embeddings of one person, kept diverse.

    size: most embeddings kept. More: more poses remembered, a little more matching work.
    refresh_above: a new embedding this similar to a kept one refreshes it (running average)
        instead of taking a place of its own. Lower: fewer, broader entries.
    momentum: weight of the old value when an entry is refreshed.
    """

    def __init__(self, size: int = 6, refresh_above: float = 0.85, momentum: float = 0.7) -> None:
        self.size, self.refresh_above, self.momentum = max(1, size), refresh_above, momentum
        self._entries = np.zeros((0, 0), np.float32)
        self._mean: np.ndarray | None = None  # kept until `add` changes the entries (read every frame)
        self.provisional = False  # holds only a crop that failed the quality gate

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def empty(self) -> bool:
        return len(self._entries) == 0

    def similarity(self, v: np.ndarray) -> float:
        """Best cosine similarity of `v` (L2-normalised) to any entry; -1 when empty."""
        if self.empty:
            return -1.0
        return float((self._entries @ v).max())

    def similarities(self, vectors: np.ndarray) -> np.ndarray:
        """Best similarity of each row of `vectors` (N, D)."""
        if self.empty or len(vectors) == 0:
            return np.full(len(vectors), -1.0, np.float32)
        return (np.asarray(vectors, np.float32) @ self._entries.T).max(axis=1)

    @property
    def mean(self) -> np.ndarray | None:
        """One representative embedding (the normalised mean), for recognising known people."""
        if self.empty:
            return None
        if self._mean is None:
            self._mean = normalise(self._entries.mean(axis=0))
        return self._mean.copy()

    def restart(self, v: np.ndarray) -> None:
        """Forget every entry and learn `v` (a good crop): what was kept proved to be someone else's look."""
        self._entries, self.provisional = normalise(v)[None].copy(), False

    def add(self, v: np.ndarray, good: bool = True) -> None:
        """Learn `v` (L2-normalised). A crop that failed the quality gate (`good` False) is kept
        only while the gallery has nothing better."""
        self._mean = None
        v = normalise(v)
        if not good:
            if self.empty or self.provisional:
                self._entries, self.provisional = v[None].copy(), True
            return
        if self.empty or self.provisional:
            self._entries, self.provisional = v[None].copy(), False
            return
        sims = self._entries @ v
        best = int(sims.argmax())
        if sims[best] >= self.refresh_above:
            self._entries[best] = normalise(self.momentum * self._entries[best] + (1 - self.momentum) * v)
        elif len(self._entries) < self.size:
            self._entries = np.vstack([self._entries, v[None]])
        else:  # full: the entry most like the others makes room (the gallery stays spread out)
            pair = self._entries @ self._entries.T
            np.fill_diagonal(pair, -1.0)
            self._entries[int(pair.max(axis=1).argmax())] = v
