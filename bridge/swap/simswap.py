"""simswap_256 (non-commercial): arcface_112_v1 template, 256², ImageNet mean/std.

Its `source` lives in SimSwap's own embedding space: an ArcFace embedding is mapped there
by the crossface_simswap model (models-3.4.0) and L2-normalised. Without that model the
normalised ArcFace embedding is fed directly (identity transfer is weaker; say so in the log).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from bridge.runtime.onnx import SessionFactory
from bridge.swap.neural import NeuralSwapper, l2_normalise

log = logging.getLogger("bridge.swap.simswap")


class SimSwapper(NeuralSwapper):
    name = "simswap_256"
    template = "arcface_112_v1"
    mean = (0.485, 0.456, 0.406)
    std = (0.229, 0.224, 0.225)

    def __init__(self, model_path: str | Path, crossface_path: str | Path | None = None,
                 sessions: SessionFactory | None = None, name: str | None = None) -> None:
        super().__init__(model_path, sessions, name)
        self.crossface = None
        if crossface_path is not None:
            self.crossface = (sessions or SessionFactory()).create(Path(crossface_path))
            self.crossface_input = self.crossface.get_inputs()[0].name
        else:
            log.warning("simswap: no crossface_simswap model given; feeding the ArcFace embedding directly")

    def latent_key(self) -> str:
        return "crossface" if self.crossface is not None else "arcface"

    def latent(self, embedding: np.ndarray) -> np.ndarray:
        vector = np.asarray(embedding, dtype=np.float32).reshape(1, -1)
        if self.crossface is not None:
            vector = np.asarray(self.crossface.run(None, {self.crossface_input: vector})[0], dtype=np.float32)
        return l2_normalise(vector.reshape(-1))
