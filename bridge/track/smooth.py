"""Landmark smoothing: the One-Euro filter (Casiez et al., CHI 2012).

A low-pass filter whose cut-off rises with speed: a still face is smoothed hard (no jitter),
a fast move is followed with little lag. Works on whole arrays (all points of a face at once).

The filter's speed estimate is itself smoothed (against jitter), so it takes several frames to
see a move that starts at once: a face walking into the picture at half a face a frame was drawn
a third of a face behind where it was. A step far larger than jitter (`jump`) is motion, and it
counts as speed at once.
"""

from __future__ import annotations

import math

import numba
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
    jump: a point's step between two calls beyond this many `scale` units is motion, not jitter:
        the excess counts as speed on that very step (the smoothed speed lags a sudden move).
        Landmark jitter of 1-2 px on an 80 px face is 0.02-0.04; 0 turns it off.
    """

    def __init__(self, min_cutoff: float = 0.5, beta: float = 4.0, d_cutoff: float = 1.0, jump: float = 0.1) -> None:
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0 or jump < 0:
            raise ValueError("OneEuroFilter: min_cutoff and d_cutoff must be > 0, beta and jump >= 0")
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.d_cutoff = d_cutoff
        self.jump = jump
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None
        self._joint: tuple[np.ndarray, np.ndarray, int] | None = None  # (x, dx, first row) shared by smooth_together

    def reset(self) -> None:
        """Forget the past (a re-identified face starts fresh, no smear from where it was)."""
        self._x = self._dx = None
        self._t = None
        self._joint = None

    def __call__(self, x: np.ndarray, t: float, scale: float = 1.0) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._t is None or self._x.shape != x.shape or t <= self._t:
            self._x, self._dx, self._t, self._joint = x.copy(), np.zeros_like(x), t, None
            return x.astype(np.float32)
        dt = t - self._t
        a_d = _alpha(self.d_cutoff, dt)
        step = x - self._x  # the same difference twice below (self._x changes only at the end)
        self._dx += a_d * (step / dt - self._dx)
        # speed per point (norm over the last axis; of each value for a 1-D array), in scale units
        # per second; a = 1 / (1 + tau / dt) with tau = 1 / (2π cutoff), written without tau
        speed = np.sqrt(np.square(self._dx).sum(axis=-1, keepdims=True)) if x.ndim > 1 else np.abs(self._dx)
        if self.jump > 0:
            size = np.sqrt(np.square(step).sum(axis=-1, keepdims=True)) if x.ndim > 1 else np.abs(step)
            speed = np.maximum(speed, (size - self.jump * scale) / dt)
        rate = (2.0 * math.pi * dt) * (self.min_cutoff + (self.beta / max(scale, 1e-6)) * speed)
        self._x += rate / (1.0 + rate) * step
        self._t = t
        return self._x.astype(np.float32)


def smooth_together(filters: list[OneEuroFilter], values: list[np.ndarray], t: float,
                    scale: float = 1.0) -> list[np.ndarray]:
    """`[f(v, t, scale) for f, v in zip(filters, values)]`, the very same numbers, in one pass
    over all the values where the filters can be joined (a face's box corners, keypoints and
    landmarks: three filters of (N, 2) points with the same settings, fed on the same frames).

    One-Euro works point by point (each row's speed is its own), so the rows of three arrays
    filtered as one are filtered as apart. Joined filters keep their state as views into one
    pair of arrays; a filter restarted or fed another shape falls back to its own call (and is
    joined again on the next). Per-call numpy cost was most of the smoothing's time."""
    first = filters[0]
    t0, settings = first._t, (first.min_cutoff, first.beta, first.d_cutoff, first.jump)
    rows = []
    for f, v in zip(filters, values):
        shape = np.shape(v)
        if (f._t != t0 or f._x is None or f._x.shape != shape or len(shape) != 2 or shape[1] != 2
                or (f.min_cutoff, f.beta, f.d_cutoff, f.jump) != settings):
            rows = []
            break
        rows.append(shape[0])
    if len(rows) < 2 or t0 is None or t <= t0:
        return [f(v, t, scale) for f, v in zip(filters, values)]
    joint_x, joint_dx = _joint(filters)
    dt = t - t0
    # one compiled pass over the rows, each number's steps as numpy's array expressions took them
    # (the same IEEE operations in the same order, no fused multiply-add): a fifth of their time
    out = _one_euro_step(joint_x, joint_dx, np.concatenate(values, dtype=np.float64), dt,
                         _alpha(first.d_cutoff, dt), first.jump > 0, float(first.jump * scale), 2.0 * math.pi * dt,
                         float(first.min_cutoff), first.beta / max(scale, 1e-6))
    done, at = [], 0
    for f, n in zip(filters, rows):
        f._t = t
        done.append(out[at:at + n])
        at += n
    return done


def _joint(filters: list[OneEuroFilter]) -> tuple[np.ndarray, np.ndarray]:
    """The filters' states as one (x, dx) pair of arrays, each filter's state a view into it, in
    this order (joined now unless they already are)."""
    joint = filters[0]._joint
    if joint is not None:
        at = 0
        for f in filters:
            if f._joint is None or f._joint[0] is not joint[0] or f._joint[2] != at:
                break
            at += len(f._x)  # type: ignore[arg-type]
        else:
            if at == len(joint[0]):
                return joint[0], joint[1]
    joint_x = np.concatenate([f._x for f in filters])  # type: ignore[misc]
    joint_dx = np.concatenate([f._dx for f in filters])  # type: ignore[misc]
    at = 0
    for f in filters:
        n = len(f._x)  # type: ignore[arg-type]
        f._x, f._dx, f._joint = joint_x[at:at + n], joint_dx[at:at + n], (joint_x, joint_dx, at)
        at += n
    return joint_x, joint_dx


@numba.njit(cache=True, nogil=True)
def _one_euro_step(x: np.ndarray, dx: np.ndarray, value: np.ndarray, dt: float, a_d: float, jumps: bool, jump: float,
                   two_pi_dt: float, min_cutoff: float, beta_scaled: float) -> np.ndarray:
    """One-Euro on (N, 2) points in place (x, dx: float64 state), the float32 result: per row,
    step = value - x; dx += a_d·(step/dt - dx); speed = |dx| (at least (|step| - jump)/dt when
    jumps, NaN kept as np.maximum keeps it); x += r/(1 + r)·step with r = 2π·dt·(min_cutoff +
    beta_scaled·speed)."""
    out = np.empty(x.shape, np.float32)
    for i in range(x.shape[0]):
        s0, s1 = value[i, 0] - x[i, 0], value[i, 1] - x[i, 1]
        d0 = dx[i, 0] + a_d * (s0 / dt - dx[i, 0])
        d1 = dx[i, 1] + a_d * (s1 / dt - dx[i, 1])
        dx[i, 0], dx[i, 1] = d0, d1
        speed = math.sqrt(d0 * d0 + d1 * d1)
        if jumps:
            moved = (math.sqrt(s0 * s0 + s1 * s1) - jump) / dt
            if not (speed >= moved or speed != speed):
                speed = moved
        rate = two_pi_dt * (min_cutoff + beta_scaled * speed)
        gain = rate / (1.0 + rate)
        x[i, 0] += gain * s0
        x[i, 1] += gain * s1
        out[i, 0], out[i, 1] = np.float32(x[i, 0]), np.float32(x[i, 1])
    return out


def warm_up() -> None:
    """Compile the joint step now (or load it from numba's cache), not on the first live frame."""
    _one_euro_step(np.zeros((1, 2)), np.zeros((1, 2)), np.zeros((1, 2)), 1.0, 0.5, True, 0.0, 1.0, 1.0, 1.0)
