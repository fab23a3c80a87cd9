"""What every ONNX face swapper shares (docs/models.md §5).

Flow: the face is aligned onto the model's template at its size; BGR → RGB, /255,
(x − mean)/std, NCHW; the graph runs with the crop as `target` and the target person's
latent as `source`; the first output is de-normalised where the model needs it, clipped to
[0, 1], turned back into BGR uint8. Input and output names and shapes are read from the
session, never hard-coded; a graph with a free batch axis gets all faces of a frame at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from bridge.faces.embed import l2_normalise
from bridge.runtime.onnx import Session, SessionFactory
from bridge.swap.base import CropGeometry, FaceCrop, Prepared, SwapOutput, SwapperError, TargetFace


def mean_embedding(target_faces: Sequence[TargetFace]) -> np.ndarray:
    """The target's identity: mean of the L2-normalised embeddings of its images, normalised again."""
    embeddings = [tf.face.embedding for tf in target_faces if tf.face.embedding is not None]
    if not embeddings:
        raise SwapperError("the target has no face embedding; the recogniser must run on target images")
    return l2_normalise(np.mean([l2_normalise(e) for e in embeddings], axis=0))


class NeuralSwapper:
    """An ONNX swapper with inputs `target` (N,3,S,S) and `source` (N,D).

    Subclasses set the template, size, mean/std, whether the output is de-normalised, and
    how a target embedding becomes the `source` latent (`latent`).
    """

    name = "neural"
    template = "arcface_128"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    denormalise_output = False  # output in the input's normalised range (×std+mean) rather than [0, 1]

    def __init__(self, model_path: str | Path, sessions: SessionFactory | None = None, name: str | None = None) -> None:
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise SwapperError(f"swapper model {self.model_path} is missing; run `facebridge models fetch`")
        if name:
            self.name = name
        self.session: Session = (sessions or SessionFactory()).create(self.model_path)
        inputs = {i.name: i for i in self.session.get_inputs()}
        if "target" not in inputs or "source" not in inputs:
            raise SwapperError(f"{self.model_path.name}: expected inputs 'target' and 'source', got {sorted(inputs)}")
        target_shape = inputs["target"].shape
        if len(target_shape) != 4 or not isinstance(target_shape[2], int):
            raise SwapperError(f"{self.model_path.name}: 'target' must be (N, 3, S, S), got {target_shape}")
        self.size = int(target_shape[2])
        self.batched = not isinstance(target_shape[0], int)  # a named or unknown batch axis
        self.input_dtype = np.float16 if "float16" in inputs["target"].type else np.float32
        self.source_dtype = np.float16 if "float16" in inputs["source"].type else np.float32
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.crop_geometry = CropGeometry(self.template, self.size)

    def cache_key(self) -> str:
        stat = self.model_path.stat()
        return f"{self.name}-{self.model_path.name}-{stat.st_size}-{self.latent_key()}"

    def latent_key(self) -> str:
        """Part of the cache key that names how latents are computed."""
        return "v1"

    # -- target side ---------------------------------------------------------------------
    def latent(self, embedding: np.ndarray) -> np.ndarray:
        return l2_normalise(embedding)

    def prepare(self, target_faces: Sequence[TargetFace]) -> Prepared:
        return {"latent": self.latent(mean_embedding(target_faces)).astype(np.float32).reshape(-1)}

    # -- frame side ----------------------------------------------------------------------
    def preprocess(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """BGR uint8 crops → (N, 3, S, S) normalised RGB."""
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        blobs = []
        for crop in crops:
            if crop.shape[:2] != (self.size, self.size):
                crop = cv2.resize(crop, (self.size, self.size))
            rgb = crop[:, :, ::-1].astype(np.float32) / 255.0
            blobs.append(((rgb - mean) / std).transpose(2, 0, 1))
        return np.stack(blobs).astype(self.input_dtype)

    def postprocess(self, output: np.ndarray) -> list[np.ndarray]:
        """(N, 3, S, S) model output → BGR uint8 crops."""
        output = np.asarray(output, dtype=np.float32)
        if self.denormalise_output:
            output = output * np.asarray(self.std, np.float32)[:, None, None] + np.asarray(self.mean, np.float32)[:, None, None]
        images = (output.clip(0, 1) * 255.0).round().astype(np.uint8).transpose(0, 2, 3, 1)[..., ::-1]
        return [np.ascontiguousarray(image) for image in images]

    def masks(self, outputs: list[np.ndarray], count: int) -> list[np.ndarray | None]:
        """The graph's own face masks, if it has any (hyperswap)."""
        return [None] * count

    def run(self, crops: Sequence[np.ndarray], latents: Sequence[np.ndarray]) -> list[SwapOutput]:
        target = self.preprocess(crops)
        source = np.stack([np.asarray(latent).reshape(-1) for latent in latents]).astype(self.source_dtype)
        outputs = self.session.run(None, {"target": target, "source": source})
        images = self.postprocess(outputs[0])
        return [SwapOutput(image, mask) for image, mask in zip(images, self.masks(outputs, len(images)))]

    def swap(self, crop: FaceCrop, prepared: Prepared) -> SwapOutput:
        return self.run([crop.image], [prepared["latent"]])[0]

    def swap_batch(self, crops: Sequence[FaceCrop], prepared: Sequence[Prepared]) -> list[SwapOutput]:
        if not crops:
            return []
        if self.batched:
            return self.run([c.image for c in crops], [p["latent"] for p in prepared])
        return [self.swap(crop, data) for crop, data in zip(crops, prepared)]
