"""Swap and compose timings on this machine's CPU (median ms per face) at 720p and 1080p.

- warp68: the fast path (one numba pass rasterising every triangle into remap tables + one
  cv2.remap) against the textbook per-triangle warpAffine version, and the whole swap (warp + colour + mask).
- compose: paste back into the face rectangle (numba blend) against the plain full-frame
  warp + blend, for a 128² neural crop and a warp68 box crop; share of a 30 fps frame budget.
- --standin: a random-weight graph with inswapper_128's architecture (docs/models.md §5) on CPU.

    python benchmarks/bench_swap.py [--repeat 30] [--standin] [--json benchmarks/results/swap.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from bridge.faces.detect import UlfdDetector
from bridge.faces.landmarks import Landmarker68
from bridge.swap.base import CropGeometry, SwapOutput, TargetFace, crop_face
from bridge.swap.compose import Compose, paste_back, paste_back_full_frame
from bridge.swap.standin import inswapper_standin
from bridge.swap.warp68 import Warp68Swapper, extend_landmarks, piecewise_affine, piecewise_affine_naive
from bridge.types import Face
from kit import cpu_kit, letterboxed  # benchmarks/kit.py and timing.py (this folder is on sys.path)
from timing import median_ms

REPO = Path(__file__).resolve().parents[1]
FRAME_BUDGET_MS = 1000.0 / 30


def bench_resolution(height: int, portrait: np.ndarray, group: np.ndarray, repeat: int,
                     detector: UlfdDetector, landmarker: Landmarker68) -> dict[str, float]:
    frame = letterboxed(group, height)
    faces = landmarker.landmark(frame, detector.detect(frame))
    (target_face,) = landmarker.landmark(portrait, detector.detect(portrait))
    swapper = Warp68Swapper()
    prepared = swapper.prepare([TargetFace(portrait, target_face)])
    crops = [crop_face(frame, face, swapper.crop_geometry) for face in faces]
    compose = Compose()
    results: dict[str, float] = {"faces": len(faces), "face_px": float(np.mean([c.image.shape[1] for c in crops]))}

    def warp(kind: Callable) -> Callable[[], None]:
        def run() -> None:
            for crop in crops:
                kind(prepared["texture"], prepared["shape"], extend_landmarks(crop.landmarks68),
                     prepared["triangles"], crop.image.shape[:2])
        return run

    per_face = 1.0 / len(crops)
    results["warp68_warp_naive_ms"] = median_ms(warp(piecewise_affine_naive), repeat) * per_face
    results["warp68_warp_fast_ms"] = median_ms(warp(piecewise_affine), repeat) * per_face
    results["warp68_swap_ms"] = median_ms(lambda: [swapper.swap(c, prepared) for c in crops], repeat) * per_face
    outputs = [swapper.swap(c, prepared) for c in crops]

    canvas = frame.copy()  # pasting into the same canvas again and again costs the same each time

    def paste(kind: Callable, pieces: list) -> Callable[[], None]:
        def run() -> None:
            for crop, out, mask in pieces:
                kind(canvas, out.image, mask, crop.affine)
        return run

    box_pieces = [(c, o, compose.face_mask(c, o)) for c, o in zip(crops, outputs)]
    results["compose_warp68_fast_ms"] = median_ms(paste(paste_back, box_pieces), repeat) * per_face
    results["compose_warp68_plain_ms"] = median_ms(paste(paste_back_full_frame, box_pieces), repeat) * per_face

    neural = CropGeometry("arcface_128", 128)
    neural_crops = [crop_face(frame, face, neural) for face in faces]
    neural_pieces = [(c, SwapOutput(c.image), compose.box_mask(128, 128)) for c in neural_crops]
    results["compose_128_fast_ms"] = median_ms(paste(paste_back, neural_pieces), repeat) * per_face
    results["compose_128_plain_ms"] = median_ms(paste(paste_back_full_frame, neural_pieces), repeat) * per_face
    results["compose_128_full_stage_ms"] = median_ms(
        lambda: [compose.paste_face(canvas, c, o) for c, o, _ in neural_pieces], repeat) * per_face
    results["compose_share_of_30fps_budget_per_face"] = results["compose_128_fast_ms"] / FRAME_BUDGET_MS
    results["warp68_plus_compose_share_per_face"] = (results["warp68_swap_ms"] + results["compose_warp68_fast_ms"]) / FRAME_BUDGET_MS
    return results


def bench_standin(repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        swapper = inswapper_standin(Path(folder))
        kps5 = np.array([[600, 300], [680, 300], [640, 350], [610, 390], [670, 390]], np.float32)
        face = Face(box=np.array([560, 240, 720, 440], np.float32), score=1.0, kps5=kps5)
        crop = crop_face(np.zeros((720, 1280, 3), np.uint8), face, swapper.crop_geometry)
        prepared = {"latent": swapper.latent(np.ones(512, np.float32))}
        return {"inswapper_standin_cpu_ms": median_ms(lambda: swapper.swap(crop, prepared), repeat, warmup=1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--standin", action="store_true", help="also time the inswapper-architecture stand-in (≈1 s/face)")
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "swap.json")
    args = parser.parse_args()
    kit = cpu_kit()
    portrait, group, detector, landmarker = kit.portrait, kit.group, kit.detector, kit.landmarker
    report: dict[str, object] = {"machine": platform.processor() or platform.machine(), "repeat": args.repeat}
    for height in (720, 1080):
        report[f"{height}p"] = bench_resolution(height, portrait, group, args.repeat, detector, landmarker)
    if args.standin:
        report["standin"] = bench_standin(max(3, args.repeat // 10))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
