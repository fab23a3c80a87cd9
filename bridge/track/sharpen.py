"""Embedding a motion-blurred face from its deblurred picture.

The recogniser was trained on sharp faces: a face smeared by its motion embeds like nobody,
so a fast face that leaves and comes back smeared is not recognised as the person who left
(the identity suite's fast clips lost most such re-entries). Undoing the smear first
(faces/deblur.py) brings the embedding back towards the person's, while another person's
stays as far. Measured on the suite's fast clips (each face against its person's photo, and
against the best other person of the pool): smear 10-20 px, similarity to the person 0.30 →
0.40 (median; others 0.14 either way), faces passing the re-identification rule (0.5, margin
0.05 over the others) 11 → 43 %, the weak rule (0.3, margin 0.2) 35 → 53 %; over 20 px 0 →
11 % and 12 → 28 %; under 10 px (most still judged sharp) 60 → 57 %. In the tracker (identity
suite, fast kind, 4 seeds): fast-1 IDF1 0.727 → 0.898 and both re-entries kept (0/2 before).

Only crops the gallery's quality gate calls blurred, and smeared one way (motion; a face soft
for another reason, half behind an object, is not), are deblurred: a sharp face deblurred
loses detail (0.96 → 0.41), and a half-hidden one re-identified wrongly (identity suite,
occlude_object-0 of the held-out people: IDF1 0.964 → 0.881 without the one-way test).
Such crops are never learned into a gallery, so a deblurred embedding only ever asks "who is
this?", it never becomes what someone looks like.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from bridge.faces.deblur import estimate_smear, sharpened_around, smeared_one_way
from bridge.track.gallery import crop_quality
from bridge.track.tracker import EmbedFn
from bridge.types import Face

# A box this close to the frame's edge (in face sizes) is of a face that may be cut by it (the
# detector boxes the part that shows, a few pixels in). A face comes in and goes out across the
# edge, so its smear runs across it; a smear read along the edge there is the cut's, not motion
# (identity suite, reentry-1, no motion blur at all: a face coming in at the top, 7 px in, read
# as smeared sideways, deblurred to 0.19 against its person, 0.93 as it was; the fast clips'
# smeared faces by an edge all read across it, and stay deblurred).
EDGE_MARGIN = 0.1


def embed_sharpened(recogniser: object) -> EmbedFn:
    """The tracker's `embed` callable (like tracker.embed_with) for a recogniser whose
    `embed(image, faces)` fills `face.embedding`: blurred crops are embedded deblurred."""

    def embed(image: np.ndarray, faces: list[Face]) -> list[np.ndarray]:
        out: list[np.ndarray | None] = [None] * len(faces)
        plain = []
        for k, face in enumerate(faces):
            if _smeared(image, face):
                region, offset = sharpened_around(image, face.box)
                moved = replace(face, box=(face.box - np.tile(offset, 2)).astype(np.float32),
                                kps5=(face.kps5 - offset).astype(np.float32),
                                landmarks68=None if face.landmarks68 is None else (face.landmarks68 - offset).astype(np.float32))
                out[k] = recogniser.embed(region, [moved])[0].embedding  # type: ignore[attr-defined]
                face.embedding = out[k]
            else:
                plain.append(k)
        if plain:
            done = recogniser.embed(image, [faces[k] for k in plain])  # type: ignore[attr-defined]
            for k, f in zip(plain, done):
                out[k] = f.embedding
        return out  # type: ignore[return-value]

    return embed


def _smeared(image: np.ndarray, face: Face) -> bool:
    """Whether the gallery's gate calls the crop blurred and the blur runs one way. Both read
    only the box, so only the box is made grey (the whole frame was 0.5 ms at 1080p a call)."""
    if face.kps5 is None:
        return False
    h, w = image.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in face.box)
    if x0 <= 1 or y0 <= 1 or x1 >= w - 1 or y1 >= h - 1:
        return False  # cut by the frame's edge: the gate calls it partial, not blurred
    rx0, ry0 = max(0, int(x0) - 2), max(0, int(y0) - 2)  # a margin: the gate's edge test stays the frame's
    rx1, ry1 = min(w, int(np.ceil(x1)) + 2), min(h, int(np.ceil(y1)) + 2)
    region = image[ry0:ry1, rx0:rx1]
    gray = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY) if region.ndim == 3 else region
    offset = np.float32([rx0, ry0])
    local = replace(face, box=(face.box - np.tile(offset, 2)).astype(np.float32),
                    kps5=(np.asarray(face.kps5, np.float32) - offset), landmarks68=None)
    # soft by the sharpness test: a crop called blurred by its smear's length alone (gallery.MAX_SMEAR)
    # measured sharp, and deblurring a still face that reads as smeared would spoil it
    if not (crop_quality(gray, local, max_smear=0.0) == "blurred" and smeared_one_way(gray, local.box)):
        return False
    margin = EDGE_MARGIN * max(x1 - x0, y1 - y0)
    by_side, by_top = min(x0, w - x1) <= margin, min(y0, h - y1) <= margin
    if by_side or by_top:
        dx, dy = estimate_smear(gray, local.box)
        across, along = (abs(dx), abs(dy)) if by_side else (abs(dy), abs(dx))
        return across >= along
    return True
