"""What the tracker keeps about one track (the public `Track` is its snapshot)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bridge.track.gallery import Gallery
from bridge.track.smooth import OneEuroFilter
from bridge.types import Face


@dataclass
class Entry:
    """Everything the tracker keeps about one track (the public `Track` is a snapshot)."""

    id: int
    face: Face  # smoothed, as shown
    raw: Face  # last measurement (detection or flow-moved), unsmoothed
    first_seen: float
    last_seen: float
    last_detected: float
    gallery: Gallery
    last_embedded: float = -1e9
    visible: bool = True
    state: str = "detected"
    age: int = 0
    misses: int = 0
    points: np.ndarray | None = None  # flow points seeded on the last frame
    reference: np.ndarray | None = None  # face patch at the last detection (evidence)
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))  # box centre, px/s
    kps_filter: OneEuroFilter = field(default_factory=OneEuroFilter)
    box_filter: OneEuroFilter = field(default_factory=OneEuroFilter)
    lm_filter: OneEuroFilter = field(default_factory=OneEuroFilter)
    reidentified: int = 0
    hits: int = 0  # detections matched to it
    near: bool = False  # its box touches another track's (a crossing: ids may swap)
    crossed: bool = False  # has been near someone since its last embedding: re-check once apart
    embedded: int = 0  # embeddings taken of this track's face
    tentative: bool = False  # revived on a weak embedding: its next good crop confirms or splits it
    lost_at: float = 0.0  # when it was lost before a tentative revival (restored if the revival is undone)
    revived_at: float = -1e9
    doubt: np.ndarray | None = None  # a young track's good crop unlike its gallery (a second like it outvotes the gallery)
    guessed: int = 0  # frames in a row shown on its velocity alone (flow failed on a fast face)
    lost_why: str = ""  # why it was last stopped (evidence.py's reasons, "occluded", ...)
    confirmed: bool = False  # a detection of it was surely a face (landmarks), or it was detected often: drawn
    detected_box: np.ndarray | None = None  # box of its last sure detection (coasting may have drifted since)
    detected_at: float = -1e9
    detected_velocity: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))  # its velocity then
    sure_before: tuple[np.ndarray | None, float, np.ndarray] | None = None  # the three above before the last sure match
    doubted: tuple[np.ndarray, float] | None = None  # (box, when) flow last put it at, its look disagreeing
    sure_centres: list[tuple[float, np.ndarray]] = field(default_factory=list)  # (time, box centre) of recent sure detections
    pressed: bool = False  # every crop its gallery learnt showed its face pressed against another's (see _pressed)
    slid: bool = False  # fast, matched by motion to a box over two faces since its last good crop: re-checked until its next good crop
    learnt_fast: bool = False  # its gallery holds a crop learnt while the face moved fast (smeared, even where the gate passes it)
    blur_lost: bool = False  # taken back tentatively after its motion blur lost it, known by smeared crops (learnt_fast)
    dragged: bool = False  # coasting, its flow points on the face its box touches, its own face gone (_dragged): not drawn
    in_front: bool = False  # missed by the detector's last run inside a detected face's box, but in front of it (_in_front)
    handed_back: bool = False  # its last followed box was another person's face, handed back (_hand_over)

    def restart_smoothing(self) -> None:
        for f in (self.kps_filter, self.box_filter, self.lm_filter):
            f.reset()  # no smear from where the person was last seen
