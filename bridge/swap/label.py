"""The on-screen "AI-generated" label: broadcasters are asked to mark synthetic faces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import cv2
import numpy as np

Corner = Literal["top-left", "top-right", "bottom-left", "bottom-right"]
CORNERS: tuple[str, ...] = get_args(Corner)


@dataclass(frozen=True)
class Label:
    """text: what to show; corner: where; size: text height as a share of the frame height."""

    text: str = "AI-generated"
    corner: Corner = "bottom-right"
    size: float = 0.035

    def __post_init__(self) -> None:
        if self.corner not in CORNERS:
            raise ValueError(f"label corner must be one of {', '.join(CORNERS)}, not {self.corner!r}")
        if not 0.005 <= self.size <= 0.5:
            raise ValueError(f"label size is a share of the frame height (0.005–0.5), not {self.size}")

    def draw(self, image: np.ndarray) -> None:
        """Draw in place: white text on a half-transparent dark plate, one margin in from the corner."""
        height, width = image.shape[:2]
        font = cv2.FONT_HERSHEY_SIMPLEX
        pixels = max(8, int(round(self.size * height)))
        scale = cv2.getFontScaleFromHeight(font, pixels, 1)
        thickness = max(1, pixels // 12)
        (text_w, text_h), baseline = cv2.getTextSize(self.text, font, scale, thickness)
        pad, margin = pixels // 3, pixels // 2
        plate_w, plate_h = text_w + 2 * pad, text_h + baseline + 2 * pad
        x0 = margin if self.corner.endswith("left") else width - margin - plate_w
        y0 = margin if self.corner.startswith("top") else height - margin - plate_h
        x0, y0 = max(0, x0), max(0, y0)
        x1, y1 = min(width, x0 + plate_w), min(height, y0 + plate_h)
        plate = image[y0:y1, x0:x1]
        plate[:] = (plate.astype(np.uint16) * 2 // 5).astype(np.uint8)  # darken to 40 %
        cv2.putText(image, self.text, (x0 + pad, y0 + pad + text_h), font, scale, (255, 255, 255), thickness,
                    cv2.LINE_AA)
