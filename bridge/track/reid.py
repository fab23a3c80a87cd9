"""Who is this new face? Giving a returning person their old id back.

A detection no track claimed is compared with every track that is lost (and within
`forget_s`) by its gallery's best similarity. The lost tracks and the faces are paired
one-to-one (Hungarian on similarity); a pair counts only above `threshold` and clear of the
runner-up by `margin` (hysteresis: a near-tie between two lost people names neither).

A weak embedding (half a face at the frame's edge, a blurred or covered crop) that still
resembles one lost person clearly more than every other (`by_margin`) takes that person back
tentatively; the tracker confirms or undoes it on the face's next good crop.

A face that went out of sight moments ago and shows again where it was is the same person
too (`by_place`): a face so small or blurred that its embedding is weak still keeps its id
after a short miss. A face coming out from behind another face or an object, its crop too
poor to tell, close to where a track was lost moments ago takes it back tentatively
(`by_emerging`). A face walking in cut by the frame's edge (half a face embeds like nobody)
while someone left the frame moments ago is most likely that person back: it takes them back
tentatively (`by_entering`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from bridge.track.association import face_size
from bridge.track.gallery import Gallery
from bridge.faces.boxes import iou_matrix


@dataclass
class ReidRule:
    """threshold: least best-of-gallery similarity to take back a lost id. Higher: fewer wrong
        re-entries, more new ids for returning people.
    margin: the best lost track must beat the runner-up by this much.
    place_s: a track lost at most this long ago takes back a face that shows up on its last box
        (IoU ≥ place_iou) unless appearance says it is someone else.
    weak_threshold, weak_margin: a face below `threshold` (half a face at the frame's edge, a
        blurred crop: its embedding is weak) still takes back the lost person it resembles at
        least `weak_threshold` and clearly more than every other lost person (by `weak_margin`),
        tentatively: the track's first good crop confirms it or gives the face an id of its own.
    emerge_s, emerge_distance, emerge_margin, emerge_ratio: a face too poorly seen to tell
        (coming out from behind another face or an object) that shows up within
        `emerge_distance` face sizes of where a track was lost at most `emerge_s` ago takes that
        track back tentatively: the only one that close, else the one its embedding favours by
        `emerge_margin`, else the nearest when the next is `emerge_ratio` times as far.
    emerge_apart: of two faces coming out at once, one torn between two lost tracks takes the
        one the other face left only if their boxes overlap less than this (IoU; more: two boxes
        on one face).
    enter_s: a face cut by the frame's edge takes back, tentatively, the person who left the frame
        at most this long ago (of several, the one its embedding favours by `emerge_margin`).
    same_person: least similarity between an entry of each of two galleries (good crops only) for
        two lost tracks to be one person's (`same_people`): no tie between them when they return.
    """

    threshold: float = 0.5
    margin: float = 0.05
    place_s: float = 0.5
    place_iou: float = 0.3
    weak_threshold: float = 0.3
    weak_margin: float = 0.2
    emerge_s: float = 3.0
    emerge_distance: float = 1.5
    emerge_margin: float = 0.1
    emerge_ratio: float = 1.5
    enter_s: float = 2.0
    emerge_apart: float = 0.2
    same_person: float = 0.6


def same_people(galleries: list[Gallery], rule: ReidRule) -> np.ndarray:
    """(n × n) True where two galleries are one person's: each learnt from good crops, and an
    entry of one resembles an entry of the other by at least `same_person`. A person given a
    second id (while their first was wrongly on someone else) waits under both; the two must not
    tie with each other when that person comes back."""
    n = len(galleries)
    same = np.zeros((n, n), bool)
    for a in range(n):
        for b in range(a + 1, n):
            ga, gb = galleries[a], galleries[b]
            if not (ga.provisional or gb.provisional) and ga.resemblance(gb) >= rule.same_person:
                same[a, b] = same[b, a] = True
    return same


def _rivals(sims: np.ndarray, r: int, same: np.ndarray | None) -> np.ndarray:
    """Similarities of the face to the lost tracks other than `r` that are not `r`'s person."""
    keep = np.ones(len(sims), bool)
    keep[r] = False
    if same is not None:
        keep &= ~same[r]
    return sims[keep]


