"""Face enhancer (gfpgan_1.4): restores detail a 128-pixel swapper loses; blended over the swap."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from bridge.faces.align import estimate_similarity
from bridge.runtime.onnx import SessionFactory
from bridge.swap.base import SwapperError


class Enhancer:
    """gfpgan_1.4 on the ffhq_512 template; `blend` is how much of the enhanced face is kept (0–1)."""

    template = "ffhq_512"

    def __init__(self, model_path: str | Path, blend: float = 0.8, sessions: SessionFactory | None = None) -> None:
        if not 0.0 <= blend <= 1.0:
            raise SwapperError(f"enhancer blend must be within 0–1, not {blend}")
        self.model_path = Path(model_path)
        self.blend = blend
        self.session = (sessions or SessionFactory()).create(self.model_path)
        first = self.session.get_inputs()[0]
        if len(first.shape) != 4:
            raise SwapperError(f"{self.model_path.name}: expected an NCHW image input, got shape {first.shape}")
        self.input_name = first.name
        self.size = first.shape[2] if isinstance(first.shape[2], int) else 512

    def enhance_crop(self, crop: np.ndarray) -> np.ndarray:
        """An aligned size×size BGR crop → the enhanced crop (same size)."""
        rgb = crop[:, :, ::-1].astype(np.float32) / 255.0
        blob = ((rgb - 0.5) / 0.5).transpose(2, 0, 1)[None]
        out = np.asarray(self.session.run(None, {self.input_name: blob})[0])[0]
        out = ((out.clip(-1, 1) + 1) * 127.5).transpose(1, 2, 0)[:, :, ::-1]
        return np.ascontiguousarray(out.round().astype(np.uint8))

    def matrix(self, kps5: np.ndarray) -> np.ndarray:
        return estimate_similarity(kps5, self.template, self.size)

    def crop(self, image: np.ndarray, kps5: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        matrix = self.matrix(kps5)
        crop = cv2.warpAffine(image, matrix, (self.size, self.size), borderMode=cv2.BORDER_REPLICATE)
        return crop, matrix
