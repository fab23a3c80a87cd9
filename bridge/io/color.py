"""Pixel-format conversions between NDI buffers and the pipeline's BGR pictures."""

from __future__ import annotations

import threading

import cv2
import numba
import numpy as np

# BT.709 limited range (what NDI uses for HD UYVY), as fixed-point coefficients ×1024.
# int32 so numba keeps the arithmetic in 32 bits (plain ints are int64 to it).
_Y = np.int32(1192)  # 255/219
_RV = np.int32(1836)  # 1.5748 · 255/224
_GU = np.int32(-218)  # -0.1873 · 255/224
_GV = np.int32(-546)  # -0.4681 · 255/224
_BU = np.int32(2163)  # 1.8556 · 255/224
_HALF = np.int32(512)
_TEN = np.int32(10)

# The same conversion the other way, for send, ×2^16 so that rounding the coefficients costs
# far less than a level. Each chroma row sums to 0, so greys get U = V = 128 exactly.
_YR, _YG, _YB = np.int32([11966, 40254, 4064])  # 219/255 · (0.2126, 0.7152, 0.0722)
_UR, _UG, _UB = np.int32([-6596, -22188, 28784])  # 224/255 · (-0.2126, -0.7152, 0.9278) / 1.8556
_VR, _VG, _VB = np.int32([28784, -26145, -2639])  # 224/255 · (0.7874, -0.7152, -0.0722) / 1.5748
_Y_ADD = np.int32((16 << 16) + (1 << 15))  # offset + rounding
_C_ADD = np.int32((128 << 17) + (1 << 16))  # chroma comes from a pixel pair's sum: one more bit


@numba.njit(inline="always")
def _clamp(value: np.int32) -> np.uint8:
    return np.uint8(min(max(value, np.int32(0)), np.int32(255)))


# Serial, like `_bgr_to_uyvy`: the parallel version's OpenMP threads spin while they wait, and
# on 2 cores it cost 5.4 ms of CPU per 1080p frame against 4.2 ms for the serial one. That one
# stored each pair as 6 interleaved bytes, which LLVM would not vectorise; computing a row into
# B, G, R planes (unit-stride stores) and then interleaving them vectorises both loops: 4.2 →
# 0.73 ms CPU per 1080p frame, contiguous or padded (cv2's BT.601 UYVY: 0.84), same bytes.
@numba.njit(cache=True, nogil=True)
def _uyvy_to_bgr(src: np.ndarray, pitch: int, dst: np.ndarray) -> None:
    height, width = dst.shape[0], dst.shape[1]
    dst_rows = dst.reshape(height, width * 3)
    pairs = width // 2
    # One row's B, G, R. Three allocations, not rows of one array: as rows it did not vectorise
    # (4.4 ms again), presumably as LLVM could not rule out that they overlap.
    blue, green = np.empty(2 * pairs, np.uint8), np.empty(2 * pairs, np.uint8)
    red = np.empty(2 * pairs, np.uint8)
    for y in range(height):
        # A slice of a 1-D C array: unit stride known at compile time (a row of a padded 2-D
        # view is typed 'A', and that alone cost 1 ms more per frame).
        row, out = src[y * pitch : y * pitch + 4 * pairs], dst_rows[y]
        for pair in range(pairs):
            u = np.int32(row[4 * pair]) - np.int32(128)
            v = np.int32(row[4 * pair + 2]) - np.int32(128)
            y0 = (np.int32(row[4 * pair + 1]) - np.int32(16)) * _Y
            y1 = (np.int32(row[4 * pair + 3]) - np.int32(16)) * _Y
            r, g, b = _RV * v + _HALF, _GU * u + _GV * v + _HALF, _BU * u + _HALF
            blue[2 * pair], blue[2 * pair + 1] = _clamp((y0 + b) >> _TEN), _clamp((y1 + b) >> _TEN)
            green[2 * pair], green[2 * pair + 1] = _clamp((y0 + g) >> _TEN), _clamp((y1 + g) >> _TEN)
            red[2 * pair], red[2 * pair + 1] = _clamp((y0 + r) >> _TEN), _clamp((y1 + r) >> _TEN)
        for x in range(2 * pairs):
            out[3 * x], out[3 * x + 1], out[3 * x + 2] = blue[x], green[x], red[x]