def by_appearance(galleries: list[Gallery], embeddings: list[np.ndarray], rule: ReidRule,
                  same: np.ndarray | None = None) -> dict[int, int]:
    """{face index: lost-track index} for the faces recognised as a lost person.

    same: (lost × lost) True for two tracks of one person (`same_people`): no tie between them."""
    if not galleries or not embeddings:
        return {}
    vectors = np.stack(embeddings)
    sims = np.stack([g.similarities(vectors) for g in galleries])  # lost × faces
    rows, cols = linear_sum_assignment(-sims)
    out: dict[int, int] = {}
    for r, c in zip(rows, cols):
        s = sims[r, c]
        if s < rule.threshold:
            continue
        others = _rivals(sims[:, c], r, same)
        if len(others) and s - others.max() < rule.margin:
            continue
        out[int(c)] = int(r)
    return out


def by_margin(galleries: list[Gallery], embeddings: list[np.ndarray], rule: ReidRule,
              same: np.ndarray | None = None) -> dict[int, int]:
    """{face index: lost-track index} for faces whose best lost person clears `weak_threshold`
    and beats the runner-up lost person by `weak_margin` (a weak embedding that still points at
    one person only). Tentative: the caller verifies it on a good crop. same: as `by_appearance`."""
    if not galleries or not embeddings:
        return {}
    sims = np.stack([g.similarities(np.stack(embeddings)) for g in galleries])  # lost × faces
    rows, cols = linear_sum_assignment(-sims)
    out: dict[int, int] = {}
    for r, c in zip(rows, cols):
        others = _rivals(sims[:, c], r, same)
        runner_up = float(others.max()) if len(others) else -1.0
        if sims[r, c] >= rule.weak_threshold and sims[r, c] - runner_up >= rule.weak_margin:
            out[int(c)] = int(r)
    return out


def by_place(last_boxes: np.ndarray, lost_for: np.ndarray, boxes: np.ndarray, rule: ReidRule,
             contradicts: np.ndarray | None = None) -> dict[int, int]:
    """{face index: lost-track index} for faces that appear on the box of a track lost moments ago.

    contradicts: (lost × faces) True where appearance says the two are different people."""
    if len(last_boxes) == 0 or len(boxes) == 0:
        return {}
    iou = iou_matrix(last_boxes, boxes)
    ok = (iou >= rule.place_iou) & (lost_for[:, None] <= rule.place_s)
    if contradicts is not None:
        ok &= ~contradicts
    if not ok.any():
        return {}
    rows, cols = linear_sum_assignment(np.where(ok, -iou, 1.0))
    return {int(c): int(r) for r, c in zip(rows, cols) if ok[r, c]}


def by_emerging(last_boxes: np.ndarray, lost_for: np.ndarray, boxes: np.ndarray, similarity: np.ndarray,
                rule: ReidRule, allowed: np.ndarray | None = None) -> dict[int, int]:
    """{face index: lost-track index} for faces too poorly seen to say who they are (half behind
    another face or an object) that show up near where a track was lost moments ago.

    similarity: (lost × faces) gallery similarity, NaN where unknown (counted as unlike). A crop
    half behind another face embeds like nobody (often not even like its own person), so a low
    similarity is no contradiction; only a clear preference among close candidates counts.
    allowed: (lost × faces) False where a pair may not be made at all.
    Tentative: the caller verifies it on the face's next good crop."""
    if len(last_boxes) == 0 or len(boxes) == 0:
        return {}
    sizes = np.array([face_size(b) for b in last_boxes], np.float32)
    centres_l = (last_boxes[:, :2] + last_boxes[:, 2:]) / 2
    centres_f = (boxes[:, :2] + boxes[:, 2:]) / 2
    dist = np.linalg.norm(centres_l[:, None] - centres_f[None], axis=2) / sizes[:, None]
    near = (dist <= rule.emerge_distance) & (lost_for[:, None] <= rule.emerge_s)
    if allowed is not None:
        near &= allowed
    out: dict[int, int] = {}
    apart = iou_matrix(boxes, boxes) < rule.emerge_apart
    # in rounds: a face torn between two lost people, one of whom another face clearly takes,
    # is the other (two faces coming out from behind one face at once); not a second box on a
    # face already named (a box over it and the face it overlaps)
    while True:
        taken = set(out.values())
        picks = []
        for c in range(len(boxes)):
            rows = np.array([r for r in np.nonzero(near[:, c])[0] if r not in taken], int)
            if c in out or len(rows) == 0 or (out and not apart[c, list(out)].all()):
                continue
            if len(rows) > 1:
                sims = np.nan_to_num(similarity[rows, c], nan=0.0)
                by_sim, by_dist = np.argsort(sims)[::-1], np.argsort(dist[rows, c])
                if sims[by_sim[0]] - sims[by_sim[1]] >= rule.emerge_margin:
                    rows = rows[by_sim[:1]]
                elif dist[rows[by_dist[1]], c] >= rule.emerge_ratio * dist[rows[by_dist[0]], c]:
                    rows = rows[by_dist[:1]]
                else:
                    continue  # two lost people as likely: naming either is a guess
            picks.append((float(dist[rows[0], c]), c, int(rows[0])))
        if not picks:
            return out
        for _, c, r in sorted(picks):  # one face per lost track: the closest
            if r not in out.values():
                out[c] = r


