"""Stable face identities, frame by frame. The parts, one idea each:

- flow.py: where each face moved since the last frame (LK keypoint flow, a similarity fit);
- association.py: which detection is which track (motion cost, appearance on near-ties,
  Hungarian), and detections that take over a track the gates let go;
- evidence.py: a track no detection confirms is drawn only while its face is still there
  (flow inliers and patch agreement; out of frame ends it); one stopped on its patch alone,
  flow holding, is covered where flow put it until the detector has looked (`doubted`), that
  cover moving on with it; one the detector missed inside a detected face's box is hidden
  behind it, unless it is in front (`_in_front`: its landmarks were sure, that box's are not,
  and its patch has not changed);
- reid.py: a face no track claimed gets a lost person's id back (by gallery; tentatively on a
  weak embedding that points at one person only, confirmed or undone on the next good crop; by
  place moments after a miss; or, tentatively, a half-seen face coming out from behind another
  face or an object takes the track lost close by; a face walking in cut by the frame's edge, the
  person who left it moments ago), and a periodic re-check repairs ids swapped while faces
  crossed; a young track is re-checked on its first good crops (a newcomer that is someone
  back is relabelled, and its id dropped); a tentative revival whose gallery was learnt only
  while the face was pressed against another (`_pressed`) is not undone by its first good crop;
- gallery.py: several quality-gated embeddings per person, matched by the best;
- slots.py: the on-screen face numbers the hotkeys address.

A face half behind another, boxed by the part that shows (its landmarks unsure, its box cut
short against a face the landmarker is sure of), is shown with the box of its whole face
(`_whole_box`), grown behind the face in front to a whole face's shape.

This module holds the tracks and applies the decisions. A new track is drawn once confirmed a
face: a detection the landmarker is sure of, a motion-blurred one clear of other faces (blur
explains the doubt), or its second detection; until then it is followed, not drawn (a brow above
an occluding face, a blurred box half on the wall, are found once or twice). Embeddings are asked for within a
per-frame budget (`embed_budget`, on average: a frame may add the frame before's unused share),
most needed first: near-ties, new faces, faces with no gallery yet, tentative and young tracks,
then periodic re-checks; what does not fit waits for the next frame. A fresh detection that is
clearly the person of a track motion gave another face takes that track back (`_reclaim`); one
that is surely the person of a track whose detection it overlaps is a second box on that face
and starts no track (`_not_twice`), as does a sure box whose landmarks lie on a held sure box's
(`_one_spot`: one face boxed twice; of two fresh sure boxes on one spot, the one less like anyone
lost); so does a box the landmarker hardly takes for a face lying
over faces tracks hold (one box over two overlapping faces), and a track motion gave such a box
takes back a surer box its person fits even weakly, as a track motion gave the box round a face
behind its own takes back the sure box inside it that is surely its person. A box the landmarker
doubts, far bigger than the face was when last surely seen, is the face smeared by its motion: the
track takes its centre at the face's sure size (`_unsmeared`). A coasting track whose flow step
is the motion of a face its box touches, not its own course, its patch hardly agreeing, has its
points on that face: followed on, not drawn (`_dragged`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Callable

import cv2
import numpy as np

from bridge.track import association, reid
from bridge.track.association import FORBIDDEN, Gates, covered, covered_together, face_size
from bridge.track.evidence import Evidence, agreement, face_patch, inside_fraction
from bridge.track.flow import KeypointFlow, warp_face
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
class _Entry:
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

    def restart_smoothing(self) -> None:
        for f in (self.kps_filter, self.box_filter, self.lm_filter):
            f.reset()  # no smear from where the person was last seen


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


class Tracker:
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
    max_coast_s: longest a track is shown on flow alone without a matching detection.
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
        self._entries: dict[int, _Entry] = {}
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
        return [self._snapshot(e, slots[e.id], self._whole_box(e, shown)) for e in shown]

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

    HIDDEN_S = 3.0  # longest a track stopped behind a face is covered there (Tracker.hidden's default)

    def hidden(self, now: float, within_s: float = HIDDEN_S) -> list[Track]:
        """Established tracks stopped behind a detected face within `within_s`, where their face
        should be: the person may still show beside the face in front (the face stage covers what
        shows). It is placed where it was last surely detected (coasting onto the face in front, and
        boxes over a face half behind another, drift), and only while it cannot have gone far from
        there at the velocity it had then, read over its sure detections of the moments before (a
        face crossing behind another moves on; a still one's box jitters). A track that hands the
        face it held to the person whose face that is (`_hand_over`) is hidden too when that face
        covers its own last sure box (one box over both held it). One ends for good once a face
        that arrived since (new, or back) is followed at its place: that is the face, under
        whichever id; of two at one place the later one counts."""
        out: list[tuple[_Entry, np.ndarray]] = []
        for e in sorted(self._entries.values(), key=lambda e: -e.last_seen):
            box = self._hidden_box(e, now, within_s)
            if box is not None and iou_matrix(box[None], np.array([b for _, b in out], np.float32).reshape(-1, 4)
                                              ).max(initial=0.0) < 0.3:
                out.append((e, box))
        return [Track(id=e.id, face=Face(box=box, score=e.raw.score), state="fallback", misses=e.misses,
                      embedding=e.gallery.mean, reidentified=e.reidentified) for e, box in out]

    def _hidden_box(self, e: _Entry, now: float, within_s: float = HIDDEN_S) -> np.ndarray | None:
        """Where `e`, stopped behind a detected face, is covered (see `hidden`); None if it is not."""
        if (e.visible or e.lost_why != "occluded" or now - e.last_seen > within_s or e.hits < self.CONFIRM_HITS
                or e.last_seen - e.detected_at > self.SURE_S):
            return None
        box = np.asarray(e.detected_box, np.float32)
        if float(np.linalg.norm(e.detected_velocity)) * (now - e.detected_at) > self.HIDDEN_DRIFT * face_size(box):
            return None  # it was moving when last surely seen: it has gone on from there
        return box

    def _found_behind(self, now: float) -> None:
        """A hidden face ends for good once a face that arrived since (new, or back) is followed
        at its place: that is the face, under whichever id."""
        shown = [e for e in self._entries.values() if e.visible]
        for e in self._entries.values():
            box = self._hidden_box(e, now)
            if box is None:
                continue
            arrived = np.array([o.raw.box for o in shown if max(o.first_seen, o.revived_at) > e.last_seen], np.float32)
            if iou_matrix(box[None], arrived.reshape(-1, 4)).max(initial=0.0) >= 0.3:
                e.lost_why = "found"

    def doubted(self, now: float, within_s: float = 0.05) -> list[Track]:
        """Tracks stopped this shortly before (the frame they stopped, at 30 fps) because their face
        patch no longer looks like the face, though their flow held and the detector's last run had
        them: the face has most likely turned or gone half behind something, so where flow put it
        is covered rather than shown raw. Only until the detector has looked again (a stopped track
        asks for a detection on the next frame), and not where a shown track is now; a face that
        left and whose flow followed the background is covered there for that one frame. A frame later
        the cover has moved on at the face's velocity, and none is drawn once that is mostly out of
        the frame (a face going out whose look failed on its way: the cover would sit on the edge)."""
        # a face kept in front of the box over it is no face here (the cover spares its swap): the
        # face behind it, whose look failed as it went behind, is covered
        shown = np.array([e.raw.box for e in self._entries.values() if e.visible and not e.in_front],
                         np.float32).reshape(-1, 4)
        out = []
        for e in self._entries.values():
            if e.visible or e.lost_why != "look" or e.doubted is None or now - e.doubted[1] > within_s:
                continue
            shift = e.velocity * np.float32(min(max(now - e.doubted[1], 0.0), self.AHEAD_S))
            box = (np.asarray(e.doubted[0], np.float32) + np.tile(shift, 2)).astype(np.float32)
            if self._shape is not None and inside_fraction(box, self._shape) < self.evidence.min_inside:
                continue
            if iou_matrix(box[None], shown).max(initial=0.0) < 0.3:
                out.append(Track(id=e.id, face=Face(box=box, score=e.raw.score), state="fallback", misses=e.misses,
                                 embedding=e.gallery.mean, reidentified=e.reidentified))
        return out

    def smeared(self, now: float, recent_s: float = 0.2) -> list[tuple[int, np.ndarray, np.ndarray, float]]:
        """(id, box moved on by its velocity, velocity px/s, when last seen) of each confirmed track
        stopped within `recent_s` because its flow or its look failed (a face smeared by its
        motion; also one that set off from rest, so no velocity is asked for): the face stage
        looks for that face on a deblurred crop and covers it there (facestage/chase.py);
        nothing here changes."""
        return [(e.id, self._ahead(e, now), e.velocity.copy(), e.last_seen) for e in self._entries.values()
                if not e.visible and e.confirmed and e.lost_why in ("flow", "look") and now - e.last_seen <= recent_s]

    @property
    def lost_ids(self) -> list[int]:
        """Ids waiting for their person to come back."""
        return sorted(e.id for e in self._entries.values() if not e.visible)

    # -- steps ------------------------------------------------------------------
    def _predict(self, pyramid: list[np.ndarray] | None, visible: list[_Entry],
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
                   visible: list[_Entry], predicted: dict[int, tuple[Face | None, int]],
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
        self._confirm_smeared(looks, faces, on_track)
        self._learn(image, looks, faces, on_track, embeddings, now)

        taken = {e.id for e in revived.values()}
        for e in unmatched:
            if e.id not in taken and e.visible:
                self._missed(e, predicted[e.id], faces, pyramid, gray.shape, now)

    def _confirm_smeared(self, looks: list[CropLook], faces: list[Face], on_track: list[tuple[_Entry, int]]) -> None:
        """A detection whose landmarks are unsure but whose crop is motion-blurred, clear of every
        other face, confirms its track: blur explains the landmarker's doubt (a fast newcomer is
        swapped at once), while a fragment of a face (a brow above an occluder) touches that face."""
        boxes = np.array([f.box for f in faces], np.float32).reshape(-1, 4)
        for e, j in on_track:
            if not e.confirmed:
                others = np.delete(boxes, j, axis=0)
                # smeared by its length alone, it measured sharp: no doubt for blur to explain (a box
                # along a fast face's trail, twice its size, is found once; its smear is not read)
                if looks[j].rough(others, self.CLEAR_OF) == "blurred":
                    e.confirmed = True

    def _reclaim(self, image: np.ndarray, looks: list[CropLook], visible: list[_Entry], pairs: list[tuple[int, int]],
                 fresh: list[int], faces: list[Face], embeddings: dict[int, np.ndarray]
                 ) -> tuple[list[tuple[int, int]], list[int]]:
        """A fresh detection that is clearly the person of a track motion gave another detection
        (in a crowd, one face slid onto the other's track while they overlapped): the track takes
        its own face back, and the detection it held becomes fresh (someone back, or new). Judged
        on a good crop, and only when the detection the track held looks clearly less like it; a
        track holding a box over two faces (the landmarker unsure) takes back a sure box its
        person fits only weakly (`weak_threshold`: a face half behind another); the box it let
        go may be a half-seen face of its own (`_not_twice` judges it)."""
        held = dict(pairs)
        placed = {visible[r].id for r in held}
        good = {j: w is None for j, w in self._crop_faults(looks, faces, fresh, placed).items()}
        for j in list(fresh):
            if j not in embeddings or not held:
                continue
            sims = {r: visible[r].gallery.similarity(embeddings[j]) for r in held}
            r = max(sims, key=sims.__getitem__)
            c = held[r]
            # a track holding a box the landmarker hardly takes for a face (one box over two
            # faces) takes back a surer box its person fits only weakly (a face half behind another)
            over_two = self._unsure(faces[c]) and not self._unsure(faces[j])
            # a sure box that only the box the track holds covers, surely its person: two faces
            # one behind the other, the held box round the face behind (`inside`)
            inside = not over_two and not good[j] and not self._unsure(faces[j]) and sims[r] >= self.SAME_FACE
            if (over_two or inside) and not good[j]:  # that box is no face covering this one
                keep = [k for k in range(len(faces)) if k not in (j, c)] + [j]
                good[j] = self._crop_faults([looks[k] for k in keep], [faces[k] for k in keep], [len(keep) - 1],
                                            placed)[len(keep) - 1] is None
            if sims[r] < (self.rule.weak_threshold if over_two else self.rule.threshold) or not good[j]:
                continue
            if c not in embeddings:
                embeddings.update(self._embed(image, faces, [c]))
            if c not in embeddings or visible[r].gallery.similarity(embeddings[c]) > sims[r] - 2 * self.rule.margin:
                continue  # nothing to compare with, or its detection fits it as well
            held[r] = j
            fresh = [k for k in fresh if k != j] + [c]
            visible[r].restart_smoothing()  # no smear, and no velocity, from the face it was wrongly on
            visible[r].raw, visible[r].velocity = faces[j], np.zeros(2, np.float32)
            self.stats.reclaimed += 1
        return list(held.items()), fresh

    def _not_twice(self, visible: list[_Entry], pairs: list[tuple[int, int]], fresh: list[int], faces: list[Face],
                   embeddings: dict[int, np.ndarray]) -> list[int]:
        """Fresh detections that are not a second box on a face a track already holds this frame
        (a look-again crop or a box over part of the face beside it): one that overlaps the
        track's detection and is surely that track's person (SAME_FACE), more than any lost
        person's, starts no track (a second track on one person is two ID switches when it is
        relabelled). A face half behind the one in front can embed like it (cosine 0.4-0.6): such
        a box is a face of its own and keeps its detection. A box the landmarker hardly takes for
        a face that other faces' detections cover (OVER_HELD; held ones, or ones the landmarker is
        sure of) is one box over those faces: no track."""
        lost = [e for e in self._entries.values() if not e.visible and not e.gallery.empty]
        held = [(visible[r].gallery, faces[c].box) for r, c in pairs if not visible[r].gallery.provisional]
        held_c = {c for _, c in pairs}
        sure = np.array([f.box for k, f in enumerate(faces) if k in held_c or not self._unsure(f)],
                        np.float32).reshape(-1, 4)
        spots = [faces[c] for c in held_c if faces[c].kps5 is not None and not self._unsure(faces[c])]
        likeness = {j: -1.0 if embeddings.get(j) is None else
                    max([o.gallery.similarity(embeddings[j]) for o in lost], default=-1.0) for j in fresh}
        sure_fresh = [j for j in fresh if faces[j].kps5 is not None and not self._unsure(faces[j])]
        out = []
        for j in fresh:
            v = embeddings.get(j)
            best_lost = likeness[j]
            # a box the landmarker hardly takes for a face, lying over faces tracks hold or the
            # landmarker is sure of, is a box over two of them (between two overlapping faces)
            twin = self._unsure(faces[j]) and covered_together(faces[j].box, sure) >= self.OVER_HELD
            # a sure box whose landmarks lie on those of a held sure box is that face boxed twice
            # (once by the part that shows beside a face in front, once whole): its crop may embed
            # like no one (0.36 to its track), yet it is no one new, unless it is surely someone lost
            if not twin and faces[j].kps5 is not None and not self._unsure(faces[j]):
                twin = (any(self._one_spot(faces[j], f) for f in spots)
                        and best_lost < self.rule.threshold)
                # two fresh sure boxes on one spot (a face coming out from behind another, boxed
                # whole and by the part that shows) are one face: the one likelier someone lost stays
                if not twin and best_lost < self.rule.threshold:
                    twin = any(k != j and (likeness[k], -k) > (best_lost, -j) and self._one_spot(faces[j], faces[k])
                               for k in sure_fresh)
            if v is not None and held and not twin:
                touching = iou_matrix(faces[j].box[None], np.array([box for _, box in held], np.float32))[0] > 0
                for (gallery, _), touches in zip(held, touching):
                    if touches:
                        own = gallery.similarity(v)
                        if own >= self.SAME_FACE and own - best_lost >= self.rule.margin:
                            twin = True
                            break
            if twin:
                self.stats.duplicates += 1
            else:
                out.append(j)
        return out

    PRESSED = 0.1  # face sizes between a box and another face's within which it is pressed against it

    def _pressed(self, faces: list[Face], idx: list[int], placed: set[int]) -> set[int]:
        """faces[idx] whose box lies against another face's (within PRESSED face sizes; the other
        detections, and shown tracks no detection placed): a face half behind another is boxed by
        the part that shows, which may not even overlap the face in front."""
        boxes = self._face_boxes(faces, placed)
        out = set()
        for j in idx:
            box = boxes[j]
            m = self.PRESSED * face_size(box)
            others = np.delete(boxes, j, axis=0)
            if len(others) and bool(((others[:, 0] <= box[2] + m) & (others[:, 2] >= box[0] - m)
                                     & (others[:, 1] <= box[3] + m) & (others[:, 3] >= box[1] - m)).any()):
                out.add(j)
        return out

    def _one_spot(self, a: Face, b: Face) -> bool:
        """Two boxes' five landmarks lie on one face (within SAME_SPOT face sizes, on average)."""
        size = max(face_size(a.box), face_size(b.box))
        return float(np.linalg.norm(np.asarray(a.kps5) - np.asarray(b.kps5), axis=1).mean()) <= self.SAME_SPOT * size

    def _face_boxes(self, faces: list[Face], placed: set[int]) -> np.ndarray:
        """Every detection's box, then those of the shown tracks no detection placed (`placed`: the
        ids placed): each detection's other faces are all rows but its own."""
        unplaced = [e.raw.box for e in self._entries.values() if e.visible and e.id not in placed]
        return np.array([f.box for f in faces] + unplaced, np.float32).reshape(-1, 4)

    def _crop_faults(self, looks: list[CropLook], faces: list[Face], idx: list[int], placed: set[int],
                     max_covered: float = 0.2, rough: bool = False) -> dict[int, str | None]:
        """Why each of faces[idx] is not a crop worth learning from (gallery.crop_quality), with the
        other detections and the shown tracks no detection placed (`placed`: their ids) as faces
        that may cover it (more than `max_covered` of it): a face half behind an undetected one
        embeds like neither. rough: the smear's length not asked (CropLook.rough)."""
        boxes = self._face_boxes(faces, placed)
        rows = np.arange(len(boxes))
        ask = CropLook.rough if rough else CropLook.fault
        return {j: ask(looks[j], boxes[rows != j], max_covered) for j in idx}

    def _pair(self, image: np.ndarray, visible: list[_Entry], predictions: list[Face], faces: list[Face],
              embeddings: dict[int, np.ndarray], blurred: set[int] = frozenset(),  # type: ignore[assignment]
              merged: set[int] = frozenset()) -> list[tuple[int, int]]:  # type: ignore[assignment]
        """(track, detection) pairs: motion first, appearance on near-ties, then takeovers.
        blurred: detections whose crop is too blurred for appearance to tell (motion decides for the
        tracks fast enough to blur). merged: detections the landmarker hardly takes for a face
        (one box over two faces): motion decides for every track."""
        cost = association.motion_cost(predictions, faces, self.gates)
        # near-ties, and tracks that coasted (they may have drifted onto someone else): appearance decides
        unsure = association.ambiguous(cost, self.gates.ambiguity_margin)
        for i, e in enumerate(visible):
            if e.misses > 0 and not e.gallery.empty:
                unsure.update(int(j) for j in np.nonzero(cost[i] < FORBIDDEN)[0])
        settled = self._lone_fast_matches(cost, visible)
        if unsure and self.embed is not None:
            self.stats.ambiguous += len(unsure)
            embeddings.update(self._embed(image, faces, sorted(unsure)))
            similarity = self._similarity(visible, embeddings, len(faces))
            # only for a track fast enough for motion to explain the blur: a still face under a
            # lighting change, or two big faces overlapping, makes poor crops too, and there
            # appearance must still tell who is who
            fast = [i for i, e in enumerate(visible) if self._fast(e)]
            if fast:  # the crops' smears are read only then
                similarity[np.ix_(fast, sorted(blurred))] = np.nan
            similarity[:, sorted(merged)] = np.nan
            similarity[settled] = np.nan  # embedded all the same: what the gallery learns stays as it was
            cost = association.add_appearance(cost, similarity, unsure, self.gates)
        pairs = association.assign(cost)
        # a detection on a track the gates let go (lagging, drifted) is that track's face
        loose_t = [i for i in range(len(visible)) if i not in {r for r, _ in pairs}]
        loose_d = [j for j in range(len(faces)) if j not in {c for _, c in pairs}]
        for a, b in association.takeovers(np.array([predictions[i].box for i in loose_t], np.float32).reshape(-1, 4),
                                          np.array([faces[j].box for j in loose_d], np.float32).reshape(-1, 4)):
            e, j = visible[loose_t[a]], loose_d[b]
            if (j in embeddings and j not in merged and (not self._fast(e) or j not in blurred) and not e.gallery.empty
                    and e.gallery.similarity(embeddings[j]) < self.gates.appearance_gate):
                continue  # someone else stepped in front of it
            pairs.append((loose_t[a], j))
            self.stats.takeovers += 1
        return pairs

    def _missed(self, e: _Entry, prediction: tuple[Face | None, int], faces: list[Face],
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

    FRONT_LOOK = 0.98  # least patch agreement of a covered face taken to be in front (a face 36 % visible: up to 0.98)
    FRONT_MARGIN = 0.4  # landmark score by which a face in front is surer than every box over it

    def _in_front(self, e: _Entry, moved: Face, faces: list[Face], pyramid: list[np.ndarray] | None) -> bool:
        """A missed track inside a detected face's box is in front of that face, not behind it,
        when its face is seen whole while that one is not: of two overlapping faces the landmarker
        is sure of the one in front (its last detection, 0.9-1.0) and unsure of the one behind
        (0.0-0.5: its box, over both, holds a face partly covered), and the front face's patch
        still agrees with its last detected look. A face gone behind has a box of its own the
        landmarker was unsure of (0.0-0.1), or a patch that changed. Kept, it coasts on its
        evidence; stopped as occluded, the detector's next box on it went to the face behind."""
        if pyramid is None or e.reference is None:
            return False
        over = [f.landmark_score for f in faces if covered(moved.box, np.asarray(f.box, np.float32)[None]) > 0.05]
        own = e.raw.landmark_score
        if not over or own < self.UNSURE_LANDMARKS or max(over) > own - self.FRONT_MARGIN:
            return False
        look = agreement(e.reference, face_patch(pyramid, moved.box))
        return look is not None and look >= self.FRONT_LOOK

    def _reidentify(self, candidates: list[_Entry], faces: list[Face], fresh: list[int],
                    embeddings: dict[int, np.ndarray], now: float,
                    faults: dict[int, str | None] | None = None,
                    shape: tuple[int, ...] | None = None) -> tuple[dict[int, _Entry], set[int]]:
        """{detection index: track} for fresh detections that are a lost (or astray) person, and
        the detections among them taken back on a weak embedding or by where they came out
        (tentatively). faults: why each fresh detection's crop is not worth learning from.
        shape: the frame's (height, width) (faces walking in cut by its edge)."""
        out: dict[int, _Entry] = {}
        with_gallery = [e for e in candidates if not e.gallery.empty]
        dets = [j for j in fresh if j in embeddings]
        for c, r in reid.by_appearance([e.gallery for e in with_gallery], [embeddings[j] for j in dets],
                                       self.rule).items():
            out[dets[c]] = with_gallery[r]
        # a weak embedding (half a face at the edge) that still points at one lost person only:
        # taken back tentatively rather than started as someone new (a new id, relabelled a
        # few frames later, is two id switches and the wrong target meanwhile)
        lost = [e for e in with_gallery if not e.visible and e not in out.values()]
        rest = [j for j in dets if j not in out]
        weak: set[int] = set()
        for c, r in reid.by_margin([e.gallery for e in lost], [embeddings[j] for j in rest], self.rule).items():
            out[rest[c]] = lost[r]
            weak.add(rest[c])
        # moments after a miss, where it was: the same face, unless appearance says otherwise
        lost = [e for e in candidates if not e.visible and e not in out.values()]
        rest = [j for j in fresh if j not in out]
        if lost and rest:
            # a gallery of poor crops only (a blurred fast face) cannot say "someone else"
            contradicts = np.array([[j in embeddings and not e.gallery.empty and not e.gallery.provisional
                                     and e.gallery.similarity(embeddings[j]) < self.gates.appearance_gate
                                     for j in rest] for e in lost])
            # where each went since (constant velocity): a fast face lost to blur shows up further on
            for c, r in reid.by_place(np.array([self._ahead(e, now) for e in lost], np.float32),
                                      np.array([now - e.last_seen for e in lost]),
                                      np.array([faces[j].box for j in rest], np.float32), self.rule,
                                      contradicts).items():
                out[rest[c]] = lost[r]
        # coming out from behind a face or an object, too poorly seen to tell: the track lost
        # close by moments ago, tentatively (a new id, relabelled on the first good crop, is two
        # ID switches); not a track that left the frame, nor a fragment never confirmed a face.
        # A shown track no detection matched counts too for a face against another face: its own
        # face, half over the other, embeds like nobody, and appearance turned the match down (a
        # blurred-looking crop of a still face is no such excuse: there appearance stands)
        faults = faults or {}
        lost = [e for e in candidates if e not in out.values() and e.confirmed and not e.gallery.empty
                and (e.visible or e.lost_why != "left")]
        rest = [j for j in fresh if j not in out and faults.get(j) is not None]
        if lost and rest:
            sims = np.array([[e.gallery.similarity(embeddings[j]) if j in embeddings and not e.gallery.provisional
                              else np.nan for j in rest] for e in lost])
            allowed = np.array([[not e.visible or faults[j] == "covered" for j in rest] for e in lost])
            for c, r in reid.by_emerging(np.array([self._ahead(e, now) for e in lost], np.float32),
                                         np.array([now - e.last_seen for e in lost]),
                                         np.array([faces[j].box for j in rest], np.float32), sims, self.rule,
                                         allowed).items():
                out[rest[c]] = lost[r]
                weak.add(rest[c])
        # walking back in, cut by the frame's edge (half a face embeds like nobody): the person who
        # left the frame moments ago, tentatively (a new id, relabelled on the first good crop, is
        # two ID switches); not a track never confirmed a face, nor one known by poor crops only
        if shape is not None:
            lost = [e for e in candidates if e not in out.values() and not e.visible and e.confirmed
                    and not e.gallery.empty and not e.gallery.provisional
                    and (e.lost_why == "left" or self._at_edge(e.raw.box, shape))]
            rest = [j for j in fresh if j not in out and self._at_edge(faces[j].box, shape)]
            if lost and rest:
                sims = np.array([[e.gallery.similarity(embeddings[j]) if j in embeddings else np.nan for j in rest]
                                 for e in lost])
                for c, r in reid.by_entering(np.array([now - e.last_seen for e in lost]), sims, self.rule).items():
                    out[rest[c]] = lost[r]
                    weak.add(rest[c])
        return out, weak

    EDGE = 0.05  # face sizes from the frame's edge within which a box is cut by it (detectors stop a few px short)

    @classmethod
    def _at_edge(cls, box: np.ndarray, shape: tuple[int, ...]) -> bool:
        """The box reaches the frame's edge (a face walking in or out is cut by it)."""
        h, w = shape[:2]
        x0, y0, x1, y1 = (float(v) for v in box)
        m = max(1.0, cls.EDGE * face_size(np.asarray(box, np.float32)))
        return x0 <= m or y0 <= m or x1 >= w - m or y1 >= h - m

    def _learn(self, image: np.ndarray, looks: list[CropLook], faces: list[Face], on_track: list[tuple[_Entry, int]],
               embeddings: dict[int, np.ndarray], now: float) -> None:
        """Embeddings for this frame's detected tracks: those computed already, then (within the
        budget) tracks with no gallery yet and re-checks that are due. Each is checked against
        lost people (an id swapped during a crossing, a newcomer that is someone back) and
        learnt into the gallery."""
        if self.embed is None:
            return
        placed = {e.id for e, _ in on_track}
        why = self._crop_faults(looks, faces, [j for _, j in on_track], placed, rough=True)
        for e, j in on_track:  # a smear longer than the face moved in a frame is its picture's own look (a still
            # face): read only for a face moving that fast
            if why[j] is None and self._smearing(e) and looks[j].smeared:
                why[j] = "blurred"
        good = {j: w is None for j, w in why.items()}
        # a crop another face covers is not learnt, but it still tells a lost person back (the
        # re-check's threshold and margin guard it)
        checkable = {j: w in (None, "covered") for j, w in why.items()}
        want = [(e, j) for e, j in on_track if j not in embeddings
                and (e.gallery.empty or now - e.last_embedded >= self.recheck_s or (e.crossed and not e.near)
                     # a poor-crop gallery or a tentative revival: on the very first good crop
                     or ((e.gallery.provisional or e.tentative) and now > e.last_embedded and checkable[j])
                     # after a box over two faces, the first good crop says whose face it holds now
                     or (e.slid and why[j] in (None, "blurred") and not self._unsure(faces[j]))
                     or ((e.doubt is not None or self._young(e, now))
                         and now - e.last_embedded >= self.provisional_s and checkable[j]))]
        # no gallery first, then a tentative revival or a gallery holding only a poor crop now that
        # a good one is there (a face cut by the frame's edge as it walked in: until a good crop
        # replaces it, the person could not be recognised on return), then young tracks
        want.sort(key=lambda p: (not p[0].gallery.empty, not (p[0].gallery.provisional or p[0].tentative or p[0].slid),
                                 not self._young(p[0], now), p[0].last_embedded))
        embeddings = {**embeddings, **self._embed(image, faces, [j for _, j in want])}
        pressed = self._pressed(faces, [j for _, j in on_track], placed)
        checked = [(e, embeddings[j]) for e, j in on_track if j in embeddings]
        for a, b in reid.swapped([e.gallery for e, _ in checked], [v for _, v in checked], self.rule):
            self._swap_people(checked[a][0], checked[b][0])
        # a tentative revival is judged only on a crop that touches no other face: a face still
        # partly behind another embeds like nobody (0.0-0.2 to its own person) on crops the gate passes
        touching = self._crop_faults(looks, faces, [j for e, j in on_track if e.tentative], placed, 0.0, rough=True)
        for e, j in on_track:
            if j in embeddings and e.id in self._entries and e.visible:
                apart = not e.tentative or touching.get(j) != "covered"
                self._check_and_learn(e, embeddings[j], good[j], now, clear=why[j] in (None, "blurred"),
                                      pressed=j in pressed, apart=apart)

    def _swap_people(self, a: _Entry, b: _Entry) -> None:
        """Two faces that crossed carry each other's ids: each person takes their id, gallery and
        history back; the positions stay where the faces are."""
        for name in ("id", "gallery", "pressed", "learnt_fast", "first_seen", "reidentified", "hits"):
            va, vb = getattr(a, name), getattr(b, name)
            setattr(a, name, vb)
            setattr(b, name, va)
        self._entries[a.id], self._entries[b.id] = a, b
        self.stats.identity_swaps += 1

    def _young(self, e: _Entry, now: float) -> bool:
        """A track whose identity is still checked on every few crops (see young_s)."""
        return e.reidentified == 0 and e.embedded < self.young_embeddings and now - e.first_seen < self.young_s

    def _unsure(self, face: Face) -> bool:
        """A detection the landmarker hardly takes for a face (one box over two faces)."""
        return face.landmark_score is not None and face.landmark_score < self.UNSURE_LANDMARKS

    def _check_and_learn(self, e: _Entry, v: np.ndarray, good: bool, now: float, clear: bool | None = None,
                         pressed: bool = False, apart: bool = True) -> None:
        """clear: the crop shows this face alone, whole, and sure (good, or only blurred: it is
        embedded deblurred); default `good`. pressed: its box lies against another face's (`_pressed`).
        apart: its box touches no other face's (a tentative revival is judged only then)."""
        clear = good if clear is None else clear
        crossed, slid = e.crossed, e.slid and clear
        e.slid = e.slid and not good  # a smeared crop too weak to tell: the next one is checked too
        e.last_embedded, e.crossed = now, False
        e.embedded += 1
        lost = [o for o in self._entries.values() if not o.visible and not o.gallery.empty]
        if e.tentative:
            if not good or not apart or now <= e.revived_at:
                return  # the crop it was revived on, or a weak one: neither confirms nor undoes it (nor is learnt)
            e.tentative = False
            # not who the weak embedding (or the place) said; a gallery of poor crops only (the person
            # never seen well) cannot say so: the good crop replaces it below
            own, sims = e.gallery.similarity(v), [o.gallery.similarity(v) for o in lost]
            # a fast face's crop that passes the gate still embeds weakly (0.3-0.5 to its own
            # person, against 0.0-0.2 to others): one that still points at this person stands
            # the same holds for a sharp crop (the face has stopped) of a face lost to its motion
            # blur whose gallery was learnt while it moved fast: its smeared crops are the weak side
            stands = ((self._fast(e) or e.blur_lost) and own >= self.rule.weak_threshold
                      and own - max(sims, default=-1.0) >= self.rule.margin)
            if own < self.rule.threshold and not e.gallery.provisional and not stands:
                best = reid.better_elsewhere(-1.0, sims, self.rule)
                if best is None and e.pressed:
                    # a gallery learnt only while the face was pressed against another (its box held
                    # the part that showed: 0.16 like the whole face later) cannot say it is someone
                    # new: the good crop is its look from now on
                    e.gallery.restart(v)
                    e.pressed, e.learnt_fast = pressed, self._fast(e)
                    return
                e = self._undo_revival(e, now) if best is None else self._hand_back(e, lost[best], now)
        # a gallery holding only a poor crop says little about who this is: a good crop is judged
        # against the lost people as if the track had no gallery yet
        own = -1.0 if e.gallery.provisional and good else e.gallery.similarity(v)
        sims = [o.gallery.similarity(v) for o in lost]
        best = reid.better_elsewhere(own, sims, self.rule)
        # after a box over two faces, a good crop unlike the track and like one lost person only
        # is that person's face, onto which the track slid (their galleries, learnt from blurred
        # or overlapping crops, are weak: a weak likeness that clear is enough, and is final)
        if best is None and slid:
            best = reid.slid_onto(own, sims, self.rule)
        if best is not None:
            # a fast track that slid onto this face along a box over both was last surely seen on
            # that box: where its own face went since is not known, so it is not hidden there
            self._hand_over(e, lost[best], now, hidden=not slid)
            e = lost[best]
            e.tentative = False
        # never learn someone else: only a clear likeness is learnt (two faces overlapping as one
        # detection, a track that slid onto a neighbour, embed half like it: learnt, the gallery
        # would match both people); a poor first crop is replaced by the first good one unless
        # the face has been beside another since
        own = e.gallery.similarity(v)
        if e.gallery.empty or own >= self.rule.threshold or (e.gallery.provisional and good and not crossed):
            if good or e.gallery.empty or e.gallery.provisional:  # else the gallery stays as it is
                e.pressed = pressed and (e.gallery.empty or e.gallery.provisional or e.pressed)
            e.gallery.add(v, good=good)
            e.learnt_fast = e.learnt_fast or self._fast(e)
            e.doubt = None
        elif good and not crossed and len(e.gallery) == 1 and e.reidentified == 0 and now - e.first_seen < self.young_s:
            # a newcomer's first crop can mislead in ways the quality gate misses (motion, a hand):
            # two later good crops that agree with each other, and not with it, replace it
            if e.doubt is not None and float(e.doubt @ v) >= self.rule.threshold:
                e.gallery.restart(e.doubt)
                e.gallery.add(v)
                e.pressed = False
                e.learnt_fast = self._fast(e)
                e.doubt = None
            else:
                e.doubt = v

    def _hand_over(self, e: _Entry, back: _Entry, now: float, hidden: bool = True) -> None:
        """`e`'s face is really the lost person `back`: `back` takes its place on screen. A track
        only moments old (a newcomer whose embedding came late) is dropped, not kept as lost.
        hidden: `e` may be hidden behind that face at its own last sure box (see below)."""
        self._take_face(back, e, now)
        # a newcomer's id that turned out to be `back` all along names nobody: dropped, so that its
        # few (often poor) crops do not wait as a lost "person" that other faces can match
        if e.gallery.empty or e.gallery.provisional or (e.reidentified == 0 and now - e.first_seen < self.young_s):
            self._drop(e)
        else:
            self._lose(e, now)
            if e.detected_at == now and e.sure_before is not None:  # that sure box was `back`'s face
                e.detected_box, e.detected_at, e.detected_velocity = e.sure_before
            # its own face, where it was last surely seen, lies behind the face it slid onto (one
            # box over both held it): hidden there, so what shows of it beside that face is covered
            if hidden and e.detected_box is not None and covered(np.asarray(e.detected_box, np.float32),
                                                      np.asarray(back.raw.box, np.float32)[None]) >= self.occlusion:
                e.lost_why = "occluded"

    def _take_face(self, back: _Entry, e: _Entry, now: float) -> None:
        """`back` is shown where `e`'s face is."""
        back.raw, back.face, back.reference, back.points = e.raw, e.face, e.reference, None
        back.visible, back.state, back.misses, back.doubt = True, "detected", 0, None
        back.last_seen = back.last_detected = now
        back.restart_smoothing()
        back.reidentified += 1
        self.stats.identity_swaps += 1

    def _hand_back(self, e: _Entry, other: _Entry, now: float) -> _Entry:
        """A tentative revival of `e` was wrong and the face is the lost person `other`: `other`
        takes the face and `e` goes back to waiting, as it was."""
        self._take_face(other, e, now)
        self._lose(e, e.lost_at)
        e.last_seen = e.lost_at
        return other

    def _undo_revival(self, e: _Entry, now: float) -> _Entry:
        """A tentative revival that the first good crop contradicts: the face is someone new
        (a new id), and `e` goes back to waiting for its person, as it was."""
        n = self._new_on(e, now)
        self._lose(e, e.lost_at)
        e.last_seen = e.lost_at
        return n

    def _new_on(self, e: _Entry, now: float) -> _Entry:
        """A new person where `e`'s face is now (its place, motion and smoothing go with the face)."""
        n = self._new(e.raw, None, now)
        n.face, n.reference, n.velocity = e.face, e.reference, e.velocity
        n.kps_filter, n.box_filter, n.lm_filter = e.kps_filter, e.box_filter, e.lm_filter
        n.last_embedded, n.embedded, n.confirmed = now, 1, n.confirmed or e.confirmed
        e.kps_filter, e.box_filter, e.lm_filter = (OneEuroFilter(self.min_cutoff, self.beta) for _ in range(3))
        return n

    def _drop(self, e: _Entry) -> None:
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
    def _match(self, e: _Entry, face: Face, pyramid: list[np.ndarray] | None, now: float) -> None:
        face = self._unsmeared(e, face, now)
        self._follow(e, face, now)
        e.in_front = e.dragged = False
        e.raw = face
        if face.landmarks68 is None or face.landmark_score >= self.UNSURE_LANDMARKS:  # no landmarker: nothing to doubt
            e.sure_before = (e.detected_box, e.detected_at, e.detected_velocity)
            e.detected_box, e.detected_at, e.detected_velocity = face.box, now, self._sure_velocity(e, face.box, now)
        e.face = self._smooth(e, face, now)
        e.reference = face_patch(pyramid, face.box) if pyramid is not None else None
        e.state, e.misses, e.guessed = "detected", 0, 0
        e.hits += 1
        # no landmarks: no landmarker ran, nothing to judge by
        e.confirmed = (e.confirmed or face.landmarks68 is None or face.landmark_score >= self.UNSURE_LANDMARKS
                       or e.hits >= self.CONFIRM_HITS)
        e.age += 1
        e.last_seen = e.last_detected = now

    GROWN = 1.6  # times its last sure size over which a box the landmarker doubts holds the face smeared
    # (pan-0, fast-3: 1.8-2.1; a doubted box of a face really there, on 10 clips: 0.66-1.47)
    SMEAR_S = 0.5  # the face's last sure size stands this long (faces do not double in size in half a second)

    def _unsmeared(self, e: _Entry, face: Face, now: float) -> Face:
        """A box the landmarker doubts that is far bigger than the face was when last surely
        detected, moments ago, holds the face smeared by its motion (a dash, a fast pan) and the
        background round it: the face is at its centre, at its last sure size (a swap drawn on the
        whole box lies mostly off the face)."""
        if not self._unsure(face) or e.detected_box is None or now - e.detected_at > self.SMEAR_S:
            return face
        scale = face_size(np.asarray(e.detected_box, np.float32)) / max(1.0, face_size(face.box))
        if scale * self.GROWN > 1.0:
            return face
        cx, cy = ((face.box[:2] + face.box[2:]) / 2).tolist()
        return warp_face(np.float32([[scale, 0, cx * (1 - scale)], [0, scale, cy * (1 - scale)]]), face)

    def _sure_velocity(self, e: _Entry, box: np.ndarray, now: float) -> np.ndarray:
        """`e`'s velocity read over its sure detections of the last SURE_BASELINE_S (one frame's
        step of a detector's box is mostly its jitter, tens of px/s on a still face, more on a box
        another face is eating into); its frame-to-frame velocity while it has none that old."""
        centre = ((box[:2] + box[2:]) / 2).astype(np.float32)
        e.sure_centres = [(t, c) for t, c in e.sure_centres if now - t <= self.SURE_BASELINE_S] + [(now, centre)]
        then, was = e.sure_centres[0]
        if now - then < 0.5 * self.SURE_BASELINE_S:
            return e.velocity
        return ((centre - was) / np.float32(now - then)).astype(np.float32)

    def _coast(self, e: _Entry, prediction: tuple[Face | None, int], pyramid: list[np.ndarray] | None,
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
        if now - e.last_detected > self.max_coast_s:
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

    DRAGGED_LOOK = 0.7  # patch agreement under which a coasting face moving as the face it touches is that face
    DRAG_TOL = 0.06  # face sizes a frame within which its flow's step is the other face's motion

    def _dragged(self, e: _Entry, moved: Face, look: float | None, now: float) -> bool:
        """`e`'s flow points slid onto a shown face its box touches, its own face gone behind it:
        its step is that face's motion, not the course it was on (once dragged, until detected
        again, it stays so while its step is that face's), and its patch hardly agrees with its
        last look (a coasting face seen whole agrees 0.9-1.0; one dragged along by the face in
        front, 0.57). Drawn on, its swap lies on the edge of the face in front, where no face is.
        Two faces keeping still side by side move alike: neither is dragged."""
        dt = now - e.last_seen
        if look is None or look >= self.DRAGGED_LOOK or dt <= 0:
            return False
        box = np.asarray(moved.box, np.float32)
        step = ((box[:2] + box[2:]) - (e.raw.box[:2] + e.raw.box[2:])) / 2 / np.float32(dt)
        tol = self.DRAG_TOL * face_size(box) / dt
        return any(float(np.linalg.norm(step - o.velocity)) <= tol
                   and (e.dragged or float(np.linalg.norm(e.velocity - o.velocity)) > tol)
                   for o in self._entries.values()
                   if o is not e and o.visible and covered(box, np.asarray(o.raw.box, np.float32)[None]) > 0)

    HIDDEN_DRIFT = 0.3  # face sizes a hidden face may have gone (at its last sure velocity) and still be covered there
    SURE_BASELINE_S = 0.4  # the span a hidden face's last velocity is read over (see _sure_velocity)
    SURE_S = 0.3  # a hidden face is covered only where it was surely detected this shortly before (else it has moved)
    UNSURE_LANDMARKS = 0.5  # landmark score under which a detection's embedding is no evidence
    CONFIRM_HITS = 2  # detections after which a track no landmark score confirmed is drawn anyway (a real
    # face blurred on every frame; fragments of a face are found once or twice)
    OVER_HELD = 0.7  # share of an unsure fresh box other faces' detections cover for it to be a box over them
    # (two faces' boxes cover 0.7-0.9 of one between them; a half-hidden face's own box, about half)
    SAME_SPOT = 0.2  # mean distance of two sure boxes' landmarks, in face sizes, under which they are one face
    # (two boxes on one half-hidden face: 0.15; a face half behind another, against the front one: 0.31)
    SAME_FACE = 0.7  # least similarity of a second box to the track whose detection it overlaps to be taken for that face
    CLEAR_OF = 0.05  # share of a blurred detection another face may cover and it still confirms its track
    AHEAD_S = 0.1  # longest a velocity is extrapolated (beyond it a fast face has likely turned)
    MAX_GUESSED = 2  # frames a track may be shown on its velocity alone (constant velocity is 1-6 % off by
    # IoU 0.3 one or two frames ahead on the suite's fast zig-zags, 7-12 % three frames ahead)
    FAST = 0.1  # face sizes a frame above which a face whose flow failed is taken to be blurred by its speed

    def _lone_fast_matches(self, cost: np.ndarray, visible: list[_Entry]) -> list[int]:
        """Fast tracks that coasted (blur hides a fast face from the detector now and then) with
        one detection in their gates that no other track could take: motion has settled them, and
        a gallery learnt from crops that blur spoils must not send its own face to a new track."""
        ok = cost < FORBIDDEN
        per_track, per_detection = ok.sum(axis=1), ok.sum(axis=0)
        return [i for i, e in enumerate(visible)
                if per_track[i] == 1 and per_detection[int(np.argmax(ok[i]))] == 1 and e.misses <= 1 and self._fast(e)]

    def _fast(self, e: _Entry) -> bool:
        """Moving fast enough for motion blur to explain a flow failure (a still face whose flow
        fails was covered or left: no guessing)."""
        return float(np.linalg.norm(e.velocity)) / 30.0 >= self.FAST * face_size(e.raw.box)

    def _smearing(self, e: _Entry) -> bool:
        """Moving fast enough (face sizes a frame) to be smeared as far as the gallery's gate allows
        (gallery.MAX_SMEAR: the shutter is open a frame at most)."""
        return float(np.linalg.norm(e.velocity)) / 30.0 >= MAX_SMEAR * max(float(e.raw.box[2] - e.raw.box[0]),
                                                                           float(e.raw.box[3] - e.raw.box[1]))

    def _drift(self, e: _Entry, now: float) -> np.ndarray:
        """How far `e` moved since last seen at its velocity (constant velocity, at most AHEAD_S)."""
        return e.velocity * np.float32(min(max(now - e.last_seen, 0.0), self.AHEAD_S))

    def _shifted(self, e: _Entry, now: float) -> Face:
        """`e`'s last face moved on by its drift to `now`."""
        shift = self._drift(e, now)
        return warp_face(np.float32([[1, 0, shift[0]], [0, 1, shift[1]]]), e.raw)

    def _ahead(self, e: _Entry, now: float) -> np.ndarray:
        """`e`'s box moved on by its drift to `now`."""
        return (e.raw.box + np.tile(self._drift(e, now), 2)).astype(np.float32)

    @staticmethod
    def _follow(e: _Entry, face: Face, now: float) -> None:
        """The track's velocity from its last place to this one (smoothed; reset after a gap)."""
        dt = now - e.last_seen
        if not e.visible or dt <= 0 or dt > 0.2:
            e.velocity = np.zeros(2, np.float32)
            return
        step = ((face.box[:2] + face.box[2:]) - (e.raw.box[:2] + e.raw.box[2:])) / 2 / np.float32(dt)
        e.velocity = (0.5 * e.velocity + 0.5 * step).astype(np.float32)

    def _stop(self, e: _Entry, why: str, now: float) -> None:
        self.stats.hidden[why] += 1
        self.wants_detection = True
        self._lose(e, now)
        e.lost_why = why

    def _lose(self, e: _Entry, now: float) -> None:
        e.lost_why = "lost"
        e.visible = False
        e.points = None
        e.last_seen = min(e.last_seen, now)

    def _revive(self, e: _Entry, face: Face, pyramid: list[np.ndarray] | None, now: float,
                tentative: bool = False) -> _Entry:
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

    def _new(self, face: Face, pyramid: list[np.ndarray] | None, now: float) -> _Entry:
        e = _Entry(id=self._next_id, face=face, raw=face, first_seen=now, last_seen=now, last_detected=now,
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

    def _similarity(self, visible: list[_Entry], embeddings: dict[int, np.ndarray], n: int) -> np.ndarray:
        sim = np.full((len(visible), n), np.nan)
        for j, v in embeddings.items():
            for i, e in enumerate(visible):
                if not e.gallery.empty:
                    sim[i, j] = e.gallery.similarity(v)
        return sim

    def _smooth(self, e: _Entry, face: Face, now: float) -> Face:
        size = face_size(face.box)
        parts = [(f, v) for f, v in ((e.box_filter, face.box.reshape(2, 2)), (e.kps_filter, face.kps5),
                                     (e.lm_filter, face.landmarks68)) if v is not None]
        done = iter(smooth_together([f for f, _ in parts], [v for _, v in parts], now, size))  # one pass, same numbers
        box = next(done).reshape(4)
        kps = None if face.kps5 is None else next(done)
        lm = None if face.landmarks68 is None else next(done)
        return Face(box=box, score=face.score, kps5=kps, landmarks68=lm,
                    landmark_score=face.landmark_score, embedding=face.embedding)

    WHOLE_ASPECT = 1.25  # height over width of the detector's box on a whole face (1.24-1.4 on the suite's faces)
    CUT = 0.85  # share of that shape under which a box is cut

    def _whole_box(self, e: _Entry, shown: list[_Entry]) -> np.ndarray | None:
        """The box of the whole face, for a face half behind another that the detector boxed by
        the part that shows (its landmarks unsure, its box cut short against the face in front, a
        face the landmarker is sure of): grown on that side to a whole face's shape, no further
        than the front face's box (what is hidden lies behind it). None: the box is whole."""
        if e.raw.landmarks68 is None or e.raw.landmark_score >= self.UNSURE_LANDMARKS:
            return None
        box = np.asarray(e.face.box, np.float32)
        w, h = float(box[2] - box[0]), float(box[3] - box[1])
        if w <= 0 or h <= 0:
            return None
        margin = self.PRESSED * face_size(box)
        for o in shown:
            if o is e or o.raw.landmark_score < self.UNSURE_LANDMARKS:
                continue
            f = np.asarray(o.face.box, np.float32)
            if not (f[0] <= box[2] + margin and f[2] >= box[0] - margin and f[1] <= box[3] + margin
                    and f[3] >= box[1] - margin):
                continue  # not against this face
            out = box.copy()
            if h < self.CUT * self.WHOLE_ASPECT * w:  # cut above or below
                if f[1] > box[1] + 0.5 * h:  # the face in front below: its chin is behind it
                    out[3] = min(box[1] + self.WHOLE_ASPECT * w, max(box[3], f[3]))
                elif f[3] < box[3] - 0.5 * h:
                    out[1] = max(box[3] - self.WHOLE_ASPECT * w, min(box[1], f[1]))
            elif w < self.CUT * h / self.WHOLE_ASPECT:  # cut at a side
                if f[0] > box[0] + 0.5 * w:
                    out[2] = min(box[0] + h / self.WHOLE_ASPECT, max(box[2], f[2]))
                elif f[2] < box[2] - 0.5 * w:
                    out[0] = max(box[2] - h / self.WHOLE_ASPECT, min(box[0], f[0]))
            if not np.array_equal(out, box):
                return out
        return None

    def _snapshot(self, e: _Entry, slot: int, whole: np.ndarray | None = None) -> Track:
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
