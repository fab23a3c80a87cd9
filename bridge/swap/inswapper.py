"""inswapper_128 / inswapper_128_fp16 (InsightFace, non-commercial licence).

The graph's `source` is not the ArcFace embedding itself but a latent: the embedding
multiplied by `emap`, a 512×512 matrix stored as the graph's **last** initializer.

Normalisation (docs/models.md §5 gives both): insightface's reference code normalises the
embedding, multiplies by emap, and normalises the product again; FaceFusion skips the second
normalisation (a latent ≈4× longer). We use insightface's (`latent_norm="insightface"`):
inswapper was trained and published by insightface, so its own caller is the reference, and
a unit-length latent does not depend on the recogniser's embedding scale. FaceFusion's
variant stays selectable (`latent_norm="facefusion"`) for an A/B on real weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import onnx
from onnx import numpy_helper

from bridge.faces.embed import l2_normalise
from bridge.runtime.onnx import SessionFactory
from bridge.swap.base import SwapperError
from bridge.swap.neural import NeuralSwapper

LatentNorm = Literal["insightface", "facefusion"]


def read_emap(model_path: str | Path) -> np.ndarray:
    """The last initializer of the graph as float32 (D×D); a clear error when it is not square."""
    model = onnx.load(str(model_path), load_external_data=False)
    if not model.graph.initializer:
        raise SwapperError(f"{Path(model_path).name}: graph has no initializers, so no emap")
    emap = numpy_helper.to_array(model.graph.initializer[-1]).astype(np.float32)
    if emap.ndim != 2 or emap.shape[0] != emap.shape[1]:
        raise SwapperError(f"{Path(model_path).name}: last initializer has shape {emap.shape}, expected a square emap")
    return emap


def inswapper_latent(embedding: np.ndarray, emap: np.ndarray, latent_norm: LatentNorm = "insightface") -> np.ndarray:
    """Source latent from an ArcFace embedding (raw or normalised; it is normalised first)."""
    latent = l2_normalise(np.asarray(embedding, dtype=np.float32).reshape(-1)) @ emap
    return l2_normalise(latent) if latent_norm == "insightface" else latent.astype(np.float32)


class InSwapper(NeuralSwapper):
    """inswapper_128(_fp16): arcface_128 template, 128², RGB [0, 1], output RGB [0, 1].

    Needs target embeddings from arcface_w600k_r50 (the recogniser it was trained with).
    """

    name = "inswapper_128"
    template = "arcface_128"

    def __init__(self, model_path: str | Path, sessions: SessionFactory | None = None,
                 latent_norm: LatentNorm = "insightface", name: str | None = None) -> None:
        if latent_norm not in ("insightface", "facefusion"):
            raise SwapperError(f"inswapper latent_norm must be 'insightface' or 'facefusion', not {latent_norm!r}")
        super().__init__(model_path, sessions, name or Path(model_path).stem)
        self.latent_norm = latent_norm
        self.emap = read_emap(self.model_path)
        source_dim = self.session.get_inputs()[[i.name for i in self.session.get_inputs()].index("source")].shape[-1]
        if isinstance(source_dim, int) and source_dim != self.emap.shape[1]:
            raise SwapperError(f"{self.model_path.name}: emap is {self.emap.shape} but 'source' takes {source_dim} values")

    def latent_key(self) -> str:
        return f"emap-{self.latent_norm}"

    def latent(self, embedding: np.ndarray) -> np.ndarray:
        return inswapper_latent(embedding, self.emap, self.latent_norm)
