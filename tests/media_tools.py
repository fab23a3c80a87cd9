"""Test clips made with PyAV (real FFmpeg encoders): numbered pictures and a beeping tone, and readers for what came out."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from scipy import signal

from tests.ndi_tools import pattern

SAMPLE_RATE = 48000


def beeps(seconds: float, sample_rate: int = SAMPLE_RATE, hz: float = 440.0, seed: int = 7) -> np.ndarray:
    """A tone gated on and off at irregular times: one clear cross-correlation peak, unlike a bare sine."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    gate = np.zeros(n)
    at = 0
    while at < n:
        length = int(rng.uniform(0.05, 0.25) * sample_rate)
        if rng.random() < 0.6:
            gate[at:at + length] = 1.0
        at += length
    return (0.5 * np.sin(2 * np.pi * hz * t) * gate).astype(np.float32)


@dataclass
class ClipSpec:
    container: str = "mp4"  # av format name by suffix
    video_codec: str = "libx264"
    audio_codec: str | None = "aac"
    size: tuple[int, int] = (320, 180)
    frames: int = 60
    fps: int = 30
    vfr: bool = False  # frame durations alternate 1 and 2 intervals
    rotation: int = 0  # display matrix, PyAV's counter-clockwise degrees
    channels: int = 2


def write_clip(path: Path, spec: ClipSpec, format: str | None = None,
               options: dict[str, str] | None = None) -> dict[str, object]:
    """A clip of numbered pictures (tests.ndi_tools.pattern) with beeps; what it holds, for comparing."""
    output = av.open(str(path), "w", format=format, options=options or {})
    video = output.add_stream(spec.video_codec, rate=spec.fps)
    video.width, video.height = spec.size
    video.pix_fmt = "yuv420p"
    time_base = Fraction(1, spec.fps * 2 * 100)
    video.codec_context.time_base = time_base
    if spec.rotation:
        video.set_display_rotation(spec.rotation)
    audio = None
    if spec.audio_codec:
        audio = output.add_stream(spec.audio_codec, rate=SAMPLE_RATE)
        audio.layout = "stereo" if spec.channels == 2 else "mono"
    ticks, pts = int(1 / spec.fps / time_base), []
    at = 0
    for i in range(spec.frames):
        pts.append(at)
        at += ticks * (1 + (i % 2) if spec.vfr else 1)
    duration = float(at * time_base)
    tone = beeps(duration)
    pictures = []
    for i, p in enumerate(pts):
        picture = pattern(i, *spec.size)
        pictures.append(picture)
        frame = av.VideoFrame.from_ndarray(picture, format="bgr24")
        frame.pts, frame.time_base = p, time_base
        output.mux(video.encode(frame))
    output.mux(video.encode(None))
    if audio is not None:
        chunk = 1024
        samples = np.tile(tone, (spec.channels, 1))
        for start in range(0, samples.shape[1], chunk):
            block = np.ascontiguousarray(samples[:, start:start + chunk])
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=audio.layout.name)
            frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, start, Fraction(1, SAMPLE_RATE)
            output.mux(audio.encode(frame))
        output.mux(audio.encode(None))
    output.close()
    return {"pictures": pictures, "tone": tone, "duration": duration}


@dataclass
class Decoded:
    video_codec: str
    times: list[float]  # presentation times of the pictures, seconds
    pictures: list[np.ndarray]
    rotation: float
    audio_codec: str | None
    audio: np.ndarray | None  # first channel, float
    audio_start: float
    sample_rate: int


def read_clip(path: Path, keep_pictures: bool = True) -> Decoded:
    with av.open(str(path)) as clip:
        video = clip.streams.video[0]
        times, pictures, rotation = [], [], 0.0
        for frame in clip.decode(video):
            times.append(float(frame.time))
            rotation = frame.rotation
            if keep_pictures:
                pictures.append(frame.to_ndarray(format="bgr24"))
        codec = video.codec_context.name
    sound, start, codec_a, rate = None, 0.0, None, 0
    with av.open(str(path)) as clip:
        if clip.streams.audio:
            stream = clip.streams.audio[0]
            codec_a, rate = stream.codec_context.name, stream.codec_context.sample_rate
            to_float = av.AudioResampler(format="fltp", layout="mono", rate=rate)
            parts = []
            for i, frame in enumerate(clip.decode(stream)):
                if i == 0:
                    start = float(frame.time or 0.0)
                parts += [f.to_ndarray()[0] for f in to_float.resample(frame)]
            parts += [f.to_ndarray()[0] for f in to_float.resample(None)]
            sound = np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)
    return Decoded(codec, times, pictures, rotation, codec_a, sound, start, rate)


def lag_of(reference: np.ndarray, found: np.ndarray) -> int:
    """Samples by which `found` lags `reference`, by cross-correlation."""
    n = min(len(reference), len(found))
    correlation = signal.correlate(found[:n], reference[:n], mode="full", method="fft")
    return int(np.argmax(correlation)) - (n - 1)


def correlation_peak(reference: np.ndarray, found: np.ndarray) -> float:
    """Normalised cross-correlation at the best lag: 1 = the same sound."""
    n = min(len(reference), len(found))
    a, b = reference[:n] - reference[:n].mean(), found[:n] - found[:n].mean()
    correlation = signal.correlate(b, a, mode="full", method="fft")
    return float(correlation.max() / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def tone_match(reference: np.ndarray, found: np.ndarray) -> float:
    """How well `found` matches some stretch of `reference` played round and round (normalised, 1 = same)."""
    tiled = np.tile(reference, 1 + int(np.ceil(len(found) / len(reference))) + 1).astype(np.float64)
    found = found.astype(np.float64)
    products = signal.correlate(tiled, found, mode="valid", method="fft")
    energy = np.concatenate([[0.0], np.cumsum(tiled ** 2)])
    windows = np.sqrt(energy[len(found):] - energy[:-len(found)])[: len(products)]
    return float(np.max(products / (windows * np.linalg.norm(found) + 1e-9)))
