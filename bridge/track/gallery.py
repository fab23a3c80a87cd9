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

from bridge.faces.deblur import estimate_smear, smeared_one_way
from bridge.faces.embed import l2_normalise
from bridge.types import Face

MAX_SMEAR = 0.1
"""Longest motion smear, in face sizes (the box's longer side), of a crop worth learning from.
The sharpness test misses a smear that runs one way: across it the edges stay crisp, and a face
smeared by a fifth of its size can measure as sharp as a still one (0.22-0.32). Measured on the
identity suite's fast clips (each crop the sharpness test passed against its person's photo):
smeared 0.14-0.44 face sizes, 0.03-0.37 like the person (median 0.13); still, 0.95-0.98. Read
from the picture (faces/deblur.py), not from the track's velocity: a fast face that stops or turns
is sharp on that frame, and those crops are the only ones that show it. A still face's smear reads
0.0-0.24 on small faces, but not one way (the picture is as sharp every way): only a crop
smeared one way is asked for its length. One held-out person's still face reads 0.13 one way
all the same: the tracker still learns such a crop of a face moving less than MAX_SMEAR a frame
(Tracker._smearing: no shutter smears further than the face moved), and only what the sharpness
test calls blurred is deblurred before it is embedded (track/sharpen.py); without both, held-out
reentry-0 went 2 -> 12 ID switches. The fast clips: fast-2 IDF1 0.761 -> 0.864 (4 -> 2 switches),
fast-3 0.716 -> 0.879."""
SMEAR_SIDE = 64  # px the box's longer side is shrunk to before its smear is read (see CropLook._smeared_long)


def normalise(v: np.ndarray) -> np.ndarray:
    """One embedding, flat and of unit length."""
    return l2_normalise(np.ravel(v))


def crop_quality(gray: np.ndarray, face: Face, *, min_size: float = 40.0, min_sharpness: float = 0.22,
                 max_yaw: float = 0.5, max_smear: float = MAX_SMEAR, others: np.ndarray | None = None,
                 max_covered: float = 0.2) -> str | None:
    """Why this crop is not worth learning from ("tiny", "partial", "covered", "blurred", "profile"),
    or None when it is.

    min_size: least box side in pixels (the recogniser sees 112 px; far smaller is mostly guess).
    min_sharpness: least mean |Laplacian| / grey std on the inner face (contrast-free; motion
        blur and defocus lower it; sharp faces measure 0.27-0.34, a 15 px motion blur 0.13-0.21).
    max_smear: longest motion smear, in face sizes, of a crop smeared one way (MAX_SMEAR; 0: not
        asked): "blurred" beyond it however sharp it measures.
    max_yaw: largest offset of the nose from the eyes' midpoint, in eye distances (a head
        turned 45° or more gives an embedding unlike the front view; the test photos' three-quarter
        faces measure 0.37-0.45).
    others: (N, 4) boxes of the other faces on the frame; a crop that one of them covers by more
        than `max_covered` of its area holds part of that face too (one in front of the other, in
        a crowd or a crossing) and embeds like neither.
    """
    return CropLook(gray, face, min_size=min_size, min_sharpness=min_sharpness, max_yaw=max_yaw,
                    max_smear=max_smear).fault(others, max_covered)


