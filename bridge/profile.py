"""Per-show profiles: the YAML schema, its defaults and its validation.

One file per show holds everything. The dataclasses below *are* the schema: loading
checks a file against them and reports every problem at once; `profiles/example.yaml`
is rendered from them (`facebridge profile-example`).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

from bridge.access import token_problem
from bridge.faces.builders import DETECTORS, LANDMARKERS, RECOGNISERS
from bridge.obs.wiring import program_output_sender
from bridge.runtime.onnx import IoBinding, ProviderName
from bridge.runtime.places import HERE
from bridge.schema import Secret, check, field, render_example
from bridge.swap.builders import ENHANCERS, OCCLUSION_MASKERS, REGION_MASKERS, SWAPPERS
from bridge.swap.fallback import FallbackMode
from bridge.swap.label import Corner

MAX_PROFILE_BYTES = 1 << 20



@dataclass
class InputSection:
    ndi_source: str = field("", "NDI source to receive: its exact name or a unique part of it, e.g. 'OBS (Camera)'")
    url: str = field("", "instead of NDI, read this through FFmpeg: a file, a webcam (v4l2:/dev/video0, dshow:video=NAME, avfoundation:0) or a stream (rtsp://, rtmp://, srt://, http(s):// or an HLS .m3u8); set this or ndi_source, not both")
    loop: bool = field(False, "url is a file: start it again at its end (a test feed); false: the output holds at its end")
    url_options: dict[str, str | int | float] = field({}, "FFmpeg input options for url, e.g. {video_size: 1280x720, framerate: 30} for a webcam, {rtsp_transport: udp}")
    url_timeout_s: float = field(5.0, "seconds url may stay silent before it counts as gone and is opened again", minimum=0.5)
    extra_ips: list[str] = field([], "IP addresses to look for NDI sources on besides discovery (other subnets)")
    color_format: Literal["uyvy", "bgra"] = field("uyvy", "pixel format asked of NDI: uyvy is the cheapest and passes pictures on with almost no loss; bgra if your sender has alpha")
    on_loss: Literal["hold", "slate", "black"] = field("hold", "what the output shows while the input is gone: the last frame, a slate, or black")
    loss_after_ms: int = field(250, "input silence (ms) after which the output starts holding at its own frame rate", minimum=50)
    wait_log_s: float = field(5.0, "while waiting for the source, say every this many seconds which sources are visible", minimum=0.5)


X264Preset = Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]


@dataclass
class OutputSection:
    ndi_name: str = field("facebridge", "name of the NDI source the bridge sends (OBS sees 'HOST (name)')")
    groups: str = field("", "NDI groups to send in, comma-separated; empty = the default group")
    record: str = field("", "record what goes on air, with its sound, to this file (.mkv, or .mp4 written fragmented: both survive a crash); {time} becomes the start time; an existing file is never overwritten; empty = no recording (start and stop it with the start_recording/stop_recording commands)")
    record_on_start: bool = field(True, "start recording as soon as the bridge runs (false: wait for start_recording)")
    crf: int = field(20, "H.264 quality of recordings and `process` clips: lower = better and bigger (18 looks like the source; each +6 halves the size)", minimum=0, maximum=51)
    preset: X264Preset = field("veryfast", "x264 speed preset of recordings and `process` clips: slower = smaller files for more CPU")


@dataclass
class ModelsSection:
    dir: Path | None = field(None, "folder of the model files; empty = models/ of this checkout (installed elsewhere: the user's data folder)", path="dir")
    providers: list[ProviderName] = field(["cuda", "cpu"], "execution providers to try in order; the first that loads is used")
    device_id: int = field(0, "GPU index for cuda/tensorrt/directml", minimum=0)
    fp16: bool = field(False, "half precision where the provider supports it (TensorRT)")
    tensorrt_cache: Path | None = field(None, "folder for TensorRT engine caches; empty = models/trt-cache", path="dir")
    threads: int = field(0, "CPU threads per model session; 0 = onnxruntime's choice", minimum=0)
    io_binding: IoBinding = field("auto", "onnxruntime IO binding: input buffers stay on the GPU between frames; auto = on for cuda/tensorrt")


# The allowed names are the keys of each kind's table: a model added there is allowed here.
Detector = Literal[tuple(DETECTORS)]  # type: ignore[valid-type]
Landmarker = Literal[tuple(LANDMARKERS)]  # type: ignore[valid-type]
Recogniser = Literal[tuple(RECOGNISERS)]  # type: ignore[valid-type]
SwapperName = Literal[tuple(SWAPPERS)]  # type: ignore[valid-type]
OcclusionModel = Literal[(*OCCLUSION_MASKERS, "")]  # type: ignore[valid-type]
RegionModel = Literal[(*REGION_MASKERS, "")]  # type: ignore[valid-type]
EnhancerModel = Literal[(*ENHANCERS, "")]  # type: ignore[valid-type]
UnknownPolicy = Literal["keep", "blur", "fixed", "active", "pool"]  # bridge.facestage.mapping applies it
SceneUnknown = Literal[(*get_args(UnknownPolicy), "")]  # type: ignore[valid-type]


@dataclass
class AnalysisSection:
    enabled: bool = field(True, "find and swap faces; false = the bridge passes the picture through untouched")
    detector: Detector = field("ulfd_rfb_320", "face detector (bridge/runtime/manifest.yaml); ulfd_rfb_320 and blazeface_* run well on a CPU")
    detect_size: int = field(640, "input size of scrfd/retinaface/yoloface (160..1280, multiple of 32)", minimum=160, maximum=1280)
    score_threshold: float = field(0.7, "least detector score for a face; lower finds more faces and more false ones", minimum=0.0, maximum=1.0)
    edge_threshold: float = field(0.4, "least detector score for a face cut by the frame's edge (one walking in scores low until it is whole), kept only where the landmarker is sure of it; at or above score_threshold = off (ulfd_rfb_320)", minimum=0.0, maximum=1.0)
    tiles: list[int] = field([1, 1], "override: columns and rows of overlapping tiles the detector runs on every detection (small faces in wide shots, at that many times the cost); [1, 1] = automatic (scan_tiles)")
    scan_tiles: int = field(1, "finer tiles the detector runs on each detection besides the whole frame, chosen where small tracked faces, new motion or the periodic scan need them; more: small faces found sooner, one detector run each; 0 = off", minimum=0, maximum=16)
    look_again: int = field(1, "crops the detector runs on each detection around faces lost moments ago that the whole-frame pass missed again (fast and blurred, half hidden behind another), one detector run each; 0 = off", minimum=0, maximum=8)
    detect_on_change: bool = field(True, "with detect_every above 1: detect at once when something moves in at the frame's edges, a followed face is lost, or the last detection doubted a box at the edge (edge_threshold), not at the next turn")
    landmarker: Landmarker = field("fr_landmark_68", "68-point landmark model")
    recogniser: Recogniser = field("fr_feature", "face recogniser for identities (neural swappers need arcface_w600k_r50)")
    detect_every: int | Literal["auto"] = field(1, "run the detector every N frames and follow faces by optical flow between; auto = from the measured time")


@dataclass
class TrackingSection:
    forget_s: float = field(30.0, "a person who leaves and comes back within this many seconds gets the same id and target", minimum=0.0)
    max_coast_s: float = field(1.0, "longest a face is followed on optical flow alone when detection misses it", minimum=0.0)
    recheck_s: float = field(2.0, "seconds between identity re-checks of a track (each costs one embedding)", minimum=0.1)
    reid_threshold: float = field(0.5, "least similarity to give a returning face its old id; higher: fewer wrong re-entries, more new ids", minimum=0.0, maximum=1.0)
    gallery_size: int = field(6, "embeddings kept per person (different poses and light; blurred, tiny and profile crops are skipped); a returning face is matched by the best", minimum=1, maximum=32)
    embed_budget: int = field(2, "faces sent to the recogniser per frame on average (a frame may add what the frame before left unused: at most twice this), so identity checks never stall a frame; the rest wait", minimum=1, maximum=16)
    coast_agreement: float = field(0.5, "least likeness (0..1) of a face followed by optical flow alone to its last detected look; below it the swap stops being drawn (no ghosts); higher: stops sooner", minimum=0.0, maximum=1.0)
    smoothing_min_cutoff: float = field(0.5, "landmark smoothing cut-off (Hz) on a still face; lower: steadier, more lag", minimum=0.01)
    smoothing_beta: float = field(2.0, "how fast smoothing lets go on fast moves; higher: less lag, more jitter", minimum=0.0)


@dataclass
class TargetEntry:
    name: str = field("", "target name (hotkeys and mapping refer to it)")
    images: list[Path] = field([], "one or more photos of the target face (more photos: an averaged identity)", path="file")


@dataclass
class PersonEntry:
    name: str = field("", "who this is (e.g. host)")
    photos: list[Path] = field([], "reference photos of this person", path="file")
    target: str = field("", "the target this person is swapped to; empty = left as is")


@dataclass
class SceneMapping:
    unknown: SceneUnknown = field("", "unknown-face policy in this scene; empty = the show's")
    fixed_target: str = field("", "target for unknown faces in this scene; empty = the show's")
    active_target: str = field("", "active target when this scene goes on air; empty = unchanged")
    bypass: bool | None = field(None, "swap nothing in this scene (true) or swap (false); empty = unchanged")


@dataclass
class MappingSection:
    people: list[PersonEntry] = field([], "known people and the target each gets")
    unknown: UnknownPolicy = field("active", "faces that match no known person: keep as is, blur, a fixed target, the hotkey-selected active target, or distinct targets from the pool")
    fixed_target: str = field("", "target for unknown faces when unknown is fixed")
    pool: list[str] = field([], "targets handed out once each to unknown faces in order of appearance")
    match_threshold: float = field(0.45, "least similarity to recognise a known person; higher: fewer strangers taken for the host", minimum=0.0, maximum=1.0)
    scenes: dict[str, SceneMapping] = field({}, "per-OBS-scene overrides, by scene name")


@dataclass
class SwapSection:
    swapper: SwapperName = field("warp68", "face swapper: warp68 (classic, CPU) or a neural model (GPU)")
    fallback: FallbackMode = field("hold", "a face whose swap fails on a frame: last good swap, blur, or the real face")
    hold_frames: int = field(15, "frames a held swap is reused before the face is blurred", minimum=0)
    inswapper_latent: Literal["insightface", "facefusion"] = field("insightface", "inswapper source-latent normalisation")


@dataclass
class LabelSection:
    text: str = field("", "on-screen label for synthetic faces, e.g. AI-generated; empty = none")
    corner: Corner = field("bottom-right", "where the label goes")
    size: float = field(0.035, "label text height as a share of the frame height", minimum=0.005, maximum=0.3)


@dataclass
class ComposeSection:
    mask_blur: float = field(0.3, "fade of the face box edge as a share of the crop; higher: softer seam", minimum=0.0, maximum=1.0)
    mask_padding: list[float] = field([0.0, 0.0, 0.0, 0.0], "top, right, bottom, left % of the crop cut away")
    colour_correction: bool = field(True, "match the swapped face's colour (YCrCb mean and spread) to the live face on the skin both show, smoothed per track (every swapper)")
    colour_smoothing: float = field(0.8, "share of the previous frames' colour match kept each frame; higher: steadier colour, slower to follow a lighting change", minimum=0.0, maximum=0.99)
    seamless: bool = field(True, "spread the live-to-swap difference along the mask edge inwards so no paste line shows (eyes, brows, nose and mouth stay the target's at full strength); off: plain feathered paste")
    skin_only: bool = field(True, "above the brows and at the jaw edge, replace only the live face's own skin (live hair, a fringe and background stay); warp68 never carries the target's hair either way")
    keep_mouth: bool = field(True, "keep the live mouth interior (teeth, tongue) when the mouth is open (fading in as the lips part from 4 to 8 percent of the face size; a smile with the lips just parted keeps the target's mouth)")
    keep_eyes: bool = field(False, "keep the live eyes with their lids (blinks and gaze read live); off: the target's eyes, which carry much of its likeness")
    occlusion_model: OcclusionModel = field("", "occlusion mask model (xseg_1); empty = none")
    region_model: RegionModel = field("", "face-region mask model (bisenet_resnet_18); empty = none")
    enhancer_model: EnhancerModel = field("", "face enhancer model (gfpgan_1.4); empty = none")
    enhancer_blend: float = field(0.8, "share of the enhanced face kept", minimum=0.0, maximum=1.0)
    label: LabelSection = field(LabelSection(), "AI-generated label")


@dataclass
class PipelineSection:
    overlap: bool = field(True, "detect faces on the next frame while this one is swapped (two processing threads)")
    queue_frames: int = field(3, "frames waiting for processing before the oldest is dropped (counted); small keeps latency low", minimum=1, maximum=16)
    drop_late: bool = field(True, "skip a waiting frame (counted, its sound kept) once it is a frame interval old and a newer one waits: latency stays within a frame of the processing time; off: queue_frames absorb bursts at the cost of delay")


@dataclass
class TelemetrySection:
    host: str = field("127.0.0.1", "address of the local HTTP API (/healthz, /status, /metrics, /command); another address needs a token")
    port: int = field(8765, "port of the local HTTP API; 0 = off", minimum=0, maximum=65535)
    token: Secret | None = field(None, "bearer token every HTTP API command needs, e.g. ${FACEBRIDGE_TOKEN} (16+ characters); empty = this user's own, made once (`facebridge token` prints it); required when host is not loopback", secret=True)
    log_json: bool = field(False, "write logs as one JSON object per line (as --log-json does)")


@dataclass
class ObsSection:
    enabled: bool = field(False, "drive OBS over obs-websocket (place the bridge's NDI source, listen for hotkeys)")
    host: str = field("127.0.0.1", "obs-websocket host")
    port: int = field(4455, "obs-websocket port", minimum=1, maximum=65535)
    password: Secret | None = field(None, "obs-websocket password, from the environment: ${OBS_WEBSOCKET_PASSWORD}", secret=True)
    source_name: str = field("facebridge", "name of the OBS input that shows the bridge's output")
    scenes: list[str] = field([], "scenes the bridge's source is placed in")
    ndi_latency: int = field(1, "DistroAV latency mode of the placed source: 0 normal, 1 low, 2 lowest", minimum=0, maximum=2)
    camera_source: str = field("", "OBS source (camera input or a scene holding only the camera) whose faces are swapped; set = on connect the bridge adds DistroAV's NDI Filter to it, hides the raw camera on program (fail closed), places its own source over it and receives from it (input.ndi_source may stay empty); `facebridge obs unwire` removes it all")
    sync_audio_inputs: list[str] = field([], "OBS audio inputs (e.g. the microphone) whose audio sync offset follows the swapped picture's measured delay; original offsets come back on unwire or when an input is removed from this list")
    sync_min_interval_s: float = field(5.0, "least seconds between two audio offset changes (a change comes only when the delay moved by more than a frame)", minimum=1.0)


@dataclass
class Profile:
    input: InputSection = field(InputSection(), "where the picture comes from")
    output: OutputSection = field(OutputSection(), "where the result goes")
    models: ModelsSection = field(ModelsSection(), "model files and how to run them")
    analysis: AnalysisSection = field(AnalysisSection(), "finding faces")
    tracking: TrackingSection = field(TrackingSection(), "following each person with a stable id")
    targets: list[TargetEntry] = field([], "faces to swap in; the first is the active target at start")
    mapping: MappingSection = field(MappingSection(), "which face gets which target")
    swap: SwapSection = field(SwapSection(), "swapping")
    compose: ComposeSection = field(ComposeSection(), "pasting the swapped face back")
    target_cache: Path | None = field(None, "folder where prepared targets are cached; empty = .cache/targets in this checkout (installed elsewhere: the user's cache folder)", path="dir")
    pipeline: PipelineSection = field(PipelineSection(), "queues and threads")
    telemetry: TelemetrySection = field(TelemetrySection(), "status, health and metrics")
    obs: ObsSection = field(ObsSection(), "OBS Studio control")

    @property
    def models_dir(self) -> Path:
        return self.models.dir or HERE.models

    @property
    def target_cache_dir(self) -> Path:
        return self.target_cache or HERE.target_cache


class ProfileError(Exception):
    """Every problem of one profile file, one line each: `file: key.path: message`."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


