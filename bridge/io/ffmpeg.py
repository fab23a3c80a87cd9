"""FFmpeg through PyAV: opening a file, device or stream URL with one-line errors, and the
conversions between PyAV frames and the bridge's values that every FFmpeg user here shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import av
import cv2
import numpy as np

from bridge.types import AudioBlock

# `input.url: v4l2:/dev/video0` and the like: the prefix names FFmpeg's device input.
DEVICE_FORMATS = {"v4l2": "video4linux2", "dshow": "dshow", "avfoundation": "avfoundation"}
NETWORK_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "srt", "http", "https", "udp", "tcp", "rist")
# Rotations a display matrix asks for (PyAV's counter-clockwise degrees) → the cv2 turn that shows it upright.
TURNS = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, -90: cv2.ROTATE_90_CLOCKWISE, 270: cv2.ROTATE_90_CLOCKWISE,
         180: cv2.ROTATE_180, -180: cv2.ROTATE_180}


class MediaError(RuntimeError):
    """A file, device or stream FFmpeg cannot open, read or write (one line naming it and what to do)."""


@dataclass(frozen=True)
class OpenArgs:
    """What `av.open` gets for one `input.url`: the file or URL, the input format (devices) and options."""

    file: str
    format: str | None = None
    options: dict[str, str] = field(default_factory=dict)

    @property
    def live(self) -> bool:
        """A device or a network stream (no end, no seeking); else a file."""
        return self.format is not None or is_network(self.file)


def is_network(url: str) -> bool:
    return urlsplit(url).scheme.lower() in NETWORK_SCHEMES


def is_device(url: str) -> bool:
    return url.split(":", 1)[0].lower() in DEVICE_FORMATS and ":" in url


def open_args(url: str, options: dict[str, str] | None = None) -> OpenArgs:
    """Split `input.url` into what FFmpeg needs: `v4l2:/dev/video0`, `dshow:video=Cam`,
    `avfoundation:0` name a webcam; anything else is a path or a URL FFmpeg reads itself."""
    given = {str(k): str(v) for k, v in (options or {}).items()}
    if is_device(url):
        prefix, name = url.split(":", 1)
        return OpenArgs(name, DEVICE_FORMATS[prefix.lower()], given)
    scheme = urlsplit(url).scheme.lower()
    defaults: dict[str, str] = {}
    if scheme.startswith("rtsp"):
        defaults["rtsp_transport"] = "tcp"  # UDP loses packets on busy Wi-Fi; TCP is what cameras all offer
    return OpenArgs(url, None, {**defaults, **given})


def shown(url: str) -> str:
    """`url` fit for logs and messages: a password in it is masked."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, f"{parts.username}:***@{host}", parts.path, parts.query, parts.fragment))


def open_input(url: str, options: dict[str, str] | None = None, timeout_s: float = 5.0,
               what: str = "input.url") -> av.container.InputContainer:
    """`av.open` for reading, with every way it fails turned into one MediaError line."""
    args = open_args(url, options)
    name = shown(url)
    if args.format is not None and args.format not in av.formats_available:
        raise MediaError(f"{name}: this FFmpeg build has no {args.format} device input (PyAV's wheels ship no "
                         f"webcam inputs on this OS); feed the camera through OBS over NDI, or install PyAV "
                         f"built against a system FFmpeg with {args.format}")
    try:
        return av.open(args.file, "r", format=args.format, options=args.options, timeout=(timeout_s, timeout_s))
    except Exception as error:  # PyAV raises many kinds; each becomes one line
        raise MediaError(describe_open_failure(name, error, timeout_s, what)) from None


def describe_open_failure(name: str, error: BaseException, timeout_s: float, what: str) -> str:
    reason = _reason(error)
    if isinstance(error, (FileNotFoundError, av.error.FileNotFoundError)):
        return f"{name}: no such file or device; check {what}"
    if isinstance(error, av.error.HTTPError):
        return f"{name}: the server refused it ({reason}); check the address in {what} and that the stream is on"
    if isinstance(error, (av.error.ExitError, av.error.TimeoutError, TimeoutError)):
        return (f"{name}: did not answer within {timeout_s:g} s; check the address in {what}, that the "
                "stream is live and that no firewall is in the way")
    if isinstance(error, (av.error.ConnectionRefusedError, ConnectionRefusedError)):
        return f"{name}: connection refused; is the stream or server running? check {what}"
    if isinstance(error, (av.error.InvalidDataError, av.error.DemuxerNotFoundError)):
        return f"{name}: not a video FFmpeg can read ({reason}); convert it to .mp4 (H.264) or check {what}"
    if isinstance(error, (av.error.PermissionError, PermissionError)):
        return f"{name}: permission denied; give this user read access"
    if isinstance(error, av.error.ProtocolNotFoundError):
        return (f"{name}: FFmpeg does not know this kind of address ({reason}); "
                "use a file, rtsp://, rtmp://, srt:// or http(s)://")
    return f"{name}: cannot open ({reason}); check {what}"


