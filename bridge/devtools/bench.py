"""The bridge's own benchmark: per-stage milliseconds, receive→send latency, throughput, CPU and memory.

Runs the face stage of a profile (the CPU demo profile by default) on the demo scene
(real faces moving) at each size and face count, four ways:

- naive: detect → landmarks → embed every face → swap → paste, one frame at a time, no tracking;
- sequential: the pipeline with one processing thread, fed at the source's frame rate;
- overlap: the pipeline with analyse and swap threads overlapping frames, fed at the frame rate;
- saturated: the overlapped pipeline fed as fast as it takes frames (its throughput);

and, with `loopback`, the overlapped pipeline between real NDI peers (demo source in a
subprocess → receiver → pipeline → sender → a receiver that counts what arrives).
Writes bench.json and bench.png (matplotlib, Agg) into `out`.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bridge.io.demo_source import DemoScene
from bridge.pipeline import Pipeline
from bridge.runtime.places import HERE
from bridge.facestage.stage import FaceStage
from bridge.facestage.swapping import FaceToSwap
from bridge.types import Frame

log = logging.getLogger(__name__)

DEMO_PROFILE = HERE.demo_profile or Path("profiles/demo.yaml")  # outside a clone: pass --profile
# Steps that run a model (or, for warp68, the swap itself); the rest is the bridge's own overhead.
INFERENCE_STEPS = ("detect", "landmarks", "embed", "swap")
STEPS = ("receive_convert", "detect", "landmarks", "embed", "track", "swap", "compose", "send")
LOOPBACK_CONFIG = '{"ndi":{"networks":{"ips":"127.0.0.1","discovery":""},"multicast":{"send":{"enable":false},"recv":{"enable":false}}}}'


class BenchError(RuntimeError):
    """The benchmark cannot run here (one readable line)."""


@dataclass
class BenchConfig:
    sizes: list[tuple[int, int]] = field(default_factory=lambda: [(1280, 720), (1920, 1080)])
    faces: list[int] = field(default_factory=lambda: [1, 2, 4])
    fps: float = 30.0
    seconds: float = 8.0  # per paced run
    naive_frames: int = 30
    unique_frames: int = 30  # pre-rendered, played forwards then backwards so motion stays smooth
    loopback: bool = True
    loopback_cases: list[tuple[tuple[int, int], int]] | None = None  # None: every size × faces
    neural: bool = False
    profile: Path = DEMO_PROFILE
    out: Path = HERE.results

    @classmethod
    def quick(cls) -> BenchConfig:
        return cls(sizes=[(1280, 720)], faces=[1, 4], seconds=4.0, naive_frames=15,
                   loopback_cases=[((1280, 720), 4)])


def bench_config(quick: bool = False, out: Path | None = None, seconds: float | None = None, no_loopback: bool = False,
                 neural: bool = False, profile: Path | None = None) -> BenchConfig:
    """The configuration `bench`'s options describe (bridge.cli.add_bench_options)."""
    config = BenchConfig.quick() if quick else BenchConfig()
    if out is not None:
        config.out = out
    if seconds is not None:
        config.seconds = seconds
    if profile is not None:
        config.profile = Path(profile)
    config.loopback = not no_loopback
    config.neural = neural
    return config


