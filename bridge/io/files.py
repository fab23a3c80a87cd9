"""Recorded clips in and out, for rehearsal mode (`facebridge process`), through FFmpeg (PyAV).

The reader decodes the first video stream, turns pictures the way the file's rotation says
and keeps each picture's own timestamp (variable frame rate survives); the audio packets
are handed on untouched. The writer encodes H.264 at those same timestamps and copies the
audio when the container takes it (else AAC), so sound and pictures line up as they did.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2

from bridge.io.color import bgr_to_i420
from bridge.io.ffmpeg import MediaError, even, layout_for, open_input, rate_of, upright_bgr, video_stream
from bridge.types import Frame

log = logging.getLogger(__name__)

TIMECODE_UNITS = 10_000_000  # Frame.timecode counts 100 ns
OUTPUT_FORMATS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}
# Audio a container is known to refuse although FFmpeg lists it (PCM in mp4): re-encoded instead.
REFUSED_AUDIO = {"mp4": ("pcm_",)}


class ClipError(RuntimeError):
    """A clip that cannot be read or written (one readable line naming the file)."""


def timecode_of(pts: int, time_base: Fraction) -> int:
    return int(pts * time_base * TIMECODE_UNITS)


def pts_of(timecode: int, time_base: Fraction) -> int:
    return round(Fraction(timecode, TIMECODE_UNITS) / time_base)


class ClipReader:
    """Frames of a video file, in order, each with its own timestamp; its audio as packets (`take_audio`)."""

    def __init__(self, path: Path):
        self.path = path
        if not path.is_file():
            raise ClipError(f"{path}: no such file")
        try:
            self._container = open_input(str(path), what="--input")
            self.video = video_stream(self._container, str(path))
        except MediaError as error:
            raise ClipError(str(error)) from None
        self.audio = self._container.streams.audio[0] if self._container.streams.audio else None
        self.frame_rate = rate_of(self.video)
        self.fps = self.frame_rate[0] / self.frame_rate[1]
        self.time_base: Fraction = self.video.time_base or Fraction(1, 90000)
        self.frame_count = self.video.frames or self._estimated_frames()
        self._audio_packets: list[av.Packet] = []

    def _estimated_frames(self) -> int:
        if self.video.duration and self.video.time_base:
            return int(round(float(self.video.duration * self.video.time_base) * self.fps))
        if self._container.duration:
            return int(round(self._container.duration / av.time_base * self.fps))
        return 0

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        streams = [self.video] + ([self.audio] if self.audio is not None else [])
        try:
            for packet in self._container.demux(*streams):
                if packet.stream.type == "audio":
                    if packet.size:
                        self._audio_packets.append(packet)
                    continue
                for picture in packet.decode():
                    yield self._frame(picture, index)
                    index += 1
        except av.FFmpegError as error:
            reason = " ".join(str(getattr(error, "strerror", None) or error).split())
            raise ClipError(f"{self.path}: unreadable after frame {index} ({reason}); the file may be cut short "
                            "or damaged: re-export it") from None

    def _frame(self, picture: av.VideoFrame, index: int) -> Frame:
        if picture.pts is not None:
            timecode = timecode_of(picture.pts, self.time_base)
        else:  # a raw stream without timestamps: the nominal rate
            timecode = int(index * TIMECODE_UNITS * self.frame_rate[1] / self.frame_rate[0])
        return Frame(image=upright_bgr(picture), sequence=index, timecode=timecode, frame_rate=self.frame_rate,
                     received_at=timecode / TIMECODE_UNITS)

    def take_audio(self) -> list[av.Packet]:
        """Audio packets demuxed so far (they go to `ClipWriter.write_audio`)."""
        packets, self._audio_packets = self._audio_packets, []
        return packets

    def close(self) -> None:
        self._container.close()


class ClipWriter:
    """H.264 (libx264, yuv420p) at the reader's timestamps, with the reader's audio copied or made AAC.

    Written to a hidden part file renamed over `path` at `close`: a failed run leaves no half
    clip, and never the old clip destroyed.
    """

    def __init__(self, path: Path, reader: ClipReader, *, crf: int = 20, preset: str = "medium", force: bool = False):
        container_format = OUTPUT_FORMATS.get(path.suffix.lower())
        if container_format is None:
            raise ClipError(f"{path}: unsupported output type {path.suffix!r}; use .mp4, .mov or .mkv")
        if path.exists() and not force:
            raise ClipError(f"{path}: already exists; pass --force to overwrite it, or choose another --output")
        if path.resolve() == reader.path.resolve():
            raise ClipError(f"{path}: is also the input; choose another --output")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._part = path.with_name(f".{path.stem}.part{path.suffix}")
        options = {"movflags": "+faststart"} if container_format in ("mp4", "mov") else {}
        try:
            self._container = av.open(str(self._part), "w", format=container_format, options=options)
        except (av.FFmpegError, OSError) as error:
            raise ClipError(f"{path}: cannot write here ({error}); choose another --output") from None
        self._reader, self._crf, self._preset = reader, crf, preset
        self._video: av.video.stream.VideoStream | None = None
        self._audio: av.audio.stream.AudioStream | None = None
        self._copy_audio = False
        self._waiting: list[av.Packet] = []
        self.size: tuple[int, int] = (0, 0)
        self.frames = 0

    def _open_streams(self, size: tuple[int, int]) -> None:
        """Streams are added once the first picture gives the upright size (the header follows)."""
        reader = self._reader
        self.size = even(size)
        video = self._container.add_stream("libx264", rate=Fraction(*reader.frame_rate),
                                           options={"crf": str(self._crf), "preset": self._preset})
        video.width, video.height = self.size
        video.pix_fmt = "yuv420p"
        video.codec_context.time_base = reader.time_base
        video.time_base = reader.time_base
        video.codec_context.colorspace = video.codec_context.color_primaries = video.codec_context.color_trc = 1  # BT.709
        self._video = video
        source = reader.audio
        if source is not None:
            if self._container_takes(source.codec_context.name if source.codec_context else source.name):
                self._audio = self._container.add_stream_from_template(source)
                self._copy_audio = True
            elif source.codec_context is not None:
                self._audio = self._container.add_stream("aac", rate=source.codec_context.sample_rate or 48000)
                self._audio.layout = layout_for(source.codec_context.channels or 2)
            else:
                log.warning("%s: its audio cannot be decoded; the output has no sound", reader.path)

    def _container_takes(self, codec: str) -> bool:
        refused = REFUSED_AUDIO.get(self._container.format.name, ())
        return codec in self._container.supported_codecs and not codec.startswith(refused)

    def write(self, frame: Frame) -> None:
        try:
            self._write(frame)
        except av.FFmpegError as error:
            raise ClipError(f"{self.path}: encoding failed ({error}); try another --output type (.mkv takes most)") from None

    def _write(self, frame: Frame) -> None:
        if self._video is None:
            self._open_streams(frame.size)
            self._write_audio([])
        image = frame.image
        (width, height), (want_w, want_h) = frame.size, self.size
        if (width, height) != self.size:  # an odd side loses its last line; another size is scaled
            fits = 0 <= width - want_w <= 1 and 0 <= height - want_h <= 1
            image = image[:want_h, :want_w] if fits else cv2.resize(image, self.size)
        picture = av.VideoFrame.from_ndarray(bgr_to_i420(image), format="yuv420p")
        picture.pts = pts_of(frame.timecode, self._reader.time_base)
        picture.time_base = self._reader.time_base
        self._mux(self._video.encode(picture))
        self.frames += 1

    def write_audio(self, packets: list[av.Packet]) -> None:
        """The reader's audio packets: copied, or decoded and made AAC."""
        try:
            self._write_audio(packets)
        except av.FFmpegError as error:
            raise ClipError(f"{self.path}: writing the sound failed ({error}); try .mkv as --output") from None

    def _write_audio(self, packets: list[av.Packet]) -> None:
        self._waiting.extend(packets)
        if self._video is None:  # no header yet: they wait for the first picture
            return
        waiting, self._waiting = self._waiting, []
        if self._audio is None:
            return
        for packet in waiting:
            if self._copy_audio:
                packet.stream = self._audio
                self._container.mux(packet)
            else:
                for sound in packet.decode():
                    self._mux(self._audio.encode(sound))

    def _mux(self, packets: list[av.Packet]) -> None:
        if packets:
            self._container.mux(packets)

    def close(self, *, keep: bool = True) -> None:
        """Flush the encoders and put the clip in place; `keep=False` throws the part file away."""
        try:
            if keep and self._video is not None:
                self._write_audio([])
                self._mux(self._video.encode(None))
                if self._audio is not None and not self._copy_audio:
                    self._mux(self._audio.encode(None))
            self._container.close()
        except (av.FFmpegError, OSError) as error:
            keep = False
            raise ClipError(f"{self.path}: could not finish writing ({error}); is the disk full?") from None
        finally:
            if keep and self._video is not None:
                self._part.replace(self.path)
            else:
                self._part.unlink(missing_ok=True)
