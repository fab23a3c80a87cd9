"""Soak: demo source → `facebridge run` on the CPU profile → far-end receiver, faces coming and going,
a live command every few seconds. Memory, frame accounting and latency p95 over time.

    .venv/bin/python benchmarks/soak.py [--minutes 30] [--out benchmarks/results]

Writes soak.json (figures, verdict, one sample per second); tests/test_soak.py runs the same for 2 minutes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bridge.devtools.bench import BenchError
from bridge.devtools.soak import SoakConfig, run_soak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0, help="measured minutes after warm-up (default 30)")
    parser.add_argument("--out", type=Path, help="folder for soak.json (default benchmarks/results)")
    parser.add_argument("--faces", type=int, default=3, help="faces in the demo scene (default 3)")
    parser.add_argument("--churn", type=float, default=12.0, help="seconds per come-and-go cycle; 0: faces stay (default 12)")
    args = parser.parse_args()
    config = SoakConfig(faces=args.faces, churn_s=args.churn)
    config.seconds = config.warmup_s + args.minutes * 60
    if args.out:
        config.out = args.out
    try:
        result = run_soak(config)
    except BenchError as error:
        print(f"soak: {error}", file=sys.stderr)
        return 1
    summary = {k: v for k, v in result.items() if k not in ("samples", "config")}
    print(json.dumps(summary, indent=2))
    return 0 if all(result["verdict"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
