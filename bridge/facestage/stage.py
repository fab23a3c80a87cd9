"""The face stage: one frame in, the same frame with every mapped face swapped out.

detect (every N frames) → landmarks → track → map to targets → swap → paste back.
Commands (hotkeys, scene changes, HTTP) arrive through `apply` between frames.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import cv2
import numpy as np

from bridge.faces.boxes import centres_inside
from bridge.faces.edge import detect_frame, sure_at_edge
from bridge.faces.lookout import Expected, Lookout
from bridge.faces.scan import FineScan, Motion, ScanPlan, input_size, smallest_seen
from bridge.facestage.chase import SmearChase
from bridge.facestage.cover import HiddenCover
from bridge.facestage.mapping import BLUR, Mapping
from bridge.obs.commands import Command
from bridge.facestage.swapping import FaceToSwap, Swapping
from bridge.track.records import CoverageLedger
from bridge.track.tracker import Tracker
from bridge.types import Face, Frame, Target, Track

log = logging.getLogger(__name__)

PANIC_MARGIN = 0.25  # panic blurs each face box grown by this share per side: hair and chin too


class Detector(Protocol):
    def detect(self, image: np.ndarray) -> list[Face]: ...


class Landmarker(Protocol):
    def landmark(self, image: np.ndarray, faces: list[Face]) -> list[Face]: ...


@dataclass
class StageTimes:
    """Milliseconds spent per step on the last frame (0 when the step did not run)."""

    detect: float = 0.0
    landmarks: float = 0.0
    track: float = 0.0
    swap: float = 0.0


@dataclass
class Analysed:
    """A frame with the faces found on it (None: detection was not due on this frame)."""

    frame: Frame
    faces: list[Face] | None
    times: StageTimes = field(default_factory=StageTimes)
    grey: np.ndarray | None = None  # the frame's grey image, made once for the landmarker and the tracker


@dataclass
class FaceStageStatus:
    faces: int = 0
    tracks: list[dict[str, Any]] = field(default_factory=list)
    active_target: str | None = None
    targets: list[str] = field(default_factory=list)
    bypass: bool = False
    panic: bool = False
    scene: str | None = None  # the program scene OBS last reported
    detect_every: int = 1
    detections_on_change: int = 0  # detections run before their turn: new motion, or a track lost its face
    fine_tiles: int = 0  # fine-scan tiles run (small and new faces)
    look_again: int = 0  # crops run around faces the tracker expected and the whole frame missed
    fallbacks: int = 0
    leaks: int = 0
    swap_errors: int = 0


class DetectEvery:
    """How often the detector runs: a fixed N, or (auto) the smallest N that keeps detection
    within a quarter of the frame interval, measured as the show runs."""

    def __init__(self, setting: int | str):
        self.auto = setting == "auto"
        self.every = 1 if self.auto else int(setting)
        self._detect_ms: list[float] = []

    def due(self, index: int) -> bool:
        return index % self.every == 0

    def measured(self, detect_ms: float, frame_interval_s: float) -> None:
        if not self.auto:
            return
        self._detect_ms.append(detect_ms)
        if len(self._detect_ms) >= 15:
            median = float(np.median(self._detect_ms))
            self._detect_ms.clear()
            budget = 0.25 * frame_interval_s * 1000
            self.every = int(min(6, max(1, math.ceil(median / budget))))


class Backoff:
    """When a trigger that keeps firing may cause another detector run: at once the first time,
    then, while its runs find no new face, after a wait that doubles each time (a panning
    camera or a waving body moves every frame; a person walking in is found on the first run)."""

    LONGEST = 32  # frames

    def __init__(self, first: int = 4, longest: int = LONGEST) -> None:
        self.first, self.longest = first, longest
        self.wait = 0
        self.next = 0

    def ready(self, index: int) -> bool:
        return index >= self.next

    def ran(self, index: int, found_new: bool) -> None:
        self.wait = 0 if found_new else min(self.longest, max(self.first, 2 * self.wait))
        self.next = index + self.wait


class FaceStage:
    """Finds, follows and swaps every face of each frame, in place.

    Detector runs beyond the scheduled whole-frame pass (detections on change, fine-scan tiles)
    are what issue 14's small and new faces need, but they must not multiply the detector's cost:
    each trigger backs off while it finds nothing new (`Backoff`), and the periodic scan of a
    fine tile runs every SCAN_PERIOD frames unless a small tracked face or new motion asks for one.
    """

    SCAN_PERIOD = 15  # frames between periodic fine tiles when nothing asks for one (half a second at 30 fps)

    def __init__(self, detector: Detector, landmarker: Landmarker, tracker: Tracker, mapping: Mapping,
                 swapping: Swapping, targets: dict[str, Target], *, detect_every: int | str = 1,
                 reload_targets: Callable[[], dict[str, Target]] | None = None, blur: float = 0.15,
                 scan: FineScan | None = None, detect_on_change: bool = True, lookout: Lookout | None = None,
                 cover: HiddenCover | None = None, chase: SmearChase | None = None):
        self.detector, self.landmarker, self.tracker = detector, landmarker, tracker
        self.scan = scan
        self.lookout = lookout
        self.motion = Motion() if scan is not None or detect_on_change else None
        self.detect_on_change = detect_on_change
        self.detections_on_change = 0
        self.fine_tiles = 0
        self._edge_backoff = Backoff(first=2, longest=8)  # someone walking in waits at most 8 frames
        self._doubted = False  # the last detection left out a low box at the edge no track follows
        self._doubted_backoff = Backoff(first=2, longest=8)
        self._tile_backoff: dict[int, Backoff] = {}
        self._last_scan = -self.SCAN_PERIOD
        self.mapping, self.swapping, self.targets = mapping, swapping, targets
        # a face hidden behind another, showing beside it, gets the fallback's blur (off with fallback "pass")
        self.cover = cover if cover is not None else HiddenCover() if swapping.fallback.mode != "pass" else None
        # a fast face lost to motion blur, found on a deblurred crop, gets the same cover (never a track)
        self.chase = chase if self.cover is not None else None
        self.detect_every = DetectEvery(detect_every)
        self.reload = reload_targets
        self.blur = blur
        self.coverage = CoverageLedger()
        self.times = StageTimes()
        self.last_tracks: list[Track] = []  # what went on air: followed faces and covers of hidden ones
        self.followed: list[Track] = []  # the tracker's faces alone: where detection looks (covers are guesses)
        self._index = 0
        self._live_ids: set[int] = set()

    # -- per frame -----------------------------------------------------------------------
    def process(self, frame: Frame) -> Frame:
        return self.finish(self.analyse(frame))

    def analyse(self, frame: Frame) -> Analysed:
        """Detection and landmarks (when due): the half of the work that needs no track state,
        so the pipeline can run it on the next frame while this one is swapped."""
        image = frame.image
        times = StageTimes()
        faces: list[Face] | None = None
        started = time.perf_counter()
        # one grey image per frame, here where the analysis runs beside the swap of the frame before:
        # the tracker's flow and the CPU landmarker both read it (each converted the frame itself)
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else None
        times.track = (time.perf_counter() - started) * 1e3
        started = time.perf_counter()
        shown = self.followed  # the latest finished frame's (one frame behind when overlapped)
        moving = self.motion.update(image, np.array([t.face.box for t in shown], np.float32)) if self.motion else None
        due = self.detect_every.due(self._index)
        edge = again = False
        if not due and self.detect_on_change:
            if self.tracker.wants_detection:  # a track lost its face: look now
                due = True
            elif self._edge_backoff.ready(self._index) and self.motion.at_edges(moving):
                # something moves in at the frame's edges where no face is followed (people walk
                # in from there): look now, not at the detector's next turn
                due = edge = True
            elif self._doubted and self._doubted_backoff.ready(self._index):
                due = again = True
            self.detections_on_change += due
        if due:
            if self.scan is not None:
                faces = self._detect_fine(image, shown, moving)
            else:
                faces = detect_frame(self.detector, image)
            expected = self.tracker.expected(frame.received_at or time.monotonic())
            if self.lookout is not None:  # a face the tracker expects that this pass missed: look closer
                faces = self.lookout.look(image, faces, [Expected(b, s) for b, s in expected])
            times.detect = (time.perf_counter() - started) * 1e3
            started = time.perf_counter()
            reads = grey if grey is not None and getattr(self.landmarker, "reads_grey", False) else image
            # junk from a detector (NaN, inverted, off the frame, absurdly large) never reaches the
            # landmarker: OpenCV 5's warpAffine crashes the process on such a crop's matrix
            faces = [f for f in faces if _finite(f) and _on_frame(f.box, image.shape)]
            faces = [f for f in self.landmarker.landmark(reads, faces) if _finite(f)]
            threshold = getattr(self.detector, "score_threshold", None)
            if threshold is not None:  # the low boxes at the frame's edge: only faces the landmarker is sure of
                near = np.array([t.face.box for t in shown] + [b for b, _ in expected], np.float32)
                faces, doubted = sure_at_edge(faces, image.shape, threshold, followed=near)
                # one no track follows may be a face walking in, scoring higher on the next frame: look again then
                self._doubted = bool(doubted)
            # each trigger backs off while its runs find no new face (judged on the faces kept)
            for asked, backoff in ((edge, self._edge_backoff), (again, self._doubted_backoff)):
                if asked:
                    backoff.ran(self._index, _any_new(faces, shown))
            times.landmarks = (time.perf_counter() - started) * 1e3
            rate = frame.frame_rate
            self.detect_every.measured(times.detect + times.landmarks, rate[1] / rate[0] if rate[0] else 1 / 30)
        self._index += 1
        return Analysed(frame, faces, times, grey)

    def _detect_fine(self, image: np.ndarray, shown: list[Track], moving: np.ndarray | None) -> list[Face]:
        """The whole frame, plus fine tiles when a small tracked face, new motion in a tile that
        has not backed off, or the periodic scan asks for them."""
        assert self.scan is not None and self.motion is not None
        regions = self.scan.tiles(image.shape)
        tracked = [(t.face.box, t.misses + (t.state != "detected")) for t in shown]
        h, w = image.shape[:2]
        small = 1.5 * smallest_seen((w, h), input_size(self.scan.detector))
        if not regions:
            return self.scan.detect(image, ScanPlan())
        if not any(box[3] - box[1] < small for box, _ in tracked):
            # no small face to keep: motion not yet looked at asks for a tile only where it has not backed off
            asking = self.motion.pending if self.motion.pending is not None else moving
            if asking is not None:
                asking = asking.copy()
                step = self.motion.STEP
                for k, (x0, y0, x1, y1) in enumerate(regions):
                    if not self._tile_backoff.setdefault(k, Backoff(first=2)).ready(self._index):
                        asking[y0 // step:-(-y1 // step), x0 // step:-(-x1 // step)] = False
            if not (any(self.motion.changed(asking, r) for r in regions)
                    or self._index - self._last_scan >= self.SCAN_PERIOD):
                return self.scan.detect(image, ScanPlan())
        plan = self.scan.plan(image.shape, tracked, self.motion, moving)
        faces = self.scan.detect(image, plan)
        self.scan.looked(self.motion, image.shape, plan)
        self.fine_tiles += len(plan.tiles)
        for k, why in zip(plan.tiles, plan.why):
            if why == "scan":
                self._last_scan = self._index
            elif why == "motion":
                x0, y0, x1, y1 = regions[k]
                inside = [f for f in faces if x0 <= (f.box[0] + f.box[2]) / 2 < x1 and y0 <= (f.box[1] + f.box[3]) / 2 < y1]
                self._tile_backoff.setdefault(k, Backoff(first=2)).ran(self._index, _any_new(inside, shown))
        return faces

    def finish(self, analysed: Analysed) -> Frame:
        """Track, map and swap an analysed frame, in place; frames must come in analysis order."""
        frame, faces, times = analysed.frame, analysed.faces, analysed.times
        image = frame.image
        now = frame.received_at or time.monotonic()
        started = time.perf_counter()
        shown = self.tracker.update(image, faces, now, gray=analysed.grey)
        hidden = self.cover.behind(self.tracker.hidden(now), shown, image.shape) if self.cover else []
        if self.cover:  # a face whose look went odd while its flow held: covered until the detector looks
            covered = {h.id for h in hidden}
            hidden += [t for t in self.tracker.doubted(now) if t.id not in covered]
        times.track += (time.perf_counter() - started) * 1e3
        started = time.perf_counter()  # the chase runs the detector: detection time, not tracking
        chased = self.chase.cover(image, analysed.grey, self.tracker.smeared(now), shown + hidden, now) if self.chase else []
        times.detect += (time.perf_counter() - started) * 1e3
        started = time.perf_counter()
        tracks = self.mapping.assign(shown + hidden + chased)
        times.track += (time.perf_counter() - started) * 1e3
        self._forget_ended(tracks)
        started = time.perf_counter()
        self._swap(image, tracks)
        times.swap = (time.perf_counter() - started) * 1e3
        self.times, self.last_tracks, self.followed = times, tracks, shown
        frame.drawn = [{"id": t.id, "slot": getattr(t, "slot", None), "box": [float(v) for v in t.face.box],
                        "person": t.person, "target": t.target, "state": t.state, "misses": t.misses} for t in tracks]
        frame.timings.update({step: ms / 1e3 for step, ms in vars(times).items() if ms})
        return frame

    def _swap(self, image: np.ndarray, tracks: list[Track]) -> None:
        if self.mapping.bypass and not self.mapping.panic:  # nothing swapped, nothing counted; the label stays
            self.swapping.swap_faces(image, [])
            return
        jobs: list[FaceToSwap] = []
        hidden = [t for t in tracks if t.state == "fallback" and t.target is not None]
        behind = {t.id for t in hidden}
        for track in tracks:
            if track.target is None or track.id in behind:
                continue
            if track.target == BLUR:
                _blur_box(image, _grown(track.face.box, PANIC_MARGIN) if self.mapping.panic else track.face.box, self.blur)
                continue
            target = self.targets.get(track.target)
            if target is None:
                continue
            jobs.append(FaceToSwap(track.id, track.face, target))
        self.swapping.swap_faces(image, jobs)
        if hidden and self.cover is not None:  # after the swaps: the faces in front keep theirs
            front = [t for t in tracks if t.target is not None and t.id not in behind]
            for track in hidden:
                box = self.chase.extent(track.id, track.face.box) if self.chase is not None else track.face.box
                self.cover.paint(image, box, front)
        swapped = {job.track_id for job in jobs}
        for track in tracks:
            failed = track.id in self.swapping.failed_tracks
            if track.target == BLUR or track.id in behind or failed and self.swapping.fallback.mode != "pass":
                shown = "fallback"
            elif track.id in swapped and not failed:
                shown = "swapped"
            else:
                shown = "raw"
            if failed:
                track.state = "fallback"
            self.coverage.record(track, shown)  # type: ignore[arg-type]

    def _forget_ended(self, tracks: list[Track]) -> None:
        ids = {t.id for t in tracks}
        for ended in self._live_ids - ids:
            self.swapping.fallback.forget(ended)
        self._live_ids = ids

    # -- between frames ------------------------------------------------------------------
    def apply(self, command: Command) -> None:
        result = self.mapping.apply(command)
        if result.reload and self.reload is not None:
            self._reload()
            return
        (log.info if result.applied else log.warning)("%s: %s", command.action, result.message)

    def _reload(self) -> None:
        assert self.reload is not None
        try:
            targets = self.reload()
        except Exception as error:  # the show goes on with the targets it has
            log.error("reload_targets: kept the current targets: %s", error)
            return
        result = self.mapping.reload_targets(list(targets))
        if result.applied:
            self.targets = targets
            log.info("reload_targets: %s", result.message)
        else:
            log.error("reload_targets: kept the current targets: %s", result.message)

    def status(self) -> FaceStageStatus:
        tracks = [{"id": t.id, "slot": t.slot, "person": t.person, "target": t.target, "state": t.state}
                  for t in self.last_tracks]
        for track, entry in zip(self.last_tracks, tracks):  # misses: detections that missed it (the dock's "coasting")
            entry["misses"] = track.misses
        return FaceStageStatus(
            faces=sum(1 for t in self.last_tracks if t.state == "detected"), tracks=tracks,
            active_target=self.mapping.active_target, targets=list(self.mapping.targets), bypass=self.mapping.bypass,
            panic=self.mapping.panic, scene=self.mapping.scene, detect_every=self.detect_every.every,
            detections_on_change=self.detections_on_change,
            fine_tiles=self.fine_tiles, look_again=self.lookout.crops if self.lookout else 0, fallbacks=self.coverage.fallbacks, leaks=self.coverage.leaks,
            swap_errors=self.swapping.fallback.errors)


def _any_new(faces: list[Face], shown: list[Track]) -> bool:
    """Whether a detected face is one no shown track covers (its centre in none of their boxes)."""
    return bool(faces) and not centres_inside(np.array([f.box for f in faces]), np.array([t.face.box for t in shown])).all()


def _on_frame(box: np.ndarray, shape: tuple[int, ...]) -> bool:
    """The box overlaps the frame and is no bigger than a few frames (a face can run past the edge)."""
    h, w = shape[:2]
    x0, y0, x1, y1 = (float(v) for v in box)
    return x1 > 0 and y1 > 0 and x0 < w and y0 < h and max(x1 - x0, y1 - y0) <= 4 * max(h, w)


def _finite(face: Face) -> bool:
    """Box and points all real numbers, box not inverted (a model can emit NaN on a bad frame)."""
    box = np.asarray(face.box, np.float64)
    if box.shape != (4,) or not np.isfinite(box).all() or box[2] <= box[0] or box[3] <= box[1]:
        return False
    return all(p is None or np.isfinite(np.asarray(p, np.float64)).all() for p in (face.kps5, face.landmarks68))


def _grown(box: np.ndarray, share: float) -> np.ndarray:
    x0, y0, x1, y1 = (float(v) for v in box)
    dx, dy = (x1 - x0) * share, (y1 - y0) * share
    return np.array([x0 - dx, y0 - dy, x1 + dx, y1 + dy], np.float32)


def _blur_box(image: np.ndarray, box: np.ndarray, blur: float) -> None:
    height, width = image.shape[:2]
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(width, int(math.ceil(box[2]))), min(height, int(math.ceil(box[3])))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    sigma = max(1.0, blur * (x1 - x0))
    image[y0:y1, x0:x1] = cv2.GaussianBlur(image[y0:y1, x0:x1], (0, 0), sigma)
