"""The `facebridge` command: parses arguments and calls bridge.app."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bridge import __version__


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT like 1280x720, got {text!r}") from None
    if not (16 <= width <= 7680 and 16 <= height <= 4320):
        raise argparse.ArgumentTypeError(f"size {text} is out of range 16x16..7680x4320")
    return width, height


def _ips(text: str) -> list[str]:
    return [ip.strip() for ip in text.split(",") if ip.strip()]


def add_bench_options(bench: argparse.ArgumentParser) -> None:
    """`facebridge bench`'s options; benchmarks/run_all.py takes the same."""
    bench.add_argument("--quick", action="store_true", help="720p only, 1 and 4 faces, 4 s runs (a smoke run)")
    bench.add_argument("--out", type=Path, help="folder for bench.json and bench.png (default benchmarks/results)")
    bench.add_argument("--seconds", type=float, help="seconds per measured case")
    bench.add_argument("--no-loopback", action="store_true", help="skip the loopback NDI run")
    bench.add_argument("--neural", action="store_true", help="swap with the inswapper-architecture stand-in (random weights, real compute; GPU if one works, else CPU at 1 fps)")
    bench.add_argument("--profile", type=Path, help="CPU profile to benchmark (default profiles/demo.yaml)")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="facebridge", description="Live multi-face face swapping for OBS Studio over NDI.")
    top.add_argument("--version", action="version", version=f"facebridge {__version__}")
    top.add_argument("--log-json", action="store_true", help="log one JSON object per line")
    top.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the bridge on a profile")
    run.add_argument("--profile", required=True, help="show profile (YAML)")
    source = run.add_mutually_exclusive_group()
    source.add_argument("--input", help="NDI source to receive (overrides input.ndi_source)")
    source.add_argument("--url", help="file, webcam or stream to read through FFmpeg instead (overrides input.url)")
    run.add_argument("--output", help="NDI name to send as (overrides output.ndi_name)")
    run.add_argument("--watch", action="store_true",
                     help="reload the profile when it is saved (an invalid edit is reported and the running one kept)")

    sources = commands.add_parser("sources", help="list NDI sources on the network")
    sources.add_argument("--timeout", type=float, default=3.0, help="seconds to look (default 3)")
    sources.add_argument("--extra-ips", type=_ips, default=[], help="comma-separated IPs to ask besides discovery")

    demo_source = commands.add_parser("demo-source", help="send a moving test scene with real faces and a tone")
    demo_source.add_argument("--name", required=True, help="NDI name to send as")
    demo_source.add_argument("--size", type=_size, default=(1280, 720), help="WIDTHxHEIGHT (default 1280x720)")
    demo_source.add_argument("--fps", type=float, default=30.0, help="frames per second (default 30)")
    demo_source.add_argument("--faces", type=int, default=2, help="number of faces, 0..6 (default 2)")
    demo_source.add_argument("--seconds", type=float, default=0.0, help="stop after this long (default: never)")
    demo_source.add_argument("--churn", type=float, default=0.0, metavar="SECONDS",
                             help="faces come and go on a cycle of this many seconds (default 0: they stay)")

    demo = commands.add_parser("demo", help="the demo source and the bridge on profiles/demo.yaml together")
    demo.add_argument("--profile", help="profile to use instead of profiles/demo.yaml")

    check = commands.add_parser("check", help="say what is ready and what is missing for a profile")
    check.add_argument("--profile", required=True, help="show profile (YAML)")
    check.add_argument("--timeout", type=float, default=3.0, help="seconds to look for the NDI source")

    process = commands.add_parser("process", help="rehearsal: run a profile on a recorded clip")
    process.add_argument("--profile", required=True, help="show profile (YAML)")
    process.add_argument("--input", required=True, help="video file to read")
    process.add_argument("--output", required=True, help="video file to write: H.264 with the clip's sound (.mp4, .mov, .mkv)")
    process.add_argument("--tracks", help="write one JSON line per frame with every tracked face")
    process.add_argument("--force", action="store_true", help="overwrite --output if it exists")
    process.add_argument("--crf", type=int, choices=range(0, 52), metavar="0..51",
                         help="H.264 quality: lower = better and bigger (default output.crf of the profile, 20)")
    process.add_argument("--preset", choices=["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                                              "slower", "veryslow"], help="x264 speed preset (default output.preset)")

    models = commands.add_parser("models", help="list, fetch or verify model files")
    model_commands = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    listing = model_commands.add_parser("list", help="every model: kind, licence, size, present/missing/corrupt")
    listing.add_argument("--dir", type=Path, help="models folder (default: models/ of this checkout, or the user's data folder)")
    fetch = model_commands.add_parser("fetch", help="download and verify models")
    fetch.add_argument("names", nargs="*", help="model names (default: what --profile needs, else the CPU set)")
    fetch.add_argument("--profile", help="fetch only what this profile needs")
    fetch.add_argument("--set", dest="model_set", choices=["cpu", "standard", "extra"], help="fetch a whole set")
    verify = model_commands.add_parser("verify", help="check every present model file against its checksum")
    verify.add_argument("--dir", type=Path, help="models folder (default: models/ of this checkout, or the user's data folder)")

    add_bench_options(commands.add_parser("bench", help="benchmark the pipeline: per-stage ms, latency, throughput (JSON + PNG)"))

    token = commands.add_parser("token", help="print the HTTP API token (the last line is the token alone)")
    token.add_argument("--profile", help="the profile's telemetry.token, if it sets one (default: this user's token)")
    token.add_argument("--new", action="store_true", help="replace this user's token with a new one")
    obs = commands.add_parser("obs", help="what the bridge set up in OBS")
    obs_commands = obs.add_subparsers(dest="obs_command", required=True, metavar="ACTION")
    unwire = obs_commands.add_parser("unwire", help="remove the camera filters and the bridge's source, restore audio offsets")
    unwire.add_argument("--profile", required=True, help="show profile (YAML)")

    dock = commands.add_parser("dock-url", help="print the control dock's URL to paste into OBS (Custom Browser Docks)")
    dock.add_argument("--profile", help="the profile the bridge runs (its telemetry host, port and token)")

    commands.add_parser("profile-example", help="print the commented example profile (every key)")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from bridge import app

    app.configure_logging(args.log_json, args.verbose)
    if args.command == "run":
        return app.run(args.profile, args.input, args.output, watch_profile=args.watch, input_url=args.url)
    if args.command == "sources":
        return app.sources(args.timeout, args.extra_ips)
    if args.command == "demo-source":
        return app.demo_source(args.name, args.size, args.fps, args.faces, args.seconds, args.churn)
    if args.command == "demo":
        return app.demo(args.profile)
    if args.command == "check":
        return app.check(args.profile, args.timeout)
    if args.command == "process":
        return app.process(args.profile, args.input, args.output, args.tracks, force=args.force, crf=args.crf,
                           preset=args.preset)
    if args.command == "models":
        if args.models_command == "list":
            return app.models_list(args.dir)
        if args.models_command == "verify":
            return app.models_verify(args.dir)
        return app.models_fetch(args.names, args.profile, args.model_set)
    if args.command == "bench":
        return app.bench(args.quick, args.out, args.seconds, args.no_loopback, args.neural, args.profile)
    if args.command == "token":
        return app.show_token(args.profile, args.new)
    if args.command == "obs":
        return app.obs_unwire(args.profile)
    if args.command == "dock-url":
        return app.dock_url(args.profile)
    if args.command == "profile-example":
        from bridge.profile import example_yaml

        sys.stdout.write(example_yaml())
        return 0
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
