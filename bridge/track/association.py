"""Which detection belongs to which track: a cost matrix and one-to-one assignment.

Motion decides first: the overlap of each track's flow-predicted box with each detection and
the distance between their keypoints (in face sizes). Where motion cannot tell two candidates
apart (a near-tie in a row or a column: faces close together, crossing), appearance is added:
the cosine distance between the detection's embedding and the track's gallery, with a gate
below which the pair is forbidden. Hungarian assignment (scipy) then picks the pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from bridge.faces.boxes import iou_matrix
from bridge.types import Face

FORBIDDEN = 1e6


def face_size(box: np.ndarray) -> float:
    """Geometric-mean side of a box (≥ 1 px)."""
    return float(max(1.0, np.sqrt(max(box[2] - box[0], 1.0) * max(box[3] - box[1], 1.0))))


def covered(box: np.ndarray, others: np.ndarray) -> float:
    """Largest fraction of `box` that any one of `others` (N, 4) covers."""
    if len(others) == 0:
        return 0.0
    # np.maximum(·, 0): np.clip's numbers without its Python wrapper (a few µs a call, many calls a frame)
    ix = np.maximum(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0)
    iy = np.maximum(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0)
    area = max(1.0, float((box[2] - box[0]) * (box[3] - box[1])))
    return float((ix * iy).max()) / area


def covered_together(box: np.ndarray, others: np.ndarray, grid: int = 16) -> float:
    """Fraction of `box` that `others` (N, 4) cover between them (on a grid of sample points)."""
    if len(others) == 0:
        return 0.0
    t = (np.arange(grid, dtype=np.float32) + 0.5) / grid
    xs, ys = np.meshgrid(box[0] + t * (box[2] - box[0]), box[1] + t * (box[3] - box[1]))
    x, y = xs.ravel()[:, None], ys.ravel()[:, None]
    inside = (x >= others[:, 0]) & (x <= others[:, 2]) & (y >= others[:, 1]) & (y <= others[:, 3])
    return float(inside.any(axis=1).mean())


@dataclass
class Gates:
    """iou_gate: least overlap between a prediction and a detection to match them.
        Lower: follows faster/erratic moves; higher: fewer wrong matches in crowds.
    keypoint_gate: largest mean keypoint (or centre) distance, in face sizes, to match.
    ambiguity_margin: when the best and second-best motion costs differ by less than this,
        appearance decides. Higher: more embeddings, fewer swaps.
    appearance_gate: least gallery similarity to accept an appearance-checked match.
    appearance_weight: weight of (1 − similarity) in the cost where appearance is used.
    """

    iou_gate: float = 0.1
    keypoint_gate: float = 0.8
    ambiguity_margin: float = 0.3
    appearance_gate: float = 0.3
    appearance_weight: float = 2.0


def motion_cost(predicted: list[Face], faces: list[Face], gates: Gates) -> np.ndarray:
    """(tracks × detections) cost: (1 − IoU) + keypoint distance; FORBIDDEN outside the gates."""
    cost = np.full((len(predicted), len(faces)), FORBIDDEN)
    if not predicted or not faces:
        return cost
    boxes_p = np.array([p.box for p in predicted], np.float32)
    boxes_d = np.array([f.box for f in faces], np.float32)
    iou = iou_matrix(boxes_p, boxes_d)
    sizes = np.array([face_size(b) for b in boxes_p], np.float32)[:, None]
    centres_p = (boxes_p[:, :2] + boxes_p[:, 2:]) / 2
    centres_d = (boxes_d[:, :2] + boxes_d[:, 2:]) / 2
    dist = np.linalg.norm(centres_p[:, None] - centres_d[None], axis=2)
    have_p = [p.kps5 is not None for p in predicted]
    have_d = [f.kps5 is not None for f in faces]
    if any(have_p) and any(have_d):  # keypoints where both sides have them, centres elsewhere
        kp_p = np.stack([np.asarray(p.kps5, np.float32) if p.kps5 is not None else np.zeros((5, 2), np.float32)
                         for p in predicted])
        kp_d = np.stack([np.asarray(f.kps5, np.float32) if f.kps5 is not None else np.zeros((5, 2), np.float32)
                         for f in faces])
        kp = np.linalg.norm(kp_p[:, None] - kp_d[None], axis=3).mean(axis=2)
        both = np.array(have_p)[:, None] & np.array(have_d)[None]
        dist = np.where(both, kp, dist)
    dist = dist / sizes
    ok = (iou >= gates.iou_gate) & (dist <= gates.keypoint_gate)
    cost[ok] = (1.0 - iou[ok]) + dist[ok]
    return cost


def ambiguous(cost: np.ndarray, margin: float) -> set[int]:
    """Detections whose match motion cannot settle: a near-tie in their column or their row."""
    out: set[int] = set()
    ok = cost < FORBIDDEN
    for j in range(cost.shape[1]):
        col = np.sort(cost[ok[:, j], j])
        if len(col) >= 2 and col[1] - col[0] < margin:
            out.add(j)
    for i in range(cost.shape[0]):
        js = np.nonzero(ok[i])[0]
        if len(js) >= 2:
            order = js[np.argsort(cost[i, js])]
            if cost[i, order[1]] - cost[i, order[0]] < margin:
                out.update(int(j) for j in order[:2])
    return out


def add_appearance(cost: np.ndarray, similarity: np.ndarray, columns: set[int], gates: Gates) -> np.ndarray:
    """Cost with appearance in the given detection columns. `similarity` (tracks × detections) is
    NaN where a side has no embedding (the motion cost stands)."""
    out = cost.copy()
    for j in columns:
        for i in range(cost.shape[0]):
            s = similarity[i, j]
            if out[i, j] >= FORBIDDEN or np.isnan(s):
                continue
            out[i, j] = FORBIDDEN if s < gates.appearance_gate else out[i, j] + gates.appearance_weight * (1.0 - s)
    return out


def assign(cost: np.ndarray) -> list[tuple[int, int]]:
    """One-to-one (track, detection) pairs of least total cost, none through a FORBIDDEN cell."""
    if cost.size == 0:
        return []
    rows, cols = linear_sum_assignment(np.minimum(cost, FORBIDDEN))
    return [(int(r), int(c)) for r, c in zip(rows, cols) if cost[r, c] < FORBIDDEN]


def takeovers(boxes_t: np.ndarray, boxes_d: np.ndarray, min_iou: float = 0.3) -> list[tuple[int, int]]:
    """(track, detection) pairs where a detection overlaps a track the motion gates let go: the
    track has drifted or lagged, but that face is its face (one face never gets two tracks)."""
    if len(boxes_t) == 0 or len(boxes_d) == 0:
        return []
    iou = iou_matrix(boxes_t, boxes_d)
    return assign(np.where(iou >= min_iou, 1.0 - iou, FORBIDDEN))


def duplicates(boxes: np.ndarray, detected: list[bool], first_seen: list[float],
               iou: np.ndarray | None = None, in_front: list[bool] | None = None) -> list[int]:
    """Indices of shown tracks to end because another track has their face. Two tracks detected
    on this frame are two faces (the detector's NMS has spoken; one may be half behind the
    other), so only a track not confirmed by a detection goes: when it overlaps another by IoU
    ≥ 0.5 (of two coasting ones, the younger), or when a detected face covers most of it (a
    fragment that drifted onto, or was cut from, a face that has its own track). iou: the boxes'
    iou_matrix with themselves, when the caller has it. in_front: tracks whose face was judged
    in front of the detected face whose box covers it (the box is the face behind, or one over
    both: neither test tells a duplicate there)."""
    iou = iou_matrix(boxes, boxes) if iou is None else iou
    dropped: set[int] = set()
    for a in range(len(boxes)):
        for b in range(a + 1, len(boxes)):
            if a in dropped or b in dropped:
                continue
            keep, drop = sorted((a, b), key=lambda k: (not detected[k], first_seen[k]))
            if detected[drop] or (in_front and in_front[drop]):
                continue
            if iou[a, b] >= 0.5 or (detected[keep] and covered(boxes[drop], boxes[keep][None]) >= 0.5):
                dropped.add(drop)
    return sorted(dropped)
