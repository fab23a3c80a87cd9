"""Per-show profiles: the YAML schema, its defaults and its validation.

One file per show holds everything. The dataclasses below *are* the schema: loading
checks a file against them and reports every problem at once; `profiles/example.yaml`
is rendered from them (`facebridge profile-example`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from bridge.schema import Secret, check, field, render_example

REPO_ROOT = Path(__file__).resolve().parents[1]
MAX_PROFILE_BYTES = 1 << 20

Provider = Literal["tensorrt", "cuda", "directml", "coreml", "cpu"]


@dataclass
class InputSection:
    ndi_source: str = field("", "NDI source to receive: its exact name or a unique part of it, e.g. 'OBS (Camera)'")
    extra_ips: list[str] = field([], "IP addresses to look for NDI sources on besides discovery (other subnets)")
    color_format: Literal["uyvy", "bgra"] = field("uyvy", "pixel format asked of NDI: uyvy is the cheapest, bgra if your sender has alpha")
    on_loss: Literal["hold", "slate", "black"] = field("hold", "what the output shows while the input is gone: the last frame, a slate, or black")
    loss_after_ms: int = field(250, "input silence (ms) after which the output starts holding at its own frame rate", minimum=50)
    wait_log_s: float = field(5.0, "while waiting for the source, say every this many seconds which sources are visible", minimum=0.5)


@dataclass
class OutputSection:
    ndi_name: str = field("facebridge", "name of the NDI source the bridge sends (OBS sees 'HOST (name)')")
    groups: str = field("", "NDI groups to send in, comma-separated; empty = the default group")


@dataclass
class ModelsSection:
    dir: Path | None = field(None, "folder of the model files; empty = the models/ folder of this checkout", path="dir")
    providers: list[Provider] = field(["cuda", "cpu"], "execution providers to try in order; the first that loads is used")
    device_id: int = field(0, "GPU index for cuda/tensorrt/directml", minimum=0)
    fp16: bool = field(False, "half precision where the provider supports it (TensorRT)")
    tensorrt_cache: Path | None = field(None, "folder for TensorRT engine caches; empty = models/trt-cache", path="dir")
    threads: int = field(0, "CPU threads per model session; 0 = onnxruntime's choice", minimum=0)


@dataclass
class PipelineSection:
    queue_frames: int = field(3, "frames waiting for processing before the oldest is dropped (counted); small keeps latency low", minimum=1, maximum=16)


@dataclass
class TelemetrySection:
    host: str = field("127.0.0.1", "address of the local HTTP API (/healthz, /status, /metrics, /command); another address needs a token")
    port: int = field(8765, "port of the local HTTP API; 0 = off", minimum=0, maximum=65535)
    token: Secret | None = field(None, "bearer token for the HTTP API, e.g. ${FACEBRIDGE_TOKEN}; required when host is not loopback", secret=True)
    log_json: bool = field(False, "write logs as one JSON object per line")


@dataclass
class ObsSection:
    enabled: bool = field(False, "drive OBS over obs-websocket (place the bridge's NDI source, listen for hotkeys)")
    host: str = field("127.0.0.1", "obs-websocket host")
    port: int = field(4455, "obs-websocket port", minimum=1, maximum=65535)
    password: Secret | None = field(None, "obs-websocket password, from the environment: ${OBS_WEBSOCKET_PASSWORD}", secret=True)
    source_name: str = field("facebridge", "name of the OBS input that shows the bridge's output")
    scenes: list[str] = field([], "scenes the bridge's source is placed in")


@dataclass
class Profile:
    input: InputSection = field(InputSection(), "where the picture comes from")
    output: OutputSection = field(OutputSection(), "where the result goes")
    models: ModelsSection = field(ModelsSection(), "model files and how to run them")
    pipeline: PipelineSection = field(PipelineSection(), "queues and threads")
    telemetry: TelemetrySection = field(TelemetrySection(), "status, health and metrics")
    obs: ObsSection = field(ObsSection(), "OBS Studio control")

    @property
    def models_dir(self) -> Path:
        return self.models.dir or REPO_ROOT / "models"


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
        raise ProfileError(source, [f"{where}not valid YAML: {getattr(error, 'problem', error)}"]) from None
    profile, problems = check(Profile, data, base_dir, env)
    problems_text = [f"{p.path}: {p.message}" for p in problems]
    problems_text += [f"{key}: {message}" for key, message in _cross_checks(profile)] if not problems else []
    if problems_text:
        raise ProfileError(source, problems_text)
    return profile


def _cross_checks(profile: Profile) -> list[tuple[str, str]]:
    found = []
    if profile.telemetry.host not in ("127.0.0.1", "localhost", "::1") and not profile.telemetry.token:
        found.append(("telemetry.token", f"the HTTP API on {profile.telemetry.host} is reachable from other machines: "
                                         "set a token (e.g. ${FACEBRIDGE_TOKEN}) or use host 127.0.0.1"))
    return found


def example_yaml() -> str:
    header = [
        "# facebridge profile: every key, its default and what it does.",
        "# Copy this file per show. ${NAME} takes a value from the environment (use it for secrets).",
        "# Relative paths are relative to this file's folder.",
        "",
    ]
    return "\n".join(header + render_example(Profile)) + "\n"