# -- instrumentation --------------------------------------------------------------------------------
class StepClock:
    """Milliseconds per step, summed across threads, by wrapping the stage's parts in place."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def reset(self) -> None:
        with self._lock:
            self.total.clear()
            self.calls.clear()

    def add(self, step: str, ms: float) -> None:
        with self._lock:
            self.total[step] += ms
            self.calls[step] += 1

    def wrap(self, owner: object, method: str, step: str) -> None:
        inner = getattr(owner, method)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.add(step, (time.perf_counter() - started) * 1e3)

        setattr(owner, method, timed)

    def per_frame(self, frames: int) -> dict[str, float]:
        """Mean ms per frame for each step of STEPS (track and swap without what they call inside)."""
        with self._lock:
            t = dict(self.total)
        frames = max(1, frames)
        out = {step: t.get(step, 0.0) / frames for step in STEPS}
        out["track"] = max(0.0, t.get("track_total", 0.0) - t.get("embed", 0.0)) / frames
        out["swap"] = max(0.0, t.get("swap_total", 0.0) - t.get("compose", 0.0)) / frames
        return {k: round(v, 3) for k, v in out.items()}


def instrument(stage: FaceStage, clock: StepClock) -> None:
    clock.wrap(stage.detector, "detect", "detect")
    clock.wrap(stage.landmarker, "landmark", "landmarks")
    if stage.tracker.embed is not None:
        clock.wrap(stage.tracker, "embed", "embed")
    clock.wrap(stage.tracker, "update", "track_total")
    clock.wrap(stage.swapping, "swap_faces", "swap_total")
    clock.wrap(stage.swapping.compose, "paste_face", "compose")
    clock.wrap(stage.swapping.compose, "finish", "compose")


class ProcessMeter:
    """CPU% (of one core) and RSS of this process over a run."""

    def __init__(self) -> None:
        self._wall = time.monotonic()
        self._cpu = time.process_time()

    def read(self) -> dict[str, float]:
        wall, cpu = time.monotonic() - self._wall, time.process_time() - self._cpu
        return {"cpu_percent": round(100 * cpu / max(wall, 1e-6), 1), "rss_mb": round(rss_mb(), 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process (this one by default), in MB; this process's peak if /proc is missing."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if pid == "self" else 0.0


def latency_summary(values_s: list[float]) -> dict[str, float]:
    if not values_s:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0}
    p50, p95, p99 = np.percentile(np.array(values_s) * 1e3, [50, 95, 99])
    return {"p50_ms": round(float(p50), 2), "p95_ms": round(float(p95), 2), "p99_ms": round(float(p99), 2)}


# -- synthetic source and sink ----------------------------------------------------------------------
class SceneFrames:
    """The demo scene pre-rendered, played forwards then backwards (a copy per frame: the stage swaps in place)."""

    def __init__(self, width: int, height: int, faces: int, count: int, fps: float, group_photo: np.ndarray):
        scene = DemoScene(width, height, faces, group_photo)
        self.pictures = [scene.render(i, fps) for i in range(count)]
        self.order = list(range(count)) + list(range(count - 2, 0, -1)) or [0]
        self.fps = fps
        self.rate = (int(round(fps * 1000)), 1000)

    def frame(self, index: int) -> Frame:
        picture = self.pictures[self.order[index % len(self.order)]].copy()
        return Frame(image=picture, sequence=index, timecode=int(index * 1e7 / self.fps), frame_rate=self.rate,
                     received_at=time.monotonic())


class SceneSource:
    """A FrameSource at the scene's frame rate, or (with `ready`) whenever the pipeline has room."""

    def __init__(self, frames: SceneFrames, ready: Callable[[], bool] | None = None):
        self.frames, self.ready = frames, ready
        self.index = 0
        self.started = 0.0

    def capture(self, timeout_s: float = 0.1) -> Frame | None:
        if self.ready is not None:
            deadline = time.monotonic() + timeout_s
            while not self.ready():
                if time.monotonic() > deadline:
                    return None
                time.sleep(0.001)
        else:
            if not self.started:
                self.started = time.monotonic()
            delay = self.started + self.index / self.frames.fps - time.monotonic()
            if delay > timeout_s:
                time.sleep(timeout_s)
                return None
            if delay > 0:
                time.sleep(delay)
        frame = self.frames.frame(self.index)
        self.index += 1
        return frame


class MeasuringSink:
    """Wraps a sink (or none): send time and receive→send latency of every fresh frame."""

    def __init__(self, clock: StepClock, inner: Any = None):
        self.clock, self.inner = clock, inner
        self.latencies: list[float] = []
        self.sent = 0
        self.first_at = self.last_at = 0.0

    def send(self, frame: Frame) -> None:
        started = time.perf_counter()
        if self.inner is not None:
            self.inner.send(frame)
        now = time.monotonic()
        if frame.held:
            return
        self.clock.add("send", (time.perf_counter() - started) * 1e3)
        self.latencies.append(now - frame.received_at)
        self.sent += 1
        self.first_at = self.first_at or now
        self.last_at = now


# -- runs --------------------------------------------------------------------------------------------
def _reset(stage: FaceStage) -> None:
    stage.tracker.reset()
    stage._index = 0  # a fresh show: detection due on the first frame


def run_naive(stage: FaceStage, frames: SceneFrames, count: int, clock: StepClock) -> dict[str, Any]:
    """The textbook loop: every face detected, landmarked, embedded and swapped on every frame."""
    target = next(iter(stage.targets.values()))
    clock.reset()
    meter = ProcessMeter()
    latencies = []
    started = time.monotonic()
    for index in range(count):
        frame = frames.frame(index)
        faces = stage.landmarker.landmark(frame.image, stage.detector.detect(frame.image))
        if faces and stage.tracker.embed is not None:
            stage.tracker.embed(frame.image, faces)  # fills face.embedding; counted as "embed"
        stage.swapping.swap_faces(frame.image, [FaceToSwap(i, face, target) for i, face in enumerate(faces)])
        latencies.append(time.monotonic() - frame.received_at)
    wall = time.monotonic() - started
    return {"mode": "naive", "frames": count, "fps": round(count / wall, 2), "steps_ms": clock.per_frame(count),
            "latency": latency_summary(latencies), **meter.read()}


