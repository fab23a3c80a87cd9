"""Faces behind, half behind or smeared: where the tracker says a face is that no sure box
shows. A track stopped behind a detected face is covered there (`hidden`); one stopped on its
patch alone, flow holding, is covered where flow put it until the detector has looked (`doubted`),
that cover moving on with it; one the detector missed inside a detected face's box is hidden
behind it, unless it is in front (`_in_front`: its landmarks were sure, that box's are not, and its
patch has not changed). A face half behind another, boxed by the part that shows, is shown with the
box of its whole face (`_whole_box`), and so is a face cut by the frame's edge (`_past_edge`). A
box the landmarker doubts, far bigger than the face was when last surely seen, is the face smeared
by its motion: the track takes its centre at the face's sure size (`_unsmeared`). A coasting track
whose flow step is the motion of a face its box touches, not its own course, its patch hardly
agreeing, has its points on that face: followed on, not drawn (`_dragged`). A confirmed track
lost to its flow or look moments ago is offered to the face stage's deblurred chase (`smeared`).
"""

from __future__ import annotations

import numpy as np

from bridge.track.association import covered, face_size
from bridge.track.entry import Entry
from bridge.track.evidence import agreement, face_patch, inside_fraction
from bridge.track.flow import warp_face
from bridge.faces.boxes import box_centre, iou_matrix
from bridge.types import Face, Track


