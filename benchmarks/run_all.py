"""The bridge benchmark end to end: naive loop vs pipeline (sequential, overlapped, saturated),
synthetic demo frames and loopback NDI, 720p/1080p × 1/2/4 faces on the CPU demo profile.

    python benchmarks/run_all.py [--quick] [--out benchmarks/results] [--no-loopback] [--neural] [--seconds 8]

The options are `facebridge bench`'s own (bridge.cli.add_bench_options). Writes bench.json and
bench.png into --out (see bridge/devtools/bench.py for what each field means).
"""

from __future__ import annotations

import argparse
import json
import sys

from bridge.devtools.bench import BenchError, bench_config, run_bench
from bridge.cli import add_bench_options


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bench_options(parser)
    args = parser.parse_args()
    config = bench_config(args.quick, args.out, args.seconds, args.no_loopback, args.neural, args.profile)
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