class CropLook:
    """One crop's `crop_quality`, its pixels read at most once however often it is asked: the
    tracker asks about each detection three or four times a frame, against different other
    faces (60-80 µs each at 1080p, most of it the sharpness test, which no other face changes).
    Parameters as crop_quality's."""

    def __init__(self, gray: np.ndarray, face: Face, *, min_size: float = 40.0, min_sharpness: float = 0.22,
                 max_yaw: float = 0.5, max_smear: float = MAX_SMEAR) -> None:
        self.gray, self.face, self.min_sharpness, self.max_yaw = gray, face, min_sharpness, max_yaw
        self.max_smear = max_smear
        x0, y0, x1, y1 = self.box = tuple(float(v) for v in face.box)
        h, w = gray.shape[:2]
        self.cut: str | None = None  # what no other face changes, found before they are asked about
        if min(x1 - x0, y1 - y0) < min_size:
            self.cut = "tiny"
        elif x0 <= 1 or y0 <= 1 or x1 >= w - 1 or y1 >= h - 1:
            self.cut = "partial"  # cut by the frame's edge (walking in or out): half a face embeds like nobody
        self._own: str | None = None
        self._read = False
        self._smeared: bool | None = None  # read on first asking (the smear costs more than the rest)

    @property
    def smeared(self) -> bool:
        """Whether it is "blurred" by its smear's length alone (it measured sharp): see MAX_SMEAR. Read from the
        picture on first asking only: the tracker asks where the answer can change what it does."""
        if self._smeared is None:
            self._smeared = self._own_read() is None and self._smeared_long()
        return self._smeared

    def fault(self, others: np.ndarray | None = None, max_covered: float = 0.2) -> str | None:
        """crop_quality's answer with `others` as the other faces on the frame."""
        why = self.rough(others, max_covered)
        return "blurred" if why is None and self.smeared else why

    def rough(self, others: np.ndarray | None = None, max_covered: float = 0.2) -> str | None:
        """`fault`'s answer with the smear's length not asked: None for a crop that measured sharp
        however far it is smeared (`smeared` tells that)."""
        if self.cut is not None:
            return self.cut
        if others is not None and len(others):
            x0, y0, x1, y1 = self.box
            ix = np.maximum(np.minimum(x1, others[:, 2]) - np.maximum(x0, others[:, 0]), 0)  # np.clip's numbers
            iy = np.maximum(np.minimum(y1, others[:, 3]) - np.maximum(y0, others[:, 1]), 0)
            if float((ix * iy).max()) > max_covered * max(1.0, (x1 - x0) * (y1 - y0)):
                return "covered"
        return self._own_read()

    def _own_read(self) -> str | None:
        """_own_fault, read on first asking only."""
        if not self._read:
            self._own, self._read = self._own_fault(), True
        return self._own

    def _own_fault(self) -> str | None:
        """The crop's own faults, the other faces aside: turned away, too small inside, blurred
        (its smear's length aside: `smeared`)."""
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

    def _smeared_long(self) -> bool:
        """Smeared one way by more than `max_smear` face sizes: read on the box and a margin around
        it (the smear's turned picture needs it), shrunk so that the box's longer side is
        SMEAR_SIDE px (the whole box at 1080p was 5-6 ms a face; shrunk, the smears read 0.01-0.03
        face sizes shorter, which MAX_SMEAR allows for)."""
        if self.max_smear <= 0:
            return False
        x0, y0, x1, y1 = self.box
        h, w = self.gray.shape[:2]
        size = max(x1 - x0, y1 - y0)
        m = 0.25 * size
        rx0, ry0, rx1, ry1 = int(max(0.0, x0 - m)), int(max(0.0, y0 - m)), int(min(w, x1 + m)), int(min(h, y1 + m))
        region = self.gray[ry0:ry1, rx0:rx1]
        scale = min(1.0, SMEAR_SIDE / size)
        if scale < 1.0:
            shrunk = (max(8, round(region.shape[1] * scale)), max(8, round(region.shape[0] * scale)))
            region = cv2.resize(region, shrunk, interpolation=cv2.INTER_AREA)
        sx, sy = region.shape[1] / max(1, rx1 - rx0), region.shape[0] / max(1, ry1 - ry0)
        local = np.float32([(x0 - rx0) * sx, (y0 - ry0) * sy, (x1 - rx0) * sx, (y1 - ry0) * sy])
        if not smeared_one_way(region, local):
            return False
        return float(np.hypot(*estimate_smear(region, local))) >= self.max_smear * size * min(sx, sy)


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

    def resemblance(self, other: Gallery) -> float:
        """Best cosine similarity between an entry of this gallery and one of `other`'s; -1 when
        either is empty."""
        if self.empty or other.empty:
            return -1.0
        return float((self._entries @ other._entries.T).max())

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