def run_pipeline(stage: FaceStage, frames: SceneFrames, seconds: float, clock: StepClock, *, overlap: bool,
                 saturated: bool, queue_frames: int = 3) -> dict[str, Any]:
    _reset(stage)
    holder: dict[str, Pipeline] = {}
    source = SceneSource(frames, ready=(lambda: len(holder["p"].incoming) == 0) if saturated else None)
    sink = MeasuringSink(clock)
    pipeline = Pipeline(source, stage, sink, queue_frames=queue_frames, overlap=overlap,
                        apply_command=stage.apply)
    holder["p"] = pipeline
    clock.reset()
    meter = ProcessMeter()
    pipeline.start()
    time.sleep(seconds)
    pipeline.stop(3.0)
    return _pipeline_result("saturated" if saturated else ("overlap" if overlap else "sequential"),
                            pipeline, sink, clock, meter, stage)


def _pipeline_result(mode: str, pipeline: Pipeline, sink: MeasuringSink, clock: StepClock, meter: ProcessMeter,
                     stage: FaceStage) -> dict[str, Any]:
    c = pipeline.counters
    span = sink.last_at - sink.first_at
    return {"mode": mode, "overlap": pipeline.overlap, "frames_in": c.frames_in, "frames_out": sink.sent,
            "dropped": c.dropped, "stage_errors": c.stage_errors,
            "fps": round((sink.sent - 1) / span, 2) if span > 0 else 0.0,
            "detect_every": stage.detect_every.every, "steps_ms": clock.per_frame(sink.sent),
            "latency": latency_summary(sink.latencies), **meter.read()}


