"""Undoing motion blur: before the detector looks again, and before a blurred face is embedded.

A face moving fast is smeared along its path over the exposure: a line-shaped blur kernel as
long as the distance it moved while the shutter was open. The detector (ULFD) was trained on
sharp faces and misses a face smeared by more than about a fifth of its width. Neither the
length nor the direction can be taken from the track: a face that starts from rest has no
velocity yet, and the shutter time is the camera's. Both are read from the smeared picture
itself (`estimate_smear`): a smear leaves little gradient along its direction (the structure
tensor's weakest axis), and the derivative along it correlates negatively with itself at the
smear's length. A Wiener filter with that line as the kernel undoes it (`deblur`).

Measured on frames of the identity suite's fast clips (faces 80-180 px tall, smeared 4-65 px),
ULFD on a crop three face sizes wide around the true place, shrunk to its 320x240 input:
direction within 2-7 degrees (median); found plain / deblurred by the estimate / deblurred
by the true smear: smear >= 25 px 14 / 53 / 74 %, 16-25 px 71 / 74 / 93 %, under 16 px
93 / 85 / 94 %. Deblurring a sharp face can lose it, so it can only be a second look.
Used that way (a deblurred second look in faces/lookout.py's crops) it found faces, but the
tracker did not use them well: fast-2 leaks 28.8 -> 23.3 %, ghosts 0.74 -> 6.6 %, ID switches
5 -> 8, also gated by detector or landmark score; it was dropped. Look-again crops aimed at
motion nothing explains were dropped too: an ID switch more on small-0 and held-out crowd-0.
What is used: finds that only cover a lost fast face, never start or move a track
(facestage/chase.py: fast-2 leaks 28.8 -> 19.9 %, ghosts unchanged).

On the real photos of .assets with a synthetic smear (the same line kernel), the true smear
found 93-100 % at 15-40 px of the detector's input, against 4-96 % plain.
It costs a few milliseconds: FFTs of a 320x240 picture per colour. `sharpened_around` undoes
the smear around one face for the recogniser (track/sharpen.py); `smeared_one_way` tells a
motion smear from a face soft every way.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from scipy import fft

MIN_SMEAR = 2.0  # px of the picture deblurred: below it the smear is within the detector's tolerance
NOISE = 0.01  # Wiener's noise-to-signal power: lower sharpens more and rings more (0.003 found fewer)
MAX_SMEAR = 60  # px of the picture: the longest smear looked for
SMEAR_ANISOTROPY = 0.6  # weakest / strongest gradient axis at most this: smeared one way (identity suite, faces the
# quality gate calls blurred: moving ones 0.20-0.57 (10th-90th percentile), still or sharp ones 0.58-0.98 mostly)
BIAS = 3  # px the derivative's self-correlation dip lies beyond the smear's length (measured, see above)


def smeared_one_way(gray: np.ndarray, box: np.ndarray, most: float = SMEAR_ANISOTROPY) -> bool:
    """Whether the picture in `box` lacks gradient along one direction far more than across it
    (weakest / strongest structure-tensor axis <= `most`): motion smears one way, while a face
    soft for other reasons (defocus, half behind an object, dim light) is about as soft every way."""
    h, w = gray.shape[:2]
    x0, y0 = max(0, int(round(box[0]))), max(0, int(round(box[1])))
    x1, y1 = min(w, int(round(box[2]))), min(h, int(round(box[3])))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return False
    patch = gray[y0:y1, x0:x1].astype(np.float32)
    gx, gy = cv2.Sobel(patch, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(patch, cv2.CV_32F, 0, 1, ksize=3)
    weak, strong = np.linalg.eigvalsh(np.array([[(gx * gx).sum(), (gx * gy).sum()], [(gx * gy).sum(), (gy * gy).sum()]], np.float64))
    return bool(weak <= most * max(strong, 1e-6))


def estimate_smear(gray: np.ndarray, box: np.ndarray) -> tuple[float, float]:
    """(dx, dy) of the motion smear of the face in `box` (x0, y0, x1, y1) of a grey picture:
    the direction of least gradient energy, and the lag where the derivative along it is least
    like itself. (0, 0) when the box holds too little picture to tell."""
    h, w = gray.shape[:2]
    x0, y0 = max(0, int(round(box[0]))), max(0, int(round(box[1])))
    x1, y1 = min(w, int(round(box[2]))), min(h, int(round(box[3])))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return 0.0, 0.0
    gray = gray.astype(np.float32)
    gx = cv2.Sobel(gray[y0:y1, x0:x1], cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray[y0:y1, x0:x1], cv2.CV_32F, 0, 1, ksize=3)
    tensor = np.array([[(gx * gx).sum(), (gx * gy).sum()], [(gx * gy).sum(), (gy * gy).sum()]], np.float64)
    _, axes = np.linalg.eigh(tensor)
    ux, uy = float(axes[0, 0]), float(axes[1, 0])  # the weakest gradient: along the smear
    # turn the picture so the smear runs along x, then the derivative's self-correlation per row
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    turn = cv2.getRotationMatrix2D((cx, cy), math.degrees(math.atan2(uy, ux)), 1.0)
    turned = cv2.warpAffine(gray, turn, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)[y0:y1, x0:x1]
    derivative = np.diff(turned, axis=1)
    derivative -= derivative.mean(axis=1, keepdims=True)
    n = derivative.shape[1]
    spectrum = fft.rfft(derivative, n=2 * n, axis=1)
    correlation = fft.irfft(np.abs(spectrum) ** 2, axis=1).sum(axis=0)[:n]
    hi = min(n // 2, MAX_SMEAR + BIAS)
    if hi <= BIAS + 2:
        return 0.0, 0.0
    length = max(0.0, float(2 + int(np.argmin(correlation[2:hi]))) - BIAS)
    return length * ux, length * uy


def line_kernel(dx: float, dy: float) -> np.ndarray:
    """The blur of a point moved by (dx, dy) during the exposure: an antialiased line, sum 1,
    centred in an odd square."""
    length = math.hypot(dx, dy)
    n = int(math.ceil(length)) | 1
    kernel = np.zeros((n, n), np.float32)
    c = n // 2
    if length < 1e-3:
        kernel[c, c] = 1.0
        return kernel
    hx, hy = dx / 2, dy / 2
    cv2.line(kernel, (int(round(c - hx)), int(round(c - hy))), (int(round(c + hx)), int(round(c + hy))), 1.0, 1, cv2.LINE_AA)
    return kernel / kernel.sum()


def deblur(image: np.ndarray, dx: float, dy: float, noise: float = NOISE) -> np.ndarray:
    """`image` (uint8, H×W×C or H×W) with a smear of (dx, dy) px undone by a Wiener filter;
    the image itself when the smear is under MIN_SMEAR. Edges are mirrored first so the
    filter's wrap-around does not ring across the picture."""
    if math.hypot(dx, dy) < MIN_SMEAR:
        return image
    kernel = line_kernel(dx, dy)
    n = kernel.shape[0]
    h, w = image.shape[:2]
    # mirrored by the kernel's size at least, and up to sizes the FFT is fast at
    extra_h, extra_w = cv2.getOptimalDFTSize(h + 2 * n) - h - 2 * n, cv2.getOptimalDFTSize(w + 2 * n) - w - 2 * n
    padded = cv2.copyMakeBorder(image, n, n + extra_h, n, n + extra_w, cv2.BORDER_REFLECT).astype(np.float32)
    ph, pw = padded.shape[:2]
    psf = np.zeros((ph, pw), np.float32)
    psf[:n, :n] = kernel
    psf = np.roll(psf, (-(n // 2), -(n // 2)), axis=(0, 1))  # the kernel's centre at the origin: no shift
    transfer = fft.rfft2(psf)
    gain = (np.conj(transfer) / (np.abs(transfer) ** 2 + noise)).astype(np.complex64)
    planes = np.ascontiguousarray(np.moveaxis(padded, -1, 0)) if padded.ndim == 3 else padded  # channels first: contiguous FFTs
    out = fft.irfft2(fft.rfft2(planes) * gain, s=(ph, pw))
    if padded.ndim == 3:
        out = np.moveaxis(out, 0, -1)
    return np.clip(out[n:n + h, n:n + w], 0, 255).astype(np.uint8)


def sharpened_around(image: np.ndarray, box: np.ndarray, context: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """The region around `box` (grown by `context` face sizes each side, inside the frame) with
    the face's smear read and undone, and the region's top-left (x, y) in the frame."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in box)
    grow = context * max(x1 - x0, y1 - y0)
    rx0, ry0 = int(max(0.0, x0 - grow)), int(max(0.0, y0 - grow))
    rx1, ry1 = int(min(float(w), x1 + grow)), int(min(float(h), y1 + grow))
    region = image[ry0:ry1, rx0:rx1]
    offset = np.float32([rx0, ry0])
    inner = np.asarray(box, np.float32) - np.tile(offset, 2)
    grey = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY) if region.ndim == 3 else region
    dx, dy = estimate_smear(grey, inner)
    return deblur(region, dx, dy), offset
