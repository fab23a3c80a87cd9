"""Optical-flow keypoint prediction: where a face moved between two frames.

Pyramidal Lucas–Kanade (cv2.calcOpticalFlowPyrLK) follows the face's five keypoints plus a few
corner features inside its box from the previous grey frame to the current one, and a
similarity transform (shift, scale, rotation) fitted to the points that agree (RANSAC) moves
the box and every landmark. A face whose points do not mostly agree is followed again the full
way, where points that do not come back to where they started (forward–backward check) are
dropped before the fit.

Cost: cv2.calcOpticalFlowPyrLK on whole frames rebuilds both frames' pyramids and derivatives
on every call (and Python cannot hand it a prebuilt pyramid). So the pyramid of each frame is
built once (`pyramid`) and kept for the next frame, and LK runs one level at a time, coarse to
fine, on each face's own small region of that level (`maxLevel=0` with the coarser level's
result as the initial flow): the same iterations as OpenCV's own coarse-to-fine loop, on a
fraction of the pixels.

At 1080p that still cost 3.6 ms a frame for four faces: LK's cost is per point and level (each
point's 21×21 window), and every point went through every level. Now a face is refined only
down to the level where its points still span `detail` px (a large face stops at half size),
and above that level only a few guide points are followed, their median shift starting every
point on the next level (`_guided`), one way only for a face alone: the consensus of the fit
finds a point that went astray alone (of 6568 points in the benchmark that went forward, 5
failed the way back, and every one of them disagreed with its face's fit anyway); faces whose
points overlap another face's also go the way back. A face whose points do not
mostly agree on the guided answer is followed the full way, both ways (`_track`), so the
shortcuts never decide a doubtful case. benchmarks/bench_tracking_cost.py measures it.
"""

from __future__ import annotations

import itertools
import math

import cv2
import numpy as np

from bridge.faces.align import transform_points
from bridge.track.pyrdown import pyr_down, warm_up
from bridge.types import Face


def fit_similarity(source: np.ndarray, destination: np.ndarray) -> np.ndarray:
    """The 2×3 similarity (shift, scale, rotation) that moves `source` onto `destination` with the
    least squared error (closed form; both (N, 2), N ≥ 2)."""
    src = np.asarray(source, np.float64)
    dst = np.asarray(destination, np.float64)
    # means as ndarray.mean takes them (the sum over rows, over their count), without its wrapper
    src_mean, dst_mean = np.add.reduce(src, axis=0) / len(src), np.add.reduce(dst, axis=0) / len(dst)
    (sx, sy), (dx, dy) = src_mean.tolist(), dst_mean.tolist()
    s, d = src - src_mean, dst - dst_mean
    norm = float(np.vdot(s, s))
    if norm < 1e-12:  # every point in one place: a shift is all that can be told
        return np.float32([[1, 0, dx - sx], [0, 1, dy - sy]])
    a = float(np.vdot(s, d)) / norm
    b = float(np.dot(s[:, 0], d[:, 1]) - np.dot(s[:, 1], d[:, 0])) / norm
    return np.float32([[a, -b, dx - (a * sx - b * sy)], [b, a, dy - (b * sx + a * sy)]])