def uyvy_to_bgr(uyvy: np.ndarray) -> np.ndarray:
    """(H, W, 2) UYVY, BT.709 limited range → (H, W, 3) BGR, one pass."""
    height, width = uyvy.shape[:2]
    out = np.empty((height, width, 3), np.uint8)
    if height == 0 or width < 2:
        return out  # no pixel pair: nothing to convert
    # (H, W·2) rows; a view when each row's pixels are contiguous, as in NDI's padded buffers
    rows = uyvy.reshape(height, width * 2)
    if rows.strides[1] != 1 or rows.strides[0] < rows.shape[1]:
        rows = np.ascontiguousarray(rows)
    pitch = rows.strides[0]
    # Those rows as one flat run of bytes from the first row's start to the last row's end
    # (padding included, never read), so that the kernel sees unit-stride rows.
    flat = np.lib.stride_tricks.as_strided(rows, ((height - 1) * pitch + rows.shape[1],), (1,))
    _uyvy_to_bgr(flat, pitch, out)
    return out


@numba.njit(inline="always")
def _uyvy_pair(row: np.ndarray, first: int, second: int, out: np.ndarray, at: int) -> None:
    """Two BGR pixels (byte offsets `first`, `second` in `row`) → U Y0 V Y1 at `out[at:at + 4]`."""
    b0, g0, r0 = np.int32(row[first]), np.int32(row[first + 1]), np.int32(row[first + 2])
    b1, g1, r1 = np.int32(row[second]), np.int32(row[second + 1]), np.int32(row[second + 2])
    b, g, r = b0 + b1, g0 + g1, r0 + r1
    out[at] = (_UR * r + _UG * g + _UB * b + _C_ADD) >> 17
    out[at + 1] = (_YR * r0 + _YG * g0 + _YB * b0 + _Y_ADD) >> 16
    out[at + 2] = (_VR * r + _VG * g + _VB * b + _C_ADD) >> 17
    out[at + 3] = (_YR * r1 + _YG * g1 + _YB * b1 + _Y_ADD) >> 16


