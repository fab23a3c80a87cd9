"""Landmark smoothing: the One-Euro filter (Casiez et al., CHI 2012).

A low-pass filter whose cut-off rises with speed: a still face is smoothed hard (no jitter),
a fast move is followed with little lag. Works on whole arrays (all points of a face at once).
"""

from __future__ import annotations

import math

import numpy as np


def _alpha(cutoff_hz: float, dt: float) -> float:
    tau = 1.0 / (2.0 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """One-Euro filter over an array of coordinates.

    min_cutoff: cut-off (Hz) when still. Lower: less jitter, more lag on slow drifts.
    beta: how fast the cut-off grows with speed. Higher: less lag on fast moves, more jitter.
        Speed is measured in `scale` units per second (pass the face size as scale so the
        same beta fits near and far faces).
    d_cutoff: cut-off (Hz) of the speed estimate itself.
    """

    def __init__(self, min_cutoff: float = 0.5, beta: float = 4.0, d_cutoff: float = 1.0) -> None:
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError("OneEuroFilter: min_cutoff and d_cutoff must be > 0 and beta >= 0")
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.d_cutoff = d_cutoff
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def reset(self) -> None:
        """Forget the past (a re-identified face starts fresh, no smear from where it was)."""
        self._x = self._dx = None
        self._t = None

    def __call__(self, x: np.ndarray, t: float, scale: float = 1.0) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._t is None or self._x.shape != x.shape or t <= self._t:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.astype(np.float32)
        dt = t - self._t
        a_d = _alpha(self.d_cutoff, dt)
        self._dx += a_d * ((x - self._x) / dt - self._dx)
        # speed per point (norm over the last axis; of each value for a 1-D array), in scale units
        # per second; a = 1 / (1 + tau / dt) with tau = 1 / (2π cutoff), written without tau
        speed = np.sqrt(np.square(self._dx).sum(axis=-1, keepdims=True)) if x.ndim > 1 else np.abs(self._dx)
        rate = (2.0 * math.pi * dt) * (self.min_cutoff + (self.beta / max(scale, 1e-6)) * speed)
        self._x += rate / (1.0 + rate) * (x - self._x)
        self._t = t
        return self._x.astype(np.float32)