def run_loopback(stage: FaceStage, size: tuple[int, int], faces: int, fps: float, seconds: float,
                 clock: StepClock, color_format: str = "bgra") -> dict[str, Any]:
    """Demo source (its own process) → NDI → pipeline → NDI → a counting receiver, all on this machine."""
    from bridge.io import ndi

    tag = f"{os.getpid()}-{int(time.monotonic() * 1000) % 100000}"
    source_name, output_name = f"fb-bench-src-{tag}", f"fb-bench-out-{tag}"
    feeder = subprocess.Popen([sys.executable, "-m", "bridge.cli", "demo-source", "--name", source_name,
                               "--size", f"{size[0]}x{size[1]}", "--fps", str(fps), "--faces", str(faces),
                               "--seconds", str(seconds + 12)], cwd=HERE.checkout, env=os.environ.copy(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    receiver = ndi.NdiReceiver(source_name, color_format=color_format, wait_log_s=60)
    clock.wrap(receiver, "_to_frame", "receive_convert")
    sender = ndi.NdiSender(output_name)
    watcher = ndi.NdiReceiver(sender.full_name, wait_log_s=60)
    arrived: list[float] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if watcher.capture(0.1) is not None:
                arrived.append(time.monotonic())

    watching = threading.Thread(target=watch, name="bench-watch", daemon=True)
    watching.start()
    _reset(stage)
    sink = MeasuringSink(clock, sender)
    pipeline = Pipeline(receiver, stage, sink, queue_frames=3, overlap=True, apply_command=stage.apply)
    try:
        pipeline.start()
        deadline = time.monotonic() + 20
        while sink.sent < 10 and time.monotonic() < deadline:  # discovery and connection first
            time.sleep(0.05)
        if sink.sent == 0:
            raise BenchError(f"loopback: no frame came through from {source_name!r} in 20 s (is NDI allowed here?)")
        clock.reset()
        sink.latencies.clear()
        sink.sent, sink.first_at = 0, 0.0
        in_before, dropped_before, arrived_before = pipeline.counters.frames_in, pipeline.counters.dropped, len(arrived)
        meter = ProcessMeter()
        time.sleep(seconds)
        result = _pipeline_result("loopback", pipeline, sink, clock, meter, stage)
        result["frames_in"] = pipeline.counters.frames_in - in_before
        result["dropped"] = pipeline.counters.dropped - dropped_before
        result["frames_at_receiver"] = len(arrived) - arrived_before
        result["skipped_by_ndi"] = receiver.stats.skipped_frames
    finally:
        pipeline.stop(3.0)
        done.set()
        watching.join(2)
        for peer in (watcher, receiver, sender):
            peer.close()
        feeder.terminate()
        try:
            feeder.wait(5)
        except subprocess.TimeoutExpired:
            feeder.kill()
    return result


# -- the whole benchmark -----------------------------------------------------------------------------
def build_stage(profile_path: Path, neural: bool) -> tuple[FaceStage, str, str]:
    """The profile's face stage (CPU demo profile by default), its swapper's name and the pixel
    format its NDI input asks for; with `neural`,
    the swapper is the inswapper-architecture stand-in (random weights, real compute) on the GPU
    when one works, else the CPU."""
    from bridge.facestage.build import AssemblyError, build_face_stage, sessions_for
    from bridge.profile import ProfileError, load_profile
    from bridge.runtime import assets

    try:
        assets.fetch_cpu_models(HERE.models)
        assets.demo_targets()
        profile = load_profile(str(profile_path))
        stage = build_face_stage(profile)
    except (AssemblyError, ProfileError, assets.AssetError) as error:
        raise BenchError(f"{profile_path}: {error}") from None
    if neural:
        from bridge.swap.standin import inswapper_standin

        if not set(profile.models.providers) & {"tensorrt", "cuda"}:  # a CPU profile: try the GPU first
            profile.models.providers = ["tensorrt", "cuda", "cpu"]
        use_swapper(stage, inswapper_standin(HERE.cache / "standin", sessions_for(profile)))
    return stage, stage.swapping.swapper.name, profile.input.color_format


def use_swapper(stage: FaceStage, swapper: Any) -> None:
    """Swap with `swapper` from now on; each target's latent comes from its own embedding."""
    dim = swapper.emap.shape[0]
    for target in stage.targets.values():
        embedding = target.embedding
        if embedding is None or np.size(embedding) != dim:  # the CPU recogniser's size may differ
            embedding = np.random.default_rng(len(target.name)).standard_normal(dim).astype(np.float32)
        target.prepared[swapper.name] = {"latent": swapper.latent(embedding)}
    stage.swapping.swapper = swapper
    stage.provider = swapper.session.provider


def run_bench(config: BenchConfig, own_ndi_runtime: bool = True,
              report: Callable[[str], None] = print) -> dict[str, Any]:
    """Every case of `config`; writes bench.json and bench.png to `config.out` and returns the report."""
    from bridge.runtime import assets

    stage, swapper, color_format = build_stage(config.profile, config.neural)
    if config.neural and stage.provider == "cpu":  # ≈1 s per face: real compute, at a rate the CPU can follow
        config = replace(config, fps=min(config.fps, 1.0), seconds=max(config.seconds, 10.0),
                         naive_frames=min(config.naive_frames, 3), unique_frames=min(config.unique_frames, 6))
        report("neural stand-in on the CPU (no GPU here): 1 fps input, 10 s per run")
    clock = StepClock()
    instrument(stage, clock)
    group = cv2.imread(str(assets.fetch_photos()["t1.jpg"]))
    cases = []
    for width, height in config.sizes:
        for faces in config.faces:
            frames = SceneFrames(width, height, faces, config.unique_frames, config.fps, group)
            for i in range(3):  # warm-up: numba compiles, ONNX allocates
                stage.process(frames.frame(i))
            case: dict[str, Any] = {"size": [width, height], "faces": faces, "fps_in": config.fps}
            case["naive"] = run_naive(stage, frames, config.naive_frames, clock)
            report(f"{width}x{height} {faces} faces: naive {case['naive']['fps']} fps")
            for name, overlap, saturated in (("sequential", False, False), ("overlap", True, False),
                                             ("saturated", True, True)):
                case[name] = run_pipeline(stage, frames, config.seconds, clock, overlap=overlap, saturated=saturated)
                r = case[name]
                report(f"{width}x{height} {faces} faces: {name} {r['fps']} fps out, {r['dropped']} dropped, "
                       f"p95 {r['latency']['p95_ms']} ms, cpu {r['cpu_percent']}%")
            case["summary"] = summarise(case, config.fps)
            cases.append(case)
            del frames
    loopback = []
    if config.loopback:
        wanted = config.loopback_cases or [((w, h), k) for w, h in config.sizes for k in config.faces]
        with LoopbackNdi(own_ndi_runtime):
            for size, faces in wanted:
                result = run_loopback(stage, size, faces, config.fps, config.seconds, clock, color_format)
                result.update({"size": list(size), "faces": faces})
                loopback.append(result)
                report(f"loopback {size[0]}x{size[1]} {faces} faces: {result['fps']} fps out, "
                       f"{result['dropped']} dropped, p95 {result['latency']['p95_ms']} ms")
    result = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                          "python": platform.python_version()},
              "profile": str(config.profile), "swapper": swapper, "config": _config_dict(config),
              "cases": cases, "loopback": loopback}
    config.out.mkdir(parents=True, exist_ok=True)
    (config.out / "bench.json").write_text(json.dumps(result, indent=2))
    plot(result, config.out / "bench.png")
    return result


