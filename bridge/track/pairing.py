"""Which detection is which track on a detection frame, the tracker's side of it
(association.py holds the costs): motion first, appearance on near-ties, then takeovers of tracks
the gates let go. A fresh detection that is clearly the person of a track motion gave another face
takes that track back (`_reclaim`); one that is surely the person of a track whose detection it
overlaps is a second box on that face and starts no track (`_not_twice`), as does a sure box whose
landmarks lie on a held sure box's (`_one_spot`: one face boxed twice; of two fresh sure boxes on
one spot, the one less like anyone lost); so does a box the landmarker hardly takes for a face
lying over faces tracks hold (one box over two overlapping faces), and a track motion gave such a
box takes back a surer box its person fits even weakly, as a track motion gave the box round a face
behind its own takes back the sure box inside it that is surely its person. A new track is
confirmed a face (`_confirm`) by a motion-blurred detection clear of other faces (blur explains
the landmarker's doubt), or by its detections alone, one more for a box small against a face it
touches (a brow above the face in front); a new box lying almost wholly over two others is drawn
only once found again.
"""

from __future__ import annotations

import numpy as np

from bridge.track import association
from bridge.track.association import FORBIDDEN, covered_together, face_size
from bridge.track.entry import Entry
from bridge.track.gallery import CropLook
from bridge.faces.boxes import iou_matrix
from bridge.types import Face


class Pairing:
    """Tracker's pairing rules (mixed into Tracker: they read its tracks, gates and stats)."""

    def _pair(self, image: np.ndarray, visible: list[Entry], predictions: list[Face], faces: list[Face],
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

    def _lone_fast_matches(self, cost: np.ndarray, visible: list[Entry]) -> list[int]:
        """Fast tracks that coasted (blur hides a fast face from the detector now and then) with
        one detection in their gates that no other track could take: motion has settled them, and
        a gallery learnt from crops that blur spoils must not send its own face to a new track."""
        ok = cost < FORBIDDEN
        per_track, per_detection = ok.sum(axis=1), ok.sum(axis=0)
        return [i for i, e in enumerate(visible)
                if per_track[i] == 1 and per_detection[int(np.argmax(ok[i]))] == 1 and e.misses <= 1 and self._fast(e)]

    def _confirm(self, looks: list[CropLook], faces: list[Face], on_track: list[tuple[Entry, int]]) -> None:
        """Whether each track of this frame's detections is confirmed a face (drawn), beyond a
        sure landmark score (Tracker._match):
        - a detection whose landmarks are unsure but whose crop is motion-blurred, clear of every
          other face, confirms its track: blur explains the landmarker's doubt (a fast newcomer is
          swapped at once), while a fragment of a face (a brow above an occluder) touches that face;
        - a track no landmark score confirmed is drawn once detected CONFIRM_HITS times, one more
          while its box is smaller both ways than a detection it touches: the brow of a face half
          behind another is boxed small against the faces' boxes, and found once or twice;
        - a new track whose box lies almost wholly over two other detections it touches is drawn
          only once found again: a box between two crossing faces, even one the landmarker takes
          for a face, would put a swap between them."""
        boxes = np.array([f.box for f in faces], np.float32).reshape(-1, 4)
        for e, j in on_track:
            if e.confirmed and e.hits != 1:
                continue  # an established face: nothing to judge
            box, others = boxes[j], np.delete(boxes, j, axis=0)
            # smeared by its length alone, it measured sharp: no doubt for blur to explain (a box
            # along a fast face's trail, twice its size, is found once; its smear is not read)
            if not e.confirmed and looks[j].rough(others, self.CLEAR_OF) == "blurred":
                e.confirmed = True
            if not e.confirmed:
                touching = _touching(box, others)
                small = ((box[2] - box[0] < self.FRAGMENT * (touching[:, 2] - touching[:, 0]))
                         & (box[3] - box[1] < self.FRAGMENT * (touching[:, 3] - touching[:, 1])))
                e.confirmed = e.hits >= self.CONFIRM_HITS + int(small.any())
            elif e.hits == 1:
                touching = _touching(box, others)
                e.confirmed = len(touching) < 2 or covered_together(box, touching) < self.OVER_TWO

    def _reclaim(self, image: np.ndarray, looks: list[CropLook], visible: list[Entry], pairs: list[tuple[int, int]],
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

    def _not_twice(self, visible: list[Entry], pairs: list[tuple[int, int]], fresh: list[int], faces: list[Face],
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
    OVER_HELD = 0.7  # share of an unsure fresh box other faces' detections cover for it to be a box over them
    # (two faces' boxes cover 0.7-0.9 of one between them; a half-hidden face's own box, about half)
    SAME_SPOT = 0.2  # mean distance of two sure boxes' landmarks, in face sizes, under which they are one face
    # (two boxes on one half-hidden face: 0.15; a face half behind another, against the front one: 0.31)
    SAME_FACE = 0.7  # least similarity of a second box to the track whose detection it overlaps to be taken for that face
    OVER_TWO = 0.85  # share of a new box two other detections cover for it to wait for a second detection
    FRAGMENT = 0.7  # share of a touching detection's width and height under which a box may be a fragment of a face
    CLEAR_OF = 0.05  # share of a blurred detection another face may cover and it still confirms its track


def _touching(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """The boxes of `others` (N, 4) that overlap `box`."""
    return others[iou_matrix(box[None], others)[0] > 0]
