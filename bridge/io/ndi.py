"""NDI receive and send: the bridge's only contact with the network video.

The receiver turns NDI video, audio and metadata into `Frame` values: audio and metadata
that arrive before a video frame travel with it. The sender sends a frame's audio and
metadata just before its picture, so the interleaving the input had is the one the output
has, however long processing took.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

import numpy as np

from bridge.io import color
from bridge.types import AudioBlock, Frame, SinkStatus, SourceStatus

log = logging.getLogger(__name__)


class NdiError(RuntimeError):
    """NDI could not do what was asked (one readable line)."""


class SourceNotFound(NdiError):
    def __init__(self, wanted: str, visible: list[str]):
        self.wanted, self.visible = wanted, visible
        seen = ", ".join(repr(v) for v in visible) if visible else "none"
        super().__init__(f"NDI source {wanted!r} not found; visible sources: {seen}")


class AmbiguousSource(NdiError):
    def __init__(self, wanted: str, candidates: list[str]):
        self.wanted, self.candidates = wanted, candidates
        super().__init__(f"NDI source {wanted!r} matches several sources: "
                         f"{', '.join(repr(c) for c in candidates)}; give more of the name")


def _ndi():  # type: ignore[no-untyped-def]
    import NDIlib

    return NDIlib


class NdiRuntime:
    """The NDI library, initialised for the life of the `with` block."""

    def __enter__(self) -> NdiRuntime:
        if not _ndi().initialize():
            raise NdiError("the NDI runtime cannot start on this CPU (it needs SSE4.2)")
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        _ndi().destroy()


def resolve_source(wanted: str, names: list[str]) -> str:
    """The one source named exactly `wanted`, else the one containing it (case-insensitive)."""
    if wanted in names:
        return wanted
    matches = [n for n in names if wanted.lower() in n.lower()]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise AmbiguousSource(wanted, sorted(matches))
    raise SourceNotFound(wanted, sorted(names))


class SourceFinder:
    """NDI discovery; `extra_ips` reach senders on other subnets.

    With unicast discovery (a fixed IP list, no mDNS) one finder connection can end up
    seeing the senders of only one process on a machine, so a finder that misses what it
    looks for is renewed, and a listing gathers what several finder connections saw.
    """

    def __init__(self, extra_ips: list[str] | None = None):
        self._extra_ips = extra_ips or []
        self._find: object | None = None
        self._sources: dict[str, object] = {}
        self.renew()

    def renew(self) -> None:
        ndi = _ndi()
        self.close()
        settings = ndi.FindCreate()
        settings.show_local_sources = True
        if self._extra_ips:
            settings.extra_ips = ",".join(self._extra_ips)
        self._find = ndi.find_create_v2(settings)
        if self._find is None:
            raise NdiError("cannot create an NDI finder")

    def sources(self, wait_s: float = 0.0) -> list[str]:
        """Names visible now; with `wait_s` ≥ 1, everything seen during that time."""
        ndi = _ndi()
        seen: dict[str, object] = {}
        deadline = time.monotonic() + wait_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining > 0:
                ndi.find_wait_for_sources(self._find, int(min(remaining, 0.5) * 1000))
            seen.update({s.ndi_name: s for s in ndi.find_get_current_sources(self._find)})
            if remaining <= 0:
                self._sources.update(seen)
                return sorted(seen)
            if wait_s >= 1.0:
                self.renew()

    def source(self, name: str) -> object:
        return self._sources[name]

    def close(self) -> None:
        if self._find is not None:
            _ndi().find_destroy(self._find)
            self._find = None


def list_sources(timeout_s: float, extra_ips: list[str] | None = None) -> list[str]:
    finder = SourceFinder(extra_ips)
    try:
        return finder.sources(timeout_s)
    finally:
        finder.close()


@dataclass
class ReceiverStats:
    video_frames: int = 0
    audio_blocks: int = 0
    skipped_frames: int = 0  # corrupt or unsupported frames
    connects: int = 0
    source: str = ""
    formats: set[str] = field(default_factory=set)


class NdiReceiver:
    """Receives one NDI source as `Frame`s; waits for it and follows it when it goes and comes back."""

    def __init__(self, wanted: str, extra_ips: list[str] | None = None, color_format: str = "bgra",
                 wait_log_s: float = 5.0, reconnect_after_s: float = 2.0):
        ndi = _ndi()
        self.wanted = wanted
        self.wait_log_s = wait_log_s
        self.reconnect_after_s = reconnect_after_s
        self.stats = ReceiverStats()
        self._finder = SourceFinder(extra_ips)
        settings = ndi.RecvCreateV3()
        settings.color_format = (ndi.RECV_COLOR_FORMAT_UYVY_BGRA if color_format == "uyvy"
                                 else ndi.RECV_COLOR_FORMAT_BGRX_BGRA)
        settings.bandwidth = ndi.RECV_BANDWIDTH_HIGHEST
        settings.allow_video_fields = False
        self._recv = ndi.recv_create_v3(settings)
        if self._recv is None:
            raise NdiError("cannot create an NDI receiver")
        # the conversion's kernel, now rather than on the first frame in
        self.warming = color.warm_up_aside() if color_format == "uyvy" else None
        self._connected_to: str | None = None
        self._lost = False
        self._last_video = 0.0
        self._last_search = -1e9
        self._last_wait_log = 0.0
        self._pending_audio: list[AudioBlock] = []
        self._audio_lock = threading.Lock()  # the send thread takes leftovers while holding
        self._pending_metadata: list[str] = []
        self._sequence = 0

    @property
    def connected(self) -> bool:
        return self._connected_to is not None

    def transport_dropped(self) -> int:
        """Video frames NDI itself dropped before `capture` saw them (network, or a receiver too slow to keep up)."""
        if self._recv is None:
            return 0
        _, dropped = _ndi().recv_get_performance(self._recv)
        return int(dropped.video_frames)

    def status(self) -> SourceStatus:
        return SourceStatus(self.stats.source, self.connected, self.stats.connects, self.stats.skipped_frames,
                            self.transport_dropped())

    def _search(self) -> None:
        """Connect to the wanted source when it is visible; say what is visible while waiting.

        A source that is only quiet keeps its connection (reconnecting would drop frames);
        one that left discovery, or whose connection closed, is connected afresh when seen.
        """
        ndi = _ndi()
        now = time.monotonic()
        self._last_search = now
        names = self._finder.sources(0.05)
        try:
            name = resolve_source(self.wanted, names)
        except AmbiguousSource as error:
            self._log_wait(now, str(error))
            return
        except SourceNotFound as error:
            self._log_wait(now, f"waiting for {error}")
            self._lost = True
            self._finder.renew()
            return
        if name == self._connected_to and not self._lost and ndi.recv_get_no_connections(self._recv) > 0:
            return
        ndi.recv_connect(self._recv, self._finder.source(name))
        if name != self._connected_to:
            log.info("receiving NDI source %r", name)
        elif self._lost:
            log.info("NDI source %r is back", name)
        self._connected_to, self._lost = name, False
        self.stats.source = name
        self.stats.connects += 1

    def _log_wait(self, now: float, message: str) -> None:
        if now - self._last_wait_log >= self.wait_log_s:
            log.warning(message)
            self._last_wait_log = now

    def capture(self, timeout_s: float = 0.1) -> Frame | None:
        """The next video frame with the audio and metadata that came before it, or None on timeout."""
        ndi = _ndi()
        now = time.monotonic()
        silent = now - self._last_video
        if self._connected_to is None or silent > self.reconnect_after_s:
            if now - self._last_search >= 0.5:
                self._search()
            if self._connected_to is None:
                time.sleep(min(timeout_s, 0.1))
                return None
        deadline = now + timeout_s
        while True:
            remaining = max(0, int((deadline - time.monotonic()) * 1000))
            kind, video, audio, metadata = ndi.recv_capture_v2(self._recv, remaining)
            if kind == ndi.FRAME_TYPE_VIDEO:
                try:
                    frame = self._to_frame(video)
                finally:
                    ndi.recv_free_video_v2(self._recv, video)
                if frame is not None:
                    return frame
            elif kind == ndi.FRAME_TYPE_AUDIO:
                try:
                    block = AudioBlock(np.array(audio.data, np.float32, copy=True), int(audio.sample_rate),
                                       int(audio.timecode))
                    with self._audio_lock:
                        self._pending_audio.append(block)
                    self.stats.audio_blocks += 1
                finally:
                    ndi.recv_free_audio_v2(self._recv, audio)
            elif kind == ndi.FRAME_TYPE_METADATA:
                try:
                    self._pending_metadata.append(str(metadata.data))
                finally:
                    ndi.recv_free_metadata(self._recv, metadata)
            elif kind == ndi.FRAME_TYPE_NONE or time.monotonic() >= deadline:
                return None

    def _to_frame(self, video: object) -> Frame | None:
        ndi = _ndi()
        width, height = int(video.xres), int(video.yres)  # type: ignore[attr-defined]
        fourcc = video.FourCC  # type: ignore[attr-defined]
        data = video.data  # type: ignore[attr-defined]
        self.stats.formats.add(str(fourcc).rsplit("_", 1)[-1])
        started = time.perf_counter()
        try:
            if width <= 0 or height <= 0 or data is None or data.size == 0:
                raise ValueError(f"empty {width}x{height} frame")
            if fourcc == ndi.FOURCC_VIDEO_TYPE_UYVY:
                image = color.uyvy_to_bgr(_rows(data, height, width, 2))
            elif fourcc in (ndi.FOURCC_VIDEO_TYPE_BGRX, ndi.FOURCC_VIDEO_TYPE_BGRA):
                image = color.bgrx_to_bgr(_rows(data, height, width, 4))
            elif fourcc in (ndi.FOURCC_VIDEO_TYPE_RGBX, ndi.FOURCC_VIDEO_TYPE_RGBA):
                image = color.rgbx_to_bgr(_rows(data, height, width, 4))
            else:
                raise ValueError(f"unsupported pixel format {fourcc}")
        except ValueError as error:
            self.stats.skipped_frames += 1
            log.warning("skipped an NDI frame from %r: %s", self._connected_to, error)
            return None
        self._last_video = time.monotonic()
        self._sequence += 1
        self.stats.video_frames += 1
        rate = (int(video.frame_rate_N) or 30, int(video.frame_rate_D) or 1)  # type: ignore[attr-defined]
        timecode = int(video.timecode)  # type: ignore[attr-defined]
        frame = Frame(image=image, sequence=self._sequence, timecode=timecode,
                      timestamp=int(video.timestamp),  # type: ignore[attr-defined]
                      frame_rate=rate, received_at=self._last_video,
                      audio=self._audio_until(timecode + 10_000_000 * rate[1] // rate[0]),
                      metadata=self._pending_metadata, timings={"convert": time.perf_counter() - started})
        self._pending_metadata = []
        return frame

    def _audio_until(self, end_timecode: int) -> list[AudioBlock]:
        """Audio that belongs to a frame ending at `end_timecode`; what belongs to later frames waits.

        NDI delivers audio and video as separate streams whose arrival order may swap, so
        the frame a block belongs to is decided by timecode. Blocks on another clock (more
        than a second off) are not held back.
        """
        def belongs(block: AudioBlock) -> bool:
            return block.timecode < end_timecode or block.timecode - end_timecode > 10_000_000
        with self._audio_lock:
            now = [b for b in self._pending_audio if belongs(b)]
            self._pending_audio = [b for b in self._pending_audio if not belongs(b)]
        return now

    def take_pending_audio(self) -> list[AudioBlock]:
        """Audio still waiting for a picture (the input stopped after sending it)."""
        with self._audio_lock:
            pending, self._pending_audio = self._pending_audio, []
        return pending

    def close(self) -> None:
        if self._recv is not None:
            _ndi().recv_destroy(self._recv)
            self._recv = None
        self._finder.close()


def _rows(data: np.ndarray, height: int, width: int, channels: int) -> np.ndarray:
    """A (H, W, C) view of an NDI buffer, checking that its size matches what the frame claims."""
    if data.ndim == 3 and data.shape == (height, width, channels):
        return data
    flat = data.reshape(-1)
    stride = flat.size // height if height else 0
    if stride < width * channels or flat.size < height * width * channels:
        raise ValueError(f"buffer of {flat.size} bytes is too small for {width}x{height}")
    return flat[: height * stride].reshape(height, stride)[:, : width * channels].reshape(height, width, channels)


class NdiSender:
    """Sends `Frame`s as one named NDI source; audio and metadata first, then the picture."""

    def __init__(self, name: str, groups: str = ""):
        ndi = _ndi()
        settings = ndi.SendCreate()
        settings.ndi_name = name
        if groups:
            settings.groups = groups
        # Paced by the input (and by the holding clock), not by NDI: clocking would add waits.
        settings.clock_video = False
        settings.clock_audio = False
        self._send = ndi.send_create(settings)
        if self._send is None:
            raise NdiError(f"cannot create the NDI sender {name!r}")
        self._video = ndi.VideoFrameV2()
        # UYVY is what NDI compresses: sent as BGRX, NDI converts each frame itself, which
        # costs more CPU than converting here (benchmarks/bench_send.py).
        self._video.FourCC = ndi.FOURCC_VIDEO_TYPE_UYVY
        self._audio = ndi.AudioFrameV2()
        # Two pictures, filled in turn: an async send lets NDI compress the picture on its own
        # thread until the next send, so the one being compressed is never the one being filled.
        self._pictures: list[np.ndarray | None] = [None, None]
        self._turn = 0
        self.frames_sent = 0
        self.warming = color.warm_up_aside()  # the conversion's kernel, now rather than on the first frame out

        self.full_name = str(ndi.send_get_source_name(self._send).ndi_name)  # "HOST (name)", as receivers see it

    def connections(self) -> int:
        return int(_ndi().send_get_no_connections(self._send, 0)) if self._send is not None else 0

    def status(self) -> SinkStatus:
        return SinkStatus(self.full_name, self.connections())

    def send(self, frame: Frame) -> None:
        ndi = _ndi()
        for block in frame.audio:
            samples = np.ascontiguousarray(block.samples, np.float32)
            self._audio.data = samples
            self._audio.sample_rate = block.sample_rate
            self._audio.no_channels = samples.shape[0]
            self._audio.no_samples = samples.shape[1]
            self._audio.channel_stride_in_bytes = samples.shape[1] * 4
            self._audio.timecode = block.timecode
            ndi.send_send_audio_v2(self._send, self._audio)
        for text in frame.metadata:
            meta = ndi.MetadataFrame()
            meta.data = text
            ndi.send_send_metadata(self._send, meta)
        picture = self._pictures[self._turn] = color.bgr_to_uyvy(frame.image, self._pictures[self._turn])
        self._turn ^= 1
        self._video.data = picture  # also sets xres, yres and line_stride_in_bytes
        self._video.frame_rate_N, self._video.frame_rate_D = frame.frame_rate
        self._video.timecode = frame.timecode if frame.timecode else ndi.SEND_TIMECODE_SYNTHESIZE
        # returns at once (a synchronous send compresses first: 4-5 ms of the send thread per
        # 1080p frame); NDI holds `picture` until the next call
        ndi.send_send_video_async_v2(self._send, self._video)
        self.frames_sent += 1

    def close(self) -> None:
        if self._send is not None:
            ndi = _ndi()
            # NDI's way to end async sending: a null frame waits until the last picture is
            # compressed; destroying a sender with a picture in flight sometimes aborted the process
            ndi.send_send_video_async_v2(self._send, None)
            ndi.send_destroy(self._send)
            self._send = None
