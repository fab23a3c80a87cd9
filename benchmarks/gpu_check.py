"""The neural stand-in on the whole pipeline on an NVIDIA GPU, every runtime variant, JSON in one folder.

Variants: provider cuda or tensorrt × fp16 off/on × IO binding on/off, each at 1080p with
1, 2 and 4 faces (bridge/devtools/bench.py's cases without the NDI loopback): per-stage ms, pipeline
fps, p95 latency and drops. Each variant runs in its own process (a fresh onnxruntime), and
the run stops starting variants when the time budget is spent, so it ends in under 8 minutes.
Without a GPU it writes summary.json saying so and exits 0. Installs nothing.

    python benchmarks/gpu_check.py [--out DIR] [--seconds 3] [--budget 420]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PROVIDER_NAMES = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}
VARIANTS = [(provider, fp16, io) for provider in ("cuda", "tensorrt") for fp16 in (False, True) for io in ("on", "off")]
RUN_ONE = """
import sys; from pathlib import Path
from bridge.devtools.bench import BenchConfig, run_bench
run_bench(BenchConfig(sizes=[(1920, 1080)], faces=[1, 2, 4], seconds=float(sys.argv[3]), loopback=False,
                      neural=True, profile=Path(sys.argv[1]), out=Path(sys.argv[2])))
"""


def gpu_missing() -> str | None:
    """Why no GPU run is possible here, or None."""
    if shutil.which("nvidia-smi") is None:
        return "no NVIDIA driver (nvidia-smi not found)"
    if subprocess.run(["nvidia-smi", "-L"], capture_output=True, timeout=30).returncode != 0:
        return "nvidia-smi finds no GPU"
    import onnxruntime

    if PROVIDER_NAMES["cuda"] not in onnxruntime.get_available_providers():
        return f"onnxruntime has no CUDA provider ({', '.join(onnxruntime.get_available_providers())}); install onnxruntime-gpu"
    return None


def variant_profile(folder: Path, provider: str, fp16: bool, io: str) -> Path:
    profile = yaml.safe_load((REPO / "profiles" / "demo.yaml").read_text())
    for target in profile.get("targets", []):  # paths in demo.yaml are relative to profiles/
        target["images"] = [str((REPO / "profiles" / image).resolve()) for image in target["images"]]
    profile["models"] = {"providers": [provider, "cpu"], "fp16": fp16, "io_binding": io,
                         "tensorrt_cache": str(REPO / ".cache" / "trt-cache")}
    profile.setdefault("telemetry", {})["port"] = 0
    path = folder / f"profile-{provider}-fp16{'on' if fp16 else 'off'}-io{io}.yaml"
    path.write_text(yaml.safe_dump(profile))
    return path


def summary_of(bench: dict) -> list[dict]:
    rows = []
    for case in bench["cases"]:
        overlap = case["overlap"]
        rows.append({"faces": case["faces"], "size": case["size"], "fps": overlap["fps"],
                     "p95_ms": overlap["latency"]["p95_ms"], "dropped": overlap["dropped"],
                     "steps_ms": overlap["steps_ms"], "saturated_fps": case["saturated"]["fps"]})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "gpu")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per measured pipeline run")
    parser.add_argument("--budget", type=float, default=420.0, help="start no variant after this many seconds")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    result: dict = {"gpu": False, "variants": []}
    reason = gpu_missing()
    if reason:
        result["reason"] = reason
        (args.out / "summary.json").write_text(json.dumps(result, indent=2))
        print(f"no GPU: {reason}; wrote {args.out / 'summary.json'}")
        return 0
    import onnxruntime

    result["gpu"] = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout.strip()
    available = onnxruntime.get_available_providers()
    for provider, fp16, io in VARIANTS:
        name = f"{provider}-fp16{'on' if fp16 else 'off'}-io{io}"
        entry: dict = {"variant": name, "provider": provider, "fp16": fp16, "io_binding": io}
        left = args.budget - (time.monotonic() - started)
        if PROVIDER_NAMES[provider] not in available:
            entry["skipped"] = f"onnxruntime has no {PROVIDER_NAMES[provider]}"
        elif left <= 0:
            entry["skipped"] = "time budget spent"
        else:
            folder = args.out / name
            folder.mkdir(exist_ok=True)
            profile = variant_profile(folder, provider, fp16, io)
            try:
                run = subprocess.run([sys.executable, "-c", RUN_ONE, str(profile), str(folder), str(args.seconds)],
                                     cwd=REPO, capture_output=True, text=True, timeout=max(30.0, left + 60.0))
                (folder / "log.txt").write_text(run.stdout + run.stderr)
                if run.returncode != 0 or not (folder / "bench.json").exists():
                    entry["error"] = ((run.stderr or run.stdout).strip().splitlines() or ["no output"])[-1]
                else:
                    bench = json.loads((folder / "bench.json").read_text())
                    entry["cases"] = summary_of(bench)
                    if "on the CPU" in run.stdout:
                        entry["error"] = "the stand-in fell back to the CPU (see log.txt)"
            except subprocess.TimeoutExpired:
                entry["error"] = "timed out"
        result["variants"].append(entry)
        print(json.dumps(entry)[:400], flush=True)
    result["seconds"] = round(time.monotonic() - started, 1)
    (args.out / "summary.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out / 'summary.json'} in {result['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
