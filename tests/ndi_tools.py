"""Test-side NDI peers on loopback: a numbered-frame sender, an output recorder, a bridge subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from bridge.io.ndi import NdiReceiver, NdiSender
from bridge.types import AudioBlock, Frame

REPO = Path(__file__).resolve().parents[1]
LOOPBACK_CONFIG = '{"ndi":{"networks":{"ips":"127.0.0.1","discovery":""},"multicast":{"send":{"enable":false},"recv":{"enable":false}}}}'
CODE_BITS = 16
PREROLL = 60000  # numbers from here on are warm-up frames sent before the ones a test counts
SAMPLES_PER_FRAME = 1600  # 48 kHz at 30 fps
COUNTER_MOD = 1 << 13


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def pattern(number: int, width: int, height: int) -> np.ndarray:
    """A picture that encodes `number` in 16 big squares along the top and moves with it."""
    ys, xs = np.mgrid[0:height, 0:width]
    picture = np.dstack([(xs * 255 // width), (ys * 255 // height), np.full_like(xs, 96)]).astype(np.uint8)
    x = (number * 8) % (width - 200)
    cv2.rectangle(picture, (x, height // 2), (x + 200, height // 2 + 120), (30, 200, 240), -1)
    cell = width // (CODE_BITS + 2)
    for bit in range(CODE_BITS):
        value = 255 if number >> bit & 1 else 0
        picture[8:8 + cell, (bit + 1) * cell:(bit + 2) * cell] = value
    return picture


def decode(picture: np.ndarray) -> int:
    width = picture.shape[1]
    cell = width // (CODE_BITS + 2)
    number = 0
    for bit in range(CODE_BITS):
        patch = picture[8 + cell // 4:8 + 3 * cell // 4, (bit + 1) * cell + cell // 4:(bit + 2) * cell - cell // 4]
        if patch.mean() > 128:
            number |= 1 << bit
    return number


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2)
    return float(10 * np.log10(255**2 / max(mse, 1e-10)))


def timecode_of(number: int) -> int:
    return 1_000_000_000 + number * 333_333


def audio_for(number: int) -> AudioBlock:
    """Channel 0 counts samples across the stream; channel 1 tags the block with its frame number.

    Steps of 2^-13 survive NDI's audio quantisation (seen here: errors of about 2^-19)."""
    counter = (number * SAMPLES_PER_FRAME + np.arange(SAMPLES_PER_FRAME)) % COUNTER_MOD / COUNTER_MOD - 0.5
    tag = np.full(SAMPLES_PER_FRAME, number / 65536)
    return AudioBlock(np.stack([counter, tag]).astype(np.float32), 48000, timecode_of(number))


class PatternSender:
    """Sends numbered frames with tagged audio at a steady rate once someone is listening."""

    def __init__(self, name: str):
        self.sender = NdiSender(name)
        self.sent: list[int] = []

    def send_range(self, numbers: range, size: tuple[int, int] = (1280, 720), fps: float = 30.0,
                   wait_for_receiver_s: float = 10.0, receivers: int = 1, preroll_s: float = 1.0,
                   flowing=None) -> None:  # type: ignore[no-untyped-def]
        """Send `numbers` once `receivers` are connected, after `preroll_s` of warm-up frames
        (and, with `flowing`, until it says warm-up frames come out the far end): an NDI
        connection counts before its stream flows, and what is sent then is lost."""
        deadline = time.monotonic() + wait_for_receiver_s
        while self.sender.connections() < receivers and time.monotonic() < deadline:
            time.sleep(0.05)
        if preroll_s:
            self.send_range(range(PREROLL, PREROLL + int(preroll_s * fps)), size, fps, 0, receivers, 0)
        if flowing is not None:
            deadline = time.monotonic() + 20.0
            number = PREROLL + int(preroll_s * fps)
            while not flowing() and time.monotonic() < deadline:
                self.send_range(range(number, number + 3), size, fps, 0, receivers, 0)
                number += 3
        start = time.monotonic()
        for i, number in enumerate(numbers):
            delay = start + i / fps - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.sender.send(Frame(image=pattern(number, *size), sequence=number, timecode=timecode_of(number),
                                   frame_rate=(30000, 1001) if fps != 30 else (30, 1), audio=[audio_for(number)]))
            self.sent.append(number)

    def close(self) -> None:
        self.sender.close()


@dataclass
class Received:
    at: float
    number: int
    size: tuple[int, int]
    timecode: int
    psnr: float
    audio: list[AudioBlock] = field(default_factory=list)


class Recorder:
    """Receives an NDI source in a thread and records every frame; decoding happens after, lazily,
    so the capture loop never falls behind NDI's small receive queue."""

    def __init__(self, source: str):
        self.receiver = NdiReceiver(source, wait_log_s=60)
        self._raw: list[tuple[float, Frame]] = []
        self._decoded: list[Received] = []
        self.audio: list[AudioBlock] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            frame = self.receiver.capture(0.1)
            if frame is None:
                continue
            self.audio.extend(frame.audio)
            self._raw.append((time.monotonic(), frame))

    @property
    def frames(self) -> list[Received]:
        """Every frame so far, decoded: number, size, timecode, PSNR against the picture sent."""
        for at, frame in self._raw[len(self._decoded):]:
            number = decode(frame.image)
            width, height = frame.size
            self._decoded.append(Received(at, number, frame.size, frame.timecode,
                                          psnr(frame.image, pattern(number, width, height)), frame.audio))
        return self._decoded

    def latest_number(self) -> int:
        """The newest frame's number, decoding only that one."""
        return decode(self._raw[-1][1].image) if self._raw else -1

    def flowing_steadily(self, seconds: float = 1.0, max_gap_s: float = 0.2) -> bool:
        """New pictures (not held repeats) have been arriving for `seconds` with no gap over
        `max_gap_s`. An NDI connection over loopback may stall for a couple of seconds right after
        its first frame (seen on fresh machines: the sender's other receiver got every frame, NDI
        counted none dropped), so a test that counts frames starts once the path has proven steady."""
        raw = self._raw[:]
        if not raw or raw[-1][0] - raw[0][0] < seconds or time.monotonic() - raw[-1][0] > max_gap_s:
            return False
        window = [(at, decode(frame.image)) for at, frame in raw if at >= raw[-1][0] - seconds]
        times = [raw[-1][0] - seconds] + [at for at, _ in window]
        numbers = [n for _, n in window]
        return bool(np.diff(times).max() <= max_gap_s) and all(b > a for a, b in zip(numbers, numbers[1:]))

    def wait_connected(self, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.receiver.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.receiver.connected, f"recorder never found {self.receiver.wanted!r}"

    def wait_for(self, predicate, timeout_s: float) -> bool:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.receiver.close()


def write_profile(folder: Path, text: str) -> Path:
    path = folder / f"{unique_name('profile')}.yaml"
    path.write_text(text)
    return path


def start_bridge(profile: Path, input_name: str, output_name: str, *extra: str) -> subprocess.Popen[str]:
    """`facebridge run` the way a user runs it, as its own process."""
    return subprocess.Popen([sys.executable, "-m", "bridge.cli", "run", "--profile", str(profile),
                             "--input", input_name, "--output", output_name, *extra],
                            cwd=REPO, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop_process(process: subprocess.Popen[str], sig: int = signal.SIGINT, timeout_s: float = 5.0) -> tuple[int, float, str]:
    """Send `sig`, wait; (exit code, seconds it took, output)."""
    started = time.monotonic()
    process.send_signal(sig)
    try:
        output, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        return -9, time.monotonic() - started, output
    return process.returncode, time.monotonic() - started, output
