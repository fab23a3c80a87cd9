"""Recognisers: fill `Face.embedding` with an L2-normalised 512-d vector.

Faces are aligned on the arcface template from their five points, normalised as the model
expects, and run as one batch when the graph's batch axis is free (arcface_w600k_r50),
else one face per call (the CPU model fr_feature.onnx has batch 1).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from bridge.faces.align import warp_to_template
from bridge.faces.detect import as_image
from bridge.runtime.catalog import open_model
from bridge.runtime.onnx import SessionFactory
from bridge.types import Face, Frame


class EmbeddingError(ValueError):
    """A face cannot be embedded (one readable line)."""


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Unit length along the last axis, as float32 (a zero vector stays zero): the bridge's one normaliser."""
    vectors = np.asarray(vectors, np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), np.float32(1e-12))


class Recogniser:
    """ArcFace-style recogniser for fr_feature.onnx (CPU set) and arcface_w600k_r50.onnx.

    Normalisation, channel order and template come from the model's manifest entry
    (fr_feature: RGB, (x−127)/128; arcface_w600k_r50: RGB, (x−127.5)/127.5; both arcface_112_v2).
    """

    def __init__(self, model_path: str | Path, *, sessions: SessionFactory | None = None,
                 template: str | None = None) -> None:
        self.session, self.entry = open_model(model_path, sessions)
        entry = self.entry or {}
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        self.size = int(model_input.shape[2]) if isinstance(model_input.shape[2], int) else 112
        batch = model_input.shape[0]
        self.batched = not (isinstance(batch, int) and batch == 1)
        norm = entry.get("normalisation") or {"mean": 127.5, "std": 127.5}
        self.mean = float(norm["mean"])
        self.std = float(norm["std"])
        self.rgb = entry.get("channel_order", "rgb") == "rgb"
        self.template = template or entry.get("template") or "arcface_112_v2"

    def _blob(self, crops: list[np.ndarray]) -> np.ndarray:
        stack = np.stack([cv2.cvtColor(c, cv2.COLOR_BGR2RGB) if self.rgb else c for c in crops]).astype(np.float32)
        return ((stack - self.mean) / self.std).transpose(0, 3, 1, 2)

    def embed_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        """(N, 512) L2-normalised embeddings of aligned BGR crops of the model's size."""
        if not crops:
            return np.zeros((0, 512), np.float32)
        blob = self._blob(crops)
        if self.batched:
            (out,) = self.session.run(None, {self.input_name: blob})[:1]
        else:
            out = np.concatenate([self.session.run(None, {self.input_name: blob[i:i + 1]})[0] for i in range(len(blob))])
        return l2_normalise(out.reshape(len(crops), -1))

    def align(self, image: np.ndarray, face: Face) -> np.ndarray:
        if face.kps5 is None:
            raise EmbeddingError("a face without five landmarks cannot be aligned for its embedding (run the landmarker first)")
        crop, _ = warp_to_template(image, face.kps5, self.template, self.size)
        return crop

    def embed(self, image: np.ndarray | Frame, faces: list[Face]) -> list[Face]:
        """Fill each face's embedding (in place; returned for chaining), all faces in one batch."""
        image = as_image(image)
        embeddings = self.embed_crops([self.align(image, face) for face in faces])
        for face, embedding in zip(faces, embeddings):
            face.embedding = embedding
        return faces

    __call__ = embed


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(l2_normalise(a), l2_normalise(b)))
