"""Synthetic test clips with ground truth: real faces from t1.jpg moving over a background.

Faces are cut from insightface's six-person photo (t1.jpg), feathered with an elliptical mask and
pasted, scaled and tilted, along keyframed paths that cross, overlap, leave and re-enter the
frame. Every frame records, per visible face, its ground-truth id, box and five keypoints.
Later actors are drawn on top; a face counts as visible when at least half of it shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from bridge.types import Face

# Faces in t1.jpg (1280×886), measured once with the CPU detector and landmarker (docs/models.md §8):
# box x0, y0, x1, y1 and five keypoints (right eye, left eye, nose, mouth right, mouth left).
T1_FACES: list[tuple[tuple[int, int, int, int], list[tuple[int, int]]]] = [
    ((55, 266, 169, 392), [(87, 329), (129, 309), (119, 338), (115, 369), (148, 353)]),
    ((269, 150, 366, 278), [(293, 211), (319, 197), (304, 228), (313, 246), (337, 233)]),
    ((464, 266, 576, 412), [(493, 320), (542, 332), (508, 366), (484, 369), (529, 381)]),
    ((742, 341, 846, 475), [(762, 397), (802, 404), (774, 432), (765, 434), (806, 440)]),
    ((904, 53, 1006, 202), [(914, 118), (945, 118), (918, 150), (933, 171), (959, 169)]),
    ((1130, 269, 1227, 398), [(1150, 326), (1192, 324), (1167, 347), (1156, 367), (1193, 366)]),
]


@dataclass(frozen=True)
class Key:
    """Where an actor is at `frame`: face-box centre (x, y) in px, face width in px, tilt in degrees."""

    frame: int
    x: float
    y: float
    width: float = 80.0
    angle: float = 0.0


@dataclass
class Actor:
    """One person (a face of t1.jpg, index 0..5) following keyframes; absent outside them."""

    face: int
    keys: list[Key]
    id: int | None = None  # ground-truth id; defaults to the face index

    def at(self, frame: int) -> Key | None:
        ks = sorted(self.keys, key=lambda k: k.frame)
        if frame < ks[0].frame or frame > ks[-1].frame:
            return None
        for a, b in zip(ks, ks[1:]):
            if a.frame <= frame <= b.frame:
                t = 0.0 if b.frame == a.frame else (frame - a.frame) / (b.frame - a.frame)
                return Key(frame, a.x + t * (b.x - a.x), a.y + t * (b.y - a.y),
                           a.width + t * (b.width - a.width), a.angle + t * (b.angle - a.angle))
        return ks[0]


@dataclass(frozen=True)
class Truth:
    id: int
    box: np.ndarray  # (4,) x0, y0, x1, y1
    kps5: np.ndarray  # (5, 2)
    visible: float  # fraction of the face that shows (in frame, not covered)


@dataclass
class Clip:
    frames: list[np.ndarray]
    truth: list[list[Truth]]
    fps: float = 30.0
    still: list[np.ndarray] = field(default_factory=list)  # frames without sensor noise

    def __len__(self) -> int:
        return len(self.frames)

    def time(self, i: int) -> float:
        return i / self.fps

    def truth_boxes(self, i: int) -> tuple[list[int], np.ndarray]:
        t = self.truth[i]
        return [x.id for x in t], np.array([x.box for x in t], np.float32).reshape(-1, 4)


def _photo() -> np.ndarray:
    from bridge.runtime import assets

    path = assets.fetch_photos()["t1.jpg"]
    image = cv2.imread(str(Path(path)))
    if image is None:
        raise FileNotFoundError(f"cannot read {path}")
    return image


def _background(width: int, height: int, seed: int) -> np.ndarray:
    """A static, softly textured room-like background (deterministic)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    bg = np.stack([90 + 60 * xx / width, 110 + 40 * yy / height, 130 - 50 * xx / width], axis=2)
    blobs = cv2.resize(rng.uniform(-40, 40, (6, 10, 3)).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    bg = bg + blobs
    for _ in range(8):  # shelves and frames: edges for a realistic scene
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        color = tuple(float(c) for c in rng.uniform(40, 200, 3))
        cv2.rectangle(bg, (x0, y0), (x0 + int(rng.integers(20, 120)), y0 + int(rng.integers(10, 60))), color, -1)
    return np.clip(bg, 0, 255).astype(np.uint8)


def _cut(photo: np.ndarray, face: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(patch, alpha mask, box, kps5) in patch coordinates, for one face of the photo."""
    (x0, y0, x1, y1), kps = T1_FACES[face]
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = int(max(x1 - x0, y1 - y0) * 0.8)
    px0, py0 = int(cx) - half, int(cy) - half
    patch = cv2.copyMakeBorder(photo, half, half, half, half, cv2.BORDER_REPLICATE)[
        py0 + half:py0 + 3 * half, px0 + half:px0 + 3 * half]
    mask = np.zeros(patch.shape[:2], np.float32)
    axes = (int((x1 - x0) * 0.62), int((y1 - y0) * 0.68))  # head ellipse, a little larger than the box
    cv2.ellipse(mask, (half, half), axes, 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(2.0, half * 0.06))
    box = np.array([x0 - px0, y0 - py0, x1 - px0, y1 - py0], np.float32)
    return patch, mask, box, np.array(kps, np.float32) - np.float32([px0, py0])


def render(actors: list[Actor], size: tuple[int, int] = (640, 360), frames: int = 90, fps: float = 30.0,
           noise: float = 2.0, seed: int = 0, min_visible: float = 0.5) -> Clip:
    """Draw the clip: actors in list order (later on top), Gaussian sensor noise `noise` (std)."""
    width, height = size
    photo = _photo()
    rng = np.random.default_rng(seed)
    background = _background(width, height, seed).astype(np.float32)
    cuts = {a.face: _cut(photo, a.face) for a in actors}
    out, still, truth = [], [], []
    for i in range(frames):
        canvas = background.copy()
        layers = []  # (actor, key, warped alpha, box, kps5, full mask area)
        for a in actors:
            k = a.at(i)
            if k is None:
                continue
            patch, mask, box, kps = cuts[a.face]
            s = k.width / float(box[2] - box[0])
            centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
            m = cv2.getRotationMatrix2D(centre, k.angle, s)
            m[:, 2] += (k.x - centre[0], k.y - centre[1])
            warped = cv2.warpAffine(patch, m, (width, height), flags=cv2.INTER_LINEAR).astype(np.float32)
            alpha = cv2.warpAffine(mask, m, (width, height), flags=cv2.INTER_LINEAR)
            canvas = canvas * (1 - alpha[..., None]) + warped * alpha[..., None]
            half_w, half_h = (box[2] - box[0]) * s / 2, (box[3] - box[1]) * s / 2
            gt_box = np.array([k.x - half_w, k.y - half_h, k.x + half_w, k.y + half_h], np.float32)
            gt_kps = (kps @ m[:, :2].T + m[:, 2]).astype(np.float32)
            layers.append((a, gt_box, gt_kps, alpha, float(mask.sum()) * s * s))
        frame_truth = []
        for n, (a, gt_box, gt_kps, alpha, full) in enumerate(layers):
            shown = alpha.copy()
            for _, _, _, above, _ in layers[n + 1:]:
                shown *= 1 - above
            fraction = float(shown.sum()) / max(full, 1e-6)
            if fraction >= min_visible:
                frame_truth.append(Truth(a.face if a.id is None else a.id, gt_box, gt_kps, fraction))
        clean = np.clip(canvas, 0, 255).astype(np.uint8)
        noisy = np.clip(canvas + rng.normal(0, noise, canvas.shape), 0, 255).astype(np.uint8) if noise > 0 else clean
        out.append(noisy)
        still.append(clean)
        truth.append(frame_truth)
    return Clip(out, truth, fps, still)


# -- scenarios (640×360 unless said, ~3 s at 30 fps) ----------------------------------------

def crossing(frames: int = 90, size: tuple[int, int] = (640, 360), noise: float = 2.0) -> Clip:
    """Two people walk past each other; the second passes in front of the first."""
    w, h = size
    return render([
        Actor(2, [Key(0, 0.2 * w, 0.5 * h, 90), Key(frames - 1, 0.8 * w, 0.45 * h, 90)]),
        Actor(5, [Key(0, 0.8 * w, 0.55 * h, 85), Key(frames - 1, 0.2 * w, 0.5 * h, 85, 10)]),
    ], size, frames, noise=noise)


def exit_and_reenter(frames: int = 100, size: tuple[int, int] = (640, 360), noise: float = 2.0) -> Clip:
    """Person 0 stays; person 3 walks out right, is gone ~1 s, comes back in from the right."""
    w, h = size
    out, back = int(frames * 0.3), int(frames * 0.65)
    return render([
        Actor(0, [Key(0, 0.25 * w, 0.5 * h, 90), Key(frames - 1, 0.3 * w, 0.5 * h, 90, -5)]),
        Actor(3, [Key(0, 0.65 * w, 0.5 * h, 85), Key(out, w + 90, 0.5 * h, 85),
                  Key(back, w + 90, 0.45 * h, 85), Key(frames - 1, 0.7 * w, 0.45 * h, 95, 8)]),
    ], size, frames, noise=noise)


def still_face(frames: int = 60, size: tuple[int, int] = (320, 240), noise: float = 3.0) -> Clip:
    """One face that does not move: any landmark motion is jitter."""
    w, h = size
    return render([Actor(2, [Key(0, w / 2, h / 2, 100), Key(frames - 1, w / 2, h / 2, 100)])], size, frames, noise=noise)


def two_faces(frames: int = 90, size: tuple[int, int] = (640, 360), noise: float = 2.0) -> Clip:
    """Two people moving, tilting and changing scale, overlapping partly mid-clip."""
    w, h = size
    return render([
        Actor(1, [Key(0, 0.15 * w, 0.4 * h, 70), Key(frames // 2, 0.45 * w, 0.5 * h, 100, -10),
                  Key(frames - 1, 0.75 * w, 0.4 * h, 75, 5)]),
        Actor(4, [Key(0, 0.85 * w, 0.6 * h, 90), Key(frames // 2, 0.58 * w, 0.55 * h, 80, 10),
                  Key(frames - 1, 0.25 * w, 0.6 * h, 95, 0)]),
    ], size, frames, noise=noise)


def four_faces(frames: int = 90, size: tuple[int, int] = (640, 360), noise: float = 2.0) -> Clip:
    """Four people: two cross, one leaves and re-enters, one stays and tilts."""
    w, h = size
    return render([
        Actor(0, [Key(0, 0.12 * w, 0.3 * h, 70), Key(frames - 1, 0.12 * w, 0.35 * h, 75, 12)]),
        Actor(2, [Key(0, 0.3 * w, 0.65 * h, 80), Key(frames - 1, 0.75 * w, 0.7 * h, 80)]),
        Actor(5, [Key(0, 0.75 * w, 0.7 * h, 75), Key(frames - 1, 0.3 * w, 0.65 * h, 80)]),
        Actor(4, [Key(0, 0.85 * w, 0.25 * h, 70), Key(frames // 4, w + 80, 0.25 * h, 70),
                  Key(frames // 2, w + 80, 0.3 * h, 70), Key(frames - 1, 0.8 * w, 0.3 * h, 80)]),
    ], size, frames, noise=noise)


# -- test doubles that read the ground truth ----------------------------------------------

def truth_faces(clip: Clip, i: int, jitter: float = 0.0, rng: np.random.Generator | None = None) -> list[Face]:
    """The ground truth as detections (optionally with landmark/box noise of std `jitter` px)."""
    rng = rng or np.random.default_rng(i)
    faces = []
    for t in clip.truth[i]:
        faces.append(Face(box=(t.box + rng.normal(0, jitter, 4)).astype(np.float32), score=0.99,
                          kps5=(t.kps5 + rng.normal(0, jitter, (5, 2))).astype(np.float32)))
    return faces


class TruthEmbedder:
    """An `embed` callable for the tracker: a fixed random vector per ground-truth person (+ noise),
    found by the face's best overlap with the truth of the frame the image belongs to."""

    def __init__(self, clip: Clip, dim: int = 512, noise: float = 0.05, seed: int = 0) -> None:
        self.clip = clip
        self.rng = np.random.default_rng(seed)
        self.vectors: dict[int, np.ndarray] = {}
        self.dim, self.noise = dim, noise
        self.calls = 0
        self._index = {id(f): n for n, f in enumerate(clip.frames)}
        self._index.update({id(f): n for n, f in enumerate(clip.still)})

    def vector(self, person: int) -> np.ndarray:
        if person not in self.vectors:
            v = np.random.default_rng(1000 + person).normal(size=self.dim)
            self.vectors[person] = (v / np.linalg.norm(v)).astype(np.float32)
        return self.vectors[person]

    def __call__(self, image: np.ndarray, faces: list[Face]) -> list[np.ndarray]:
        from bridge.faces.boxes import iou_matrix

        i = self._index[id(image)]
        ids, boxes = self.clip.truth_boxes(i)
        out = []
        for f in faces:
            self.calls += 1
            iou = iou_matrix(f.box[None], boxes)
            if iou.size and iou.max() > 0.3:
                v = self.vector(ids[int(iou.argmax())]) + self.rng.normal(0, self.noise / np.sqrt(self.dim), self.dim)
            else:
                v = self.rng.normal(size=self.dim)
            out.append((v / np.linalg.norm(v)).astype(np.float32))
        return out


# -- running a tracker over a clip -----------------------------------------------------------

@dataclass
class Run:
    tracks: list[list]  # per frame, the tracker's Track list
    hypothesis: list[tuple[list[int], np.ndarray]]

    def ids(self, i: int) -> list[int]:
        return [t.id for t in self.tracks[i]]


def run(clip: Clip, tracker, detect, every: int = 1, frames: list[np.ndarray] | None = None) -> Run:
    """Feed the clip to `tracker.update`; `detect(image, i)` gives the faces of frame i and runs
    on every `every`-th frame only (None is passed on the others)."""
    frames = frames or clip.frames
    out, hyp = [], []
    for i, image in enumerate(frames):
        faces = detect(image, i) if i % every == 0 else None
        tracks = tracker.update(image, faces, clip.time(i))
        out.append(tracks)
        hyp.append(([t.id for t in tracks], np.array([t.face.box for t in tracks], np.float32).reshape(-1, 4)))
    return Run(out, hyp)


def uncovered(clip: Clip, result: Run, min_iou: float = 0.3, every: int = 1) -> list[tuple[int, int]]:
    """(frame, truth id) of every visible face that no track covers: each would be a leak.

    With detection every `every` frames, a face that (re)appears between detections cannot be
    known before the next detection; it counts from the last detection frame it was visible on."""
    from bridge.faces.boxes import iou_matrix

    missing = []
    for i in range(len(clip)):
        ids, boxes = clip.truth_boxes(i)
        iou = iou_matrix(boxes, result.hypothesis[i][1])
        detected_on = {t.id for t in clip.truth[i - i % every]}
        for n, tid in enumerate(ids):
            if tid not in detected_on:
                continue
            if iou.shape[1] == 0 or iou[n].max() < min_iou:
                missing.append((i, tid))
    return missing


def identity_of(clip: Clip, result: Run, min_iou: float = 0.5) -> dict[int, set[int]]:
    """Truth id → the set of track ids that covered it over the clip (one each when ids are stable)."""
    from bridge.faces.boxes import iou_matrix

    seen: dict[int, set[int]] = {}
    for i in range(len(clip)):
        ids, boxes = clip.truth_boxes(i)
        h_ids, h_boxes = result.hypothesis[i]
        iou = iou_matrix(boxes, h_boxes)
        for n, tid in enumerate(ids):
            if iou.shape[1] and iou[n].max() >= min_iou:
                seen.setdefault(tid, set()).add(int(h_ids[int(iou[n].argmax())]))
    return seen


def found(truth: np.ndarray, faces: list[Face], min_iou: float = 0.3) -> set[int]:
    """Indices of the `truth` boxes some detected face overlaps by `min_iou`."""
    from bridge.faces.boxes import iou_matrix

    iou = iou_matrix(truth, np.array([f.box for f in faces], np.float32).reshape(-1, 4))
    return set(np.nonzero(iou.max(axis=1) >= min_iou)[0].tolist()) if iou.shape[1] else set()