def warp_box(matrix: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Move a box by a similarity transform: centre mapped, size scaled (stays axis-aligned)."""
    x0, y0, x1, y1 = np.asarray(box, np.float64).tolist()
    (a, b, tx), (c, d, ty) = np.asarray(matrix, np.float64).tolist()
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    cx, cy = a * cx + b * cy + tx, c * cx + d * cy + ty
    scale = math.sqrt(abs(a * d - b * c))
    half_w, half_h = (x1 - x0) * scale / 2, (y1 - y0) * scale / 2
    return np.array([cx - half_w, cy - half_h, cx + half_w, cy + half_h], np.float32)


def warp_face(matrix: np.ndarray, face: Face) -> Face:
    """The face moved by `matrix`: box, kps5 and 68 landmarks; score and embedding kept."""
    return Face(
        box=warp_box(matrix, face.box),
        score=face.score,
        kps5=None if face.kps5 is None else transform_points(face.kps5, matrix),
        landmarks68=None if face.landmarks68 is None else transform_points(face.landmarks68, matrix),
        landmark_score=face.landmark_score,
        embedding=face.embedding,
    )


class KeypointFlow:
    """Predicts each face's motion between consecutive frames with pyramidal LK flow.

    win_size: LK window (px). Larger: follows faster moves, blurs small faces' detail.
    max_level: pyramid levels; each doubles the largest motion LK can follow.
    max_fb_error: forward–backward error (px) above which a point is not trusted.
        Lower: fewer but surer points; flow fails sooner on blur.
    min_points: fewer trusted points than this and the prediction fails (the track cannot coast).
    features: corner features sought inside the box besides the five keypoints.
    detail: least size (px) a face's points span on the finest level LK refines them on. A
        larger face stops at a coarser level (a 300 px face at 1080p is refined on the half-size
        level, where its points still span over 64 px): its result there is as close to the
        true motion as full size gives (0.5-0.8 px on a 3° turn; 1.3-2 px with 40), and above
        that level only a few guide points are followed. 0: every point of every face goes
        down to full size (OpenCV's own loop, on regions; twice the cost).
    """

    SEED_DETAIL = 32  # corners are sought on the coarsest level where the inner box spans this many px
    GUIDES = 6  # points of a face followed on the levels above its finest
    SURE = 0.75  # share of a face's points that must agree on the guided answer, else the full way
    CALL_PIXELS = 24000  # one LK call costs about what its derivatives on this many pixels cost

    def __init__(self, win_size: int = 21, max_level: int = 3, max_fb_error: float = 1.5,
                 min_points: int = 4, features: int = 16, detail: float = 64.0) -> None:
        self.lk = dict(winSize=(win_size, win_size), maxLevel=max_level,
                       criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03))
        self.max_fb_error = max_fb_error
        self.min_points = max(min_points, 2)
        self.features = features
        self.detail = detail
        warm_up()  # the pyramid's kernel, before the first frame rather than on it

    def seed(self, frame: np.ndarray | list[np.ndarray], face: Face) -> np.ndarray:
        """Points to follow for one face: its kps5 (if any) and corners inside the inner box.

        frame: the grey frame or its `pyramid`. With a pyramid, a large face's corners are sought
        on the coarsest level where its inner box still spans SEED_DETAIL px (a 64 px box on the
        half-size level, a 128 px one on the quarter-size level: far fewer pixels); LK refines
        them on the face's finest flow level all the same.
        """
        levels = [frame] if isinstance(frame, np.ndarray) else frame
        h, w = levels[0].shape[:2]
        x0, y0, x1, y1 = np.asarray(face.box, np.float64).tolist()
        # inner 70 % of the box: the face, not the background behind it
        mx, my = (x1 - x0) * 0.15, (y1 - y0) * 0.15
        ix0, iy0 = int(max(0, x0 + mx)), int(max(0, y0 + my))
        ix1, iy1 = int(min(w, x1 - mx)), int(min(h, y1 - my))
        points = [] if face.kps5 is None else [np.asarray(face.kps5, np.float32).reshape(-1, 2)]
        if ix1 - ix0 >= 8 and iy1 - iy0 >= 8 and self.features > 0:
            level = min(max(math.floor(math.log2(min(ix1 - ix0, iy1 - iy0) / self.SEED_DETAIL)), 0), len(levels) - 1)
            k = 2 ** level
            region = levels[level][iy0 // k:iy1 // k, ix0 // k:ix1 // k]
            corners = cv2.goodFeaturesToTrack(region, self.features, 0.01, 3)
            if corners is not None:
                points.append(corners.reshape(-1, 2) * np.float32(k) + np.float32([ix0 // k * k, iy0 // k * k]))
            else:  # flat face patch: a coarse grid still gives LK something to hold
                gx, gy = np.meshgrid(np.linspace(ix0, ix1 - 1, 3), np.linspace(iy0, iy1 - 1, 3))
                points.append(np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32))
        if not points:
            return np.zeros((0, 2), np.float32)
        return np.concatenate(points).astype(np.float32, copy=False)

    def seed_apart(self, frame: np.ndarray | list[np.ndarray], face: Face, others: list[np.ndarray]) -> np.ndarray:
        """`seed`, leaving out points inside other faces' boxes: where two faces overlap, a point
        may belong to either, and the one in front would drag the other (kept all the same when
        too few would remain)."""
        points = self.seed(frame, face)
        if len(points) == 0 or len(others) == 0:
            return points
        (px0, py0), (px1, py1) = np.minimum.reduce(points).tolist(), np.maximum.reduce(points).tolist()
        near = [b for b in others if b[0] <= px1 and b[2] >= px0 and b[1] <= py1 and b[3] >= py0]
        if not near:  # no other face's box reaches these points (the usual case)
            return points
        boxes = np.array(near, np.float32).reshape(-1, 4)
        inside = ((points[:, None, 0] >= boxes[None, :, 0]) & (points[:, None, 0] <= boxes[None, :, 2])
                  & (points[:, None, 1] >= boxes[None, :, 1]) & (points[:, None, 1] <= boxes[None, :, 3])).any(1)
        kept = points[~inside]
        return kept if len(kept) >= self.min_points else points

    def pyramid(self, gray: np.ndarray) -> list[np.ndarray]:
        """The frame's LK pyramid (level 0 is `gray`), with the levels cv2.buildOpticalFlowPyramid
        would make: halving stops before a level gets no larger than the window. Each halving is
        cv2.pyrDown's, byte for byte, in a third of its time (pyrdown.py). (Not a 2×2 mean,
        INTER_AREA: a fifth of pyrDown's cost at 1080p, but its aliased levels lost ids in the
        identity suite's face-occlusion and crossing clips.)"""
        levels = [gray]
        win_w, win_h = self.lk["winSize"]
        for _ in range(self.lk["maxLevel"]):
            h, w = levels[-1].shape[:2]
            if (w + 1) // 2 <= win_w or (h + 1) // 2 <= win_h:
                break
            levels.append(pyr_down(levels[-1]))
        return levels

    def predict(self, prev: np.ndarray | list[np.ndarray], cur: np.ndarray | list[np.ndarray],
                point_sets: list[np.ndarray]) -> list[np.ndarray | None]:
        """One 2×3 similarity per point set (None where the flow failed).

        prev, cur: grey frames or their `pyramid`s (pass pyramids to build each frame's once)."""
        return [m for m, _ in self.predict_counted(prev, cur, point_sets)]

    def predict_counted(self, prev: np.ndarray | list[np.ndarray], cur: np.ndarray | list[np.ndarray],
                        point_sets: list[np.ndarray],
                        shifts: list[np.ndarray] | None = None) -> list[tuple[np.ndarray | None, int]]:
        """`predict`, with the number of points that agreed on each motion (the RANSAC inliers):
        the flow's share of the evidence that a face is still there (evidence.py).

        shifts: per point set, the (dx, dy) it is expected to have moved (the track's velocity):
        LK starts its search there, so a face moving faster than its window reaches (~80 px a
        frame with the defaults) is still followed."""
        if not point_sets:
            return []
        counts = [len(p) for p in point_sets]
        if sum(counts) == 0:
            return [(None, 0)] * len(point_sets)
        prev_pyr = self.pyramid(prev) if isinstance(prev, np.ndarray) else prev
        cur_pyr = self.pyramid(cur) if isinstance(cur, np.ndarray) else cur
        if self.detail <= 0:
            return self._all_points(prev_pyr, cur_pyr, point_sets, shifts)
        bounds = list(itertools.accumulate(counts, initial=0))
        groups = [slice(a, b) for a, b, n in zip(bounds[:-1], bounds[1:], counts) if n]
        p0 = np.concatenate(point_sets).reshape(-1, 2).astype(np.float32, copy=False)
        finest = self.finest_levels(p0, groups, min(len(prev_pyr), len(cur_pyr)) - 1)
        shift = (np.zeros((len(groups), 2), np.float32) if shifts is None else
                 np.array([np.asarray(d, np.float32).reshape(2) for d, n in zip(shifts, counts) if n], np.float32))
        p1, st1 = self._guided(prev_pyr, cur_pyr, p0, groups, shift, finest)
        # one way for a face alone: where most of its points agree on one similarity, a point
        # that went astray alone disagrees with it and RANSAC leaves it out, as the way back
        # would have (a third of the flow's time). Where two faces' points overlap, points of one
        # may follow the other together, agreeing: there the way back (from each point's end,
        # less its face's median move, on its finest level) finds them out
        good = st1
        near = self._overlapping(p0, p1, groups)
        if near:
            index = np.concatenate([np.arange(groups[i].start, groups[i].stop) for i in near])
            sizes = np.cumsum([0] + [groups[i].stop - groups[i].start for i in near]).tolist()
            sub = [slice(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
            back = np.array([np.sort(p0[groups[i]] - p1[groups[i]], axis=0)[(groups[i].stop - groups[i].start) // 2]
                             for i in near], np.float32)
            p0r, st2 = self._guided(cur_pyr, prev_pyr, p1[index], sub, back, finest[near], refine_only=True)
            good = st1.copy()
            good[index] &= st2 & (np.square(p0[index] - p0r).sum(axis=1) < self.max_fb_error ** 2)
        out = self._fit(p0, p1, good, bounds)
        # a face most of whose points did not agree (a part hidden, a wrong start, blur): the
        # guides may have led its points astray together, so it is followed the full way, each
        # point on every level, forwards and back, and gets that answer (the one the guides and
        # the one-way check only shortcut)
        doubtful = [i for i, (m, agreed) in enumerate(out) if counts[i] and (m is None or agreed < self.SURE * counts[i])]
        if doubtful:
            again = self._all_points(prev_pyr, cur_pyr, [point_sets[i] for i in doubtful],
                                     None if shifts is None else [shifts[i] for i in doubtful])
            for i, result in zip(doubtful, again):
                out[i] = result
        return out

    @staticmethod
    def _overlapping(p0: np.ndarray, p1: np.ndarray, groups: list[slice]) -> list[int]:
        """Groups (faces) whose points, before or after the move, share ground with another's."""
        if len(groups) < 2:
            return []
        starts = np.array([g.start for g in groups])
        low = np.minimum(np.minimum.reduceat(p0, starts), np.minimum.reduceat(p1, starts)).tolist()
        high = np.maximum(np.maximum.reduceat(p0, starts), np.maximum.reduceat(p1, starts)).tolist()
        return [i for i in range(len(groups)) if any(
            j != i and low[i][0] <= high[j][0] and low[j][0] <= high[i][0] and low[i][1] <= high[j][1]
            and low[j][1] <= high[i][1] for j in range(len(groups)))]

    def _all_points(self, prev_pyr: list[np.ndarray], cur_pyr: list[np.ndarray], point_sets: list[np.ndarray],
                    shifts: list[np.ndarray] | None) -> list[tuple[np.ndarray | None, int]]:
        """`predict_counted` with every point on every level down to full size (`_track`)."""
        counts = [len(p) for p in point_sets]
        bounds = list(itertools.accumulate(counts, initial=0))
        groups = [slice(a, b) for a, b, n in zip(bounds[:-1], bounds[1:], counts) if n]
        if not groups:
            return [(None, 0)] * len(point_sets)
        p0 = np.concatenate(point_sets).reshape(-1, 2).astype(np.float32, copy=False)
        ahead = None if shifts is None else np.repeat(
            np.array([np.asarray(d, np.float32).reshape(2) for d in shifts], np.float32), counts, axis=0)
        p1, st1 = self._track(prev_pyr, cur_pyr, p0, groups, ahead)
        p0r, st2 = self._track(cur_pyr, prev_pyr, p1, groups, None if ahead is None else -ahead)
        return self._fit(p0, p1, st1 & st2 & (np.square(p0 - p0r).sum(axis=1) < self.max_fb_error ** 2), bounds)

    def _fit(self, p0: np.ndarray, p1: np.ndarray, good: np.ndarray,
             bounds: list[int]) -> list[tuple[np.ndarray | None, int]]:
        """Per point set (bounds: where each starts in p0/p1), its similarity and inlier count."""
        out: list[tuple[np.ndarray | None, int]] = []
        for a, b in zip(bounds[:-1], bounds[1:]):
            sl = slice(a, b)
            g = good[sl]
            kept = int(np.count_nonzero(g))
            if kept < self.min_points:
                out.append((None, kept))
                continue
            src, dst = p0[sl][g], p1[sl][g]
            # RANSAC picks the inliers; a closed-form least-squares fit on them replaces OpenCV's
            # iterative refinement (the same model; the refinement was 0.05 of 0.055 ms per face)
            matrix, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=2.0,
                                                          refineIters=0)
            agreed = 0 if inliers is None else int(np.count_nonzero(inliers))  # a 0/1 mask
            if matrix is None or agreed < self.min_points:
                out.append((None, agreed))
                continue
            chosen = inliers.ravel() != 0
            out.append((fit_similarity(src[chosen], dst[chosen]), agreed))
        return out

    def finest_levels(self, points: np.ndarray, groups: list[slice], top: int) -> np.ndarray:
        """Per group (face), the finest pyramid level its points still span `detail` px on."""
        if self.detail <= 0:
            return np.zeros(len(groups), int)
        starts = np.array([g.start for g in groups])
        extent = np.maximum.reduceat(points, starts) - np.minimum.reduceat(points, starts)
        size = np.sqrt(np.maximum(extent[:, 0], 1.0) * np.maximum(extent[:, 1], 1.0))
        return np.minimum(np.maximum(np.floor(np.log2(size / self.detail)), 0), top).astype(int)  # np.clip's

    def _track(self, src: list[np.ndarray], dst: list[np.ndarray], points: np.ndarray,
               groups: list[slice], ahead: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """LK coarse to fine from `src` to `dst`: (N, 2) positions and (N,) bool status.

        Each group (one face) is tracked inside the bounding box of its points and their current
        guess, grown by the window plus some room for the iterations to wander: pixels beyond
        it never enter that face's windows, so the result is OpenCV's full-frame one. Where the
        faces' regions cover most of their union (close faces, coarse levels), one call on the
        union costs less than one per face."""
        top = min(len(src), len(dst)) - 1
        half = self.lk["winSize"][0] // 2 + 8
        starts = np.array([g.start for g in groups])
        guess = (points if ahead is None else points + ahead) / np.float32(2 ** top)
        status = np.zeros(len(points), bool)
        for level in range(top, -1, -1):
            if level < top:
                guess *= 2
            scaled = points / np.float32(2 ** level)
            h, w = src[level].shape[:2]
            # every group's box in one go (groups are consecutive slices of `points`)
            low = np.minimum(np.minimum.reduceat(scaled, starts), np.minimum.reduceat(guess, starts))
            high = np.maximum(np.maximum.reduceat(scaled, starts), np.maximum.reduceat(guess, starts))
            boxes = np.concatenate([np.maximum(np.floor(low).astype(int) - half, 0),
                                    np.minimum(np.ceil(high).astype(int) + half + 1, (w, h))], axis=1)
            regions = list(zip(groups, boxes.tolist()))
            union = (*boxes[:, :2].min(axis=0), *boxes[:, 2:].max(axis=0))
            area = np.clip(boxes[:, 2:] - boxes[:, :2], 0, None).prod(axis=1).sum()
            if len(regions) > 1 and (union[2] - union[0]) * (union[3] - union[1]) <= 1.5 * area:
                regions = [(slice(0, len(points)), list(union))]
            for group, (x0, y0, x1, y1) in regions:
                if x1 <= x0 or y1 <= y0:  # the whole face went off the frame
                    continue
                offset = np.float32([x0, y0])
                moved, st, _ = cv2.calcOpticalFlowPyrLK(
                    src[level][y0:y1, x0:x1], dst[level][y0:y1, x0:x1], (scaled[group] - offset).reshape(-1, 1, 2),
                    (guess[group] - offset).reshape(-1, 1, 2), winSize=self.lk["winSize"], maxLevel=0,
                    criteria=self.lk["criteria"], flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
                guess[group] = moved.reshape(-1, 2) + offset
                if level == 0:  # OpenCV only drops points at the finest level; above it they keep their guess
                    status[group] = st.ravel() == 1
        return guess, status

    def _guided(self, src: list[np.ndarray], dst: list[np.ndarray], points: np.ndarray, groups: list[slice],
                shift: np.ndarray, finest: np.ndarray, refine_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """LK coarse to fine from `src` to `dst`, each face (group) stopping at its `finest` level:
        (N, 2) full-size positions and (N,) bool status (from that level).

        Above its finest level a face is small and its points' windows overlap, so only `GUIDES`
        of them are followed there; their median shift starts every point of the face on the
        next level. On the finest level each point is refined on its own, as in `_track`, on the
        face's region (and one call on the union of regions where joining adds fewer pixels
        than a call costs). shift: per group, the (dx, dy) where the search starts (full size).
        refine_only: the finest levels alone, from `shift` (the way back of a move already found)."""
        top = min(len(src), len(dst)) - 1
        finest = np.minimum(finest, top).tolist()
        half = self.lk["winSize"][0] // 2 + 8
        every = [np.arange(g.start, g.stop) for g in groups]
        guides = [e if len(e) <= self.GUIDES else e[(np.arange(self.GUIDES) * (len(e) - 1)) // (self.GUIDES - 1)]
                  for e in every]
        starts = np.array([g.start for g in groups])
        # per-face bounds and shifts as Python numbers: a handful of faces, where numpy's per-call
        # cost would be most of the work
        lows, highs = np.minimum.reduceat(points, starts).tolist(), np.maximum.reduceat(points, starts).tolist()
        shift = (np.asarray(shift, np.float32).reshape(-1, 2) / np.float32(2 ** top)).tolist()
        out = points.copy()
        status = np.zeros(len(points), bool)
        for level in range(top, -1, -1):
            if level < top:
                shift = [[2 * dx, 2 * dy] for dx, dy in shift]
            # a face's guides go on the top level (the reach) and from two levels above its finest
            # up: the level just above the finest adds nothing the finest does not find from a start
            # two levels up (a half-pixel error there is 2 px on the finest, well inside the window)
            active = [m for m, f in enumerate(finest)
                      if f == level or (not refine_only and (f + 2 <= level or level == top))]
            if not active:
                continue
            k = 2.0 ** level
            h, w = src[level].shape[:2]
            regions = []
            for m in active:
                (lx, ly), (hx, hy), (dx, dy) = lows[m], highs[m], shift[m]
                regions.append(([m], [max(math.floor(lx / k + min(dx, 0.0)) - half, 0),
                                      max(math.floor(ly / k + min(dy, 0.0)) - half, 0),
                                      min(math.ceil(hx / k + max(dx, 0.0)) + half + 1, w),
                                      min(math.ceil(hy / k + max(dy, 0.0)) + half + 1, h)]))
            if len(regions) > 1:
                boxes = [box for _, box in regions]
                union = [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
                         max(b[3] for b in boxes)]
                area = sum(max(b[2] - b[0], 0) * max(b[3] - b[1], 0) for b in boxes)
                joined = (union[2] - union[0]) * (union[3] - union[1])
                if joined <= 1.5 * area or joined - area <= (len(regions) - 1) * self.CALL_PIXELS:
                    regions = [(active, union)]
            for ms, (x0, y0, x1, y1) in regions:
                if x1 <= x0 or y1 <= y0:  # the whole face went off the frame
                    continue
                parts = [every[m] if finest[m] == level else guides[m] for m in ms]
                index = parts[0] if len(parts) == 1 else np.concatenate(parts)
                # (on full size, scaling by 1 is left out: the same numbers)
                start = (points[index] if level == 0 else points[index] / np.float32(k)) - np.float32([x0, y0])
                if len(ms) == 1:
                    initial = start + np.float32(shift[ms[0]])
                else:
                    initial = start + np.repeat(np.float32([shift[m] for m in ms]), [len(q) for q in parts], axis=0)
                got, st, _ = cv2.calcOpticalFlowPyrLK(src[level][y0:y1, x0:x1], dst[level][y0:y1, x0:x1],
                                                      start.reshape(-1, 1, 2), initial.reshape(-1, 1, 2),
                                                      winSize=self.lk["winSize"], maxLevel=0,
                                                      criteria=self.lk["criteria"], flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
                step = got.reshape(-1, 2) - start
                ok = st.ravel() == 1
                at = 0
                for m, part in zip(ms, parts):
                    n = len(part)
                    if finest[m] == level:
                        out[part] = points[part] + (step[at:at + n] if level == 0 else step[at:at + n] * np.float32(k))
                        status[part] = ok[at:at + n]
                    else:
                        shift[m] = np.sort(step[at:at + n], axis=0)[n // 2].tolist()
                    at += n
        return out, status