# Serial on purpose: with numba's OpenMP threads (they spin while they wait) a parallel version
# took 8 ms of wall and 9 ms of CPU per 1080p frame on a busy 2-core machine, this one 0.9 ms.
@numba.njit(cache=True, nogil=True)
def _bgr_to_uyvy(src: np.ndarray, dst: np.ndarray) -> None:
    height, width = src.shape[0], src.shape[1]
    # Flat rows: LLVM vectorises the byte offsets (4× faster than [row, col, channel] indexing).
    src_rows = src.reshape(height, width * 3)
    dst_rows = dst.reshape(height, dst.shape[1] * 2)
    for y in range(height):
        row, out = src_rows[y], dst_rows[y]
        for pair in range(width // 2):
            _uyvy_pair(row, 6 * pair, 6 * pair + 3, out, 4 * pair)
        if width % 2:  # the last pixel pairs with itself
            _uyvy_pair(row, 3 * width - 3, 3 * width - 3, out, 2 * width - 2)


def bgr_to_uyvy(bgr: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) BGR → (H, W', 2) UYVY, BT.709 limited range, one pass; into `out` when it has the right shape.

    UYVY shares chroma between the pixels of a pair, so it has even widths only (NDI's and
    `uyvy_to_bgr`'s assumption): W' is W rounded up, an odd-width picture's last column repeated.
    """
    height, width = bgr.shape[:2]
    shape = (height, width + width % 2, 2)
    if out is None or out.shape != shape:
        out = np.empty(shape, np.uint8)
    _bgr_to_uyvy(np.ascontiguousarray(bgr), out)
    return out


def warm_up() -> None:
    """Load the UYVY kernels (from numba's cache, or compile them) now, on two pixels: on its
    first call a kernel took 0.02-1.5 s (busy 2-core machine), and in the send thread that
    stalled the first frames out while the pipeline dropped the ones behind them."""
    uyvy_to_bgr(bgr_to_uyvy(np.zeros((1, 2, 3), np.uint8)))


def warm_up_aside() -> threading.Thread:
    """warm_up on a thread of its own, started now: with numba's cache empty (a fresh install)
    the compile takes seconds, and the bridge must not wait for it to start its HTTP API; a frame
    converted meanwhile waits on numba's compile lock, as it did before."""
    thread = threading.Thread(target=warm_up, name="uyvy-warm-up", daemon=True)
    thread.start()
    return thread


def bgrx_to_bgr(bgrx: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgrx, cv2.COLOR_BGRA2BGR)


def rgbx_to_bgr(rgbx: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgbx, cv2.COLOR_RGBA2BGR)


_C4_ADD = np.int32((128 << 18) + (1 << 17))  # chroma from a 2×2 block's sum: two more bits


# Serial like the others, on planes cv2.split makes (unit-stride loads that LLVM vectorises;
# reading B, G, R interleaved it took 8 ms). swscale's bgr24 → yuv420p, what PyAV's reformat
# runs, cost 16-20 ms per 1080p frame on this busy 2-core machine; split + this: 1.2-1.5 ms CPU,
# within one level of swscale's BT.709 result.
@numba.njit(cache=True, nogil=True)
def _planes_to_i420(blue: np.ndarray, green: np.ndarray, red: np.ndarray, dst: np.ndarray) -> None:
    height, width = blue.shape
    half_w = width // 2
    quarter = (height // 2) * half_w
    chroma = dst[height:].reshape(-1)  # U plane, then V plane
    for y in range(height):
        b, g, r, out = blue[y], green[y], red[y], dst[y]
        for x in range(width):
            out[x] = (_YR * np.int32(r[x]) + _YG * np.int32(g[x]) + _YB * np.int32(b[x]) + _Y_ADD) >> 16
    sb, sg, sr = np.empty(half_w, np.int32), np.empty(half_w, np.int32), np.empty(half_w, np.int32)
    for cy in range(height // 2):
        b0, b1, g0, g1 = blue[2 * cy], blue[2 * cy + 1], green[2 * cy], green[2 * cy + 1]
        r0, r1 = red[2 * cy], red[2 * cy + 1]
        for cx in range(half_w):  # each 2×2 block's sums
            sb[cx] = np.int32(b0[2 * cx]) + np.int32(b0[2 * cx + 1]) + np.int32(b1[2 * cx]) + np.int32(b1[2 * cx + 1])
            sg[cx] = np.int32(g0[2 * cx]) + np.int32(g0[2 * cx + 1]) + np.int32(g1[2 * cx]) + np.int32(g1[2 * cx + 1])
            sr[cx] = np.int32(r0[2 * cx]) + np.int32(r0[2 * cx + 1]) + np.int32(r1[2 * cx]) + np.int32(r1[2 * cx + 1])
        u = chroma[cy * half_w:(cy + 1) * half_w]
        v = chroma[quarter + cy * half_w:quarter + (cy + 1) * half_w]
        for cx in range(half_w):
            u[cx] = (_UR * sr[cx] + _UG * sg[cx] + _UB * sb[cx] + _C4_ADD) >> 18
            v[cx] = (_VR * sr[cx] + _VG * sg[cx] + _VB * sb[cx] + _C4_ADD) >> 18


def bgr_to_i420(bgr: np.ndarray) -> np.ndarray:
    """(H, W, 3) BGR, even sides → (H·3/2, W) planar Y, U, V 4:2:0, BT.709 limited range (what H.264 files take)."""
    height, width = bgr.shape[:2]
    if height % 2 or width % 2:
        raise ValueError(f"4:2:0 needs even sides, got {width}x{height}")
    out = np.empty((height * 3 // 2, width), np.uint8)
    blue, green, red = cv2.split(bgr)
    _planes_to_i420(blue, green, red, out)
    return out
