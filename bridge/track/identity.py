"""Who each face is: a face no track claimed gets a lost person's id back (`_reidentify`, by
gallery; tentatively on a weak embedding that points at one person only, confirmed or undone on the
next good crop; by place moments after a miss; tentatively, a half-seen face coming out from behind
another face or an object takes the track lost close by, placed where it was last seen (its velocity
then is mostly the slide of a box being eaten into), not on a fragment boxed small both ways; a
face walking in cut by the frame's edge, the person who left it moments ago). Each detected track's
embeddings are learnt into its gallery within the frame's budget (`_learn`), and a periodic re-check
repairs ids swapped while faces crossed (`_swap_people`); a young track is re-checked on its first
good crops (a newcomer that is someone back is handed over, `_hand_over`, and its id dropped); a
tentative revival whose gallery was learnt only while the face was pressed against another is not
undone by its first good crop.
"""

from __future__ import annotations

import numpy as np

from bridge.track import reid
from bridge.track.association import covered, face_size
from bridge.track.entry import Entry
from bridge.track.gallery import CropLook
from bridge.track.smooth import OneEuroFilter
from bridge.types import Face


class Identity:
    """Tracker's identity rules (mixed into Tracker: they read its tracks, gallery rule and budget)."""

    def _reidentify(self, candidates: list[Entry], faces: list[Face], fresh: list[int],
                    embeddings: dict[int, np.ndarray], now: float,
                    faults: dict[int, str | None] | None = None,
                    shape: tuple[int, ...] | None = None) -> tuple[dict[int, Entry], set[int]]:
        """{detection index: track} for fresh detections that are a lost (or astray) person, and
        the detections among them taken back on a weak embedding or by where they came out
        (tentatively). faults: why each fresh detection's crop is not worth learning from.
        shape: the frame's (height, width) (faces walking in cut by its edge)."""
        out: dict[int, Entry] = {}
        with_gallery = [e for e in candidates if not e.gallery.empty]
        dets = [j for j in fresh if j in embeddings]
        # which lost tracks are one person's: once, for both appearance passes below (none to ask
        # without a detection to re-identify)
        same = (reid.same_people([e.gallery for e in with_gallery], self.rule) if dets
                else np.zeros((len(with_gallery), len(with_gallery)), bool))
        at = {e.id: k for k, e in enumerate(with_gallery)}
        for c, r in reid.by_appearance([e.gallery for e in with_gallery], [embeddings[j] for j in dets],
                                       self.rule, same).items():
            out[dets[c]] = with_gallery[r]
        merged = self._one_id_per_person(out, with_gallery, same, embeddings)
        with_gallery = [e for e in with_gallery if e.id not in merged]
        candidates = [e for e in candidates if e.id not in merged]
        # a weak embedding (half a face at the edge) that still points at one lost person only:
        # taken back tentatively rather than started as someone new (a new id, relabelled a
        # few frames later, is two id switches and the wrong target meanwhile)
        lost = [e for e in with_gallery if not e.visible and e not in out.values()]
        rest = [j for j in dets if j not in out]
        weak: set[int] = set()
        rows = [at[e.id] for e in lost]
        for c, r in reid.by_margin([e.gallery for e in lost], [embeddings[j] for j in rest], self.rule,
                                   same[np.ix_(rows, rows)]).items():
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
            # the part that shows of a face half behind another spans the face one way (the cut is on
            # one side); a box short both ways is a fragment (a brow above the face in front)
            allowed = np.array([[(not e.visible or faults[j] == "covered")
                                 and self._spans(faces[j].box, e.raw.box) for j in rest] for e in lost])
            # where each was last seen, not moved on by its velocity: a box the face in front (or the
            # object) was eating into slides as it shrinks, so its velocity at the loss is mostly that
            # slide (occlude_face-0: a still face's track lost "moving" 236 px/s, its drift put it on the
            # lost face beside it and the tie gave both faces new ids: four ID switches)
            for c, r in reid.by_emerging(np.array([e.raw.box for e in lost], np.float32),
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

    def _one_id_per_person(self, out: dict[int, Entry], tracks: list[Entry], same: np.ndarray,
                           embeddings: dict[int, np.ndarray]) -> set[int]:
        """A face recognised as a person who waits under two or more lost ids (a second id was
        started while the first was wrongly on someone else's face) takes the one seen last (the
        target the show saw on that face last); the others name nobody and are dropped, so that
        the next return is not a tie between them. Only lost ids the face itself resembles
        (`threshold`) and whose galleries are one person's (`same`) are merged. Returns their ids."""
        merged: set[int] = set()
        taken = {t.id for t in out.values()}
        for j, e in list(out.items()):
            r = tracks.index(e)
            group = [t for k, t in enumerate(tracks) if same[r, k] and not t.visible and t.id not in taken
                     and t.gallery.similarity(embeddings[j]) >= self.rule.threshold]
            if not group:
                continue
            if not e.visible:
                group.append(e)
                out[j] = e = max(group, key=lambda t: t.last_seen)
                group.remove(e)
                taken.add(e.id)
            for t in group:
                self._drop(t)
                merged.add(t.id)
                self.stats.merged += 1
        return merged

    EMERGE_SPAN = 0.6  # least share of a lost face's longer side a box coming out from behind must span to be
    # that face (the part that shows of a half-hidden face: 0.91-0.92 on occlude_face-0; a brow above the
    # face in front, 0.37: revived on it, the track coasted there as a ghost and the face got a new id)

    @classmethod
    def _spans(cls, box: np.ndarray, lost: np.ndarray) -> bool:
        """`box` spans at least EMERGE_SPAN of the longer side of the face last boxed `lost` (its
        height or its width: a face half behind another is cut on one side only)."""
        side = max(float(lost[2] - lost[0]), float(lost[3] - lost[1]))
        return max(float(box[2] - box[0]), float(box[3] - box[1])) >= cls.EMERGE_SPAN * side

    EDGE = 0.05  # face sizes from the frame's edge within which a box is cut by it (detectors stop a few px short)

    @classmethod
    def _at_edge(cls, box: np.ndarray, shape: tuple[int, ...]) -> bool:
        """The box reaches the frame's edge (a face walking in or out is cut by it)."""
        h, w = shape[:2]
        x0, y0, x1, y1 = (float(v) for v in box)
        m = max(1.0, cls.EDGE * face_size(np.asarray(box, np.float32)))
        return x0 <= m or y0 <= m or x1 >= w - m or y1 >= h - m

    def _learn(self, image: np.ndarray, looks: list[CropLook], faces: list[Face], on_track: list[tuple[Entry, int]],
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
            # a sharp crop the landmarker doubts is aligned on doubtful points: it embeds like nobody
            elif why[j] is None and faces[j].landmarks68 is not None and self._unsure(faces[j]):
                why[j] = "unsure"
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

    def _swap_people(self, a: Entry, b: Entry) -> None:
        """Two faces that crossed carry each other's ids: each person takes their id, gallery and
        history back; the positions stay where the faces are."""
        for name in ("id", "gallery", "pressed", "learnt_fast", "first_seen", "reidentified", "hits"):
            va, vb = getattr(a, name), getattr(b, name)
            setattr(a, name, vb)
            setattr(b, name, va)
        self._entries[a.id], self._entries[b.id] = a, b
        self.stats.identity_swaps += 1

    def _young(self, e: Entry, now: float) -> bool:
        """A track whose identity is still checked on every few crops (see young_s)."""
        return e.reidentified == 0 and e.embedded < self.young_embeddings and now - e.first_seen < self.young_s

    def _check_and_learn(self, e: Entry, v: np.ndarray, good: bool, now: float, clear: bool | None = None,
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

    def _hand_over(self, e: Entry, back: Entry, now: float, hidden: bool = True) -> None:
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
            e.handed_back = True
            if e.detected_at == now and e.sure_before is not None:  # that sure box was `back`'s face
                e.detected_box, e.detected_at, e.detected_velocity = e.sure_before
            # its own face, where it was last surely seen, lies behind the face it slid onto (one
            # box over both held it): hidden there, so what shows of it beside that face is covered
            if hidden and e.detected_box is not None and covered(np.asarray(e.detected_box, np.float32),
                                                      np.asarray(back.raw.box, np.float32)[None]) >= self.occlusion:
                e.lost_why = "occluded"

    def _take_face(self, back: Entry, e: Entry, now: float) -> None:
        """`back` is shown where `e`'s face is."""
        back.raw, back.face, back.reference, back.points = e.raw, e.face, e.reference, None
        back.visible, back.state, back.misses, back.doubt = True, "detected", 0, None
        back.last_seen = back.last_detected = now
        back.restart_smoothing()
        back.reidentified += 1
        self.stats.identity_swaps += 1

    def _hand_back(self, e: Entry, other: Entry, now: float) -> Entry:
        """A tentative revival of `e` was wrong and the face is the lost person `other`: `other`
        takes the face and `e` goes back to waiting, as it was."""
        self._take_face(other, e, now)
        self._lose(e, e.lost_at)
        e.last_seen = e.lost_at
        return other

    def _undo_revival(self, e: Entry, now: float) -> Entry:
        """A tentative revival that the first good crop contradicts: the face is someone new
        (a new id), and `e` goes back to waiting for its person, as it was."""
        n = self._new_on(e, now)
        self._lose(e, e.lost_at)
        e.last_seen = e.lost_at
        return n

    def _new_on(self, e: Entry, now: float) -> Entry:
        """A new person where `e`'s face is now (its place, motion and smoothing go with the face)."""
        n = self._new(e.raw, None, now)
        n.face, n.reference, n.velocity = e.face, e.reference, e.velocity
        n.kps_filter, n.box_filter, n.lm_filter = e.kps_filter, e.box_filter, e.lm_filter
        n.last_embedded, n.embedded, n.confirmed = now, 1, n.confirmed or e.confirmed
        e.kps_filter, e.box_filter, e.lm_filter = (OneEuroFilter(self.min_cutoff, self.beta) for _ in range(3))
        return n
