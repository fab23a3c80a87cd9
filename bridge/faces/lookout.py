"""Looking again where a face should be: the detector on a crop around a face the tracker
expects on this frame but the whole-frame pass did not find.

The whole-frame pass sees a 1280-wide frame at a quarter of its size. A face that moves fast
(motion blur), is half hidden behind another face, or is small, is often missed there but
found on a crop centred on it, where it fills several times more of the detector's input
(measured on the identity suite: of the face-frames the whole-frame pass missed, a crop
around the true place found 30 % on the fast clips and 65 % on the face-beside-face ones).
The tracker knows where to look: the tracks lost moments ago (flow failed on the blur, or
half hidden and dropped), each box moved on by its velocity.
Each crop costs one detector run, so only `crops_per_frame` run, most recent loss first.
With `movers`, crops the lost faces leave in the budget look where something face-sized moves
that neither a detection nor an expected face explains (scan.Motion's map): a face smeared from
its first frame, or starting from rest, that no pass has found yet, so no track expects.
With `unblur`, a face lost while moving fast (smeared along its path) that the plain crop does
not find is looked for once more: the crop shrunk to the detector's input, the smear read from
the picture and undone (faces/deblur.py; the most smeared faces, >= 25 px: found 14 % plain,
53 % deblurred).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import cv2

from bridge.faces.boxes import iou_matrix
from bridge.faces.deblur import MIN_SMEAR, deblur, estimate_smear
from bridge.faces.scan import detect_region, input_size, merge
from bridge.types import Face


@dataclass
class Expected:
    """A face the tracker expects on this frame: where, and how long since it was last seen (s)."""

    box: np.ndarray
    lost_for: float = 0.0


class Lookout:
    """Chooses and runs the crops of one detection frame.

    crops_per_frame: most crops the detector runs per detection frame (0 = off).
    context: crop width in face sizes (the crop keeps the detector's aspect): the face fills
        about 1/context of it. Lower: a small face grows more, a fast one may fall outside.
    found_iou: an expected face counts as found by the whole-frame pass when a detection
        overlaps its box by this much.
    own_iou: a detection overlapping the face the crop looked for by this much is that face.
        What else a crop finds at its finer scale is a face the whole frame missed (the one half
        hidden beside it) or a fragment (a chin and a brow between two faces): it is kept only
        when `landmarker` scores it at least `sure` (without a landmarker, never).
    movers: crops left in the budget look at unexplained motion (`movers`); what such a crop
        finds centred inside the moving place is taken for the face there. Off: measured mixed
        (identity suite, look_again 1: leaks fast-1 4.18 → 3.83 %, crowd-0 2.72 → 2.15 %,
        reentry-0 2.09 → 1.83 %, but an ID switch more on small-0 of both pools, 0 → 1, and on
        crowd-0 of the held-out people, 4 → 6; fast-2's never-found faces stay unfound: the
        plain crop misses them as the whole frame does).
    min_cells: least moving cells (scan.Motion's 8x8 px) of a place worth a crop (a face about
        30 px or more, moving).
    unblur: when the plain crop misses the face, look once more with its motion smear undone
        (one detector run more). Off: it finds the faces (see faces/deblur.py), but the tracker
        does not yet use them well (identity suite fast-2, look_again 1: leaks 28.8 → 23.3 %,
        ghosts 0.74 → 6.6 %, ID switches 5 → 8; fast-0/1/3 unchanged). Taking its finds only at
        detector score >= 0.85, or only when the landmarker scores them a face, gave back
        main's numbers or worse.
    """

    def __init__(self, detector: object, crops_per_frame: int = 1, context: float = 3.0,
                 found_iou: float = 0.45, own_iou: float = 0.1, landmarker: object | None = None,
                 sure: float = 0.5, unblur: bool = False,
                 movers: bool = False, min_cells: int = 12) -> None:
        self.detector, self.landmarker = detector, landmarker
        self.crops_per_frame = max(0, crops_per_frame)
        self.context, self.found_iou, self.own_iou, self.sure = context, found_iou, own_iou, sure
        self.unblur = unblur
        self.use_movers, self.min_cells = movers, min_cells
        self.crops = 0  # crops run (for the status page and benchmarks)
        self.deblurred = 0  # second looks with the smear undone (also counted in crops)

    def missing(self, faces: list[Face], expected: list[Expected]) -> list[Expected]:
        """The lost faces no detection found, most recently seen first. Only lost ones: nothing
        is drawn on them, while a shown face the pass missed still coasts on flow; and crops
        around shown faces (half hidden behind another) kept finding both faces of an
        overlapping pair, which churned their ids (identity suite, occlude_face clips)."""
        expected = [e for e in expected if e.lost_for > 0]
        if not expected:
            return []
        boxes = np.array([f.box for f in faces], np.float32).reshape(-1, 4)
        wanted = np.array([e.box for e in expected], np.float32).reshape(-1, 4)
        found = (iou_matrix(wanted, boxes).max(axis=1) >= self.found_iou) if len(boxes) else np.zeros(len(wanted), bool)
        return sorted((e for e, f in zip(expected, found) if not f), key=lambda e: e.lost_for)

    def crop(self, box: np.ndarray, shape: tuple[int, ...], aspect: float) -> tuple[int, int, int, int] | None:
        """The crop (x0, y0, x1, y1) around an expected box: `context` face sizes wide, the
        detector's aspect (width/height), shifted to stay inside the frame; None when the box is
        off the picture."""
        h, w = shape[:2]
        x0, y0, x1, y1 = (float(v) for v in box)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        if not (0 <= cx < w and 0 <= cy < h):
            return None
        size = max(x1 - x0, y1 - y0, 8.0)
        cw = min(float(w), size * self.context)
        ch = min(float(h), cw / aspect)
        left = int(round(min(max(cx - cw / 2, 0.0), w - cw)))
        top = int(round(min(max(cy - ch / 2, 0.0), h - ch)))
        return left, top, left + int(cw), top + int(ch)

    def deblurred_look(self, image: np.ndarray, region: tuple[int, int, int, int], box: np.ndarray) -> list[Face]:
        """The detector on `region` shrunk to its input with the smear of the face expected at
        `box` undone (with a landmarker: only what it scores at least `sure` there, wherever in
        the crop: a face that started from rest has moved off its expected box); [] when no
        smear is read there."""
        iw, ih = input_size(self.detector)
        x0, y0, x1, y1 = region
        scale = min(iw / max(1, x1 - x0), ih / max(1, y1 - y0), 1.0)
        crop = image[y0:y1, x0:x1]
        if scale < 1.0:
            crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
                              interpolation=cv2.INTER_AREA)
        back = np.float32([crop.shape[1] / (x1 - x0), crop.shape[0] / (y1 - y0)])
        offset = np.float32([x0, y0])
        inside = (np.asarray(box, np.float32) - np.tile(offset, 2)) * np.tile(back, 2)
        dx, dy = estimate_smear(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), inside)
        if np.hypot(dx, dy) < MIN_SMEAR:
            return []
        self.crops += 1
        self.deblurred += 1
        sharp = deblur(crop, dx, dy)
        faces = self.detector.detect(sharp)  # type: ignore[attr-defined]
        if self.landmarker is not None and faces:
            # the filter rings around edges (false finds), and the frame's own picture is too
            # smeared for the landmarker: it judges the find on the deblurred crop
            faces = [f for f in self.landmarker.landmark(sharp, faces)  # type: ignore[attr-defined]
                     if (f.landmark_score or 0.0) >= self.sure]
        for f in faces:
            f.box = (f.box / np.tile(back, 2) + np.tile(offset, 2)).astype(np.float32)
            if f.kps5 is not None:
                f.kps5 = (f.kps5 / back + offset).astype(np.float32)
        return list(faces)

    def movers(self, moving: np.ndarray | None, step: int, faces: list[Face], expected: list[Expected]) -> list[Expected]:
        """Places where something face-sized moves that no detection and no expected face explains
        (a face smeared from its first frame, or from rest, that no pass has found yet), the
        largest first, as boxes in frame px (lost_for = inf: after every lost face)."""
        if moving is None or not moving.any():
            return []
        count, _, stats, _ = cv2.connectedComponentsWithStats(moving.astype(np.uint8), connectivity=8)
        known = np.array([f.box for f in faces] + [e.box for e in expected], np.float32).reshape(-1, 4)
        out = []
        for x, y, w, h, cells in sorted(stats[1:].tolist(), key=lambda r: -r[4]):
            if cells < self.min_cells or min(w, h) < 3:
                continue
            box = np.float32([x * step, y * step, (x + w) * step, (y + h) * step])
            if len(known) and iou_matrix(box[None], known).max() > 0.1:
                continue
            out.append(Expected(box, float("inf")))
        return out

    def look(self, image: np.ndarray, faces: list[Face], expected: list[Expected], moving: np.ndarray | None = None,
             step: int = 8) -> list[Face]:
        """`faces` plus what the crops around missing expected faces found, one face per face.
        moving: with `movers`, the map of new motion (1 cell = `step` px; scan.Motion): crops
        left in the budget look where something unexplained moves."""
        if self.crops_per_frame == 0:
            return faces
        todo = self.missing(faces, expected)[:self.crops_per_frame]
        if self.use_movers and len(todo) < self.crops_per_frame:
            todo += self.movers(moving, step, faces, expected)[:self.crops_per_frame - len(todo)]
        if not todo:
            return faces
        iw, ih = input_size(self.detector)
        found, strays = list(faces), []
        for e in todo:
            region = self.crop(e.box, image.shape, iw / ih)
            if region is None:
                continue
            self.crops += 1
            wanted = np.asarray(e.box, np.float32)[None]
            seen = detect_region(self.detector, image, region)
            if e.lost_for == float("inf"):  # a mover: what it found inside the moving place is it
                if self.unblur and not seen:
                    found += self.deblurred_look(image, region, e.box) if self.landmarker is not None else []
                for f in seen:
                    cx, cy = (f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2
                    inside = e.box[0] <= cx <= e.box[2] and e.box[1] <= cy <= e.box[3]
                    (found if inside else strays).append(f)
                continue
            if self.unblur and not any(iou_matrix(f.box[None], wanted)[0, 0] >= self.own_iou for f in seen):
                sharpened = self.deblurred_look(image, region, e.box)
                if self.landmarker is not None:  # taken for faces already, wherever they are in the crop
                    found += sharpened
                else:
                    seen = seen + sharpened
            for f in seen:
                own = iou_matrix(f.box[None], wanted)[0, 0] >= self.own_iou
                (found if own else strays).append(f)
        if strays and self.landmarker is not None:
            landmarked = self.landmarker.landmark(image, strays)  # type: ignore[attr-defined]
            found += [f for f in landmarked if (f.landmark_score or 0.0) >= self.sure]
        return merge(found) if len(found) > len(faces) else faces

