"""The bridge benchmark end to end: naive loop vs pipeline (sequential, overlapped, saturated),
synthetic demo frames and loopback NDI, 720p/1080p × 1/2/4 faces on the CPU demo profile.

    python benchmarks/run_all.py [--quick] [--out benchmarks/results] [--no-loopback] [--neural] [--seconds 8]

Writes bench.json and bench.png into --out (see bridge/bench.py for what each field means).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bridge.bench import BenchConfig, BenchError, run_bench


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="720p only, 1 and 4 faces, 4 s runs")
    parser.add_argument("--out", type=Path, help="folder for bench.json and bench.png (default benchmarks/results)")
    parser.add_argument("--seconds", type=float, help="length of each paced run")
    parser.add_argument("--no-loopback", action="store_true", help="skip the NDI loopback runs")
    parser.add_argument("--neural", action="store_true", help="the inswapper-architecture stand-in (random weights) instead of warp68; CPU: 1 fps")
    parser.add_argument("--profile", type=Path, help="profile to bench (default profiles/demo.yaml)")
    args = parser.parse_args()
    config = BenchConfig.quick() if args.quick else BenchConfig()
    if args.out:
        config.out = args.out
    if args.seconds:
        config.seconds = args.seconds
    if args.profile:
        config.profile = args.profile
    config.loopback = not args.no_loopback
    config.neural = args.neural
    try:
        result = run_bench(config)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    print(json.dumps({f"{c['size'][0]}x{c['size'][1]}x{c['faces']}": c["summary"] for c in result["cases"]}, indent=2))
    print(f"wrote {config.out / 'bench.json'} and {config.out / 'bench.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