def by_entering(lost_for: np.ndarray, similarity: np.ndarray, rule: ReidRule) -> dict[int, int]:
    """{face index: lost-track index} for faces walking in cut by the frame's edge, of the people
    who left the frame: lost_for (seconds since each left), similarity (left × faces, NaN where
    unknown). The only one who left at most `enter_s` ago, else the one the face's embedding
    favours by `emerge_margin`, else nobody (naming either is a guess); each person once.
    Tentative: the caller verifies it on the face's first good crop."""
    if len(lost_for) == 0 or similarity.shape[1] == 0:
        return {}
    recent = np.nonzero(lost_for <= rule.enter_s)[0]
    picks = []
    for c in range(similarity.shape[1]):
        if len(recent) == 0:
            break
        sims = np.nan_to_num(similarity[recent, c], nan=0.0)
        order = np.argsort(sims)[::-1]
        if len(recent) > 1 and sims[order[0]] - sims[order[1]] < rule.emerge_margin:
            continue
        picks.append((-float(sims[order[0]]), c, int(recent[order[0]])))
    out: dict[int, int] = {}
    for _, c, r in sorted(picks):  # one face per person: the likest
        if r not in out.values():
            out[c] = r
    return out


def better_elsewhere(own: float, others: list[float], rule: ReidRule) -> int | None:
    """The re-check of a matched track: index of the lost person this face resembles clearly
    more than the track it is on (a swap made while faces crossed, or a newcomer whose
    embedding came a frame late) and clearly more than any other lost person; or None."""
    if own >= rule.threshold:
        return None
    return _clearly_likest(own, others, rule.threshold, rule.margin)


def slid_onto(own: float, others: list[float], rule: ReidRule) -> int | None:
    """A track's good crop after motion held it on a box over two faces: index of the lost person
    it resembles at least `weak_threshold` and more than both the track and every other lost
    person by `weak_margin` (the track slid onto that person's face); or None."""
    return _clearly_likest(own, others, rule.weak_threshold, rule.weak_margin)


def _clearly_likest(own: float, others: list[float], threshold: float, margin: float) -> int | None:
    """Index of the likest of `others` when it reaches `threshold` and beats both `own` and the
    runner-up by `margin`; else None."""
    if not others:
        return None
    order = np.argsort(others)[::-1]
    best = float(others[order[0]])
    runner_up = float(others[order[1]]) if len(others) > 1 else -1.0
    if best < threshold or best - max(own, runner_up) < margin:
        return None
    return int(order[0])


def swapped(galleries: list[Gallery], embeddings: list[np.ndarray], rule: ReidRule) -> list[tuple[int, int]]:
    """Pairs (a, b) of tracks checked on the same frame that carry each other's person: each
    face is clearly more like the other track's gallery (both above `threshold`, and the crossed
    pairing beats the current one by twice `margin`)."""
    out: list[tuple[int, int]] = []
    used: set[int] = set()
    n = len(galleries)
    if n < 2:
        return out
    sims = np.array([[g.similarity(v) if not g.empty else -1.0 for v in embeddings] for g in galleries])
    for a in range(n):
        for b in range(a + 1, n):
            if a in used or b in used:
                continue
            keep, cross = sims[a, a] + sims[b, b], sims[a, b] + sims[b, a]
            if min(sims[a, b], sims[b, a]) >= rule.threshold and cross - keep >= 2 * rule.margin:
                out.append((a, b))
                used.update((a, b))
    return out
