"""Pixel-format conversions between NDI buffers and the pipeline's BGR pictures."""

from __future__ import annotations

import cv2
import numba
import numpy as np

# BT.709 limited range (what NDI uses for HD UYVY), as fixed-point coefficients ×1024.
_Y = 1192  # 255/219
_RV = 1836  # 1.5748 · 255/224
_GU = -218  # -0.1873 · 255/224
_GV = -546  # -0.4681 · 255/224
_BU = 2163  # 1.8556 · 255/224


@numba.njit(parallel=True, cache=True, nogil=True)
def _uyvy_to_bgr(src: np.ndarray, dst: np.ndarray) -> None:
    height, width = dst.shape[0], dst.shape[1]
    for row in numba.prange(height):
        for pair in range(width // 2):
            u = np.int32(src[row, 2 * pair, 0]) - 128
            y0 = (np.int32(src[row, 2 * pair, 1]) - 16) * _Y
            v = np.int32(src[row, 2 * pair + 1, 0]) - 128
            y1 = (np.int32(src[row, 2 * pair + 1, 1]) - 16) * _Y
            r, g, b = _RV * v, _GU * u + _GV * v, _BU * u
            for k, y in ((0, y0), (1, y1)):
                col = 2 * pair + k
                dst[row, col, 0] = min(max((y + b + 512) >> 10, 0), 255)
                dst[row, col, 1] = min(max((y + g + 512) >> 10, 0), 255)
                dst[row, col, 2] = min(max((y + r + 512) >> 10, 0), 255)


def uyvy_to_bgr(uyvy: np.ndarray) -> np.ndarray:
    """(H, W, 2) UYVY, BT.709 limited range → (H, W, 3) BGR, one pass."""
    out = np.empty((uyvy.shape[0], uyvy.shape[1], 3), np.uint8)
    _uyvy_to_bgr(uyvy, out)
    return out


def bgrx_to_bgr(bgrx: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgrx, cv2.COLOR_BGRA2BGR)


def rgbx_to_bgr(rgbx: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgbx, cv2.COLOR_RGBA2BGR)


def bgr_to_bgrx(bgr: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """BGR → BGRX for NDI send, into `out` when it has the right shape (no new allocation)."""
    if out is not None and out.shape[:2] == bgr.shape[:2]:
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA, dst=out)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
