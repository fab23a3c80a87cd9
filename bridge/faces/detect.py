"""Face detectors: image in, `Face` list out (boxes, scores, five points where the model has them).

Each detector is a small class: the constructor opens its model (checked against the
manifest), `detect(image)` maps a BGR image or a `Frame` to faces in frame pixels. The
decoders are plain functions on the raw output tensors, so they are tested on hand-built
tensors as well as on the real models (docs/models.md §2, §8).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

import cv2
import numpy as np

from bridge.faces.align import TEMPLATES
from bridge.runtime.catalog import open_model
from bridge.runtime.onnx import SessionFactory
from bridge.types import Face, Frame


class Detector(Protocol):
    def detect(self, image: np.ndarray | Frame, *, least_score: float | None = None) -> list[Face]:
        """Faces scoring score_threshold, or `least_score` where a second look has something
        else (the landmarker) check what it finds."""
        ...


def _least(score_threshold: float, least_score: float | None) -> float:
    """The score a detect call keeps faces from: its `least_score` when given, else the detector's."""
    return score_threshold if least_score is None else least_score


def as_image(image: np.ndarray | Frame) -> np.ndarray:
    return image.image if isinstance(image, Frame) else image


def letterbox(image: np.ndarray, width: int, height: int) -> tuple[np.ndarray, float]:
    """Shrink keeping aspect (never enlarge) and paste top-left on a black canvas; (canvas, ratio)."""
    h, w = image.shape[:2]
    ratio = min(width / w, height / h, 1.0)
    if ratio < 1.0:
        image = cv2.resize(image, (max(1, round(w * ratio)), max(1, round(h * ratio))), interpolation=cv2.INTER_AREA)
    canvas = np.zeros((height, width, 3), np.uint8)
    canvas[: image.shape[0], : image.shape[1]] = image
    return canvas, ratio


def nms(boxes: np.ndarray, scores: np.ndarray, score_threshold: float, iou_threshold: float) -> np.ndarray:
    """Indices kept by non-maximum suppression, best first (OpenCV's NMSBoxes)."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    xywh = np.column_stack([boxes[:, :2], boxes[:, 2:4] - boxes[:, :2]]).astype(np.float32)
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), scores.astype(np.float32).tolist(), score_threshold, iou_threshold)
    return np.asarray(keep, np.int64).reshape(-1)


def to_faces(boxes: np.ndarray, scores: np.ndarray, kps: np.ndarray | None) -> list[Face]:
    return [Face(box=boxes[i].astype(np.float32), score=float(scores[i]),
                 kps5=None if kps is None else kps[i].reshape(5, 2).astype(np.float32))
            for i in range(len(boxes))]


def _select(boxes: np.ndarray, scores: np.ndarray, kps: np.ndarray | None, score_threshold: float,
            iou_threshold: float, edge_threshold: float | None = None, shape: tuple[int, ...] | None = None) -> list[Face]:
    keep = scores >= score_threshold
    if edge_threshold is not None and shape is not None and edge_threshold < score_threshold:
        # a face cut by the frame's edge scores low until it is whole: kept at the lower score,
        # the stage then keeps it only where its landmarks are sure (bridge.faces.edge)
        keep |= (scores >= edge_threshold) & at_frame_edge(boxes, shape)
    boxes, scores = boxes[keep], scores[keep]
    kps = kps[keep] if kps is not None else None
    order = nms(boxes, scores, 0.0, iou_threshold)
    return to_faces(boxes[order], scores[order], None if kps is None else kps[order])


def at_frame_edge(boxes: np.ndarray, shape: tuple[int, ...], margin: float = 0.01) -> np.ndarray:
    """Per box (N, 4): whether it reaches within `margin` of the shorter side of the frame's border."""
    h, w = shape[:2]
    m = margin * min(h, w)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    return (boxes[:, 0] <= m) | (boxes[:, 1] <= m) | (boxes[:, 2] >= w - m) | (boxes[:, 3] >= h - m)


def _blob(image: np.ndarray, channel_order: str, mean: float, std: float, nhwc: bool = False) -> np.ndarray:
    if channel_order == "rgb":
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    x = (image.astype(np.float32) - mean) / std
    return x[None] if nhwc else x.transpose(2, 0, 1)[None]


# --- ULFD RFB-320 (fr_detect.onnx) -----------------------------------------------------------