def summarise(case: dict[str, Any], fps: float) -> dict[str, Any]:
    """The questions the benchmark answers, for one case."""
    overlap, naive, saturated = case["overlap"], case["naive"], case["saturated"]
    steps = overlap["steps_ms"]
    inference = sum(steps[s] for s in INFERENCE_STEPS)
    interval = 1000 / fps
    return {
        "real_time": overlap["dropped"] == 0 and overlap["fps"] >= 0.97 * fps,
        "dropped": overlap["dropped"],
        "inference_ms": round(inference, 2),
        "overhead_ms": round(sum(v for s, v in steps.items() if s not in INFERENCE_STEPS), 2),
        "e2e_p95_ms": overlap["latency"]["p95_ms"],
        "inference_plus_interval_ms": round(inference + interval, 2),
        "throughput_fps": saturated["fps"],
        "throughput_vs_naive": round(saturated["fps"] / naive["fps"], 2) if naive["fps"] else None,
        "overlap_vs_sequential_p95": round(overlap["latency"]["p95_ms"] / case["sequential"]["latency"]["p95_ms"], 2)
        if case["sequential"]["latency"]["p95_ms"] else None,
    }


def _config_dict(config: BenchConfig) -> dict[str, Any]:
    data = asdict(config)
    data["profile"], data["out"] = str(config.profile), str(config.out)
    return data


class LoopbackNdi:
    """The NDI runtime for the loopback runs, on 127.0.0.1 only unless NDI is configured already."""

    def __init__(self, own: bool):
        self.own = own
        self._runtime: Any = None
        self._folder: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> None:
        if not self.own:
            return
        from bridge.io.ndi import NdiRuntime

        if "NDI_CONFIG_DIR" not in os.environ:
            self._folder = tempfile.TemporaryDirectory(prefix="fb-bench-ndi-")
            Path(self._folder.name, "ndi-config.v1.json").write_text(LOOPBACK_CONFIG)
            os.environ["NDI_CONFIG_DIR"] = self._folder.name
        self._runtime = NdiRuntime().__enter__()

    def __exit__(self, *exc: object) -> None:
        if self._runtime is not None:
            self._runtime.__exit__(None, None, None)
        if self._folder is not None:
            os.environ.pop("NDI_CONFIG_DIR", None)
            self._folder.cleanup()


# -- plot --------------------------------------------------------------------------------------------
def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = result["cases"]
    labels = [f"{c['size'][1]}p·{c['faces']}" for c in cases]
    x = np.arange(len(cases))
    fig, (steps_ax, fps_ax, lat_ax) = plt.subplots(1, 3, figsize=(16, 5))
    bottom = np.zeros(len(cases))
    for step in STEPS:
        values = np.array([c["overlap"]["steps_ms"][step] for c in cases])
        steps_ax.bar(x, values, 0.6, bottom=bottom, label=step)
        bottom += values
    steps_ax.set(title="ms per frame by step (overlapped pipeline)", xticks=x, xticklabels=labels, ylabel="ms")
    steps_ax.legend(fontsize=7)
    width = 0.2
    for i, (mode, name) in enumerate((("naive", "naive"), ("sequential", "pipeline, 1 thread"),
                                      ("overlap", "pipeline, overlapped"), ("saturated", "overlapped, max"))):
        fps_ax.bar(x + (i - 1.5) * width, [c[mode]["fps"] for c in cases], width, label=name)
    if cases:
        fps_ax.axhline(cases[0]["fps_in"], color="k", lw=0.8, ls="--")
    fps_ax.set(title="frames per second", xticks=x, xticklabels=labels)
    fps_ax.legend(fontsize=7)
    for i, mode in enumerate(("sequential", "overlap")):
        for j, p in enumerate(("p50_ms", "p95_ms", "p99_ms")):
            lat_ax.bar(x + (i * 3 + j - 2.5) * 0.13, [c[mode]["latency"][p] for c in cases], 0.13,
                       label=f"{mode} {p[:3]}")
    lat_ax.plot(x, [c["summary"]["inference_plus_interval_ms"] for c in cases], "k_", ms=20,
                label="inference + 1 frame")
    lat_ax.set(title="receive→send latency (ms)", xticks=x, xticklabels=labels)
    lat_ax.legend(fontsize=7)
    fig.suptitle(f"facebridge bench — {result['swapper']} on {result['machine']['cores']} cores")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
