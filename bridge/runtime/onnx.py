"""The one place that builds onnxruntime sessions (execution providers, fallbacks).

A profile names providers in order of preference (`tensorrt`, `cuda`, `directml`, `coreml`,
`cpu`). onnxruntime-gpu *lists* CUDA and TensorRT as available even on a machine without the
CUDA libraries, then prints a screen of errors and quietly runs on the CPU. Here each
requested provider is probed first (its shared library is loaded, so the missing dependency
can be named), the session is created with onnxruntime's own logging captured, and the
providers the session really got are checked. What the user sees is one line:

    onnx: running on cpu; cuda unavailable: libcublasLt.so.13 not found (install CUDA 13 / cuDNN 9)
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Literal, Sequence

import numpy as np
import onnxruntime as ort

log = logging.getLogger("bridge.runtime.onnx")

ProviderName = Literal["tensorrt", "cuda", "directml", "coreml", "cpu"]
IoBinding = Literal["auto", "on", "off"]

ORT_NAMES: dict[str, str] = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "directml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
SHORT_NAMES = {v: k for k, v in ORT_NAMES.items()}

# Providers that run on device memory, and onnxruntime's name for that device (IO binding).
_DEVICE_MEMORY = {"tensorrt": "cuda", "cuda": "cuda"}

# The shared library onnxruntime loads for a provider (Linux / Windows spellings).
_PROVIDER_LIBRARIES = {
    "cuda": ("libonnxruntime_providers_cuda.so", "onnxruntime_providers_cuda.dll"),
    "tensorrt": ("libonnxruntime_providers_tensorrt.so", "onnxruntime_providers_tensorrt.dll"),
}

# A graph with one Identity node (input x, output y, float[1]): enough to prove a provider
# can create a session, without shipping or downloading a model.
_PROBE_MODEL = base64.b64decode(
    "CAg6OwoQCgF4EgF5IghJZGVudGl0eRIFcHJvYmVaDwoBeBIKCggIARIECgIIAWIPCgF5EgoKCAgBEgQKAggBQgQKABAN")


class ProviderError(RuntimeError):
    """No requested provider could run a model (one readable line)."""


@dataclass(frozen=True)
class SessionConfig:
    """How sessions are built; the profile's `models` section maps onto this.

    providers: preference order; the first that really works is used (cpu is always the last resort).
    device_id: GPU index for tensorrt / cuda / directml.
    fp16: let TensorRT build half-precision engines (CUDA runs the model's own precision;
        pick an fp16 model file for that).
    trt_cache_dir: where TensorRT keeps built engines so the next start skips the build.
    intra_op_threads / inter_op_threads: 0 lets onnxruntime choose.
    io_binding: run through onnxruntime IO binding; auto = only on cuda / tensorrt (on the CPU
        it buys nothing; "on" there exercises the same code, for tests).
    """

    providers: tuple[str, ...] = ("cpu",)
    device_id: int = 0
    fp16: bool = False
    trt_cache_dir: str | None = None
    intra_op_threads: int = 0
    inter_op_threads: int = 0
    io_binding: IoBinding = "auto"

    def __post_init__(self) -> None:
        unknown = [p for p in self.providers if p not in ORT_NAMES]
        if unknown:
            raise ProviderError(f"unknown execution provider {unknown[0]!r}; choose from {', '.join(ORT_NAMES)}")
        if self.io_binding not in ("auto", "on", "off"):
            raise ProviderError(f"unknown io_binding {self.io_binding!r}; choose from auto, on, off")


class _Binding:
    """Runs a session through onnxruntime IO binding.

    Why: on CUDA / TensorRT a plain `run` allocates a device buffer for every input and copies
    into it, every frame. Here each input keeps one buffer on the device, overwritten in place
    while its shape and dtype stay the same (one frame size, one batch: the usual case), and
    outputs are copied to the host once. The buffers are onnxruntime's own, never the caller's
    arrays (on the CPU device a value made from an array would share its memory, and the next
    frame's update would overwrite the caller's previous input).
    """

    def __init__(self, inner: ort.InferenceSession, device: str, device_id: int) -> None:
        self.inner = inner
        self.device = device
        self.device_id = device_id
        self.io = inner.io_binding()
        self.inputs: dict[str, ort.OrtValue] = {}
        self.layouts: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
        self.output_names = [o.name for o in inner.get_outputs()]
        self.lock = threading.Lock()

    def run(self, outputs: list[str] | None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        if feeds.keys() != self.inputs.keys():
            self.io.clear_binding_inputs()
            self.inputs.clear()
            self.layouts.clear()
        for name, array in feeds.items():
            layout = (array.shape, array.dtype)
            if self.layouts.get(name) != layout:
                value = ort.OrtValue.ortvalue_from_shape_and_type(array.shape, array.dtype.type, self.device,
                                                                  self.device_id)
                self.io.bind_ortvalue_input(name, value)
                self.inputs[name], self.layouts[name] = value, layout
            self.inputs[name].update_inplace(array)
        # Outputs are rebound unallocated every call, so onnxruntime allocates each at the shape
        # this run computes (from its arena): a kept output must match that shape exactly, which
        # fails on a new batch size or an output whose shape depends on the data.
        self.io.clear_binding_outputs()
        for name in outputs or self.output_names:
            self.io.bind_output(name, self.device, self.device_id)
        self.inner.run_with_iobinding(self.io)
        return self.io.copy_outputs_to_cpu()


@dataclass
class Session:
    """An onnxruntime session and the provider it really runs on."""

    inner: ort.InferenceSession
    path: Path
    provider: str  # short name of the provider actually running the graph
    fallback_reasons: dict[str, str] = field(default_factory=dict)  # requested provider → why not used
    binding: _Binding | None = None  # None: plain `run` (the CPU default, or after binding failed)

    def run(self, outputs: list[str] | None, feeds: dict[str, Any]) -> list[Any]:
        binding = self.binding
        # The bound buffers serve one call at a time; a second thread running this session
        # meanwhile (a target reload) takes the plain path rather than wait.
        if binding is not None and binding.lock.acquire(blocking=False):
            try:
                if self.binding is binding:
                    return binding.run(outputs, feeds)
            except Exception as error:  # onnxruntime raises its own exception types
                # The live output must keep running: this session goes on without binding.
                self.binding = None
                log.warning("onnx: %s: IO binding failed on %s; running without it: %s",
                            self.path.name, self.provider, _first_line(error))
            finally:
                binding.lock.release()
        return self.inner.run(outputs, feeds)

    def get_inputs(self) -> list[Any]:
        return self.inner.get_inputs()

    def get_outputs(self) -> list[Any]:
        return self.inner.get_outputs()


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else type(error).__name__


def _provider_library(provider: str) -> Path | None:
    names = _PROVIDER_LIBRARIES.get(provider)
    if not names:
        return None
    capi = Path(ort.__file__).parent / "capi"
    for name in names:
        if (capi / name).exists():
            return capi / name
    return None


def _missing_libraries(library: Path) -> list[str]:
    """Dependencies of `library` the dynamic loader cannot find (Linux: ldd; else empty)."""
    if not sys.platform.startswith("linux") or shutil.which("ldd") is None:
        return []
    try:
        out = subprocess.run(["ldd", str(library)], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.split("=>")[0].strip() for line in out.splitlines() if "not found" in line]


def _hint(missing: Sequence[str]) -> str:
    parts = []
    if any(name.startswith("libcuda.so") or name == "nvcuda.dll" for name in missing):
        parts.append("no NVIDIA driver")
    versions = {}
    for name in missing:
        for prefix, label in (("libcublas", "CUDA"), ("libcudart", "CUDA"), ("libcurand", "CUDA"),
                              ("libcufft", "CUDA"), ("libcudnn", "cuDNN"), ("libnvinfer", "TensorRT")):
            match = re.match(re.escape(prefix) + r"\w*\.so\.(\d+)", name)
            if match and label not in versions:
                versions[label] = f"{label} {match.group(1)}"
    if versions:
        parts.append("install " + " / ".join(versions.values()))
    return "; ".join(parts) or "install the CUDA libraries onnxruntime-gpu was built for"


@lru_cache(maxsize=None)
def probe(provider: str) -> str | None:
    """Why `provider` cannot run here (one phrase), or None when it looks loadable.

    Cached: the answer depends only on the installed libraries, which do not change while
    the process runs.
    """
    ort_name = ORT_NAMES[provider]
    if ort_name not in ort.get_available_providers():
        package = {"directml": "onnxruntime-directml", "coreml": "onnxruntime on macOS",
                   "cuda": "onnxruntime-gpu", "tensorrt": "onnxruntime-gpu"}.get(provider, "onnxruntime")
        return f"not in this onnxruntime build (needs {package})"
    library = _provider_library(provider)
    if library is not None:
        try:
            ctypes.CDLL(str(library))
        except OSError as error:
            missing = _missing_libraries(library)
            if not missing:
                first = re.match(r"([^:\s]+): cannot open", str(error))
                missing = [first.group(1)] if first else []
            if missing:
                return f"{', '.join(missing)} not found ({_hint(missing)})"
            return f"cannot load {library.name}: {error}"
    return None


@contextlib.contextmanager
def _captured_stderr() -> Iterator[list[str]]:
    """Swallow what the C++ runtime prints to fd 2 and hand it back as text."""
    lines: list[str] = []
    try:
        saved = os.dup(2)
    except OSError:  # no real stderr (embedded interpreter)
        yield lines
        return
    with tempfile.TemporaryFile(mode="w+b") as sink:
        sys.stderr.flush()
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.extend(sink.read().decode("utf-8", "replace").splitlines())


def _reason_from_log(lines: list[str]) -> str:
    text = "\n".join(lines)
    missing = re.findall(r"(lib[\w.+-]+\.so[\w.]*|[\w.-]+\.dll)[^\n]*?(?:cannot open|not found|could not be found)", text)
    missing = [m for m in dict.fromkeys(missing) if "onnxruntime" not in m]
    if missing:
        return f"{', '.join(missing)} not found ({_hint(missing)})"
    errors = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in lines if "[E:" in line or "Failed" in line]
    if errors:
        return errors[-1].split("]")[-1].strip()[:200] or "failed to initialise"
    return "failed to initialise (no GPU visible?)"


def _provider_options(provider: str, config: SessionConfig) -> dict[str, Any]:
    if provider == "tensorrt":
        options: dict[str, Any] = {"device_id": config.device_id, "trt_fp16_enable": config.fp16}
        if config.trt_cache_dir:
            Path(config.trt_cache_dir).mkdir(parents=True, exist_ok=True)
            options.update(trt_engine_cache_enable=True, trt_engine_cache_path=str(config.trt_cache_dir),
                           trt_timing_cache_enable=True, trt_timing_cache_path=str(config.trt_cache_dir))
        return options
    if provider == "cuda":
        return {"device_id": config.device_id, "cudnn_conv_algo_search": "DEFAULT"}
    if provider == "directml":
        return {"device_id": config.device_id}
    return {}


def _session_options(config: SessionConfig) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only; anything printed is captured anyway
    options.intra_op_num_threads = config.intra_op_threads
    options.inter_op_num_threads = config.inter_op_threads
    # onnxruntime's worker threads spin between runs by default, each holding a core: the
    # pipeline's analyse and swap threads both run models, and on a CPU-only machine the spinners
    # took the cores the other thread needed (720p, 4 faces, CPU demo profile: 81-103 -> 31 ms of
    # process CPU a frame, the thread count left to onnxruntime; `facebridge bench` dropped frames)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


class SessionFactory:
    """Builds every session of a run from one `SessionConfig`; says once per run what fell back."""

    def __init__(self, config: SessionConfig | None = None) -> None:
        self.config = config or SessionConfig()
        self._reported: set[tuple[str, str]] = set()

    def create(self, model: str | Path | bytes, name: str | None = None) -> Session:
        """A session on the first requested provider that really works; falls back with one line."""
        label = name or (Path(model).name if not isinstance(model, bytes) else "model")
        path = Path(model) if not isinstance(model, bytes) else Path(label)
        requested = list(dict.fromkeys([*self.config.providers, "cpu"]))
        reasons: dict[str, str] = {}
        candidates = []
        for provider in requested:
            why = probe(provider)
            if why is None:
                candidates.append(provider)
            else:
                reasons[provider] = why
        chain = [(ORT_NAMES[p], _provider_options(p, self.config)) for p in candidates]
        source = model if isinstance(model, bytes) else str(model)
        with _captured_stderr() as captured:
            try:
                inner = ort.InferenceSession(source, _session_options(self.config), providers=chain)
            except Exception as error:  # onnxruntime raises its own exception types
                raise ProviderError(f"{label}: onnxruntime cannot load it: {_first_line(error)}") from None
        active = [SHORT_NAMES.get(p, p) for p in inner.get_providers()]
        provider = active[0] if active else "cpu"
        # Providers ahead of the active one were requested, passed the probe, and still failed.
        for candidate in candidates:
            if candidate == provider:
                break
            reasons.setdefault(candidate, _reason_from_log(captured))
        session = Session(inner=inner, path=path, provider=provider, fallback_reasons=reasons,
                          binding=self._binding(inner, provider))
        self._report(session, requested)
        return session

    def _binding(self, inner: ort.InferenceSession, provider: str) -> _Binding | None:
        """IO binding where the session really runs on device memory, or where the profile asks."""
        mode = self.config.io_binding
        if mode == "off" or (mode == "auto" and provider not in _DEVICE_MEMORY):
            return None
        if provider in _DEVICE_MEMORY:
            return _Binding(inner, _DEVICE_MEMORY[provider], self.config.device_id)
        return _Binding(inner, "cpu", 0)

    def _report(self, session: Session, requested: list[str]) -> None:
        wanted = requested[0]
        if session.provider == wanted:
            log.debug("onnx: %s on %s", session.path.name, session.provider)
            return
        skipped = [p for p in requested[: requested.index(session.provider)] if p in session.fallback_reasons]
        key = (session.provider, ",".join(skipped))
        if key in self._reported:
            return
        self._reported.add(key)
        why = "; ".join(f"{p} unavailable: {session.fallback_reasons[p]}" for p in skipped)
        log.warning("onnx: running on %s; %s", session.provider, why)


def working_providers(candidates: Sequence[str] | None = None) -> list[str]:
    """Providers that really create a session on this machine (short names, best first)."""
    names = list(candidates) if candidates else [p for p in ORT_NAMES if ORT_NAMES[p] in ort.get_available_providers()]
    working = []
    for provider in names:
        if probe(provider) is not None:
            continue
        options = _session_options(SessionConfig())
        with _captured_stderr():
            try:
                inner = ort.InferenceSession(_PROBE_MODEL, options, providers=[ORT_NAMES[provider]])
            except Exception:  # onnxruntime raises its own exception types
                continue
        if inner.get_providers() and SHORT_NAMES.get(inner.get_providers()[0]) == provider:
            working.append(provider)
    return working


def provider_report() -> list[tuple[str, bool, str]]:
    """(provider, works, reason) for every provider onnxruntime knows, for `facebridge check`."""
    working = set(working_providers())
    rows = []
    for provider in ORT_NAMES:
        if provider in working:
            rows.append((provider, True, "works"))
        else:
            rows.append((provider, False, probe(provider) or "failed to create a session"))
    return rows