def decode_ulfd(scores: np.ndarray, boxes: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """ULFD outputs (1,N,2) softmax and (1,N,4) corner boxes in [0,1] → pixel boxes, face scores."""
    return (boxes[0] * np.array([width, height, width, height], np.float32)).astype(np.float32), scores[0, :, 1]


class UlfdDetector:
    """Ultra-Light-Fast RFB-320: boxes only (landmarks come from the landmarker).

    The frame is stretched to 320×240 as the model was trained; faces smaller than about
    1/25 of the frame width are missed — `tiles` (columns, rows) runs it on overlapping
    tiles for wide shots, at that many times the cost.
    """

    def __init__(self, model_path: str | Path, *, score_threshold: float = 0.7, iou_threshold: float = 0.4,
                 tiles: tuple[int, int] = (1, 1), sessions: SessionFactory | None = None,
                 edge_threshold: float | None = None) -> None:
        self.session, self.entry = open_model(model_path, sessions)
        self.input_name = self.session.get_inputs()[0].name
        _, _, self.height, self.width = self.session.get_inputs()[0].shape
        self.score_threshold = score_threshold
        self.edge_threshold = edge_threshold  # least score of a box at the frame's edge (None = score_threshold)
        self.iou_threshold = iou_threshold
        self.tiles = tiles

    def _run(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        resized = cv2.resize(image, (self.width, self.height), interpolation=cv2.INTER_AREA if w > self.width else cv2.INTER_LINEAR)
        scores, boxes = self.session.run(None, {self.input_name: _blob(resized, "rgb", 127.0, 128.0)})
        return decode_ulfd(scores, boxes, w, h)

    def detect(self, image: np.ndarray | Frame, *, edges: bool = False, least_score: float | None = None) -> list[Face]:
        """Faces scoring score_threshold (or `least_score`); with `edges` (a whole frame, not a
        crop), also boxes at its edge scoring edge_threshold (bridge.faces.edge keeps those the
        landmarker is sure of)."""
        image = as_image(image)
        parts = [self._run(tile) + (offset,) for tile, offset in tile_image(image, self.tiles)]
        boxes = np.concatenate([b + np.tile(o, 2) for b, _, o in parts])
        scores = np.concatenate([s for _, s, _ in parts])
        faces = _select(boxes, scores, None, _least(self.score_threshold, least_score), self.iou_threshold,
                        self.edge_threshold if edges else None, image.shape)
        for face in faces:
            face.box = clip_box(face.box, image.shape)
        return faces


def tile_image(image: np.ndarray, tiles: tuple[int, int], overlap: float = 0.25) -> list[tuple[np.ndarray, np.ndarray]]:
    """Overlapping tiles (columns × rows) and their top-left offsets; (1, 1) is the whole image."""
    columns, rows = tiles
    h, w = image.shape[:2]
    if columns <= 1 and rows <= 1:
        return [(image, np.zeros(2, np.float32))]
    tile_w = int(np.ceil(w / (columns - (columns - 1) * overlap)))
    tile_h = int(np.ceil(h / (rows - (rows - 1) * overlap)))
    out = []
    for r in range(rows):
        for c in range(columns):
            x = min(int(round(c * tile_w * (1 - overlap))), max(0, w - tile_w))
            y = min(int(round(r * tile_h * (1 - overlap))), max(0, h - tile_h))
            out.append((image[y:y + tile_h, x:x + tile_w], np.array([x, y], np.float32)))
    return out


def clip_box(box: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    h, w = shape[:2]
    return np.clip(box, [0, 0, 0, 0], [w - 1, h - 1, w - 1, h - 1]).astype(np.float32)


# --- BlazeFace (MediaPipe front 128 / back 256) ------------------------------------------------

def blazeface_anchors() -> np.ndarray:
    """(896, 2) anchor centres in [0,1]: a 16×16 grid with 2 anchors per cell, then 8×8 with 6.

    Both the 128 front model (strides 8 and 16) and the 256 back model (16 and 32) use
    these same normalised grids; the regressors are in input pixels.
    """
    grids = []
    for cells, per_cell in ((16, 2), (8, 6)):
        ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        centres = (np.stack([xs.ravel(), ys.ravel()], axis=1) + 0.5) / cells
        grids.append(np.repeat(centres, per_cell, axis=0))
    return np.concatenate(grids).astype(np.float32)


def kps5_from_blazeface(six: np.ndarray) -> np.ndarray:
    """Five alignment points from BlazeFace's six (eyes, nose tip, mouth centre, ears), (N,6,2) → (N,5,2).

    Eyes and nose are kept. The mouth corners are placed where the arcface template puts
    them, using the similarity that maps the template's eyes, nose and mouth centre onto
    the detected ones.
    """
    template = TEMPLATES["arcface_112_v2"]
    reference = np.vstack([template[:3], template[3:5].mean(axis=0, keepdims=True)])
    out = np.zeros((len(six), 5, 2), np.float32)
    for i, points in enumerate(six.astype(np.float32)):
        matrix, _ = cv2.estimateAffinePartial2D(reference, points[:4])
        if matrix is None:  # degenerate: spread the corners along the eye line
            eye = points[1] - points[0]
            corners = np.stack([points[3] - 0.41 * eye, points[3] + 0.41 * eye])
        else:
            corners = template[3:5] @ matrix[:, :2].T + matrix[:, 2]
        out[i, :3] = points[:3]
        out[i, 3:] = corners
    return out


def decode_blazeface(scores: np.ndarray, regressors: np.ndarray, anchors: np.ndarray,
                     size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BlazeFace logits (896,) and regressors (896,16) → boxes (N,4) and six keypoints (N,6,2) in
    input pixels, scores (N,) as probabilities."""
    probabilities = 1.0 / (1.0 + np.exp(-np.clip(scores, -80, 80)))
    centres = anchors * size
    cx = centres[:, 0] + regressors[:, 0]
    cy = centres[:, 1] + regressors[:, 1]
    half_w, half_h = regressors[:, 2] / 2, regressors[:, 3] / 2
    boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
    six = regressors[:, 4:16].reshape(-1, 6, 2) + centres[:, None, :]
    return boxes.astype(np.float32), six.astype(np.float32), probabilities.astype(np.float32)


class BlazeFaceDetector:
    """MediaPipe BlazeFace (front 128 for close faces, back 256 for smaller ones).

    BlazeFace sees the frame letterboxed into its small square input, so faces under about
    1/8 (front) or 1/16 (back) of the frame are missed; `tiles` runs it on overlapping tiles.
    """

    def __init__(self, model_path: str | Path, *, score_threshold: float = 0.5, iou_threshold: float = 0.3,
                 tiles: tuple[int, int] = (1, 1), sessions: SessionFactory | None = None) -> None:
        self.session, self.entry = open_model(model_path, sessions)
        self.input_name = self.session.get_inputs()[0].name
        self.size = int(self.session.get_inputs()[0].shape[1])
        outputs = self.session.get_outputs()
        # Outputs: scores of each anchor layer, then regressors of each layer (in that order).
        self.output_names = [o.name for o in outputs]
        self.anchors = blazeface_anchors()
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.tiles = tiles

    def _run(self, image: np.ndarray, least: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        canvas, ratio = letterbox(image, self.size, self.size)
        blob = _blob(canvas, "rgb", 127.5, 127.5, nhwc=True)
        s16, s32, r16, r32 = self.session.run(self.output_names, {self.input_name: blob})
        scores = np.concatenate([s16[0, :, 0], s32[0, :, 0]])
        regressors = np.concatenate([r16[0], r32[0]])
        keep = scores > _logit(least)
        boxes, six, probabilities = decode_blazeface(scores[keep], regressors[keep], self.anchors[keep], self.size)
        return boxes / ratio, six / ratio, probabilities

    def detect(self, image: np.ndarray | Frame, *, least_score: float | None = None) -> list[Face]:
        image = as_image(image)
        least = _least(self.score_threshold, least_score)
        parts = [self._run(tile, least) + (offset,) for tile, offset in tile_image(image, self.tiles)]
        boxes = np.concatenate([b + np.tile(o, 2) for b, _, _, o in parts])
        six = np.concatenate([k + o for _, k, _, o in parts])
        scores = np.concatenate([s for _, _, s, _ in parts])
        faces = _select(boxes, scores, kps5_from_blazeface(six).reshape(-1, 10), least, self.iou_threshold)
        for face in faces:
            face.box = clip_box(face.box, image.shape)
        return faces


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))


# --- SCRFD (scrfd_2.5g, retinaface_10g = SCRFD-10G-KPS) ---------------------------------------

def scrfd_anchor_centres(size: int, stride: int, anchors_per_cell: int = 2) -> np.ndarray:
    """Anchor centres (x·stride, y·stride), row-major with x fastest, each repeated per anchor."""
    cells = size // stride
    ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
    centres = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32) * stride
    return np.repeat(centres, anchors_per_cell, axis=0)


def decode_scrfd(outputs: Sequence[np.ndarray], size: int, strides: Sequence[int] = (8, 16, 32),
                 score_threshold: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SCRFD's 9 outputs (scores ×3, boxes ×3, keypoints ×3, per stride) → boxes (N,4), scores (N,),
    keypoints (N,5,2) in input pixels, every stride level kept on its own merits."""
    levels = len(strides)
    all_boxes, all_scores, all_kps = [], [], []
    for level, stride in enumerate(strides):
        scores = np.asarray(outputs[level]).reshape(-1)
        distances = np.asarray(outputs[level + levels]).reshape(-1, 4) * stride
        offsets = np.asarray(outputs[level + 2 * levels]).reshape(-1, 5, 2) * stride
        per_cell = max(1, len(scores) // ((size // stride) ** 2))
        centres = scrfd_anchor_centres(size, stride, per_cell)
        keep = np.nonzero(scores >= score_threshold)[0]
        c = centres[keep]
        d = distances[keep]
        all_boxes.append(np.column_stack([c[:, 0] - d[:, 0], c[:, 1] - d[:, 1], c[:, 0] + d[:, 2], c[:, 1] + d[:, 3]]))
        all_scores.append(scores[keep])
        all_kps.append(offsets[keep] + c[:, None, :])
    return (np.concatenate(all_boxes).astype(np.float32), np.concatenate(all_scores).astype(np.float32),
            np.concatenate(all_kps).astype(np.float32))


class _LetterboxDetector:
    """A square-input detector with boxes and five points: letterbox in, decode, scale back, NMS."""

    mean, std = 0.0, 1.0

    def __init__(self, model_path: str | Path, *, size: int = 640, score_threshold: float = 0.5,
                 iou_threshold: float = 0.4, sessions: SessionFactory | None = None) -> None:
        self.session, self.entry = open_model(model_path, sessions)
        self.input_name = self.session.get_inputs()[0].name
        self.size = _fixed_or(self.session.get_inputs()[0].shape[2], size)
        self.channel_order = (self.entry or {}).get("channel_order", "bgr")
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold

    def decode(self, outputs: list[np.ndarray], least: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def detect(self, image: np.ndarray | Frame, *, least_score: float | None = None) -> list[Face]:
        image = as_image(image)
        least = _least(self.score_threshold, least_score)
        canvas, ratio = letterbox(image, self.size, self.size)
        outputs = self.session.run(None, {self.input_name: _blob(canvas, self.channel_order, self.mean, self.std)})
        boxes, scores, kps = self.decode(outputs, least)
        faces = _select(boxes / ratio, scores, kps.reshape(-1, 10) / ratio, least, self.iou_threshold)
        for face in faces:
            face.box = clip_box(face.box, image.shape)
        return faces


class ScrfdDetector(_LetterboxDetector):
    """SCRFD (scrfd_2.5g, retinaface_10g): boxes and five points at 160–640 px square input."""

    mean, std = 127.5, 128.0

    def decode(self, outputs: list[np.ndarray], least: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return decode_scrfd(outputs, self.size, score_threshold=least)


def _fixed_or(dim: object, default: int) -> int:
    return int(dim) if isinstance(dim, int) and dim > 0 else default


# --- YOLOFace (yoloface_8n) -------------------------------------------------------------------

def decode_yoloface(output: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(1, 20, N): cx, cy, w, h, score, 5 × (x, y, visibility) → boxes (N,4), scores (N,), keypoints (N,5,2)."""
    rows = np.asarray(output)[0].T
    cx, cy, w, h = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    kps = rows[:, 5:20].reshape(-1, 5, 3)[:, :, :2]
    return boxes.astype(np.float32), rows[:, 4].astype(np.float32), kps.astype(np.float32)


class YoloFaceDetector(_LetterboxDetector):
    """YOLOv8n-face (yoloface_8n): 640² input, x/255, boxes and five points."""

    mean, std = 0.0, 255.0

    def decode(self, outputs: list[np.ndarray], least: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return decode_yoloface(outputs[0])  # every box: _select keeps those scoring `least`
