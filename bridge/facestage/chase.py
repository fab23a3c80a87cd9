"""Fast faces the detector lost to motion blur: found on a deblurred crop and covered, not tracked.

A face moving fast is smeared along its path, and the CPU detector (ULFD at 320x240) misses a
face smeared by more than about a fifth of its width. Its track stops (flow fails on the smear,
or its patch no longer agrees) and the real face goes on air until the face slows down. The
smear can be undone well enough for the detector to find the face again (faces/deblur.py: smear
>= 25 px found 14 -> 53 %), but handing such finds to the tracker went badly: ringing around
edges gives false finds, and tracks started or moved on them spent ids and drew ghosts.

So the finds are used only to cover: while a track whose flow or look failed moments ago is
lost (a fast face, or one that set off from rest: Tracker.smeared), each frame the detector
looks at a crop around where that face went, with the smear read from the picture and undone,
and the landmarker must take what it finds there for a face (on the deblurred crop: the frame's
own picture is too smeared for it). The look is aimed by the face's velocity right after a find;
before the first find, or after a miss, at what changed since the last frame near there (a face
that set off from rest has no velocity yet). A find is blurred (the fallback's look, state
"fallback" as a hidden face's cover) under the lost track's id; a face two finds in a row gave a
velocity is covered there for up to two frames its looks miss, and on for up to `along_misses`
while the smear read there runs along that velocity (something smeared that way is still there:
a face that turned or stopped leaves background, smeared any way or not at all). The velocity is
a straight-line fit over the finds of the run each of which lay where the one before said the
face would be (one step between two finds is off by their boxes' noise, some 15 %, which a cover
held for several frames turns into a ghost). No track is started or moved, no
id is spent, nothing is learnt. It ends when a shown track is on the face again, or `give_up_s`
after its last find.

Measured on the identity suite's fast clips (detect_every 2): fast-2 leaks 28.8 -> 19.9 % (78 ->
54 face-frames), ghosts unchanged; --quick: reentry-0 leaks 2.09 -> 1.57 %, the rest the same;
held-out --quick: reentry-0 leaks 3.91 -> 2.86 %, crowd-0 2.14 -> 1.43 %, occlude_object-0 IDF1
0.964 -> 0.962 (with the slid re-check of tracker.py, measured together). Tried and
dropped: covering on a miss where what changed lies (the change trails the face and spreads
over its body: 4 ghost frames on fast-2, 1.8 %); moving the lost track to each find so that a
detection there takes its id back by place (fast-2 IDF1 0.724 -> 0.653, leaks 54 -> 68); two
looks a frame (identical numbers).

Covering past two misses while the smear runs its way, at a fitted velocity, with finds down to
detector score 0.4: fast-2 leaks 51 -> 41 face-frames, IDF1 0.878 -> 0.901, ghosts 1 -> 1; the
other fast clips, --quick and held-out --quick unchanged in every field. Each part alone does
worse: the lower score alone 51 -> 49 leaks; misses covered up to 8 at the one-step velocity,
41 leaks but 3 ghosts (covers drift off a face over 6-8 frames at a velocity 15 % off); the same
at score 0.7, 54 leaks and 3 ghosts (fewer finds, shorter runs). A look costs about one detector run on a crop plus a Wiener
filter of it (35-70 ms on this busy 2-core machine), and runs only while a face is chased.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from bridge.faces.boxes import box_centre, iou_matrix
from bridge.faces.deblur import MIN_SMEAR, deblur, estimate_smear
from bridge.faces.lookout import context_crop
from bridge.faces.scan import input_size
from bridge.types import Face, Track


@dataclass
class Chased:
    """One lost fast face being followed on deblurred crops."""

    id: int
    box: np.ndarray  # where it was last found (frame px)
    velocity: np.ndarray  # box centre, px/s
    at: float  # when it was last found (or lost by its track)
    started: float  # when its track was last seen (no find yet while `at` is this)
    smear: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))  # last smear read (px)
    misses: int = 0  # looks in a row that found nothing
    run: list[tuple[float, np.ndarray]] = field(default_factory=list)  # (when, centre) of the finds its velocity is fitted to
    steady: bool = False  # its last find came a frame or two after the one before, or where its velocity said: measured


class SmearChase:
    """detector, landmarker: the stage's own (the look is one detector run on a crop at the
        detector's input size, the landmarker on what it finds).
    context: crop width in face sizes around where the face should be (it moves up to about half
        its size a frame on the suite's fast clips).
    sure: least landmark score, on the deblurred crop, of a find taken for a face.
    least_score: least detector score of a find on the deblurred crop (the landmarker checks each:
        on fast-2, 4 in 10 of the looks that find nothing at 0.7 find the face at 0.4, sure landmarks).
    chases_per_frame: most looks per frame (each costs a detector run and a few FFTs).
    give_up_s: longest a face is looked for after its last find (or its track's loss).
    reach: farthest (face sizes) a find may lie from where the face should be.
    confirm: farthest (face sizes) a find may lie from where the velocity said for the run to go on.
    along_misses: most looks in a row that may miss while a steady face is covered where the smear
        read there runs along its velocity.
    """

    def __init__(self, detector: object, landmarker: object, *, context: float = 3.0, sure: float = 0.5,
                 chases_per_frame: int = 1, give_up_s: float = 0.5, reach: float = 0.8, confirm: float = 0.25,
                 along_misses: int = 8, least_score: float = 0.4) -> None:
        self.detector, self.landmarker = detector, landmarker
        self.context, self.sure, self.reach = context, sure, reach
        self.confirm, self.along_misses, self.least_score = confirm, along_misses, least_score
        self.chases_per_frame, self.give_up_s = max(0, chases_per_frame), give_up_s
        self._chased: dict[int, Chased] = {}
        self._grey: np.ndarray | None = None  # the last frame's grey image

    def cover(self, image: np.ndarray, grey: np.ndarray | None, lost: list[tuple[int, np.ndarray, np.ndarray, float]],
              shown: list[Track], now: float) -> list[Track]:
        """Covers for this frame. grey: the frame's grey image (motion since the last frame aims the
        look); lost: (id, box, velocity px/s, when last seen) of each track lost moments ago to a
        flow or look failure (Tracker.smeared); shown: the tracks on air (a face one of them is on
        is not chased, and a find on a shown face is that face)."""
        previous, self._grey = self._grey, grey
        if previous is not None and grey is not None and previous.shape != grey.shape:
            previous = None
        shown_boxes = np.array([t.face.box for t in shown], np.float32).reshape(-1, 4)
        shown_ids = {t.id for t in shown}
        for tid, box, velocity, seen in lost:
            if tid not in self._chased:
                self._chased[tid] = Chased(tid, np.asarray(box, np.float32), np.asarray(velocity, np.float32), seen, seen)
        out: list[Track] = []
        looks = 0
        for c in sorted(self._chased.values(), key=lambda c: -c.at):
            ahead = self._ahead(c, now)
            if (c.id in shown_ids or now - c.at > self.give_up_s
                    or (len(shown_boxes) and iou_matrix(ahead[None], shown_boxes).max() >= 0.3)):
                del self._chased[c.id]
                continue
            if looks >= self.chases_per_frame:
                continue  # its turn comes on a later frame
            looks += 1
            # where its velocity says, right after a find or once two finds in a row measured it (for
            # a frame or two after that); else (no find yet, set off from rest, turned) where
            # something moved near there
            steady = c.steady and c.misses < self.MAX_MISSES
            along = c.steady and c.misses < self.along_misses  # covered if the smear there runs along its velocity
            if along and not steady:
                ahead = self._ahead(c, now, self.give_up_s)
            aim = ahead if along or (c.at > c.started and c.misses == 0) else self._moved(ahead, previous, grey, shown_boxes)
            found, smear = self._look(image, aim, shown_boxes)
            if found is None:
                # a look that misses: a face whose velocity two finds in a row measured is covered
                # where it says for a frame or two, and longer while the smear there runs that way
                # (what moved is too rough a place to cover: the change between two frames lies
                # behind the face and spreads over its body); the chase looks on until give_up_s
                # after its last find
                c.misses += 1
                if steady or (along and runs_along(smear, c.velocity)):
                    out.append(Track(id=c.id, face=Face(box=ahead, score=0.0), state="fallback", misses=c.misses))
                continue
            dt = now - c.at
            centre = box_centre(found.box)
            predicted = self._ahead(c, now, self.give_up_s)
            # where its velocity said (at any gap): the run goes on; else (a turn, a start) it
            # starts again from the last find, or the track's last box before the first
            confirmed = c.steady and float(np.linalg.norm(centre - box_centre(predicted))) <= self.confirm * longest_side(c.box)
            if confirmed or (c.steady and c.misses == 0):
                c.run = [*c.run[-(self.RUN - 1):], (now, centre)]
            else:
                c.run = [(c.at, box_centre(c.box)), (now, centre)]
            c.velocity = fitted_velocity(c.run)
            # a velocity from finds a frame or two apart, or confirmed; one over a longer gap spans a turn or a start
            c.steady = c.at > c.started and (0 < dt <= self.STEADY_S or confirmed)
            # its size stays the track's: a box found on a deblurred picture runs long along the smear
            half = (c.box[2:] - c.box[:2]) / 2
            c.box = np.concatenate([centre - half, centre + half]).astype(np.float32)
            c.at, c.smear, c.misses = now, smear, 0
            out.append(Track(id=c.id, face=Face(box=c.box, score=found.score), state="fallback"))
        return out

    def extent(self, tid: int, box: np.ndarray) -> np.ndarray:
        """`box` grown along the smear last read on chased face `tid` (the face's picture is
        spread over its path): `box` itself for any other face."""
        c = self._chased.get(tid)
        if c is None:
            return box
        half = np.abs(c.smear) / 2
        return (np.asarray(box, np.float32) + np.float32([-half[0], -half[1], half[0], half[1]])).astype(np.float32)

    MAX_MISSES = 2  # looks in a row that may miss while a steady face is still covered at its velocity, smeared or not
    RUN = 8  # most finds a velocity is fitted to
    STEADY_S = 0.07  # finds at most this far apart (two frames at 30 fps) measure a velocity
    MOVED = 20  # least grey change (0..255) between two frames taken for motion

    def _moved(self, box: np.ndarray, previous: np.ndarray | None, grey: np.ndarray | None,
               shown: np.ndarray) -> np.ndarray:
        """Where a face not yet found again most likely went: a box of its size centred on what
        changed since the last frame within `reach` + 1 face sizes of `box`, away from the shown
        faces (a face that set off from rest has no velocity to say so); `box` if nothing moved."""
        if previous is None or grey is None:
            return box
        h, w = grey.shape[:2]
        size = longest_side(box, 8.0)
        grow = (self.reach + 1.0) * size
        x0, y0 = int(max(0.0, box[0] - grow)), int(max(0.0, box[1] - grow))
        x1, y1 = int(min(float(w), box[2] + grow)), int(min(float(h), box[3] + grow))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return box
        changed = cv2.absdiff(grey[y0:y1, x0:x1], previous[y0:y1, x0:x1]) > self.MOVED
        for b in shown:  # the faces on air move too
            bx0, by0, bx1, by1 = (int(v) for v in b)
            changed[max(0, by0 - y0):max(0, by1 - y0), max(0, bx0 - x0):max(0, bx1 - x0)] = False
        ys, xs = np.nonzero(changed)
        if len(xs) < 0.05 * size * size:
            return box
        cx, cy = float(np.median(xs)) + x0, float(np.median(ys)) + y0
        half = np.float32([box[2] - box[0], box[3] - box[1]]) / 2
        return np.float32([cx - half[0], cy - half[1], cx + half[0], cy + half[1]])

    @staticmethod
    def _ahead(c: Chased, now: float, horizon: float = 0.1) -> np.ndarray:
        shift = c.velocity * np.float32(np.clip(now - c.at, 0.0, horizon))
        return (c.box + np.tile(shift, 2)).astype(np.float32)

    def _look(self, image: np.ndarray, box: np.ndarray, shown: np.ndarray) -> tuple[Face | None, np.ndarray]:
        """The face nearest `box` on the crop around it with its smear undone, landmarked there,
        and the smear read there (frame px, zero when under MIN_SMEAR); None when no smear is
        read, nothing is found but the `shown` faces (they have their swaps), or the landmarker
        doubts it."""
        unread = None, np.zeros(2, np.float32)
        iw, ih = input_size(self.detector)
        region = context_crop(box, image.shape, self.context, iw / ih)  # at the detector's aspect
        if region is None:
            return unread
        x0, y0, x1, y1 = region
        scale = min(iw / max(1, x1 - x0), ih / max(1, y1 - y0), 1.0)
        crop = image[y0:y1, x0:x1]
        if scale < 1.0:
            crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
                              interpolation=cv2.INTER_AREA)
        back = np.float32([crop.shape[1] / (x1 - x0), crop.shape[0] / (y1 - y0)])
        offset = np.float32([x0, y0])
        inside = (np.asarray(box, np.float32) - np.tile(offset, 2)) * np.tile(back, 2)
        grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
        dx, dy = estimate_smear(grey, inside)
        if math.hypot(dx, dy) < MIN_SMEAR:
            return unread  # not smeared: the detector's own passes see it (or it is not there)
        read = (np.float32([dx, dy]) / back).astype(np.float32)
        missed = None, read  # a miss still tells the smear read there
        sharp = deblur(crop, dx, dy)
        faces = self.detector.detect(sharp, least_score=self.least_score)  # type: ignore[attr-defined]
        if not faces:
            return missed
        # ringing around edges makes false finds: only what the landmarker, on the sharpened
        # crop, takes for a face
        faces = [f for f in self.landmarker.landmark(sharp, faces)  # type: ignore[attr-defined]
                 if (f.landmark_score or 0.0) >= self.sure]
        size, centre = longest_side(box), box_centre(box)
        best, nearest = None, float("inf")
        for f in faces:
            fb = (f.box / np.tile(back, 2) + np.tile(offset, 2)).astype(np.float32)
            d = float(np.linalg.norm(box_centre(fb) - centre)) / size
            fs = longest_side(fb, 0.0)
            if len(shown) and iou_matrix(fb[None], shown).max() >= 0.3:
                continue
            if d <= self.reach and 0.6 <= fs / size <= 1.6 and d < nearest:
                best, nearest = Face(box=fb, score=f.score), d
        return best, read


ALONG_DEGREES = 20.0  # widest angle between a smear and a velocity it runs along


def runs_along(smear: np.ndarray, velocity: np.ndarray, degrees: float = ALONG_DEGREES) -> bool:
    """Whether a smear (px, either way: a line blur has no sense) lies within `degrees` of the
    line of `velocity`; False when either is too short to have a direction."""
    n, v = float(np.hypot(*smear)), float(np.hypot(*velocity))
    if n < MIN_SMEAR or v < 1e-3:
        return False
    return abs(float(np.dot(smear, velocity))) / (n * v) >= math.cos(math.radians(degrees))


def fitted_velocity(run: list[tuple[float, np.ndarray]]) -> np.ndarray:
    """The least-squares straight-line velocity (px/s) through (when, centre) points; zero for
    fewer than two, or all at one time."""
    if len(run) < 2:
        return np.zeros(2, np.float32)
    t = np.float64([when for when, _ in run])
    p = np.float64([centre for _, centre in run])
    t -= t.mean()
    spread = float((t * t).sum())
    if spread <= 1e-12:
        return np.zeros(2, np.float32)
    return ((t[:, None] * (p - p.mean(axis=0))).sum(axis=0) / spread).astype(np.float32)


def longest_side(box: np.ndarray, least: float = 1.0) -> float:
    return max(float(box[2] - box[0]), float(box[3] - box[1]), least)
