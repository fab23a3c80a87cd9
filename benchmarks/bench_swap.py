"""Swap and compose timings on this machine's CPU (median ms per face) at 720p and 1080p.

- warp68: the fast path (triangle labels + numba remap tables + one cv2.remap) against the
  textbook per-triangle warpAffine version, and the whole swap (warp + colour + mask).
- compose: paste back into the face rectangle (numba blend) against the plain full-frame
  warp + blend, for a 128² neural crop and a warp68 box crop; share of a 30 fps frame budget.
- --standin: a random-weight graph with inswapper_128's architecture (models.md §5) on CPU.

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
from bridge.runtime import assets
from bridge.swap.base import CropGeometry, SwapOutput, TargetFace, crop_face
from bridge.swap.compose import Compose, paste_back, paste_back_full_frame
from bridge.swap.warp68 import Warp68Swapper, extend_landmarks, piecewise_affine, piecewise_affine_naive
from bridge.types import Face
from timing import median_ms  # benchmarks/timing.py (this folder is on sys.path)

REPO = Path(__file__).resolve().parents[1]
FRAME_BUDGET_MS = 1000.0 / 30


def scaled_frame(image: np.ndarray, height: int) -> np.ndarray:
    """The group photo letterboxed into a 16:9 frame of `height` lines (faces scale with it)."""
    width = height * 16 // 9
    scale = min(width / image.shape[1], height / image.shape[0])
    resized = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    frame = np.zeros((height, width, 3), np.uint8)
    y, x = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    frame[y:y + resized.shape[0], x:x + resized.shape[1]] = resized
    return frame


def bench_resolution(height: int, portrait: np.ndarray, group: np.ndarray, repeat: int,
                     detector: UlfdDetector, landmarker: Landmarker68) -> dict[str, float]:
    frame = scaled_frame(group, height)
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


def inswapper_standin(path: Path) -> Path:
    """A random-weight graph with inswapper_128's layers (≈138 M parameters), built with the onnx helper API."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, inits = [], []

    def weight(name: str, shape: tuple[int, ...]) -> str:
        inits.append(numpy_helper.from_array((rng.standard_normal(shape, dtype=np.float32) * 0.02), name))
        return name

    def conv(x: str, cin: int, cout: int, k: int, stride: int = 1, pad: int = 0, name: str = "") -> str:
        out = f"{name}_out"
        nodes.append(helper.make_node("Conv", [x, weight(f"{name}_w", (cout, cin, k, k)), weight(f"{name}_b", (cout,))],
                                      [out], kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4))
        return out

    def act(x: str, op: str, name: str, **kw) -> str:
        nodes.append(helper.make_node(op, [x], [f"{name}_{op}"], **kw))
        return f"{name}_{op}"

    def reflect(x: str, p: int, name: str) -> str:
        inits.append(numpy_helper.from_array(np.array([0, 0, p, p, 0, 0, p, p], np.int64), f"{name}_pads"))
        nodes.append(helper.make_node("Pad", [x, f"{name}_pads"], [f"{name}_pad"], mode="reflect"))
        return f"{name}_pad"

    x = act(conv(reflect("target", 3, "e0"), 3, 128, 7, name="e0"), "LeakyRelu", "e0", alpha=0.2)
    x = act(conv(x, 128, 256, 3, pad=1, name="e1"), "LeakyRelu", "e1", alpha=0.2)
    x = act(conv(x, 256, 512, 3, 2, 1, name="e2"), "LeakyRelu", "e2", alpha=0.2)
    x = act(conv(x, 512, 1024, 3, 2, 1, name="e3"), "LeakyRelu", "e3", alpha=0.2)
    for block in range(6):
        skip = x
        for half in range(2):
            name = f"r{block}_{half}"
            y = conv(reflect(x, 1, name), 1024, 1024, 3, name=name)
            nodes.append(helper.make_node("InstanceNormalization", [y, weight(f"{name}_s", (1024,)),
                                                                    weight(f"{name}_t", (1024,))], [f"{name}_in"]))
            nodes.append(helper.make_node("Gemm", ["source", weight(f"{name}_g", (512, 2048)),
                                                   weight(f"{name}_gb", (2048,))], [f"{name}_style"]))
            inits.append(numpy_helper.from_array(np.array([-1, 2048, 1, 1], np.int64), f"{name}_shape"))
            nodes.append(helper.make_node("Reshape", [f"{name}_style", f"{name}_shape"], [f"{name}_style4"]))
            inits.append(numpy_helper.from_array(np.array([1024, 1024], np.int64), f"{name}_split"))
            nodes.append(helper.make_node("Split", [f"{name}_style4", f"{name}_split"], [f"{name}_gamma", f"{name}_beta"],
                                          axis=1))
            nodes.append(helper.make_node("Mul", [f"{name}_in", f"{name}_gamma"], [f"{name}_scaled"]))
            nodes.append(helper.make_node("Add", [f"{name}_scaled", f"{name}_beta"], [f"{name}_adain"]))
            x = act(f"{name}_adain", "Relu", name) if half == 0 else f"{name}_adain"
        nodes.append(helper.make_node("Add", [skip, x], [f"r{block}_res"]))
        x = f"r{block}_res"
    inits.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "up_scales"))
    for index, (cin, cout, up) in enumerate([(1024, 512, True), (512, 256, True), (256, 128, False)]):
        if up:
            nodes.append(helper.make_node("Resize", [x, "", "up_scales"], [f"d{index}_up"], mode="linear"))
            x = f"d{index}_up"
        x = act(conv(x, cin, cout, 3, pad=1, name=f"d{index}"), "LeakyRelu", f"d{index}", alpha=0.2)
    x = act(conv(reflect(x, 3, "o"), 128, 3, 7, name="o"), "Tanh", "o")
    inits.append(numpy_helper.from_array(np.array(1, np.float32), "one"))
    inits.append(numpy_helper.from_array(np.array(0.5, np.float32), "half"))
    nodes.append(helper.make_node("Add", [x, "one"], ["plus_one"]))
    nodes.append(helper.make_node("Mul", ["plus_one", "half"], ["output"]))
    inits.append(numpy_helper.from_array(rng.standard_normal((512, 512), dtype=np.float32), "emap"))
    graph = helper.make_graph(nodes, "inswapper_standin",
                              [helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, 128, 128]),
                               helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 128, 128])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def bench_standin(repeat: int) -> dict[str, float]:
    from bridge.swap.inswapper import InSwapper

    with tempfile.TemporaryDirectory() as folder:
        swapper = InSwapper(inswapper_standin(Path(folder) / "inswapper_standin.onnx"), name="inswapper_standin")
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
    models = REPO / "models"
    assets.fetch_cpu_models(models)
    photos = assets.fetch_photos()
    portrait = cv2.imread(str(photos["Tom_Hanks_54745.png"]))
    group = cv2.imread(str(photos["t1.jpg"]))
    detector = UlfdDetector(models / "fr_detect.onnx")
    landmarker = Landmarker68(models / "fr_landmark.onnx")
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