class Occlusion:
    """Tracker's occlusion rules (mixed into Tracker: they read its tracks and evidence)."""

    HIDDEN_S = 3.0  # longest a track stopped behind a face is covered there (Tracker.hidden's default)

    def hidden(self, now: float, within_s: float = HIDDEN_S) -> list[Track]:
        """Established tracks stopped behind a detected face within `within_s`, where their face
        should be: the person may still show beside the face in front (the face stage covers what
        shows). It is placed where it was last surely detected (coasting onto the face in front, and
        boxes over a face half behind another, drift), and only while it cannot have gone far from
        there at the velocity it had then, read over its sure detections of the moments before (a
        face crossing behind another moves on; a still one's box jitters). A face half behind
        another a while is detected only by the part that shows, the landmarker unsure of it, so its
        last sure detection is old: followed until a frame ago, it is covered where it was followed,
        moved on at its velocity, for UNSURE_HIDDEN_S (it cannot have gone far); so is one followed
        since its last sure detection (on flow, or on unsure boxes) fast enough to leave its reach
        (it set off, or turned, as it went behind), moved on at the speed it was followed at. A
        track that hands the face it held to the person whose face that is (`_hand_over`) is hidden
        too when that face covers its own last sure box (one box over both held it). One ends for
        good once a face that arrived since (new, or back) is followed at its place: that is the
        face, under whichever id; of two at one place the later one counts."""
        out: list[tuple[Entry, np.ndarray]] = []
        for e in sorted(self._entries.values(), key=lambda e: -e.last_seen):
            box = self._hidden_box(e, now, within_s)
            if box is not None and iou_matrix(box[None], np.array([b for _, b in out], np.float32).reshape(-1, 4)
                                              ).max(initial=0.0) < 0.3:
                out.append((e, box))
        return [Track(id=e.id, face=Face(box=box, score=e.raw.score), state="fallback", misses=e.misses,
                      embedding=e.gallery.mean, reidentified=e.reidentified) for e, box in out]

    def _hidden_box(self, e: Entry, now: float, within_s: float = HIDDEN_S) -> np.ndarray | None:
        """Where `e`, stopped behind a detected face, is covered (see `hidden`); None if it is not."""
        if e.visible or e.lost_why != "occluded" or now - e.last_seen > within_s or e.hits < self.CONFIRM_HITS:
            return None
        if e.last_seen - e.detected_at > self.SURE_S:
            # half behind a face a while, detected only unsurely (boxed by the part that shows):
            # covered where it was last followed, moved on at its velocity, for a moment only; a
            # track never surely detected may be a fragment of a face (a brow above the one in front)
            if (e.detected_box is None or now - e.last_seen > self.UNSURE_HIDDEN_S
                    or e.last_seen - e.last_detected > self.SURE_S):
                return None
            return self._moved_on(e, e.velocity, now)
        box = np.asarray(e.detected_box, np.float32)
        speed = float(np.linalg.norm(e.detected_velocity))
        if not self._velocity_read(e):
            # surely seen too briefly to read its velocity (just born): it may be moving as it
            # was followed, so it may have gone on at that speed too
            speed = max(speed, float(np.linalg.norm(e.velocity)))
        reach = self.HIDDEN_DRIFT * face_size(box)
        if e.last_seen > e.detected_at and not e.handed_back:
            # followed since (on flow, or on unsure boxes; not on a face it handed back), faster
            # than its sure velocity, fast enough to leave reach of its last sure box within a
            # moment (it set off or turned as it went behind): covered where it was followed,
            # moved on so, for that moment only
            went = box_centre(np.asarray(e.raw.box, np.float32)) - box_centre(box)
            went = went / np.float32(e.last_seen - e.detected_at)
            followed_speed = float(np.linalg.norm(went))
            if followed_speed > speed and followed_speed * (e.last_seen - e.detected_at + self.UNSURE_HIDDEN_S) > reach:
                return None if now - e.last_seen > self.UNSURE_HIDDEN_S else self._moved_on(e, went, now)
        if speed * (now - e.detected_at) > reach:
            return None  # it was moving when last surely seen: it has gone on from there
        return box

    @staticmethod
    def _moved_on(e: Entry, velocity: np.ndarray, now: float) -> np.ndarray:
        """`e`'s last followed box moved on at `velocity` since."""
        shift = np.tile(velocity * np.float32(now - e.last_seen), 2)
        return (np.asarray(e.raw.box, np.float32) + shift).astype(np.float32)

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
        asks for a detection on the next frame), and not where a shown track is now (a box mostly
        on a shown face's is that face; a crowd's face gone half behind the face in front of it
        overlaps that face's box less, and is covered: the cover spares the front face); a face that
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
            if iou_matrix(box[None], shown).max(initial=0.0) < self.DOUBTED_SAME:
                out.append(Track(id=e.id, face=Face(box=box, score=e.raw.score), state="fallback", misses=e.misses,
                                 embedding=e.gallery.mean, reidentified=e.reidentified))
        return out

    DOUBTED_SAME = 0.6  # IoU with a shown face's box from which a doubted box is that face, not one behind it
    # (crowd-3's faces whose look failed going half behind a face in front: 0.34-0.49 with its box; at
    # 0.3 they were left raw, 3 of its 8 leaked face-frames)

    def smeared(self, now: float, recent_s: float = 0.2) -> list[tuple[int, np.ndarray, np.ndarray, float]]:
        """(id, box moved on by its velocity, velocity px/s, when last seen) of each confirmed track
        stopped within `recent_s` because its flow or its look failed (a face smeared by its
        motion; also one that set off from rest, so no velocity is asked for): the face stage
        looks for that face on a deblurred crop and covers it there (facestage/chase.py);
        nothing here changes."""
        return [(e.id, self._ahead(e, now), e.velocity.copy(), e.last_seen) for e in self._entries.values()
                if not e.visible and e.confirmed and e.lost_why in ("flow", "look") and now - e.last_seen <= recent_s]

    FRONT_LOOK = 0.98  # least patch agreement of a covered face taken to be in front (a face 36 % visible: up to 0.98)
    FRONT_MARGIN = 0.4  # landmark score by which a face in front is surer than every box over it

    def _in_front(self, e: Entry, moved: Face, faces: list[Face], pyramid: list[np.ndarray] | None) -> bool:
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

    GROWN = 1.6  # times its last sure size over which a box the landmarker doubts holds the face smeared
    # (pan-0, fast-3: 1.8-2.1; a doubted box of a face really there, on 10 clips: 0.66-1.47)
    SMEAR_S = 0.5  # the face's last sure size stands this long (faces do not double in size in half a second)

    def _unsmeared(self, e: Entry, face: Face, now: float) -> Face:
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

    DRAGGED_LOOK = 0.7  # patch agreement under which a coasting face moving as the face it touches is that face
    DRAG_TOL = 0.06  # face sizes a frame within which its flow's step is the other face's motion

    def _dragged(self, e: Entry, moved: Face, look: float | None, now: float) -> bool:
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
    # longest a hidden face without a recent sure detection (only unsure boxes on the part that
    # shows) is covered on its velocity: lighting-3's face 55-65 % visible behind another was shown
    # raw (its last sure box 1.2-1.4 s old): 15 leaked face-frames -> 2
    UNSURE_HIDDEN_S = 0.3

    def _sure_velocity(self, e: Entry, box: np.ndarray, now: float) -> np.ndarray:
        """`e`'s velocity read over its sure detections of the last SURE_BASELINE_S (one frame's
        step of a detector's box is mostly its jitter, tens of px/s on a still face, more on a box
        another face is eating into); its frame-to-frame velocity while it has none that old."""
        centre = box_centre(box).astype(np.float32)
        e.sure_centres = [(t, c) for t, c in e.sure_centres if now - t <= self.SURE_BASELINE_S] + [(now, centre)]
        then, was = e.sure_centres[0]
        if not self._velocity_read(e):
            return e.velocity
        return ((centre - was) / np.float32(now - then)).astype(np.float32)

    def _velocity_read(self, e: Entry) -> bool:
        """Whether `e`'s sure detections span enough of SURE_BASELINE_S to read its velocity over."""
        return bool(e.sure_centres) and e.sure_centres[-1][0] - e.sure_centres[0][0] >= 0.5 * self.SURE_BASELINE_S

    WHOLE_ASPECT = 1.25  # height over width of the detector's box on a whole face (1.24-1.4 on the suite's faces)
    CUT = 0.85  # share of that shape under which a box is cut

    def _cut_way(self, w: float, h: float) -> str | None:
        """Which way a w×h box falls short of a whole face's shape: "height" (cut above or below,
        its width whole), "width" (cut at a side, its height whole), or None (whole)."""
        if h < self.CUT * self.WHOLE_ASPECT * w:
            return "height"
        if w < self.CUT * h / self.WHOLE_ASPECT:
            return "width"
        return None

    def _whole_box(self, e: Entry, shown: list[Entry]) -> np.ndarray | None:
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
        cut = self._cut_way(w, h)
        margin = self.PRESSED * face_size(box)
        for o in shown:
            if o is e or o.raw.landmark_score < self.UNSURE_LANDMARKS:
                continue
            f = np.asarray(o.face.box, np.float32)
            if not (f[0] <= box[2] + margin and f[2] >= box[0] - margin and f[1] <= box[3] + margin
                    and f[3] >= box[1] - margin):
                continue  # not against this face
            out = box.copy()
            if cut == "height":
                if f[1] > box[1] + 0.5 * h:  # the face in front below: its chin is behind it
                    out[3] = min(box[1] + self.WHOLE_ASPECT * w, max(box[3], f[3]))
                elif f[3] < box[3] - 0.5 * h:
                    out[1] = max(box[3] - self.WHOLE_ASPECT * w, min(box[1], f[1]))
            elif cut == "width":
                if f[0] > box[0] + 0.5 * w:
                    out[2] = min(box[0] + h / self.WHOLE_ASPECT, max(box[2], f[2]))
                elif f[2] < box[2] - 0.5 * w:
                    out[0] = max(box[2] - h / self.WHOLE_ASPECT, min(box[0], f[0]))
            if not np.array_equal(out, box):
                return out
        return None

    BORDER = 0.01  # share of the frame's shorter side within which a box reaches its border (detect.at_frame_edge)

    def _past_edge(self, e: Entry) -> np.ndarray | None:
        """The box of the whole face, for a face cut by the frame's edge: the detector boxes the
        part inside, so the box stops at the border, short of a whole face's shape across it (the
        other side is whole). Grown past that border to a whole face's shape (the swap is pasted
        past the picture and clipped). On faces walking in at the suite's edges (zoom-2, pan-2) a
        cut box's IoU with the whole face is 0.43-0.54, the grown one's 0.61-0.71: the face is
        scored as followed (IoU 0.5) frames earlier. None: the box is not cut there."""
        if self._shape is None:
            return None
        box = np.asarray(e.face.box, np.float32)
        w, h = float(box[2] - box[0]), float(box[3] - box[1])
        if w <= 0 or h <= 0:
            return None
        height, width = self._shape[:2]
        m = self.BORDER * min(height, width)
        out = box.copy()
        cut = self._cut_way(w, h)
        if cut == "height":
            if box[1] <= m:
                out[1] = box[3] - self.WHOLE_ASPECT * w
            elif box[3] >= height - m:
                out[3] = box[1] + self.WHOLE_ASPECT * w
        elif cut == "width":
            if box[0] <= m:
                out[0] = box[2] - h / self.WHOLE_ASPECT
            elif box[2] >= width - m:
                out[2] = box[0] + h / self.WHOLE_ASPECT
        return None if np.array_equal(out, box) else out
