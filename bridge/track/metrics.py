"""Tracking quality: CLEAR MOT (MOTA, ID switches) and identity scores (IDF1), plus jitter.

Small implementations of the published definitions (Bernardin & Stiefelhagen 2008 for CLEAR
MOT; Ristani et al. 2016 for IDF1), because motmetrics does not run on NumPy 2.
A frame is a pair (ids, boxes): ids (N,) ints, boxes (N, 4) x0, y0, x1, y1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from bridge.faces.boxes import iou_matrix

FrameBoxes = tuple[Sequence[int], np.ndarray]


@dataclass(frozen=True)
class ClearMot:
    mota: float
    id_switches: int
    false_positives: int
    misses: int
    matches: int
    ground_truth: int


@dataclass(frozen=True)
class IdentityScores:
    idf1: float
    idp: float
    idr: float
    idtp: int
    idfp: int
    idfn: int


def clear_mot(truth: Sequence[FrameBoxes], hypothesis: Sequence[FrameBoxes], iou_threshold: float = 0.5) -> ClearMot:
    """MOTA = 1 − (misses + false positives + ID switches) / ground-truth boxes.

    Per frame, a correspondence from the previous frame is kept while its IoU still passes;
    the rest are matched by Hungarian on 1 − IoU. An ID switch is a truth object matched to a
    hypothesis id other than the one it was last matched to.
    """
    if len(truth) != len(hypothesis):
        raise ValueError(f"clear_mot: {len(truth)} truth frames but {len(hypothesis)} hypothesis frames")
    last_match: dict[int, int] = {}  # truth id -> hypothesis id it was last matched to
    current: dict[int, int] = {}
    switches = fps = misses = matches = gt_total = 0
    for (t_ids, t_boxes), (h_ids, h_boxes) in zip(truth, hypothesis):
        t_ids, h_ids = list(t_ids), list(h_ids)
        gt_total += len(t_ids)
        iou = iou_matrix(t_boxes, h_boxes)
        pairs: dict[int, int] = {}
        used_t: set[int] = set()
        used_h: set[int] = set()
        for ti, tid in enumerate(t_ids):  # keep last frame's correspondences that still overlap
            hid = current.get(tid)
            if hid is not None and hid in h_ids:
                hi = h_ids.index(hid)
                if hi not in used_h and iou[ti, hi] >= iou_threshold:
                    pairs[ti] = hi
                    used_t.add(ti)
                    used_h.add(hi)
        free_t = [i for i in range(len(t_ids)) if i not in used_t]
        free_h = [j for j in range(len(h_ids)) if j not in used_h]
        if free_t and free_h:
            sub = iou[np.ix_(free_t, free_h)]
            rows, cols = linear_sum_assignment(-sub)
            for r, c in zip(rows, cols):
                if sub[r, c] >= iou_threshold:
                    pairs[free_t[r]] = free_h[c]
        new_current: dict[int, int] = {}
        for ti, hi in pairs.items():
            tid, hid = t_ids[ti], h_ids[hi]
            if tid in last_match and last_match[tid] != hid:
                switches += 1
            last_match[tid] = hid
            new_current[tid] = hid
        current = new_current
        matches += len(pairs)
        misses += len(t_ids) - len(pairs)
        fps += len(h_ids) - len(pairs)
    mota = 1.0 - (misses + fps + switches) / gt_total if gt_total else 1.0
    return ClearMot(mota, switches, fps, misses, matches, gt_total)


def identity_scores(truth: Sequence[FrameBoxes], hypothesis: Sequence[FrameBoxes], iou_threshold: float = 0.5) -> IdentityScores:
    """IDF1: truth and hypothesis trajectories matched one-to-one for the whole clip so that
    the frames they share (IoU ≥ threshold) are as many as possible; IDTP is that count."""
    if len(truth) != len(hypothesis):
        raise ValueError(f"identity_scores: {len(truth)} truth frames but {len(hypothesis)} hypothesis frames")
    t_index: dict[int, int] = {}
    h_index: dict[int, int] = {}
    shared: dict[tuple[int, int], int] = {}
    n_truth = n_hyp = 0
    for (t_ids, t_boxes), (h_ids, h_boxes) in zip(truth, hypothesis):
        n_truth += len(t_ids)
        n_hyp += len(h_ids)
        for tid in t_ids:
            t_index.setdefault(int(tid), len(t_index))
        for hid in h_ids:
            h_index.setdefault(int(hid), len(h_index))
        iou = iou_matrix(t_boxes, h_boxes)
        for ti, hi in zip(*np.nonzero(iou >= iou_threshold)):
            key = (t_index[int(t_ids[ti])], h_index[int(h_ids[hi])])
            shared[key] = shared.get(key, 0) + 1
    idtp = 0
    if t_index and h_index:
        counts = np.zeros((len(t_index), len(h_index)))
        for (ti, hi), n in shared.items():
            counts[ti, hi] = n
        rows, cols = linear_sum_assignment(-counts)
        idtp = int(counts[rows, cols].sum())
    idfp, idfn = n_hyp - idtp, n_truth - idtp
    denom = 2 * idtp + idfp + idfn
    return IdentityScores(
        idf1=2 * idtp / denom if denom else 1.0,
        idp=idtp / n_hyp if n_hyp else 1.0,
        idr=idtp / n_truth if n_truth else 1.0,
        idtp=idtp, idfp=idfp, idfn=idfn,
    )


def keypoint_jitter(points: np.ndarray) -> float:
    """Jitter of a still face: mean over keypoints of the RMS distance from their mean position.

    points: (T, K, 2) positions of K keypoints over T frames.
    """
    pts = np.asarray(points, np.float64)
    if pts.ndim != 3 or pts.shape[0] < 2:
        raise ValueError("keypoint_jitter: need (T >= 2, K, 2) points")
    dev = pts - pts.mean(axis=0, keepdims=True)
    return float(np.sqrt((dev ** 2).sum(axis=2).mean(axis=0)).mean())
