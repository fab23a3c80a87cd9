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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bridge.faces.boxes import iou_matrix
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
    """

    def __init__(self, detector: object, crops_per_frame: int = 1, context: float = 3.0,
                 found_iou: float = 0.45, own_iou: float = 0.1, landmarker: object | None = None,
                 sure: float = 0.5) -> None:
        self.detector, self.landmarker = detector, landmarker
        self.crops_per_frame = max(0, crops_per_frame)
        self.context, self.found_iou, self.own_iou, self.sure = context, found_iou, own_iou, sure
        self.crops = 0  # crops run (for the status page and benchmarks)

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
        """The crop around an expected box (`context_crop` with this lookout's context)."""
        return context_crop(box, shape, self.context, aspect)

    def look(self, image: np.ndarray, faces: list[Face], expected: list[Expected]) -> list[Face]:
        """`faces` plus what the crops around missing expected faces found, one face per face."""
        if self.crops_per_frame == 0:
            return faces
        todo = self.missing(faces, expected)[:self.crops_per_frame]
        if not todo:
            return faces
        iw, ih = input_size(self.detector)
        found, strays = list(faces), []
        for e in todo:
            region = self.crop(e.box, image.shape, iw / ih)
            if region is None:
                continue
            self.crops += 1
            for f in detect_region(self.detector, image, region):
                own = iou_matrix(f.box[None], np.asarray(e.box, np.float32)[None])[0, 0] >= self.own_iou
                (found if own else strays).append(f)
        if strays and self.landmarker is not None:
            landmarked = self.landmarker.landmark(image, strays)  # type: ignore[attr-defined]
            found += [f for f in landmarked if (f.landmark_score or 0.0) >= self.sure]
        return merge(found) if len(found) > len(faces) else faces


def context_crop(box: np.ndarray, shape: tuple[int, ...], context: float,
                 aspect: float) -> tuple[int, int, int, int] | None:
    """The crop (x0, y0, x1, y1) around `box`: `context` face sizes wide, at `aspect`
    (width/height, the detector's), shifted to stay inside the frame; None when the box is off
    the picture."""
    h, w = shape[:2]
    x0, y0, x1, y1 = (float(v) for v in box)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    if not (0 <= cx < w and 0 <= cy < h):
        return None
    size = max(x1 - x0, y1 - y0, 8.0)
    cw = min(float(w), size * context)
    ch = min(float(h), cw / aspect)
    left = int(round(min(max(cx - cw / 2, 0.0), w - cw)))
    top = int(round(min(max(cy - ch / 2, 0.0), h - ch)))
    return left, top, left + int(cw), top + int(ch)
