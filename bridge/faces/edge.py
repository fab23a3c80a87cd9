"""Faces cut by the frame's edge: the detector keeps them at a lower score (a face walking in
scores 0.07-0.62 on the identity suite's entries until it is whole, under the usual 0.7), and
this keeps only those the landmarker is sure are a face. Background at the edge that scores
that low is rarely shaped like a face to the landmarker; a face walking in mostly is."""

from __future__ import annotations

import numpy as np

from bridge.faces.boxes import centres_inside
from bridge.faces.detect import at_frame_edge
from bridge.types import Face


def detect_frame(detector: object, image: np.ndarray) -> list[Face]:
    """The detector on a whole frame, with its low boxes at the edge where it has them."""
    if getattr(detector, "edge_threshold", None) is not None:
        return detector.detect(image, edges=True)  # type: ignore[attr-defined]
    return detector.detect(image)  # type: ignore[attr-defined]


SURE = 0.9  # least landmark score of a low-scoring box at the edge


def sure_at_edge(faces: list[Face], shape: tuple[int, ...], threshold: float, sure: float = SURE,
                 followed: np.ndarray | None = None) -> tuple[list[Face], list[Face]]:
    """(`faces` less those under `threshold` that are not at the frame's edge with sure landmarks,
    the low faces at the edge left out for unsure landmarks). Only a face arriving: a low box
    whose centre lies in a `followed` box (N, 4: a face followed or just lost, maybe leaving,
    smeared by its speed) is left out, as before. A crop's own edge is no frame edge, so a
    tile's or a look-again crop's low boxes are left out too (and not counted as doubted)."""
    low = [f.score < threshold for f in faces]
    if not any(low):
        return faces, []
    boxes = np.array([f.box for f in faces], np.float32)
    edge = at_frame_edge(boxes, shape)
    if followed is not None:
        edge = edge & ~centres_inside(boxes, followed)
    kept = [f for f, lo, e in zip(faces, low, edge) if not lo or (e and f.landmark_score >= sure)]
    doubted = [f for f, lo, e in zip(faces, low, edge) if lo and e and f.landmark_score < sure]
    return kept, doubted
