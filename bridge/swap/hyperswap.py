"""hyperswap_1a/1b/1c_256 (ResearchRAIL): arcface_128 template, 256², mean/std 0.5.

`source` is the normalised ArcFace embedding; outputs `output` (in the input's normalised
range, so de-normalised) and `mask`, the model's own face mask, which joins the other masks
in compose.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from bridge.runtime.onnx import SessionFactory
from bridge.swap.neural import NeuralSwapper


class HyperSwapper(NeuralSwapper):
    name = "hyperswap_1a_256"
    template = "arcface_128"
    mean = (0.5, 0.5, 0.5)
    std = (0.5, 0.5, 0.5)
    denormalise_output = True

    def __init__(self, model_path: str | Path, sessions: SessionFactory | None = None, name: str | None = None) -> None:
        super().__init__(model_path, sessions, name or Path(model_path).stem)
        self.mask_index = self.output_names.index("mask") if "mask" in self.output_names else None

    def masks(self, outputs: list[np.ndarray], count: int) -> list[np.ndarray | None]:
        if self.mask_index is None:
            return [None] * count
        masks = np.asarray(outputs[self.mask_index], dtype=np.float32).reshape(count, *np.shape(outputs[self.mask_index])[-2:])
        return [cv2.resize(m.clip(0, 1), (self.size, self.size)) if m.shape != (self.size, self.size) else m.clip(0, 1)
                for m in masks]
