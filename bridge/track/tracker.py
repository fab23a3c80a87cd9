"""Stable face identities: association of detections to tracks.

Per frame: LK flow moves every visible track's box and keypoints from the last frame
(flow.py); detections are matched one-to-one to those predictions (Hungarian, scipy) on a
cost of box overlap and keypoint distance, with appearance (cosine distance of recogniser
embeddings against each track's gallery) added only where motion alone is ambiguous.
Unmatched tracks coast on the flow; unmatched detections are compared against recently
lost tracks (re-identification) before they become new tracks.
Embeddings are asked for sparingly: new faces, ambiguous matches, and a periodic re-check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from bridge.track.flow import KeypointFlow, warp_face
from bridge.track.metrics import iou_matrix
from bridge.track.smooth import OneEuroFilter
from bridge.types import Face, Track

EmbedFn = Callable[[np.ndarray, list[Face]], list[np.ndarray]]
"""(image BGR, faces) → one L2-normalised embedding per face."""

_FORBIDDEN = 1e6


def _normalise(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float32).ravel()
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def _size(box: np.ndarray) -> float:
    return float(max(1.0, np.sqrt(max(box[2] - box[0], 1.0) * max(box[3] - box[1], 1.0))))


def _covered(box: np.ndarray, others: np.ndarray) -> float:
    """Largest fraction of `box` that any one of `others` covers."""
    ix = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    area = max(1.0, float((box[2] - box[0]) * (box[3] - box[1])))
    return float((ix * iy).max()) / area


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float32)


@dataclass
class _Entry:
    """Everything the tracker keeps about one track (the public `Track` is a snapshot)."""

    id: int
    face: Face  # smoothed, as shown
    raw: Face  # last measurement (detection or flow-moved), unsmoothed
    first_seen: float
    last_seen: float
    last_detected: float
    gallery: np.ndarray | None = None
    last_embedded: float = -1e9
    visible: bool = True
    state: str = "detected"
    age: int = 0
    misses: int = 0
    points: np.ndarray | None = None  # flow points seeded on the last frame
    kps_filter: OneEuroFilter = field(default_factory=OneEuroFilter)
    box_filter: OneEuroFilter = field(default_factory=OneEuroFilter)
    lm_filter: OneEuroFilter = field(default_factory=OneEuroFilter)
    reidentified: int = 0


@dataclass
class TrackerStats:
    """Counters for benchmarks and the status page."""

    frames: int = 0
    embeddings: int = 0  # faces sent to the recogniser
    new_tracks: int = 0
    reidentified: int = 0
    flow_failures: int = 0
    ambiguous: int = 0
    identity_swaps: int = 0  # fixed by a periodic re-check


class Tracker:
    """Follows faces across frames with stable ids.

    embed: recogniser callable; None disables appearance (no re-identification).
    iou_gate: least overlap between a prediction and a detection to match them.
        Lower: follows faster/erratic moves; higher: fewer wrong matches in crowds.
    keypoint_gate: largest mean keypoint (or centre) distance, in face sizes, to match.
    ambiguity_margin: when the best and second-best motion costs of a detection or track
        differ by less than this, embeddings decide. Higher: more embeddings, fewer swaps.
    appearance_gate: least cosine similarity to the track's gallery to accept an
        appearance-checked match. Higher: fewer wrong matches, more broken tracks.
    appearance_weight: weight of (1 − cosine) in the matching cost where appearance is used.
    reid_threshold: least cosine similarity for a new detection to take back a lost track's id.
        Higher: fewer wrong re-identifications, more new ids for returning people.
    reid_margin: the best lost track must beat the runner-up (and, on a re-check, the
        current track) by this much: the hysteresis that keeps near-ties from flipping ids.
    recheck_s: seconds between embedding re-checks of a track (gallery refresh, swap repair).
    gallery_momentum: weight of the old gallery in its exponential average (0..1).
    max_coast_s: longest a track is shown on flow alone without a matching detection.
    forget_s: how long a lost track waits for its person to come back (re-entry window).
    occlusion: a coasting track whose box a detected face covers this much (fraction of its
        area) is hidden as occluded and waits for re-identification.
    min_cutoff, beta: One-Euro smoothing of landmarks (see smooth.py).
    flow: the keypoint-flow predictor (defaults to KeypointFlow()).
    """

    def __init__(self, embed: EmbedFn | None = None, *, iou_gate: float = 0.1, keypoint_gate: float = 0.8,
                 ambiguity_margin: float = 0.3, appearance_gate: float = 0.3, appearance_weight: float = 2.0,
                 reid_threshold: float = 0.5, reid_margin: float = 0.05, recheck_s: float = 2.0,
                 gallery_momentum: float = 0.8, max_coast_s: float = 1.0, forget_s: float = 30.0,
                 occlusion: float = 0.45, min_cutoff: float = 0.5, beta: float = 2.0,
                 flow: KeypointFlow | None = None) -> None:
        self.embed = embed
        self.iou_gate = iou_gate
        self.keypoint_gate = keypoint_gate
        self.ambiguity_margin = ambiguity_margin
        self.appearance_gate = appearance_gate
        self.appearance_weight = appearance_weight
        self.reid_threshold = reid_threshold
        self.reid_margin = reid_margin
        self.recheck_s = recheck_s
        self.gallery_momentum = gallery_momentum
        self.max_coast_s = max_coast_s
        self.forget_s = forget_s
        self.occlusion = occlusion
        self.min_cutoff, self.beta = min_cutoff, beta
        self.flow = flow or KeypointFlow()
        self.stats = TrackerStats()
        self._entries: dict[int, _Entry] = {}
        self._next_id = 1
        self._prev_pyramid: list[np.ndarray] | None = None  # last frame's LK pyramid, while tracks have points

    # -- public -----------------------------------------------------------------
    def update(self, image_bgr: np.ndarray, faces: list[Face] | None, now: float) -> list[Track]:
        """Advance one frame. `faces` None: no detection ran on this frame (tracks coast)."""
        if image_bgr.ndim != 3:
            raise ValueError(f"Tracker.update: expected an H×W×3 BGR image, got shape {image_bgr.shape}")
        gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
        self.stats.frames += 1
        self._forget(now)
        visible = [e for e in self._entries.values() if e.visible]
        pyramid = self.flow.pyramid(gray) if self._prev_pyramid is not None and visible else None
        predicted = self._predict(pyramid, visible)

        if faces is None:
            for e in visible:
                moved = predicted.get(e.id)
                if moved is None:
                    self._lose(e, now)
                else:
                    self._coast(e, moved, now, gray.shape)
        else:
            self._associate(image_bgr, gray.shape, visible, predicted, list(faces), now)

        shown = [e for e in self._entries.values() if e.visible]
        # built once per frame and kept: the next frame's flow starts from it
        kept = self._prev_pyramid = (pyramid or self.flow.pyramid(gray)) if shown else None
        for e in self._entries.values():
            e.points = self._seed(kept, e, shown) if e.visible and kept is not None else None
        return [self._snapshot(e) for e in sorted(self._entries.values(), key=lambda e: e.id) if e.visible]

    def reset(self) -> None:
        """Forget every track (a scene cut)."""
        self._entries.clear()
        self._prev_pyramid = None

    @property
    def lost_ids(self) -> list[int]:
        """Ids waiting for their person to come back."""
        return sorted(e.id for e in self._entries.values() if not e.visible)

    def _seed(self, pyramid: list[np.ndarray], e: _Entry, shown: list[_Entry]) -> np.ndarray:
        """Flow points for `e`, leaving out those inside another face's box: where two faces
        overlap, a point may belong to either, and the one in front would drag the other."""
        points = self.flow.seed(pyramid, e.raw)
        others = np.array([o.raw.box for o in shown if o is not e], np.float32).reshape(-1, 4)
        if len(points) == 0 or len(others) == 0:
            return points
        inside = ((points[:, None, 0] >= others[None, :, 0]) & (points[:, None, 0] <= others[None, :, 2])
                  & (points[:, None, 1] >= others[None, :, 1]) & (points[:, None, 1] <= others[None, :, 3])).any(1)
        kept = points[~inside]
        return kept if len(kept) >= self.flow.min_points else points

    # -- steps ------------------------------------------------------------------
    def _predict(self, pyramid: list[np.ndarray] | None, visible: list[_Entry]) -> dict[int, Face | None]:
        prev = self._prev_pyramid
        if pyramid is None or prev is None or prev[0].shape != pyramid[0].shape:
            return {e.id: e.raw for e in visible}
        with_points = [e for e in visible if e.points is not None and len(e.points)]
        matrices = self.flow.predict(prev, pyramid, [e.points for e in with_points])
        out: dict[int, Face | None] = {e.id: None for e in visible}
        for e, m in zip(with_points, matrices):
            if m is None:
                self.stats.flow_failures += 1
            else:
                out[e.id] = warp_face(m, e.raw)
        return out

    def _associate(self, image: np.ndarray, shape: tuple[int, ...], visible: list[_Entry],
                   predicted: dict[int, Face | None], faces: list[Face], now: float) -> None:
        # flow failed: the last known place still serves as a prediction for matching
        preds = [predicted.get(e.id) or e.raw for e in visible]
        cost = self._motion_cost(preds, faces)
        embeddings: dict[int, np.ndarray] = {}

        ambiguous = self._ambiguous(cost)
        # a track that coasted may have drifted onto someone else: appearance confirms its match
        for i, e in enumerate(visible):
            if e.misses > 0 and e.gallery is not None:
                ambiguous.update(int(j) for j in np.nonzero(cost[i] < _FORBIDDEN)[0])
        if ambiguous and self.embed is not None:
            self.stats.ambiguous += len(ambiguous)
            need = [j for j in sorted(ambiguous) if faces[j].embedding is None]
            embeddings.update(self._embed(image, faces, need))
            for j in ambiguous:
                e_j = self._embedding_of(faces[j], embeddings.get(j))
                if e_j is None:
                    continue
                for i, e in enumerate(visible):
                    if cost[i, j] >= _FORBIDDEN or e.gallery is None:
                        continue
                    sim = float(e.gallery @ e_j)
                    if sim < self.appearance_gate:
                        cost[i, j] = _FORBIDDEN
                    else:
                        cost[i, j] += self.appearance_weight * (1.0 - sim)

        pairs: list[tuple[int, int]] = []
        if cost.size:
            rows, cols = linear_sum_assignment(np.minimum(cost, _FORBIDDEN))
            pairs = [(r, c) for r, c in zip(rows, cols) if cost[r, c] < _FORBIDDEN]
        matched_t = {r for r, _ in pairs}
        matched_d = {c for _, c in pairs}

        # periodic re-check (and gallery refresh) of matched tracks
        due = [c for r, c in pairs if now - visible[r].last_embedded >= self.recheck_s
               and c not in embeddings and faces[c].embedding is None]
        if self.embed is not None and due:
            embeddings.update(self._embed(image, faces, due))

        # unmatched detections: re-identify against lost tracks, or start new tracks
        fresh = [j for j in range(len(faces)) if j not in matched_d]
        if self.embed is not None:
            need = [j for j in fresh if j not in embeddings and faces[j].embedding is None]
            embeddings.update(self._embed(image, faces, need))

        for r, c in pairs:
            e = visible[r]
            emb = self._embedding_of(faces[c], embeddings.get(c))
            if emb is not None and now - e.last_embedded >= self.recheck_s and self._repair(e, faces[c], emb, now):
                continue
            self._match(e, faces[c], emb, now)

        # candidates: lost tracks, and visible ones no detection matched (coasting, maybe astray)
        unmatched = [e for i, e in enumerate(visible) if i not in matched_t and e.visible]
        lost = [e for e in self._entries.values() if not e.visible] + unmatched
        revived = self._reidentify(lost, faces, fresh, embeddings)
        taken = {e.id for e in revived.values()}
        for j in fresh:
            emb = self._embedding_of(faces[j], embeddings.get(j))
            if j in revived:
                e = revived[j]
                e.visible = True
                for f in (e.kps_filter, e.box_filter, e.lm_filter):
                    f.reset()  # no smear from where the person was last seen
                e.reidentified += 1
                self.stats.reidentified += 1
                self._match(e, faces[j], emb, now)
            else:
                self._new(faces[j], emb, now)

        detected_boxes = np.array([faces[c].box for _, c in pairs] + [faces[j].box for j in fresh], np.float32)
        for i, e in enumerate(visible):
            if i in matched_t or not e.visible or e.id in taken:
                continue
            moved = predicted.get(e.id)
            e.misses += 1
            if moved is None:
                self._lose(e, now)
                continue
            if len(detected_boxes) and _covered(moved.box, detected_boxes) >= self.occlusion:
                self._lose(e, now)  # hidden behind a detected face: wait for re-identification
                continue
            self._coast(e, moved, now, shape)

    def _motion_cost(self, preds: list[Face], faces: list[Face]) -> np.ndarray:
        cost = np.full((len(preds), len(faces)), _FORBIDDEN)
        if not preds or not faces:
            return cost
        iou = iou_matrix(np.array([p.box for p in preds]), np.array([f.box for f in faces]))
        for i, p in enumerate(preds):
            size = _size(p.box)
            for j, f in enumerate(faces):
                if p.kps5 is not None and f.kps5 is not None:
                    dist = float(np.linalg.norm(np.asarray(p.kps5) - np.asarray(f.kps5), axis=1).mean()) / size
                else:
                    dist = float(np.linalg.norm(_centre(p.box) - _centre(f.box))) / size
                if iou[i, j] >= self.iou_gate and dist <= self.keypoint_gate:
                    cost[i, j] = (1.0 - iou[i, j]) + dist
        return cost

    def _ambiguous(self, cost: np.ndarray) -> set[int]:
        """Detections whose match motion cannot settle: a near-tie in their row or column."""
        out: set[int] = set()
        ok = cost < _FORBIDDEN
        for j in range(cost.shape[1]):
            col = np.sort(cost[ok[:, j], j])
            if len(col) >= 2 and col[1] - col[0] < self.ambiguity_margin:
                out.add(j)
        for i in range(cost.shape[0]):
            js = np.nonzero(ok[i])[0]
            if len(js) >= 2:
                order = js[np.argsort(cost[i, js])]
                if cost[i, order[1]] - cost[i, order[0]] < self.ambiguity_margin:
                    out.update(int(j) for j in order[:2])
        return out

    def _reidentify(self, lost: list[_Entry], faces: list[Face], fresh: list[int],
                    embeddings: dict[int, np.ndarray]) -> dict[int, _Entry]:
        cands = [e for e in lost if e.gallery is not None]
        dets = [(j, self._embedding_of(faces[j], embeddings.get(j))) for j in fresh]
        dets = [(j, v) for j, v in dets if v is not None]
        if not cands or not dets:
            return {}
        sims = np.array([[float(e.gallery @ v) for _, v in dets] for e in cands])
        rows, cols = linear_sum_assignment(-sims)
        out: dict[int, _Entry] = {}
        for r, c in zip(rows, cols):
            s = sims[r, c]
            if s < self.reid_threshold:
                continue
            # hysteresis: a near-tie with another lost track is not trusted
            others = np.delete(sims[:, c], r)
            if len(others) and s - others.max() < self.reid_margin:
                continue
            out[dets[c][0]] = cands[r]
        return out

    def _repair(self, e: _Entry, face: Face, emb: np.ndarray, now: float) -> bool:
        """A periodic re-check found that this detection looks like a lost person, not like `e`:
        hand the detection to the lost track and retire `e`. True when it did."""
        if e.gallery is None:
            return False
        own = float(e.gallery @ emb)
        if own >= self.reid_threshold:
            return False
        best, best_sim = None, -1.0
        for other in self._entries.values():
            if not other.visible and other.gallery is not None:
                s = float(other.gallery @ emb)
                if s > best_sim:
                    best, best_sim = other, s
        if best is None or best_sim < self.reid_threshold or best_sim - own < self.reid_margin:
            return False
        self._lose(e, now)
        best.visible = True
        for f in (best.kps_filter, best.box_filter, best.lm_filter):
            f.reset()
        best.reidentified += 1
        self.stats.identity_swaps += 1
        self._match(best, face, emb, now)
        return True

    # -- state changes ------------------------------------------------------------
    def _match(self, e: _Entry, face: Face, emb: np.ndarray | None, now: float) -> None:
        if emb is not None:
            if e.gallery is None:
                e.gallery = emb
            elif float(e.gallery @ emb) >= self.appearance_gate:  # never learn someone else's face
                e.gallery = _normalise(self.gallery_momentum * e.gallery + (1 - self.gallery_momentum) * emb)
            e.last_embedded = now
        e.raw = face
        e.face = self._smooth(e, face, now)
        e.state, e.misses = "detected", 0
        e.age += 1
        e.last_seen = e.last_detected = now

    def _coast(self, e: _Entry, moved: Face, now: float, shape: tuple[int, ...]) -> None:
        h, w = shape[:2]
        x0, y0, x1, y1 = moved.box
        inside = max(0.0, min(x1, w) - max(x0, 0)) * max(0.0, min(y1, h) - max(y0, 0))
        area = max(1.0, (x1 - x0) * (y1 - y0))
        if now - e.last_detected > self.max_coast_s or inside / area < 0.3:
            self._lose(e, now)
            return
        e.raw = moved
        e.face = self._smooth(e, moved, now)
        e.state = "coasting"
        e.age += 1
        e.last_seen = now

    def _lose(self, e: _Entry, now: float) -> None:
        e.visible = False
        e.points = None
        e.last_seen = min(e.last_seen, now)

    def _new(self, face: Face, emb: np.ndarray | None, now: float) -> None:
        e = _Entry(id=self._next_id, face=face, raw=face, first_seen=now, last_seen=now, last_detected=now,
                   kps_filter=OneEuroFilter(self.min_cutoff, self.beta),
                   box_filter=OneEuroFilter(self.min_cutoff, self.beta),
                   lm_filter=OneEuroFilter(self.min_cutoff, self.beta))
        self._next_id += 1
        self._entries[e.id] = e
        self.stats.new_tracks += 1
        self._match(e, face, emb, now)
        e.age = 1

    def _forget(self, now: float) -> None:
        for tid in [t for t, e in self._entries.items() if not e.visible and now - e.last_seen > self.forget_s]:
            del self._entries[tid]

    # -- helpers ------------------------------------------------------------------
    def _embed(self, image: np.ndarray, faces: list[Face], idx: list[int]) -> dict[int, np.ndarray]:
        if not idx or self.embed is None:
            return {}
        vectors = self.embed(image, [faces[j] for j in idx])
        if len(vectors) != len(idx):
            raise ValueError(f"Tracker: embed returned {len(vectors)} embeddings for {len(idx)} faces")
        self.stats.embeddings += len(idx)
        return {j: _normalise(v) for j, v in zip(idx, vectors)}

    @staticmethod
    def _embedding_of(face: Face, computed: np.ndarray | None) -> np.ndarray | None:
        if computed is not None:
            return computed
        return None if face.embedding is None else _normalise(face.embedding)

    def _smooth(self, e: _Entry, face: Face, now: float) -> Face:
        size = _size(face.box)
        box = e.box_filter(face.box.reshape(2, 2), now, size).reshape(4)
        kps = None if face.kps5 is None else e.kps_filter(face.kps5, now, size)
        lm = None if face.landmarks68 is None else e.lm_filter(face.landmarks68, now, size)
        return Face(box=box, score=face.score, kps5=kps, landmarks68=lm,
                    landmark_score=face.landmark_score, embedding=face.embedding)

    def _snapshot(self, e: _Entry) -> Track:
        return Track(id=e.id, face=e.face, state=e.state, age=e.age, misses=e.misses,  # type: ignore[arg-type]
                     embedding=e.gallery, reidentified=e.reidentified)


def embed_with(recogniser: object) -> EmbedFn:
    """Adapt a recogniser whose `embed(image, faces)` fills each `face.embedding` in place
    (bridge.faces.embed.Recogniser) to the tracker's `embed` callable."""

    def embed(image: np.ndarray, faces: list[Face]) -> list[np.ndarray]:
        done = recogniser.embed(image, faces)  # type: ignore[attr-defined]
        return [f.embedding for f in done]

    return embed
