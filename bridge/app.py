"""What each sub-command does, with its exit code. `cli.py` parses arguments and calls these;
the live show itself (`run`, `demo`) is bridge.live."""

from __future__ import annotations

import json
import logging
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from rich.console import Console

from bridge import access, live
from bridge.facestage.build import AssemblyError
from bridge.io import ndi
from bridge.io.demo_source import run_demo_source
from bridge.live import Overrides, build_stage, show_name
from bridge.obs import wiring
from bridge.obs.lipsync import OffsetStore, default_store_path
from bridge.profile import InputSection, Profile, ProfileError, load_profile
from bridge.runtime import assets, catalog
from bridge.runtime.onnx import provider_report
from bridge.runtime.places import HERE
from bridge.facestage.stage import FaceStage
from bridge.types import Face

log = logging.getLogger("facebridge")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


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
    """An event set by SIGINT or SIGTERM (a second one, a second or more later, exits at once)."""
    stop = threading.Event()
    first: list[float] = []

    def handler(signum: int, _frame: object) -> None:
        # `make demo` relays the same Ctrl-C or SIGTERM to the bridge right after the terminal
        # did: that repeat must not cut the clean stop short (NDI's threads abort the process)
        if stop.is_set():
            if time.monotonic() - first[0] >= 1.0:
                raise SystemExit(EXIT_OK)
            return
        first.append(time.monotonic())
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


def run(profile_path: str, input_name: str | None, output_name: str | None, stop: threading.Event | None = None,
        status_every_s: float = 5.0, watch_profile: bool = False, input_url: str | None = None) -> int:
    profile = read_profile(profile_path)
    if profile is None:
        return EXIT_USAGE
    overrides = Overrides(input_name, output_name, input_url)
    overrides(profile)
    if not profile.input.ndi_source and not profile.input.url and profile.obs.enabled and profile.obs.camera_source:
        # the camera's NDI filter, which the bridge adds on connect; on any host
        profile.input.ndi_source = f"({wiring.camera_ndi_name(show_name(profile_path))})"
    if not profile.input.ndi_source and not profile.input.url:
        print(f"{profile_path}: input.ndi_source: no NDI source to receive; set it (or input.url, or obs.camera_source) "
              "or pass --input NAME", file=sys.stderr)
        return EXIT_USAGE
    return serve(profile, profile_path, stop or stop_on_signals(), status_every_s,
                 watch_profile=watch_profile, overrides=overrides)


