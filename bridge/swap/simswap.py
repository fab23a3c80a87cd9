"""simswap_256 (non-commercial): arcface_112_v1 template, 256², ImageNet mean/std (docs/models.md §5).

SimSwap was trained in its own identity space; FaceFusion maps an ArcFace embedding there with a
separate crossface model, which this bridge does not ship. The normalised ArcFace embedding is fed
as it is, so identity transfer is weaker than with inswapper or hyperswap.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from bridge.faces.embed import l2_normalise
from bridge.runtime.onnx import SessionFactory
from bridge.swap.neural import NeuralSwapper

log = logging.getLogger("bridge.swap.simswap")


class SimSwapper(NeuralSwapper):
    name = "simswap_256"
    template = "arcface_112_v1"
    mean = (0.485, 0.456, 0.406)
    std = (0.229, 0.224, 0.225)

    def __init__(self, model_path: str | Path, sessions: SessionFactory | None = None, name: str | None = None) -> None:
        super().__init__(model_path, sessions, name)
        log.info("simswap: the ArcFace embedding is fed directly (no crossface model): weaker identity than "
                 "inswapper or hyperswap")

    def latent_key(self) -> str:
        return "arcface"

    def latent(self, embedding: np.ndarray) -> np.ndarray:
        return l2_normalise(np.asarray(embedding, dtype=np.float32).reshape(-1))
