"""Where the detector looks: the whole frame, plus a few finer tiles chosen on each frame.

A detector sees the frame shrunk to its small input (ULFD 320×240), so faces under about
16 input pixels (≈ 64 px tall in a 1280-wide frame) are missed. Running it on every tile of a
finer grid finds them at several times the cost. Instead, each detection frame runs the
whole frame once and then `tiles_per_frame` tiles of a finer grid, most useful first:
1. tiles holding a tracked face too small for the whole-frame pass that has gone `late`
   detections without one (before flow alone carries it too far), the one waiting longest first;
2. tiles with new motion no track accounts for since the tile last ran (someone walking or
   popping in, at any size): an unfound face shows the real face now, a tracked one is still
   swapped while it coasts, so this goes before keeping small faces detected;
3. tiles holding a small tracked face that has gone two detections without one;
4. the rest in turn (a periodic fine-scale scan that finds a small face standing still).
Motion is kept per region until a tile covering it runs: a face that appears between two
detection frames (or while the tile budget went elsewhere) is still looked for.
The grid follows from the frame and the detector's input: tiles about 1.5 times its input size.

`Motion` is the cheap change detector behind 2 (and behind "detect now" between scheduled
detections when something moves in at the frame's edges): the frame at 1/8 size,
differenced with the last one, outside the tracks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from bridge.faces.detect import nms, tile_image
from bridge.faces.edge import detect_frame
from bridge.types import Face

MIN_INPUT_FACE = 16  # px of the detector's input: smaller faces are mostly missed (measured on ULFD)


def input_size(detector: object) -> tuple[int, int]:
    """(width, height) the detector shrinks a picture to."""
    if hasattr(detector, "width") and hasattr(detector, "height"):
        return int(detector.width), int(detector.height)  # type: ignore[attr-defined]
    size = int(getattr(detector, "size", 640))
    return size, size


def fine_grid(frame: tuple[int, int], detector_input: tuple[int, int]) -> tuple[int, int]:
    """(columns, rows) whose tiles are about 1.5 times the detector's input (with the tiles' overlap, a
    face 16 input px tall in the whole frame is ~40 in a tile); (1, 1) = nothing finer to do."""
    (w, h), (iw, ih) = frame, detector_input
    return max(1, math.ceil(w / (1.5 * iw))), max(1, math.ceil(h / (1.5 * ih)))


def smallest_seen(frame: tuple[int, int], detector_input: tuple[int, int]) -> float:
    """Face height (frame px) below which the whole-frame pass cannot be relied on."""
    (w, h), (iw, ih) = frame, detector_input
    # a stretching detector (ULFD) shrinks the height by h/ih; a letterboxing one by its long side
    return MIN_INPUT_FACE * (h / ih if iw != ih else max(w, h) / iw)


def detect_region(detector: object, image: np.ndarray, region: tuple[int, int, int, int]) -> list[Face]:
    """The detector on `region` (x0, y0, x1, y1) of `image`, its faces in frame pixels."""
    x0, y0, x1, y1 = region
    offset = np.float32([x0, y0])
    faces = detector.detect(image[y0:y1, x0:x1])  # type: ignore[attr-defined]
    for f in faces:
        f.box = (f.box + np.tile(offset, 2)).astype(np.float32)
        if f.kps5 is not None:
            f.kps5 = (f.kps5 + offset).astype(np.float32)
    return list(faces)


def merge(faces: list[Face], iou_threshold: float = 0.4, contained: float = 0.7) -> list[Face]:
    """One face per face from several overlapping passes. A box mostly inside a larger one goes
    first (a face cut by a tile's edge: it can score higher than the whole face and would win
    NMS), then NMS among the rest."""
    if len(faces) < 2:
        return faces
    boxes = np.array([f.box for f in faces], np.float32)
    area = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1.0)
    ix = np.clip(np.minimum(boxes[:, None, 2], boxes[None, :, 2]) - np.maximum(boxes[:, None, 0], boxes[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(boxes[:, None, 3], boxes[None, :, 3]) - np.maximum(boxes[:, None, 1], boxes[None, :, 1]), 0, None)
    inside = (ix * iy / area[:, None] >= contained) & (area[None, :] > 1.3 * area[:, None])  # row i inside column j
    whole = [k for k in range(len(faces)) if not inside[k].any()]
    keep = nms(boxes[whole], np.array([faces[k].score for k in whole], np.float32), 0.0, iou_threshold)
    return [faces[whole[int(k)]] for k in keep]


class Motion:
    """New motion outside the tracked faces, per region, at 1/8 of the frame's size.

    threshold: least grey change (0..255) after a light blur that counts as motion (sensor
        noise and compression stay under it).
    min_pixels: least moving cells (8×8 px each) in a region to call it changed.
    """

    STEP = 8

    def __init__(self, threshold: float = 14.0, min_pixels: int = 6) -> None:
        self.threshold, self.min_pixels = threshold, min_pixels
        self._prev: np.ndarray | None = None
        self.pending: np.ndarray | None = None  # motion since each region was last looked at (see seen())

    def update(self, image: np.ndarray, tracked: np.ndarray) -> np.ndarray | None:
        """Boolean map (H/8, W/8) of new motion not covered by `tracked` boxes (N, 4); None on the first frame."""
        small = np.ascontiguousarray(image[::self.STEP, ::self.STEP])
        gray = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (3, 3), 0)
        prev, self._prev = self._prev, gray
        if prev is None or prev.shape != gray.shape:
            return None
        moving = cv2.absdiff(gray, prev) > self.threshold
        for x0, y0, x1, y1 in np.asarray(tracked, np.float32).reshape(-1, 4):
            mx, my = (x1 - x0) * 0.25, (y1 - y0) * 0.25  # a face's own edges move with it
            moving[max(0, int((y0 - my) / self.STEP)):int(math.ceil((y1 + my) / self.STEP)),
                   max(0, int((x0 - mx) / self.STEP)):int(math.ceil((x1 + mx) / self.STEP))] = False
        if self.pending is None or self.pending.shape != moving.shape:
            self.pending = moving.copy()
        else:
            self.pending |= moving
        return moving

    def seen(self, region: tuple[int, int, int, int]) -> None:
        """The detector has looked at `region` (frame px): its pending motion is accounted for."""
        if self.pending is not None:
            x0, y0, x1, y1 = (int(v) // self.STEP for v in region)
            self.pending[max(0, y0):y1 + 1, max(0, x0):x1 + 1] = False

    def changed(self, moving: np.ndarray | None, region: tuple[int, int, int, int] | None = None) -> int:
        """Moving cells in `region` (frame px x0, y0, x1, y1; None = everywhere), 0 under min_pixels."""
        if moving is None:
            return 0
        if region is not None:
            x0, y0, x1, y1 = (int(v) // self.STEP for v in region)
            moving = moving[y0:y1 + 1, x0:x1 + 1]
        n = int(moving.sum())
        return n if n >= self.min_pixels else 0

    def at_edges(self, moving: np.ndarray | None, band: float = 0.12) -> int:
        """`changed` in the frame's outer band (where people walk in). Bodies move all the time
        inside the frame; asking for a detection on every such move would end detect_every."""
        if moving is None:
            return 0
        h, w = moving.shape
        by, bx = max(1, int(h * band)), max(1, int(w * band))
        n = int(moving.sum()) - int(moving[by:h - by, bx:w - bx].sum())
        return n if n >= self.min_pixels else 0


@dataclass
class ScanPlan:
    """What one detection frame runs: tile indices of the fine grid (the whole frame always runs)."""

    tiles: list[int] = field(default_factory=list)
    why: list[str] = field(default_factory=list)  # per tile: "small", "motion" or "scan"


class FineScan:
    """Chooses and runs the fine tiles of each detection frame (see the module docstring).

    tiles_per_frame: fine tiles run besides the whole frame. More: small and new faces found
        sooner, one detector run more each.
    grid: (columns, rows) of the fine grid; None = from the frame and the detector (fine_grid).
    """

    def __init__(self, detector: object, tiles_per_frame: int = 1, grid: tuple[int, int] | None = None,
                 late: int = 4) -> None:
        self.detector = detector
        self.late = late  # detections a small tracked face may go without one before it goes first
        self.tiles_per_frame = max(0, tiles_per_frame)
        self.grid = grid
        self._turn = 0
        self._tile_seen: dict[int, int] = {}  # tile → detection frame it last ran on
        self._frames = 0

    def tiles(self, shape: tuple[int, ...]) -> list[tuple[int, int, int, int]]:
        """The fine grid's tiles (x0, y0, x1, y1) for a frame of this shape ([] when none is needed)."""
        h, w = shape[:2]
        grid = self.grid or fine_grid((w, h), input_size(self.detector))
        if grid == (1, 1):
            return []
        probe = np.empty((h, w), np.uint8)
        return [(int(o[0]), int(o[1]), int(o[0]) + t.shape[1], int(o[1]) + t.shape[0]) for t, o in tile_image(probe, grid)]

    def plan(self, shape: tuple[int, ...], tracked: list[tuple[np.ndarray, float]], motion: Motion,
             moving: np.ndarray | None) -> ScanPlan:
        """tracked: (box, detections it has waited for since its last one) of each shown face."""
        self._frames += 1
        regions = self.tiles(shape)
        plan = ScanPlan()
        if not regions or self.tiles_per_frame == 0:
            return plan
        h, w = shape[:2]
        small = smallest_seen((w, h), input_size(self.detector))
        urgent: list[tuple[float, int]] = []
        for box, waited in tracked:
            # one miss is what coasting is for; later, before flow alone has carried it too far
            if box[3] - box[1] >= 1.5 * small or waited < 2:
                continue
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            holders = [k for k, (x0, y0, x1, y1) in enumerate(regions)
                       if x0 + 0.5 * (box[2] - box[0]) <= cx <= x1 - 0.5 * (box[2] - box[0])
                       and y0 + 0.5 * (box[3] - box[1]) <= cy <= y1 - 0.5 * (box[3] - box[1])]
            if holders:
                urgent.append((-waited, min(holders, key=lambda k: self._tile_seen.get(k, -1))))
        urgent.sort()
        for waited, k in urgent:
            if -waited >= self.late:
                self._add(plan, k, "small")
        pending = motion.pending if motion.pending is not None else moving
        by_motion = sorted(((motion.changed(pending, r), k) for k, r in enumerate(regions)), reverse=True)
        for n, k in by_motion:
            if n > 0:
                self._add(plan, k, "motion")
        for _, k in urgent:
            self._add(plan, k, "small")
        start = self._turn
        for step in range(len(regions)):
            if len(plan.tiles) >= self.tiles_per_frame:
                break
            k = (start + step) % len(regions)
            if k not in plan.tiles:
                self._add(plan, k, "scan")
                self._turn = (k + 1) % len(regions)
        return plan

    def _add(self, plan: ScanPlan, k: int, why: str) -> None:
        if len(plan.tiles) < self.tiles_per_frame and k not in plan.tiles:
            plan.tiles.append(k)
            plan.why.append(why)
            self._tile_seen[k] = self._frames

    def detect(self, image: np.ndarray, plan: ScanPlan) -> list[Face]:
        """The whole frame and the planned tiles, merged into one face per face (frame pixels)."""
        faces = list(detect_frame(self.detector, image))
        regions = self.tiles(image.shape) if plan.tiles else []
        for k in plan.tiles:
            faces += detect_region(self.detector, image, regions[k])
        return merge(faces) if plan.tiles else faces

    def looked(self, motion: Motion, shape: tuple[int, ...], plan: ScanPlan) -> None:
        """The planned tiles ran: their pending motion is accounted for."""
        regions = self.tiles(shape) if plan.tiles else []
        for k in plan.tiles:
            motion.seen(regions[k])
