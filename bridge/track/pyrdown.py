"""cv2.pyrDown for grey images, the same bytes in a third of the time.

The flow's pyramid halves every 1080p frame three times (flow.KeypointFlow.pyramid), and the
first halving was the largest single cost of tracking (0.33 ms of ~3.2 at 1080p, one thread).
pyrDown is integer arithmetic: each output pixel is (Σ w·x + 128) >> 8 over a 5×5 window with
weights [1 4 6 4 1] ⊗ [1 4 6 4 1], the frame's edge mirrored without repeating its last pixel
(BORDER_REFLECT_101), so any order of the sums gives the same bytes. Here each output row
first sums its five source rows column by column (unit stride, 16-bit lanes: LLVM vectorises
it), then every other column of that sum across five columns: 0.33 → 0.15 ms at 1080p.
tests/test_track_pyrdown.py compares it with OpenCV byte for byte.
"""

from __future__ import annotations

import cv2
import numba
import numpy as np


def pyr_down(image: np.ndarray) -> np.ndarray:
    """cv2.pyrDown(image) with the default size and border: a 2-D uint8 image of at least 3×3
    px here (a view made contiguous first: one compiled kernel), anything else by OpenCV."""
    if image.dtype != np.uint8 or image.ndim != 2 or min(image.shape) < 3:
        return cv2.pyrDown(image)
    return _pyr_down(np.ascontiguousarray(image))


def warm_up() -> None:
    """Compile the kernel now (or load it from numba's cache: 0.5-2 s once a process), so that
    the first live frame does not wait for it."""
    _pyr_down(np.zeros((3, 3), np.uint8))


@numba.njit(inline="always")
def _mirror(i: int, n: int) -> int:
    """BORDER_REFLECT_101 for an index at most 2 outside 0..n-1 (n ≥ 3)."""
    if i < 0:
        return -i
    if i >= n:
        return 2 * n - i - 2
    return i


@numba.njit(cache=True, nogil=True)
def _pyr_down(src: np.ndarray) -> np.ndarray:
    height, width = src.shape
    out_h, out_w = (height + 1) // 2, (width + 1) // 2
    dst = np.empty((out_h, out_w), np.uint8)
    # one output row's column sums, 2 px of mirrored border each side; at most 16·255: 16 bits
    column = np.empty(width + 4, np.uint16)
    four, six, half, eight = np.uint16(4), np.uint16(6), np.uint16(128), np.uint16(8)
    for y in range(out_h):
        r0, r1, r2 = src[_mirror(2 * y - 2, height)], src[_mirror(2 * y - 1, height)], src[_mirror(2 * y, height)]
        r3, r4 = src[_mirror(2 * y + 1, height)], src[_mirror(2 * y + 2, height)]
        for x in range(width):
            column[x + 2] = (np.uint16(r0[x]) + np.uint16(r4[x]) + four * (np.uint16(r1[x]) + np.uint16(r3[x]))
                             + six * np.uint16(r2[x]))
        column[0], column[1] = column[2 + _mirror(-2, width)], column[2 + _mirror(-1, width)]
        column[width + 2], column[width + 3] = column[2 + _mirror(width, width)], column[2 + _mirror(width + 1, width)]
        row = dst[y]
        for x in range(out_w):
            s = 2 * x  # the window's first column (column[] starts 2 px left of the image)
            # at most 256·255 + 128: still 16 bits
            row[x] = np.uint8((column[s] + column[s + 4] + four * (column[s + 1] + column[s + 3]) + six * column[s + 2]
                               + half) >> eight)
    return dst
