"""Optical-flow keypoint prediction: where a face moved between two frames.

Pyramidal Lucas–Kanade (cv2.calcOpticalFlowPyrLK) follows the face's five keypoints plus a few
corner features inside its box from the previous grey frame to the current one; points that
do not come back to where they started (forward–backward check) are dropped, and a similarity
transform (shift, scale, rotation) fitted to the rest moves the box and every landmark.

Cost: cv2.calcOpticalFlowPyrLK on whole frames rebuilds both frames' pyramids and derivatives
on every call (and Python cannot hand it a prebuilt pyramid). So the pyramid of each frame is
built once (`pyramid`) and kept for the next frame, and LK runs one level at a time, coarse to
fine, on each face's own small region of that level (`maxLevel=0` with the coarser level's
result as the initial flow): the same iterations as OpenCV's own coarse-to-fine loop, on a
fraction of the pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from bridge.faces.align import transform_points
from bridge.types import Face


def fit_similarity(source: np.ndarray, destination: np.ndarray) -> np.ndarray:
    """The 2×3 similarity (shift, scale, rotation) that moves `source` onto `destination` with the
    least squared error (closed form; both (N, 2), N ≥ 2)."""
    src = np.asarray(source, np.float64)
    dst = np.asarray(destination, np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    s, d = src - src_mean, dst - dst_mean
    norm = float((s * s).sum())
    if norm < 1e-12:  # every point in one place: a shift is all that can be told
        return np.float32([[1, 0, dst_mean[0] - src_mean[0]], [0, 1, dst_mean[1] - src_mean[1]]])
    a = float((s * d).sum()) / norm
    b = float((s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum()) / norm
    linear = np.array([[a, -b], [b, a]])
    return np.concatenate([linear, (dst_mean - linear @ src_mean)[:, None]], axis=1).astype(np.float32)


def warp_box(matrix: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Move a box by a similarity transform: centre mapped, size scaled (stays axis-aligned)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    centre = transform_points(np.array([[(x0 + x1) / 2, (y0 + y1) / 2]]), matrix)[0]
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    half_w, half_h = (x1 - x0) * scale / 2, (y1 - y0) * scale / 2
    return np.array([centre[0] - half_w, centre[1] - half_h, centre[0] + half_w, centre[1] + half_h], np.float32)


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
    """

    HALF_SIZE_SEED = 64  # inner boxes at least this many pixels across seek corners at half size

    def __init__(self, win_size: int = 21, max_level: int = 3, max_fb_error: float = 1.5,
                 min_points: int = 4, features: int = 16) -> None:
        self.lk = dict(winSize=(win_size, win_size), maxLevel=max_level,
                       criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03))
        self.max_fb_error = max_fb_error
        self.min_points = max(min_points, 2)
        self.features = features

    def seed(self, frame: np.ndarray | list[np.ndarray], face: Face) -> np.ndarray:
        """Points to follow for one face: its kps5 (if any) and corners inside the inner box.

        frame: the grey frame or its `pyramid`. With a pyramid, a large face's corners are sought
        on the half-size level (a quarter of the pixels); LK follows them at full size all the same.
        """
        levels = [frame] if isinstance(frame, np.ndarray) else frame
        h, w = levels[0].shape[:2]
        x0, y0, x1, y1 = face.box
        # inner 70 % of the box: the face, not the background behind it
        mx, my = (x1 - x0) * 0.15, (y1 - y0) * 0.15
        ix0, iy0 = int(max(0, x0 + mx)), int(max(0, y0 + my))
        ix1, iy1 = int(min(w, x1 - mx)), int(min(h, y1 - my))
        points = [] if face.kps5 is None else [np.asarray(face.kps5, np.float32).reshape(-1, 2)]
        if ix1 - ix0 >= 8 and iy1 - iy0 >= 8 and self.features > 0:
            level = 1 if len(levels) > 1 and min(ix1 - ix0, iy1 - iy0) >= self.HALF_SIZE_SEED else 0
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
        return np.concatenate(points).astype(np.float32)

    def seed_apart(self, frame: np.ndarray | list[np.ndarray], face: Face, others: list[np.ndarray]) -> np.ndarray:
        """`seed`, leaving out points inside other faces' boxes: where two faces overlap, a point
        may belong to either, and the one in front would drag the other (kept all the same when
        too few would remain)."""
        points = self.seed(frame, face)
        boxes = np.array(others, np.float32).reshape(-1, 4)
        if len(points) == 0 or len(boxes) == 0:
            return points
        inside = ((points[:, None, 0] >= boxes[None, :, 0]) & (points[:, None, 0] <= boxes[None, :, 2])
                  & (points[:, None, 1] >= boxes[None, :, 1]) & (points[:, None, 1] <= boxes[None, :, 3])).any(1)
        kept = points[~inside]
        return kept if len(kept) >= self.min_points else points

    def pyramid(self, gray: np.ndarray) -> list[np.ndarray]:
        """The frame's LK pyramid (level 0 is `gray`), with the levels cv2.buildOpticalFlowPyramid
        would make: halving stops before a level gets no larger than the window."""
        levels = [gray]
        win_w, win_h = self.lk["winSize"]
        for _ in range(self.lk["maxLevel"]):
            h, w = levels[-1].shape[:2]
            if (w + 1) // 2 <= win_w or (h + 1) // 2 <= win_h:
                break
            levels.append(cv2.pyrDown(levels[-1]))
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
        bounds = np.cumsum([0] + counts)
        groups = [slice(int(a), int(b)) for a, b, n in zip(bounds[:-1], bounds[1:], counts) if n]
        p0 = np.concatenate(point_sets).reshape(-1, 2).astype(np.float32)
        ahead = None
        if shifts is not None:
            ahead = np.concatenate([np.tile(np.asarray(d, np.float32).reshape(1, 2), (n, 1))
                                    for d, n in zip(shifts, counts)]).astype(np.float32)
        p1, st1 = self._track(prev_pyr, cur_pyr, p0, groups, ahead)
        p0r, st2 = self._track(cur_pyr, prev_pyr, p1, groups, None if ahead is None else -ahead)
        fb = np.linalg.norm(p0 - p0r, axis=1)
        good = st1 & st2 & (fb < self.max_fb_error)
        out: list[tuple[np.ndarray | None, int]] = []
        for sl in (slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])):
            g = good[sl]
            if g.sum() < self.min_points:
                out.append((None, int(g.sum())))
                continue
            src, dst = p0[sl][g], p1[sl][g]
            # RANSAC picks the inliers; a closed-form least-squares fit on them replaces OpenCV's
            # iterative refinement (the same model; the refinement was 0.05 of 0.055 ms per face)
            matrix, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=2.0,
                                                          refineIters=0)
            agreed = 0 if inliers is None else int(inliers.sum())
            if matrix is None or agreed < self.min_points:
                out.append((None, agreed))
                continue
            chosen = inliers.ravel().astype(bool)
            out.append((fit_similarity(src[chosen], dst[chosen]), agreed))
        return out

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