def serve(profile: Profile, profile_path: str, stop: threading.Event, status_every_s: float = 5.0, *,
          watch_profile: bool = False, overrides: Overrides | None = None) -> int:
    """The live show (bridge.live) until `stop` is set; a stage that cannot be built is one line."""
    if profile.telemetry.log_json:  # the profile's way to say --log-json
        configure_logging(json_lines=True, verbose=logging.getLogger().isEnabledFor(logging.DEBUG))
    try:
        live.serve(profile, profile_path, stop, status_every_s, watch_profile=watch_profile, overrides=overrides)
    except AssemblyError as error:
        print(f"{profile_path}: {error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def dock_url(profile_path: str | None) -> int:
    """Print the URL of a bridge's control dock on this profile (the last line is the URL alone)."""
    from bridge.profile import TelemetrySection

    telemetry = TelemetrySection()
    if profile_path:
        profile = read_profile(profile_path)
        if profile is None:
            return EXIT_USAGE
        telemetry = profile.telemetry
    if not telemetry.port:
        print(f"{profile_path}: telemetry.port is 0: the HTTP API, and so the dock, is off", file=sys.stderr)
        return EXIT_USAGE
    try:
        token = access.resolve_token(telemetry.token, profile_path or "")
    except access.TokenError as error:
        print(f"dock-url: {error}", file=sys.stderr)
        return EXIT_FAILED
    host = "127.0.0.1" if telemetry.host in ("", "0.0.0.0", "::") else telemetry.host
    host = f"[{host}]" if ":" in host else host
    print("Paste this into OBS: View → Docks → Custom Browser Docks (any name). It holds the API token: keep it private.")
    print(f"http://{host}:{telemetry.port}/dock?token={token.value.value}")
    return EXIT_OK


def show_token(profile_path: str | None, renew: bool) -> int:
    """Print the HTTP API token a bridge on this profile uses; the last line is the token alone."""
    profile_token = None
    if profile_path:
        profile = read_profile(profile_path)
        if profile is None:
            return EXIT_USAGE
        profile_token = profile.telemetry.token
    if renew and profile_token:
        print(f"{profile_path}: telemetry.token sets this bridge's token; change it there", file=sys.stderr)
        return EXIT_USAGE
    try:
        token = access.user_token(renew=True) if renew else access.resolve_token(profile_token, profile_path or "")
    except access.TokenError as error:
        print(f"token: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"HTTP API token (from {token.origin}){'; a new one: restart running bridges' if renew else ''}.")
    print("Send it with every command: 'Authorization: Bearer TOKEN' and 'Content-Type: application/json'.")
    print(token.value.value)
    return EXIT_OK


def sources(timeout_s: float, extra_ips: list[str]) -> int:
    with ndi.NdiRuntime():
        names = ndi.list_sources(timeout_s, extra_ips)
    if not names:
        print(f"no NDI sources found in {timeout_s:g} s", file=sys.stderr)
        return EXIT_FAILED
    for name in names:
        print(name)
    return EXIT_OK


def demo_source(name: str, size: tuple[int, int], fps: float, faces: int, seconds: float, churn_s: float = 0.0) -> int:
    stop = stop_on_signals()
    with ndi.NdiRuntime():
        try:
            run_demo_source(name, size[0], size[1], fps, faces, seconds, stop, churn_s=churn_s)
        except ValueError as error:
            print(f"demo-source: {error}", file=sys.stderr)
            return EXIT_USAGE
    return EXIT_OK


def demo(profile_path: str | None) -> int:
    """The demo source and the bridge on the demo profile, together, until Ctrl-C."""
    if profile_path is None and HERE.demo_profile is None:
        print("demo: the demo profile comes with a clone of the facebridge repository; pass --profile", file=sys.stderr)
        return EXIT_USAGE
    try:
        assets.fetch_cpu_models(HERE.models)
        assets.demo_targets()
    except assets.AssetError as error:
        print(f"demo: {error}", file=sys.stderr)
        return EXIT_FAILED
    path = profile_path or str(HERE.demo_profile)
    profile = read_profile(path)
    if profile is None:
        return EXIT_USAGE
    # The demo source lives in this process: ask 127.0.0.1 directly, so the demo works where
    # NDI discovery (mDNS) does not (containers, locked-down networks).
    if "127.0.0.1" not in profile.input.extra_ips:
        profile.input.extra_ips.append("127.0.0.1")
    stop = stop_on_signals()
    with ndi.NdiRuntime():
        feeder = threading.Thread(target=run_demo_source, name="facebridge-demo-source",
                                  args=(profile.input.ndi_source, 1280, 720, 30.0, 2, 0, stop), daemon=True)
        feeder.start()
        code = serve(profile, path, stop)
        stop.set()
        feeder.join(2)
    return code


def check(profile_path: str, timeout_s: float = 3.0) -> int:
    """Say line by line what is ready and what is missing; exit 1 if anything is missing."""
    profile = read_profile(profile_path)
    if profile is None:
        return EXIT_USAGE
    print(f"ok      profile {profile_path}")
    missing = 0
    for provider, works, reason in provider_report():
        print(f"{'ok     ' if works else 'n/a    '} provider {provider}" + ("" if works else f": {reason}"))
    if profile.analysis.enabled:
        from bridge.facestage.build import required_models

        states = {row.name: row for row in catalog.list_models(profile.models_dir)}
        for name in required_models(profile):
            row = states.get(name)
            ok = row is not None and row.state in ("present", "unverified")
            missing += not ok
            detail = row.state if row else "not in the manifest"
            print(f"{'ok     ' if ok else 'MISSING'} model {name} ({detail})" +
                  ("" if ok else " — run `facebridge models fetch --profile PROFILE`"))
        lines, problems = target_report(profile)
        for line in lines:
            print(line)
        missing += problems
    if profile.telemetry.port:
        try:
            token = access.resolve_token(profile.telemetry.token, profile_path)
            print(f"ok      HTTP API token from {token.origin} ({access.TOKEN_HELP})")
        except access.TokenError as error:
            print(f"MISSING {error}")
            missing += 1
    if profile.input.url:
        line = url_check(profile.input, timeout_s)
        missing += line.startswith("MISSING")
        print(line)
    else:
        with ndi.NdiRuntime():
            names = ndi.list_sources(timeout_s, profile.input.extra_ips)
        try:
            found = ndi.resolve_source(profile.input.ndi_source, names)
            print(f"ok      NDI source {found!r}")
        except ndi.NdiError as error:
            print(f"MISSING {error}")
            missing += 1
    if profile.obs.enabled:
        reachable = obs_reachable(profile.obs.host, profile.obs.port)
        missing += not reachable
        print(f"{'ok     ' if reachable else 'MISSING'} OBS obs-websocket at {profile.obs.host}:{profile.obs.port}"
              + ("" if reachable else " is not answering (is OBS running with the WebSocket server on?)"))
        if reachable:
            missing += obs_wiring_report(profile)
    return EXIT_FAILED if missing else EXIT_OK


def target_report(profile: Profile) -> tuple[list[str], int]:
    """`check`'s lines on the targets, each image analysed and each target prepared as `run` does it;
    (lines, how many targets cannot be used)."""
    from bridge.facestage.build import Analysis, build_swapper, sessions_for, target_library
    from bridge.facestage.targets import TargetError

    try:
        sessions = sessions_for(profile)
        analysis = Analysis(profile, sessions)
        swapper = build_swapper(profile, sessions)
    except Exception as error:  # a missing model is already a MISSING line above
        return [f"n/a     targets not prepared: {str(error).splitlines()[0]}"], 0
    library = target_library(profile, analysis, [swapper])
    lines, missing = [], 0
    for target in profile.targets:
        usable = True
        for image in target.images:
            try:
                faces, used = library.faces_in(Path(image))
            except TargetError as error:
                lines.append(f"MISSING target {target.name}: {error}")
                usable = False
                continue
            lines.append(f"ok      target {target.name}: {Path(image).name}: {faces_used(faces, used)}")
        if usable:
            try:
                library.load(target.name, target.images)  # what `run` prepares (and caches) for the swapper
            except Exception as error:
                lines.append(f"MISSING target {target.name}: cannot prepare it for {swapper.name}: {error}")
                usable = False
        missing += not usable
    return lines, missing


def faces_used(faces: list[Face], used: Face) -> str:
    """"1 face", or how many and which one a target takes from a group photo."""
    if len(faces) == 1:
        return "1 face"
    x0, y0, x1, y1 = (int(round(float(v))) for v in used.box)
    return f"{len(faces)} faces; the largest is used (at {x0},{y0}, {x1 - x0}×{y1 - y0} px)"


def _obs_request(profile: Profile):  # type: ignore[no-untyped-def]
    import obsws_python as obsws

    o = profile.obs
    client = obsws.ReqClient(host=o.host, port=o.port, password=o.password.value if o.password else "", timeout=3)
    return client, lambda kind, data=None: client.send(kind, data, raw=True) or {}


def obs_wiring_report(profile: Profile) -> int:
    """`check`'s lines on what the bridge wired in OBS; returns 1 when the camera is missing."""
    try:
        client, request = _obs_request(profile)
    except Exception as error:
        print(f"MISSING OBS login: {type(error).__name__} (check obs.password / its env var)")
        return 1
    try:
        lines = wiring.describe(request, profile.obs.camera_source, profile.obs.source_name)
        originals = OffsetStore(default_store_path()).originals(f"{profile.obs.host}:{profile.obs.port}")
        for name, original in originals.items():
            now = request("GetInputAudioSyncOffset", {"inputName": name}).get("inputAudioSyncOffset")
            lines.append(f"audio sync offset of '{name}': {now} ms (original {original} ms)")
    except Exception as error:
        print(f"MISSING OBS wiring: {type(error).__name__}: {error}".splitlines()[0])
        return 1
    finally:
        client.disconnect()
    bad = bool(lines) and lines[0].startswith("obs.camera_source:")
    for line in lines:
        print(f"{'MISSING' if bad else 'wired  '} {line}")
    if profile.obs.camera_source or originals:
        print("        (`facebridge obs unwire --profile PROFILE` removes all of it)")
    return int(bad)


def obs_unwire(profile_path: str) -> int:
    """Remove what the bridge wired in OBS and restore the audio offsets it changed."""
    profile = read_profile(profile_path)
    if profile is None:
        return EXIT_USAGE
    try:
        client, request = _obs_request(profile)
    except Exception as error:
        print(f"obs unwire: OBS at {profile.obs.host}:{profile.obs.port} not reachable ({type(error).__name__})",
              file=sys.stderr)
        return EXIT_FAILED
    store = OffsetStore(default_store_path())
    address = f"{profile.obs.host}:{profile.obs.port}"
    try:
        said = wiring.unwire(request, profile.obs.camera_source, profile.obs.source_name, wiring.NDI_INPUT_KIND)
        said += wiring.restore_offsets(request, store.originals(address))
        store.save(address, {})
    finally:
        client.disconnect()
    for line in said or ["nothing of facebridge's was wired in OBS"]:
        print(line)
    return EXIT_OK


def url_check(section: InputSection, timeout_s: float) -> str:
    """One `check` line: does input.url open, and what is in it."""
    from bridge.io.ffmpeg import MediaError, describe_input

    try:
        options = {k: str(v) for k, v in section.url_options.items()}
        return f"ok      input.url {describe_input(section.url, options, max(timeout_s, section.url_timeout_s))}"
    except MediaError as error:
        return f"MISSING {error}"


def obs_reachable(host: str, port: int, timeout_s: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout_s):
            return True
    except OSError:
        return False


def models_list(models_dir: Path | None) -> int:
    Console().print(catalog.render(catalog.list_models(models_dir or HERE.models)))
    return EXIT_OK


def models_verify(models_dir: Path | None) -> int:
    rows = catalog.verify_models(models_dir or HERE.models)
    Console().print(catalog.render(rows))
    return EXIT_FAILED if any(r.state == "corrupt" for r in rows) else EXIT_OK


def models_fetch(names: list[str], profile_path: str | None, model_set: str | None) -> int:
    models_dir = HERE.models
    if profile_path:
        profile = read_profile(profile_path)
        if profile is None:
            return EXIT_USAGE
        from bridge.facestage.build import required_models

        names = names or required_models(profile)
        models_dir = profile.models_dir
    try:
        rows = catalog.fetch_models(names or None, models_dir, model_set=model_set or (None if names else "cpu"))
    except catalog.CatalogError as error:
        print(f"models fetch: {error}", file=sys.stderr)
        return EXIT_FAILED
    Console().print(catalog.render(rows))
    return EXIT_OK


def process(profile_path: str, input_path: str, output_path: str, tracks_path: str | None, *, force: bool = False,
            crf: int | None = None, preset: str | None = None) -> int:
    """Rehearsal: the same face pipeline on a recorded clip, written to a file with the clip's sound."""
    from bridge.io.files import ClipError, ClipReader, ClipWriter
    from bridge.progress import FrameProgress
    from bridge.track.records import tracks_jsonl_record

    profile = read_profile(profile_path)
    if profile is None:
        return EXIT_USAGE
    try:
        stage = build_stage(profile)
        reader = ClipReader(Path(input_path))
    except (AssemblyError, ClipError) as error:
        print(f"process: {error}", file=sys.stderr)
        return EXIT_FAILED
    try:
        writer = ClipWriter(Path(output_path), reader, crf=profile.output.crf if crf is None else crf,
                            preset=preset or profile.output.preset, force=force)
    except ClipError as error:
        reader.close()
        print(f"process: {error}", file=sys.stderr)
        return EXIT_FAILED
    records = open(tracks_path, "w", encoding="utf-8") if tracks_path else None
    finished = False
    started = time.perf_counter()
    try:
        with FrameProgress(Console(stderr=True), f"processing {Path(input_path).name}", reader.frame_count) as progress:
            for frame in reader:
                stage.process(frame)
                writer.write(frame)
                writer.write_audio(reader.take_audio())
                if records is not None and isinstance(stage, FaceStage):
                    records.write(json.dumps(tracks_jsonl_record(frame.sequence, stage.last_tracks)) + "\n")
                progress.advance()
        writer.write_audio(reader.take_audio())
        finished = True
    except ClipError as error:
        print(f"process: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"process: stopped; {output_path} not written", file=sys.stderr)
    finally:
        reader.close()
        try:
            writer.close(keep=finished)
        except ClipError as error:
            print(f"process: {error}", file=sys.stderr)
            finished = False
        if records is not None:
            records.close()
    if not finished:
        return EXIT_FAILED
    seconds = time.perf_counter() - started
    summary: dict[str, object] = {"frames": writer.frames, "seconds": round(seconds, 2),
                                  "fps": round(writer.frames / seconds, 1) if seconds else 0.0}
    if isinstance(stage, FaceStage):
        summary.update(stage.coverage.summary())
    print(json.dumps(summary, indent=2))
    return EXIT_OK


def bench(quick: bool, out: Path | None, seconds: float | None, no_loopback: bool, neural: bool,
          profile_path: Path | None) -> int:
    from bridge.devtools.bench import BenchError, bench_config, run_bench

    config = bench_config(quick, out, seconds, no_loopback, neural, profile_path)
    try:
        run_bench(config)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
