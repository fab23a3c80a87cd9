"""Stable face identities, frame by frame. The parts, one idea each:

- flow.py: where each face moved since the last frame (LK keypoint flow, a similarity fit);
- association.py: the costs of pairing detections with tracks (motion, appearance on
  near-ties, Hungarian), takeovers of tracks the gates let go, two tracks on one face;
- pairing.py: the tracker's pairing decisions on them (reclaims, second boxes on one face,
  boxes over two faces, blurred newcomers confirmed);
- evidence.py: a track no detection confirms is drawn only while its face is still there
  (flow inliers and patch agreement; out of frame ends it);
- occlusion.py: faces behind, half behind or smeared (covers where a face is hidden or
  doubted, a face in front, the whole box of a half-seen face or of one cut by the frame's
  edge, smeared boxes, dragged points);
- identity.py: who each face is (revivals, learning within the embedding budget, re-checks,
  hand-overs), on the rules of reid.py;
- gallery.py: several quality-gated embeddings per person, matched by the best;
- entry.py: what is kept about one track; slots.py: the on-screen face numbers the hotkeys address.

This module holds the tracks and runs the frame: flow, pairing or coasting, one track per face,
the snapshots drawn. A new track is drawn once confirmed a face: a detection the landmarker is
sure of, a motion-blurred one clear of other faces (blur explains the doubt), or its second
detection; until then it is followed, not drawn (a brow above an occluding face, a blurred box
half on the wall, are found once or twice). Embeddings are asked for within a per-frame budget
(`embed_budget`, on average: a frame may add the frame before's unused share), most needed first:
near-ties, new faces, faces with no gallery yet, tentative and young tracks, then periodic
re-checks; what does not fit waits for the next frame.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Callable

import cv2
import numpy as np

from bridge.track import association
from bridge.track.association import Gates, covered, face_size
from bridge.track.entry import Entry
from bridge.track.evidence import Evidence, agreement, face_patch
from bridge.track.flow import KeypointFlow, warp_face
from bridge.track.identity import Identity
from bridge.track.occlusion import Occlusion
from bridge.track.pairing import Pairing
from bridge.track.gallery import MAX_SMEAR, CropLook, Gallery, normalise
from bridge.faces.boxes import iou_matrix
from bridge.track.reid import ReidRule
from bridge.track.slots import FaceSlots
from bridge.track.smooth import OneEuroFilter, smooth_together
from bridge.track.smooth import warm_up as warm_smoothing
from bridge.types import Face, Track

EmbedFn = Callable[[np.ndarray, list[Face]], list[np.ndarray]]
"""(image BGR, faces) → one L2-normalised embedding per face."""


@dataclass
class TrackerStats:
    """Counters for benchmarks and the status page."""

    frames: int = 0
    embeddings: int = 0  # faces sent to the recogniser
    embeddings_deferred: int = 0  # wanted but over the frame's budget (done on a later frame)
    new_tracks: int = 0
    reidentified: int = 0
    flow_failures: int = 0
    ambiguous: int = 0
    identity_swaps: int = 0  # fixed by a periodic re-check
    takeovers: int = 0  # detections that took over a track the motion gates let go
    duplicates: int = 0  # second tracks on one face, ended
    reclaimed: int = 0  # tracks that took their own face back from a fresh detection (appearance over motion)
    merged: int = 0  # lost ids of a person who waited under two or more, dropped when they came back
    hidden: Counter = field(default_factory=Counter)  # coasting tracks stopped, by reason


class _Blurred:
    """The detections whose crop is blurred or turned away (CropLook.fault), each asked on
    demand: a crop that measured sharp has its smear read only when its answer is wanted."""

    def __init__(self, looks: list[CropLook]) -> None:
        self.looks = looks

    def __contains__(self, j: object) -> bool:
        return (isinstance(j, (int, np.integer)) and 0 <= int(j) < len(self.looks)
                and self.looks[int(j)].fault() in ("blurred", "profile"))

    def __iter__(self):  # type: ignore[no-untyped-def]
        return (j for j in range(len(self.looks)) if j in self)


class Tracker(Pairing, Occlusion, Identity):
    """Follows faces across frames with stable ids.

    embed: recogniser callable; None disables appearance (no re-identification).
    iou_gate, keypoint_gate, ambiguity_margin, appearance_gate, appearance_weight: see
        association.Gates.
    reid_threshold, reid_margin: see reid.ReidRule (also the re-check's hysteresis).
    recheck_s: seconds between embedding re-checks of a track (gallery growth, swap repair).
    gallery_size: embeddings kept per person (gallery.Gallery).
    gallery_momentum: weight of the old value when a gallery entry is refreshed (0..1).
    embed_budget: faces sent to the recogniser per frame on average (so an identity check never
        stalls a frame); a frame may also spend what the frame before left unused (at most twice
        the budget in one frame: returning faces on a detection frame after a coasting one); the
        rest wait for the next frame.
    max_coast_s: longest a track is shown on flow alone without a matching detection (FAST_COAST
        times that for a fast face, which the detector misses while it moves).
    forget_s: how long a lost track waits for its person to come back (re-entry window).
    occlusion: a coasting track whose box a detected face covers this much (fraction of its
        area) is hidden as occluded and waits for re-identification.
    evidence: what a coasting track needs to stay drawn (evidence.Evidence).
    min_cutoff, beta: One-Euro smoothing of landmarks (see smooth.py).
    flow: the keypoint-flow predictor (defaults to KeypointFlow()).
    """

    def __init__(self, embed: EmbedFn | None = None, *, iou_gate: float = 0.1, keypoint_gate: float = 0.8,
                 ambiguity_margin: float = 0.3, appearance_gate: float = 0.3, appearance_weight: float = 2.0,
                 reid_threshold: float = 0.5, reid_margin: float = 0.05, recheck_s: float = 2.0,
                 gallery_size: int = 6, gallery_momentum: float = 0.7, embed_budget: int = 2,
                 max_coast_s: float = 1.0, forget_s: float = 30.0, occlusion: float = 0.45,
                 evidence: Evidence | None = None, min_cutoff: float = 0.5, beta: float = 2.0,
                 flow: KeypointFlow | None = None) -> None:
        self.embed = embed
        self.gates = Gates(iou_gate, keypoint_gate, ambiguity_margin, appearance_gate, appearance_weight)
        self.rule = ReidRule(reid_threshold, reid_margin)
        self.recheck_s = recheck_s
        self.provisional_s = min(recheck_s, 0.1)  # spacing of a young track's re-checks (different crops)
        # a young track's identity is re-checked on its first few crops (the first may be poor in
        # a way the quality gate misses); a newcomer that is really someone back is relabelled
        self.young_s, self.young_embeddings = min(recheck_s, 1.0), 3
        self.gallery_size, self.gallery_momentum = gallery_size, gallery_momentum
        self.embed_budget = max(1, embed_budget)
        self.max_coast_s = max_coast_s
        self.forget_s = forget_s
        self.occlusion = occlusion
        self.evidence = evidence or Evidence()
        self.min_cutoff, self.beta = min_cutoff, beta
        self.flow = flow or KeypointFlow()
        warm_smoothing()  # its compiled step, before the first frame rather than on it
        self.slots = FaceSlots()
        self.stats = TrackerStats()
        self._entries: dict[int, Entry] = {}
        self._next_id = 1
        self._prev_pyramid: list[np.ndarray] | None = None  # last frame's LK pyramid, while tracks have points
        self._budget = 0
        self._forgotten: set[int] = set()
        self.wants_detection = False  # a track was stopped for lack of evidence: look again soon
        self._shape: tuple[int, ...] | None = None  # the last frame's (height, width)

    # -- public -----------------------------------------------------------------
    def update(self, image_bgr: np.ndarray, faces: list[Face] | None, now: float,
               gray: np.ndarray | None = None) -> list[Track]:
        """Advance one frame. `faces` None: no detection ran on this frame (tracks coast).
        gray: the frame's grey image when the caller made it already (the stage makes one per
        frame for the landmarker too); None: converted here."""
        if image_bgr.ndim != 3:
            raise ValueError(f"Tracker.update: expected an H×W×3 BGR image, got shape {image_bgr.shape}")
        if gray is None:
            gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
        elif gray.shape != image_bgr.shape[:2]:
            raise ValueError(f"Tracker.update: grey image {gray.shape} is not the frame's size {image_bgr.shape[:2]}")
        self.stats.frames += 1
        self._shape = gray.shape[:2]
        self._budget = min(self._budget + self.embed_budget, 2 * self.embed_budget)  # unused budget carries one frame
        self.wants_detection = False
        self._forget(now)
        visible = [e for e in self._entries.values() if e.visible]
        pyramid = self.flow.pyramid(gray) if visible or faces else None
        predicted = self._predict(pyramid, visible, now)

        if faces is None:
            for e in visible:
                self._coast(e, predicted[e.id], pyramid, gray.shape, now)
        else:
            self._associate(image_bgr, gray, pyramid, visible, predicted, list(faces), now)
        self._one_track_per_face()

        self._found_behind(now)

        followed = [e for e in self._entries.values() if e.visible]
        # built once per frame and kept: the next frame's flow starts from it
        self._prev_pyramid = pyramid if followed else None
        for e in self._entries.values():
            e.points = (self.flow.seed_apart(pyramid, e.raw, [o.raw.box for o in followed if o is not e])
                        if e.visible and pyramid is not None else None)
        # followed, but drawn only once confirmed a face: a brow above an occluding face, a blurred
        # box half on the background, are found once or twice with no face in their landmarks
        shown = sorted((e for e in followed if e.confirmed and not e.dragged), key=lambda e: e.id)
        slots = self.slots.assign([e.id for e in sorted(shown, key=lambda e: e.first_seen)], self._forgotten)
        self._forgotten = set()
        return [self._snapshot(e, slots[e.id], self._whole(e, shown)) for e in shown]

    def reset(self) -> None:
        """Forget every track (a scene cut)."""
        self._forgotten |= set(self._entries)
        self._entries.clear()
        self._prev_pyramid = None

    def expected(self, now: float, recent_s: float = 0.5) -> list[tuple[np.ndarray, float]]:
        """(box, seconds since last seen) of each face expected on a frame at `now`: the shown
        tracks and those lost within `recent_s` (not those that left the frame), each box moved
        on by its velocity (a fast face is looked for where it went, not where it was)."""
        out = []
        for e in self._entries.values():
            since = now - e.last_seen
            if e.visible or (since <= recent_s and e.hits > 0 and e.lost_why != "left"):
                out.append((self._ahead(e, now), max(1e-3, since) if not e.visible else 0.0))
        return out

    @property
    def lost_ids(self) -> list[int]:
        """Ids waiting for their person to come back."""
        return sorted(e.id for e in self._entries.values() if not e.visible)

    # -- steps ------------------------------------------------------------------
    def _predict(self, pyramid: list[np.ndarray] | None, visible: list[Entry],
                 now: float) -> dict[int, tuple[Face | None, int]]:
        """Each visible track's flow-moved face and the flow points that agreed (None, 0 on failure;
        the unmoved face when there is no previous frame to flow from). The flow search starts
        where the track's velocity says the face went (fast moves stay within LK's reach)."""
        prev = self._prev_pyramid
        if pyramid is None or prev is None or prev[0].shape != pyramid[0].shape:
            return {e.id: (e.raw, self.evidence.min_inliers) for e in visible}
        with_points = [e for e in visible if e.points is not None and len(e.points)]
        motions = self.flow.predict_counted(prev, pyramid, [e.points for e in with_points],
                                            [e.velocity * np.float32(now - e.last_seen) for e in with_points])
        out: dict[int, tuple[Face | None, int]] = {e.id: (None, 0) for e in visible}
        for e, (m, inliers) in zip(with_points, motions):
            if m is None:
                self.stats.flow_failures += 1
            else:
                out[e.id] = (warp_face(m, e.raw), inliers)
        return out

    def _associate(self, image: np.ndarray, gray: np.ndarray, pyramid: list[np.ndarray] | None,
                   visible: list[Entry], predicted: dict[int, tuple[Face | None, int]],
                   faces: list[Face], now: float) -> None:
        """A detection frame: pair detections with tracks, bring back or start the rest, learn
        what each person looks like, and decide about the tracks no detection confirmed."""
        embeddings: dict[int, np.ndarray] = {j: normalise(f.embedding) for j, f in enumerate(faces)
                                             if f.embedding is not None}
        # a motion-blurred crop (or one whose landmarks the blur threw off: "profile"), or one the
        # landmarker hardly takes for a face (one box over two overlapping faces), embeds like
        # nobody: appearance must not veto the match motion makes
        looks = [CropLook(gray, f) for f in faces]  # each crop read once, asked about against others below
        blurred = _Blurred(looks)
        merged = {j for j, f in enumerate(faces) if self._unsure(f)}
        pairs = self._pair(image, visible, [predicted[e.id][0] or self._shifted(e, now) for e in visible], faces,
                           embeddings, blurred, merged)
        matched_t, matched_d = {r for r, _ in pairs}, {c for _, c in pairs}
        for r, c in pairs:  # motion alone held a fast face on a box over two faces: it may have slid onto the other
            visible[r].slid = visible[r].slid or (c in merged and self._fast(visible[r]))

        # unmatched detections: a lost person come back, or someone new
        fresh = [j for j in range(len(faces)) if j not in matched_d]
        if self.embed is not None:
            # under the budget, crops another face covers go last: they embed like nobody (or like
            # the face in front), while a clear crop can name a person back
            covered_by = self._crop_faults(looks, faces, fresh, {e.id for e in visible}, rough=True)
            embeddings.update(self._embed(image, faces, sorted((j for j in fresh if j not in embeddings),
                                                               key=lambda j: covered_by[j] == "covered")))
            pairs, fresh = self._reclaim(image, looks, visible, pairs, fresh, faces, embeddings)
            fresh = self._not_twice(visible, pairs, fresh, faces, embeddings)
        unmatched = [e for i, e in enumerate(visible) if i not in matched_t]
        # a face half behind another is boxed by the part that shows: touching another detection's
        # box at all, its crop embeds like nobody ("covered"; a shown track's own box is no other face)
        faults = self._crop_faults(looks, faces, fresh, {e.id for e in visible}, self.CLEAR_OF)
        revived, weak = self._reidentify([e for e in self._entries.values() if not e.visible] + unmatched,
                                         faces, fresh, embeddings, now, faults, gray.shape[:2])

        on_track = [(visible[r], c) for r, c in pairs]  # (track, detection) of this frame
        for e, j in on_track:
            self._match(e, faces[j], pyramid, now)
        for j in fresh:
            e = (self._revive(revived[j], faces[j], pyramid, now, tentative=j in weak) if j in revived
                 else self._new(faces[j], pyramid, now))
            on_track.append((e, j))
        self._confirm(looks, faces, on_track)
        self._learn(image, looks, faces, on_track, embeddings, now)

        taken = {e.id for e in revived.values()}
        for e in unmatched:
            if e.id not in taken and e.visible:
                self._missed(e, predicted[e.id], faces, pyramid, gray.shape, now)

    def _missed(self, e: Entry, prediction: tuple[Face | None, int], faces: list[Face],
                pyramid: list[np.ndarray] | None, shape: tuple[int, ...], now: float) -> None:
        """A track the detector did not find on this frame (`faces`: what it found): hidden,
        ended, or coasting on evidence."""
        e.misses += 1
        moved = prediction[0]
        detected = np.array([f.box for f in faces], np.float32).reshape(-1, 4)
        cover = covered(moved.box, detected) if moved is not None else 0.0
        # a face in front of the detected face whose box holds it is not hidden: it coasts
        e.in_front = cover >= self.occlusion and self._in_front(e, moved, faces, pyramid)
        if cover >= self.occlusion and not e.in_front:
            self._lose(e, now)  # hidden behind a detected face: wait for re-identification
            e.lost_why = "occluded"
            self.stats.hidden["occluded"] += 1
        elif e.hits < 2 and e.reidentified == 0 and cover >= 0.15 and not e.in_front:
            # seen once, then missed right against a detected face: a fragment of that face
            # (its brow above an occluder), not a second person
            self._stop(e, "unconfirmed", now)
        else:
            self._coast(e, prediction, pyramid, shape, now)

    def _unsure(self, face: Face) -> bool:
        """A detection the landmarker hardly takes for a face (one box over two faces)."""
        return face.landmark_score is not None and face.landmark_score < self.UNSURE_LANDMARKS

    def _drop(self, e: Entry) -> None:
        """End a track for good: it names no one (its slot is freed)."""
        self._entries.pop(e.id, None)
        self._forgotten.add(e.id)

    def _one_track_per_face(self) -> None:
        """Two shown tracks on one face: one ends (association.duplicates says which). Tracks
        whose boxes touch are marked `near`: once apart, each is re-checked at once (a crossing
        is where ids swap), not at its next periodic turn."""
        shown = [e for e in self._entries.values() if e.visible]
        if len(shown) < 2:
            for e in shown:
                e.near = False
            return
        boxes = np.array([e.raw.box for e in shown], np.float32)
        iou = iou_matrix(boxes, boxes)
        for k in association.duplicates(boxes, [e.state == "detected" for e in shown], [e.first_seen for e in shown],
                                        iou, [e.in_front for e in shown]):
            self._lose(shown[k], shown[k].last_seen)
            self.stats.duplicates += 1
        touching = iou > 0
        np.fill_diagonal(touching, False)
        for e, t in zip(shown, touching.any(axis=1)):
            e.near = bool(t)
            e.crossed = e.crossed or e.near

    # -- state changes ------------------------------------------------------------
    def _match(self, e: Entry, face: Face, pyramid: list[np.ndarray] | None, now: float) -> None:
        face = self._unsmeared(e, face, now)
        self._follow(e, face, now)
        e.in_front = e.dragged = e.handed_back = False
        e.raw = face
        if face.landmarks68 is None or face.landmark_score >= self.UNSURE_LANDMARKS:  # no landmarker: nothing to doubt
            e.sure_before = (e.detected_box, e.detected_at, e.detected_velocity)
            e.detected_box, e.detected_at, e.detected_velocity = face.box, now, self._sure_velocity(e, face.box, now)
        e.face = self._smooth(e, face, now)
        e.reference = face_patch(pyramid, face.box) if pyramid is not None else None
        e.state, e.misses, e.guessed = "detected", 0, 0
        e.hits += 1
        # no landmarks: no landmarker ran, nothing to judge by
        e.confirmed = e.confirmed or face.landmarks68 is None or face.landmark_score >= self.UNSURE_LANDMARKS
        e.age += 1
        e.last_seen = e.last_detected = now

    def _coast(self, e: Entry, prediction: tuple[Face | None, int], pyramid: list[np.ndarray] | None,
               shape: tuple[int, ...], now: float) -> None:
        """Keep drawing `e` where flow moved it, only with evidence that its face is there."""
        moved, inliers = prediction
        guessed = moved is None
        if guessed:
            # flow failed; a fast face (motion blur) is still drawn where its velocity says, for a
            # frame or two, while its face patch agrees: the real face is not shown on a blur
            if e.guessed >= self.MAX_GUESSED or not self._fast(e):
                self._stop(e, "flow", now)
                return
            moved, inliers = self._shifted(e, now), None
        # a fast face goes undetected while it moves (its smear): it coasts on evidence longer
        if now - e.last_detected > (self.max_coast_s * (self.FAST_COAST if self._fast(e) else 1.0)
                                    * (self.ONCE_COAST if self._once_at_edge(e, shape) else 1.0)):
            self._stop(e, "timeout", now)
            return
        look = agreement(e.reference, face_patch(pyramid, moved.box)) if pyramid is not None else None
        why = self.evidence.why_not(inliers, look, moved.box, shape)
        if why is not None:
            self._stop(e, why, now)
            if why == "look" and not guessed and e.confirmed and e.misses == 0:
                e.doubted = (moved.box, now)
            return
        # followed on (the detector's next box of its face can still be paired with it), not drawn
        e.dragged = not guessed and self._dragged(e, moved, look, now)
        self._follow(e, moved, now)
        e.guessed = e.guessed + 1 if guessed else 0
        e.raw = moved
        e.face = self._smooth(e, moved, now)
        e.state = "coasting"
        e.age += 1
        e.last_seen = now
    UNSURE_LANDMARKS = 0.5  # landmark score under which a detection's embedding is no evidence
    CONFIRM_HITS = 2  # detections after which a track no landmark score confirmed is drawn anyway (a real
    # face blurred on every frame; fragments of a face are found once or twice: see _confirm)
    ONCE_COAST = 0.3  # max_coast_s is this share of itself for a track detected once only, on a box the frame's
    # edge cuts (half a face walking in, or no face at all: flow holds on to either)
    AHEAD_S = 0.1  # longest a velocity is extrapolated (beyond it a fast face has likely turned)
    MAX_GUESSED = 2  # frames a track may be shown on its velocity alone (constant velocity is 1-6 % off by
    # IoU 0.3 one or two frames ahead on the suite's fast zig-zags, 7-12 % three frames ahead)
    FAST = 0.1  # face sizes a frame above which a face whose flow failed is taken to be blurred by its speed
    FAST_COAST = 2.0  # max_coast_s is this many times longer for a fast face: the detector misses a face
    # smeared by its motion for as long as it moves (30 frames on fast-2, where its track held IoU 0.73 on
    # flow, with evidence every frame, until the timeout showed the real face for 6 frames); flow and look
    # still judge it every frame. Fast clips: fast-2 leaks 57 -> 51, IDF1 0.864 -> 0.878, no new ghosts

    def _once_at_edge(self, e: Entry, shape: tuple[int, ...]) -> bool:
        """Detected once only, on a box cut by the frame's edge."""
        return e.hits <= 1 and self._at_edge(e.detected_box if e.detected_box is not None else e.raw.box, shape)

    def _fast(self, e: Entry) -> bool:
        """Moving fast enough for motion blur to explain a flow failure (a still face whose flow
        fails was covered or left: no guessing)."""
        return float(np.linalg.norm(e.velocity)) / 30.0 >= self.FAST * face_size(e.raw.box)

    def _smearing(self, e: Entry) -> bool:
        """Moving fast enough (face sizes a frame) to be smeared as far as the gallery's gate allows
        (gallery.MAX_SMEAR: the shutter is open a frame at most)."""
        return float(np.linalg.norm(e.velocity)) / 30.0 >= MAX_SMEAR * max(float(e.raw.box[2] - e.raw.box[0]),
                                                                           float(e.raw.box[3] - e.raw.box[1]))

    def _drift(self, e: Entry, now: float) -> np.ndarray:
        """How far `e` moved since last seen at its velocity (constant velocity, at most AHEAD_S)."""
        return e.velocity * np.float32(min(max(now - e.last_seen, 0.0), self.AHEAD_S))

    def _shifted(self, e: Entry, now: float) -> Face:
        """`e`'s last face moved on by its drift to `now`."""
        shift = self._drift(e, now)
        return warp_face(np.float32([[1, 0, shift[0]], [0, 1, shift[1]]]), e.raw)

    def _ahead(self, e: Entry, now: float) -> np.ndarray:
        """`e`'s box moved on by its drift to `now`."""
        return (e.raw.box + np.tile(self._drift(e, now), 2)).astype(np.float32)

    @staticmethod
    def _follow(e: Entry, face: Face, now: float) -> None:
        """The track's velocity from its last place to this one (smoothed; reset after a gap)."""
        dt = now - e.last_seen
        if not e.visible or dt <= 0 or dt > 0.2:
            e.velocity = np.zeros(2, np.float32)
            return
        step = ((face.box[:2] + face.box[2:]) - (e.raw.box[:2] + e.raw.box[2:])) / 2 / np.float32(dt)
        e.velocity = (0.5 * e.velocity + 0.5 * step).astype(np.float32)

    def _stop(self, e: Entry, why: str, now: float) -> None:
        self.stats.hidden[why] += 1
        self.wants_detection = True
        self._lose(e, now)
        e.lost_why = why

    def _lose(self, e: Entry, now: float) -> None:
        e.lost_why = "lost"
        e.visible = False
        e.points = None
        e.last_seen = min(e.last_seen, now)

    def _revive(self, e: Entry, face: Face, pyramid: list[np.ndarray] | None, now: float,
                tentative: bool = False) -> Entry:
        """A lost person is back on this detection (`tentative`: on a weak embedding)."""
        e.tentative, e.lost_at, e.revived_at, e.doubt = tentative, e.last_seen, now, None
        # lost to its motion blur, known by smeared crops (see _check_and_learn)
        e.blur_lost = tentative and e.lost_why in ("flow", "look") and e.learnt_fast
        e.visible = True
        e.restart_smoothing()
        e.reidentified += 1
        self.stats.reidentified += 1
        self._match(e, face, pyramid, now)
        return e

    def _new(self, face: Face, pyramid: list[np.ndarray] | None, now: float) -> Entry:
        e = Entry(id=self._next_id, face=face, raw=face, first_seen=now, last_seen=now, last_detected=now,
                   gallery=Gallery(self.gallery_size, momentum=self.gallery_momentum),
                   kps_filter=OneEuroFilter(self.min_cutoff, self.beta),
                   box_filter=OneEuroFilter(self.min_cutoff, self.beta),
                   lm_filter=OneEuroFilter(self.min_cutoff, self.beta))
        self._next_id += 1
        self._entries[e.id] = e
        self.stats.new_tracks += 1
        self._match(e, face, pyramid, now)
        e.age = 1
        return e

    def _forget(self, now: float) -> None:
        for tid in [t for t, e in self._entries.items() if not e.visible and now - e.last_seen > self.forget_s]:
            del self._entries[tid]
            self._forgotten.add(tid)

    # -- helpers ------------------------------------------------------------------
    def _embed(self, image: np.ndarray, faces: list[Face], idx: list[int]) -> dict[int, np.ndarray]:
        """Embeddings of faces[idx], as many as the frame's budget has left (in the order given)."""
        if not idx or self.embed is None:
            return {}
        now_idx, later = idx[:self._budget], idx[self._budget:]
        self.stats.embeddings_deferred += len(later)
        if not now_idx:
            return {}
        self._budget -= len(now_idx)
        vectors = self.embed(image, [faces[j] for j in now_idx])
        if len(vectors) != len(now_idx):
            raise ValueError(f"Tracker: embed returned {len(vectors)} embeddings for {len(now_idx)} faces")
        self.stats.embeddings += len(now_idx)
        return {j: normalise(v) for j, v in zip(now_idx, vectors)}

    def _similarity(self, visible: list[Entry], embeddings: dict[int, np.ndarray], n: int) -> np.ndarray:
        sim = np.full((len(visible), n), np.nan)
        for j, v in embeddings.items():
            for i, e in enumerate(visible):
                if not e.gallery.empty:
                    sim[i, j] = e.gallery.similarity(v)
        return sim

    def _smooth(self, e: Entry, face: Face, now: float) -> Face:
        size = face_size(face.box)
        parts = [(f, v) for f, v in ((e.box_filter, face.box.reshape(2, 2)), (e.kps_filter, face.kps5),
                                     (e.lm_filter, face.landmarks68)) if v is not None]
        done = iter(smooth_together([f for f, _ in parts], [v for _, v in parts], now, size))  # one pass, same numbers
        box = next(done).reshape(4)
        kps = None if face.kps5 is None else next(done)
        lm = None if face.landmarks68 is None else next(done)
        return Face(box=box, score=face.score, kps5=kps, landmarks68=lm,
                    landmark_score=face.landmark_score, embedding=face.embedding)

    def _whole(self, e: Entry, shown: list[Entry]) -> np.ndarray | None:
        """The box of `e`'s whole face where the shown one holds the part that shows (half behind
        another face, or cut by the frame's edge); None: its box is whole."""
        whole = self._whole_box(e, shown)
        return whole if whole is not None else self._past_edge(e)

    def _snapshot(self, e: Entry, slot: int, whole: np.ndarray | None = None) -> Track:
        """whole: the box of the whole face when the shown one holds only the part that shows."""
        face = e.face if whole is None else replace(e.face, box=whole)
        return Track(id=e.id, face=face, state=e.state, age=e.age, misses=e.misses,  # type: ignore[arg-type]
                     embedding=e.gallery.mean, reidentified=e.reidentified, slot=slot)


def embed_with(recogniser: object) -> EmbedFn:
    """Adapt a recogniser whose `embed(image, faces)` fills each `face.embedding` in place
    (bridge.faces.embed.Recogniser) to the tracker's `embed` callable."""

    def embed(image: np.ndarray, faces: list[Face]) -> list[np.ndarray]:
        done = recogniser.embed(image, faces)  # type: ignore[attr-defined]
        return [f.embedding for f in done]

    return embed