def _reason(error: BaseException) -> str:
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return " ".join(str(text).split())


def video_stream(container: av.container.InputContainer, name: str) -> av.video.stream.VideoStream:
    """The first video stream that FFmpeg can decode, or a MediaError saying why there is none."""
    if not container.streams.video:
        raise MediaError(f"{name}: has no video stream (audio only?); give a clip with pictures")
    stream = container.streams.video[0]
    if stream.codec_context is None:
        tag = str(getattr(stream, "codec_tag", "") or "").strip("\x00 ")
        codec = f"in a codec ({tag})" if tag else "in a codec"
        raise MediaError(f"{name}: its video is {codec} this FFmpeg cannot decode; convert it to H.264 first")
    stream.thread_type = "AUTO"
    return stream


def decodable_audio(container: av.container.InputContainer) -> av.audio.stream.AudioStream | None:
    for stream in container.streams.audio:
        if stream.codec_context is not None:
            return stream
    return None


UNSPECIFIED_COLORSPACE = 2


def upright_bgr(frame: av.VideoFrame) -> np.ndarray:
    """The picture as BGR, turned the way the file's display matrix says it is shown.

    Colours follow the frame's colour matrix tag; an untagged HD picture is read as BT.709, as
    players show it (FFmpeg's own default, BT.601, shifts its reds and greens)."""
    if frame.colorspace == UNSPECIFIED_COLORSPACE and frame.height >= 720 and frame.format.name.startswith("yuv"):
        image = frame.reformat(format="bgr24", src_colorspace="ITU709").to_ndarray()
    else:
        image = frame.to_ndarray(format="bgr24")
    turn = TURNS.get(int(round(frame.rotation or 0)))
    return cv2.rotate(image, turn) if turn is not None else image


def rate_of(stream: av.video.stream.VideoStream, fallback: tuple[int, int] = (30, 1)) -> tuple[int, int]:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate or rate <= 0 or rate > 1000:
        return fallback
    return int(rate.numerator), int(rate.denominator)


class AudioConverter:
    """PyAV audio frames → the bridge's planar float32 `AudioBlock`s, at the stream's own rate and channels."""

    def __init__(self) -> None:
        self._resampler: av.AudioResampler | None = None
        self._shape: tuple[str, int] | None = None

    def blocks(self, frame: av.AudioFrame, timecode: int) -> list[AudioBlock]:
        shape = (frame.layout.name, frame.sample_rate)
        if self._resampler is None or shape != self._shape:
            self._resampler = av.AudioResampler(format="fltp", layout=frame.layout, rate=frame.sample_rate)
            self._shape = shape
        out = []
        for converted in self._resampler.resample(frame):
            samples = np.ascontiguousarray(converted.to_ndarray(), np.float32)
            out.append(AudioBlock(samples, int(converted.sample_rate), timecode))
        return out


LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def layout_for(channels: int) -> str:
    """FFmpeg's usual layout for a channel count (a file's bare "2 channels" is one encoders refuse)."""
    return LAYOUTS.get(channels, "stereo")


def audio_frame(block: AudioBlock) -> av.AudioFrame:
    """An `AudioBlock` as a PyAV frame (planar float), for an encoder."""
    samples = np.ascontiguousarray(block.samples, np.float32)
    frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout=layout_for(samples.shape[0]))
    frame.sample_rate = block.sample_rate
    return frame


def even(size: tuple[int, int]) -> tuple[int, int]:
    """H.264 in yuv420p wants even sides: the last odd row or column is dropped."""
    return size[0] - size[0] % 2, size[1] - size[1] % 2



def describe_input(url: str, options: dict[str, str] | None, timeout_s: float) -> str:
    """`url` opened once: a line saying what it holds (for `facebridge check`), or a MediaError."""
    name = shown(url)
    container = open_input(url, options, timeout_s)
    try:
        video = video_stream(container, name)
        rate = rate_of(video)
        text = f"{name}: {video.codec_context.name} {video.codec_context.width}x{video.codec_context.height} " \
               f"{rate[0] / rate[1]:.4g} fps"
        audio = decodable_audio(container)
        text += f", sound {audio.codec_context.name} {audio.codec_context.sample_rate} Hz" if audio else ", no sound"
        return text
    finally:
        container.close()
