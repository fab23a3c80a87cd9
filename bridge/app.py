"""What each sub-command does, with its exit code. `cli.py` parses arguments and calls these."""

from __future__ import annotations

import dataclasses
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path

from bridge.io import ndi
from bridge.io.demo_source import run_demo_source
from bridge.pipeline import PassThrough, Pipeline, Stage
from bridge.profile import REPO_ROOT, Profile, ProfileError, load_profile

log = logging.getLogger("facebridge")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEMO_PROFILE = REPO_ROOT / "profiles" / "demo.yaml"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"time": round(record.created, 3), "level": record.levelname.lower(),
                           "logger": record.name, "message": record.getMessage()})


def configure_logging(json_lines: bool = False, verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("obsws_python").setLevel(logging.CRITICAL)


def stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM (a second one exits at once)."""
    stop = threading.Event()

    def handler(signum: int, _frame: object) -> None:
        if stop.is_set():
            raise SystemExit(EXIT_OK)
        log.info("stopping (%s)", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def read_profile(path: str) -> Profile | None:
    try:
        return load_profile(path)
    except ProfileError as error:
        for line in str(error).splitlines():
            print(line, file=sys.stderr)
        return None


def build_stage(profile: Profile) -> Stage:
    return PassThrough()


def run(profile_path: str, input_name: str | None, output_name: str | None, stop: threading.Event | None = None,
        status_every_s: float = 5.0) -> int:
    profile = read_profile(profile_path)
    if profile is None:
        return EXIT_USAGE
    if input_name:
        profile.input.ndi_source = input_name
    if output_name:
        profile.output.ndi_name = output_name
    if not profile.input.ndi_source:
        print(f"{profile_path}: input.ndi_source: no NDI source to receive; set it or pass --input NAME", file=sys.stderr)
        return EXIT_USAGE
    stop = stop or stop_on_signals()
    with ndi.NdiRuntime():
        stage = build_stage(profile)
        receiver = ndi.NdiReceiver(profile.input.ndi_source, profile.input.extra_ips, profile.input.color_format,
                                   profile.input.wait_log_s)
        sender = ndi.NdiSender(profile.output.ndi_name, profile.output.groups)
        pipeline = Pipeline(receiver, stage, sender, queue_frames=profile.pipeline.queue_frames,
                            on_loss=profile.input.on_loss, loss_after_s=profile.input.loss_after_ms / 1000,
                            slate_text=f"facebridge: waiting for {profile.input.ndi_source}")
        log.info("sending NDI source %r", sender.full_name)
        pipeline.start()
        try:
            last_status = time.monotonic()
            while not stop.wait(0.2) and not pipeline.stop_event.is_set():
                if status_every_s and time.monotonic() - last_status >= status_every_s:
                    last_status = time.monotonic()
                    log.info("status %s", json.dumps(status(pipeline, receiver)))
        finally:
            pipeline.stop()
            receiver.close()
            sender.close()
    log.info("stopped: %s", json.dumps(status(pipeline, receiver)))
    return EXIT_OK


def status(pipeline: Pipeline, receiver: ndi.NdiReceiver) -> dict[str, object]:
    counters = dataclasses.asdict(pipeline.counters)
    counters.pop("last_input_at"), counters.pop("last_output_at")
    return {"source": receiver.stats.source, **counters, "latency": pipeline.latency.percentiles(),
            "connects": receiver.stats.connects, "skipped": receiver.stats.skipped_frames}


def sources(timeout_s: float, extra_ips: list[str]) -> int:
    with ndi.NdiRuntime():
        names = ndi.list_sources(timeout_s, extra_ips)
    if not names:
        print(f"no NDI sources found in {timeout_s:g} s", file=sys.stderr)
        return EXIT_FAILED
    for name in names:
        print(name)
    return EXIT_OK


def demo_source(name: str, size: tuple[int, int], fps: float, faces: int, seconds: float) -> int:
    stop = stop_on_signals()
    with ndi.NdiRuntime():
        try:
            run_demo_source(name, size[0], size[1], fps, faces, seconds, stop)
        except ValueError as error:
            print(f"demo-source: {error}", file=sys.stderr)
            return EXIT_USAGE
    return EXIT_OK


def demo(profile_path: str | None) -> int:
    """The demo source and the bridge on the demo profile, together, until Ctrl-C."""
    path = profile_path or str(DEMO_PROFILE)
    profile = read_profile(path)
    if profile is None:
        return EXIT_USAGE
    stop = stop_on_signals()
    with ndi.NdiRuntime():
        feeder = threading.Thread(target=run_demo_source, name="facebridge-demo-source",
                                  args=(profile.input.ndi_source, 1280, 720, 30.0, 2, 0, stop), daemon=True)
        feeder.start()
        code = run(path, None, None, stop)
        stop.set()
        feeder.join(2)
    return code


def check(profile_path: str, timeout_s: float = 3.0) -> int:
    """Say line by line what is ready and what is missing; exit 1 if anything is missing."""
    profile = read_profile(profile_path)
    if profile is None:
        return EXIT_USAGE
    print(f"ok      profile {profile_path}")
    problems = 0
    with ndi.NdiRuntime():
        names = ndi.list_sources(timeout_s, profile.input.extra_ips)
    try:
        found = ndi.resolve_source(profile.input.ndi_source, names)
        print(f"ok      NDI source {found!r}")
    except ndi.NdiError as error:
        print(f"MISSING {error}")
        problems += 1
    return EXIT_FAILED if problems else EXIT_OK