def load_profile(path: str | Path, env: dict[str, str] | None = None) -> Profile:
    """Read, parse and validate a profile; raise ProfileError listing every problem."""
    path = Path(path)
    shown = str(path)
    try:
        if path.stat().st_size > MAX_PROFILE_BYTES:
            raise ProfileError(shown, [f"file is larger than {MAX_PROFILE_BYTES // 1024} KiB; is it really a profile?"])
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(shown, ["file not found (pass --profile with a path to a .yaml file, e.g. profiles/demo.yaml)"]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ProfileError(shown, [f"cannot read: {error}"]) from None
    return parse_profile(text, shown, path.parent.resolve(), env)


def parse_profile(text: str, source: str, base_dir: Path, env: dict[str, str] | None = None) -> Profile:
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = " ".join(str(getattr(error, "problem", None) or error).split())  # one line, whatever PyYAML says
        raise ProfileError(source, [f"{where}not valid YAML: {problem}"]) from None
    except RecursionError:
        raise ProfileError(source, ["not valid YAML: nested too deeply"]) from None
    profile, problems = check(Profile, data, base_dir, env)
    if not problems:
        _resolve_media_paths(profile, base_dir)
    problems_text = [f"{p.path}: {p.message}" for p in problems]
    problems_text += [f"{key}: {message}" for key, message in _cross_checks(profile)] if not problems else []
    if problems_text:
        raise ProfileError(source, problems_text)
    return profile


def _resolve_media_paths(profile: Profile, base_dir: Path) -> None:
    """A relative input.url file or output.record path is relative to the profile's folder, as other paths are."""
    url = profile.input.url
    if url and "://" not in url and url.split(":", 1)[0].lower() not in ("v4l2", "dshow", "avfoundation") \
            and not Path(url).expanduser().is_absolute():
        profile.input.url = str(base_dir / url)
    record = profile.output.record
    if record and not Path(record).expanduser().is_absolute():
        profile.output.record = str(base_dir / record)


def _cross_checks(profile: Profile) -> list[tuple[str, str]]:
    found = []
    names = [t.name for t in profile.targets]
    for i, target in enumerate(profile.targets):
        if not target.name:
            found.append((f"targets[{i}].name", "every target needs a name"))
        if not target.images:
            found.append((f"targets[{i}].images", f"target {target.name!r} needs at least one image"))
        if names.count(target.name) > 1 and names.index(target.name) != i:
            found.append((f"targets[{i}].name", f"target {target.name!r} is listed twice"))
    referenced = [("mapping.fixed_target", profile.mapping.fixed_target)]
    referenced += [(f"mapping.pool[{i}]", t) for i, t in enumerate(profile.mapping.pool)]
    referenced += [(f"mapping.people[{i}].target", p.target) for i, p in enumerate(profile.mapping.people)]
    referenced += [(f"mapping.scenes.{scene}.{key}", getattr(m, key)) for scene, m in profile.mapping.scenes.items()
                   for key in ("fixed_target", "active_target")]
    for key, name in referenced:
        if name and name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f", did you mean {close[0]!r}?" if close else f" (targets: {', '.join(names) or 'none'})"
            found.append((key, f"no target named {name!r}{hint}"))
    if profile.mapping.unknown == "fixed" and not profile.mapping.fixed_target:
        found.append(("mapping.fixed_target", "unknown is fixed: name the target unknown faces get"))
    if len(profile.analysis.tiles) != 2 or min(profile.analysis.tiles, default=0) < 1:
        found.append(("analysis.tiles", f"expected two numbers ≥ 1 (columns, rows), got {profile.analysis.tiles}"))
    if len(profile.compose.mask_padding) != 4:
        found.append(("compose.mask_padding", "expected four numbers: top, right, bottom, left"))
    if isinstance(profile.analysis.detect_every, int) and profile.analysis.detect_every < 1:
        found.append(("analysis.detect_every", "expected 1 or more, or auto"))
    if profile.input.ndi_source and program_output_sender(profile.input.ndi_source):
        found.append(("input.ndi_source", f"{profile.input.ndi_source!r} is OBS's program output over NDI, which holds the "
                                          "bridge's own picture (a feedback loop): set obs.camera_source instead"))
    if profile.input.url and profile.input.ndi_source:
        found.append(("input.url", "set either input.url or input.ndi_source, not both"))
    if profile.output.record and not profile.output.record.lower().endswith((".mkv", ".mp4")):
        found.append(("output.record", f"{profile.output.record!r}: record to a .mkv or .mp4 file"))
    if profile.telemetry.host not in ("127.0.0.1", "localhost", "::1") and not profile.telemetry.token:
        found.append(("telemetry.token", f"the HTTP API on {profile.telemetry.host} is reachable from other machines: "
                                         "set a token (e.g. ${FACEBRIDGE_TOKEN}) or use host 127.0.0.1"))
    if profile.telemetry.token and (problem := token_problem(profile.telemetry.token)):
        found.append(("telemetry.token", f"{problem} (or leave it out: the bridge makes one, `facebridge token`)"))
    return found


def example_yaml() -> str:
    header = [
        "# facebridge profile: every key, its default and what it does.",
        "# Copy this file per show. ${NAME} takes a value from the environment (use it for secrets).",
        "# Relative paths are relative to this file's folder.",
        "",
    ]
    return "\n".join(header + render_example(Profile)) + "\n"
