"""Colour transfer: make a swapped face take the colour of the face it replaces."""

from __future__ import annotations

import cv2
import numpy as np


def match_colour(image: np.ndarray, reference: np.ndarray, mask: np.ndarray, max_gain: float = 2.0) -> np.ndarray:
    """`image` with the LAB mean/std of `reference` measured inside `mask` (uint8, nonzero = inside).

    Both images are uint8 BGR of the same size. The per-channel gain is clipped to
    [1/max_gain, max_gain] so a grey target (a/b std ≈ 0) does not blow up chroma noise.
    """
    if not mask.any():
        return image
    return match_colour_lab(cv2.cvtColor(image, cv2.COLOR_BGR2LAB), reference, mask, max_gain)


def match_colour_lab(image_lab: np.ndarray, reference: np.ndarray, mask: np.ndarray,
                     max_gain: float = 2.0) -> np.ndarray:
    """`match_colour` for an image already in LAB (uint8); returns BGR.

    warp68 samples a texture kept in LAB, which saves one conversion per face per frame.
    """
    if not mask.any():
        return cv2.cvtColor(image_lab, cv2.COLOR_LAB2BGR)
    reference_lab = cv2.cvtColor(reference, cv2.COLOR_BGR2LAB)
    source_mean, source_std = cv2.meanStdDev(image_lab, mask=mask)
    reference_mean, reference_std = cv2.meanStdDev(reference_lab, mask=mask)
    gain = np.clip(reference_std.ravel() / np.maximum(source_std.ravel(), 1e-3), 1.0 / max_gain, max_gain)
    offset = reference_mean.ravel() - gain * source_mean.ravel()
    # the transfer maps each channel's 256 levels on their own: a lookup table, not float images
    # (the same float32 arithmetic and rounding as convertScaleAbs, so the same bytes)
    levels = np.arange(256, dtype=np.float32)[:, None] * gain.astype(np.float32) + offset.astype(np.float32)
    table = np.clip(np.rint(np.abs(levels)), 0, 255).astype(np.uint8).reshape(256, 1, 3)
    return cv2.cvtColor(cv2.LUT(image_lab, table), cv2.COLOR_LAB2BGR)


# OpenCV's YCrCb (full range) as an affine map of BGR: ycc = YCC · bgr + YCC_OFFSET
YCC = np.array([[0.114, 0.587, 0.299],
                [-0.713 * 0.114, -0.713 * 0.587, 0.713 * (1 - 0.299)],
                [0.564 * (1 - 0.114), -0.564 * 0.587, -0.564 * 0.299]], np.float64)
YCC_OFFSET = np.array([0.0, 128.0, 128.0])
YCC_INVERSE = np.linalg.inv(YCC)


def ycc_transfer(image: np.ndarray, reference: np.ndarray, mask: np.ndarray, max_gain: float = 2.0,
                 min_lightness_gain: float = 0.85) -> tuple[np.ndarray, np.ndarray] | None:
    """(gain, offset) per YCrCb channel taking `image`'s mean/std to `reference`'s (both BGR uint8),
    measured on the same pixels (`mask` uint8, nonzero = counted); None with too few of them.

    YCrCb is an affine map of BGR, so the whole transfer is one 3×4 matrix on BGR (`bgr_affine`):
    no per-pixel colour-space round trip. The lightness gain stays at or above
    `min_lightness_gain`: a softly lit live face would otherwise flatten the target's brows,
    eyes and lips, which are who the target is.
    """
    if cv2.countNonZero(mask) < 8:
        return None
    source_mean, source_std = cv2.meanStdDev(cv2.cvtColor(image, cv2.COLOR_BGR2YCrCb), mask=mask)
    reference_mean, reference_std = cv2.meanStdDev(cv2.cvtColor(reference, cv2.COLOR_BGR2YCrCb), mask=mask)
    gain = np.clip(reference_std.ravel() / np.maximum(source_std.ravel(), 1e-3), 1.0 / max_gain, max_gain)
    gain[0] = max(gain[0], min_lightness_gain)
    return gain.astype(np.float32), (reference_mean.ravel() - gain * source_mean.ravel()).astype(np.float32)


def bgr_affine(gain: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """The 3×4 float32 matrix doing a YCrCb gain/offset transfer on BGR pixels (for cv2.transform)."""
    g = np.asarray(gain, np.float64)
    matrix = np.empty((3, 4), np.float32)
    matrix[:, :3] = YCC_INVERSE @ (g[:, None] * YCC)
    matrix[:, 3] = YCC_INVERSE @ (g * YCC_OFFSET + np.asarray(offset, np.float64) - YCC_OFFSET)
    return matrix
