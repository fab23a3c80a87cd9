#!/usr/bin/env bash
# The GPU check in one command: the neural stand-in on the whole pipeline (cuda and tensorrt,
# fp16 on/off, IO binding on/off; 1080p with 1, 2, 4 faces), JSON into one folder, < 8 minutes.
# Uses the project's own environment (.venv from `make`); installs nothing. Without a GPU it
# says "no GPU" and why, and exits 0.
#   bash benchmarks/gpu_check.sh [OUT_DIR]      (default benchmarks/results/gpu)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
OUT="${1:-benchmarks/results/gpu}"
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" exec timeout 470 "$PY" benchmarks/gpu_check.py --out "$OUT"
