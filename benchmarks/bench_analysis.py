"""Face analysis timings on this machine's CPU (median ms): each CPU-set model alone, and detection
per 1080p frame including pre/post-processing.

    python benchmarks/bench_analysis.py [--repeat 30] [--json benchmarks/results/analysis.json]
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import onnxruntime as ort

from bridge.faces import detect, embed, landmarks
from bridge.runtime import assets
from bridge.runtime.onnx import SessionConfig, SessionFactory
from timing import median_ms as _median_ms  # benchmarks/timing.py (this folder is on sys.path)

REPO = Path(__file__).resolve().parents[1]


def median_ms(fn: Callable[[], object], repeat: int, warmup: int = 3) -> float:
    return round(_median_ms(fn, repeat, warmup), 3)  # three decimals in the JSON


def model_only(path: Path, sessions: SessionFactory, repeat: int) -> float:
    """The bare session.run on a random input of the model's declared shape."""
    session = sessions.create(path)
    model_input = session.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in model_input.shape]
    feed = {model_input.name: np.random.default_rng(0).random(shape, dtype=np.float32)}
    return median_ms(lambda: session.run(None, feed), repeat)


def frame_1080p(group: np.ndarray) -> np.ndarray:
    """The six-person photo scaled into a 1920×1080 frame (faces ≈150 px, as in a wide stage shot)."""
    frame = np.zeros((1080, 1920, 3), np.uint8)
    scale = 1080 / group.shape[0]
    resized = cv2.resize(group, (round(group.shape[1] * scale), 1080))
    x = (1920 - resized.shape[1]) // 2
    frame[:, x:x + resized.shape[1]] = resized
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0 = onnxruntime's choice)")
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "analysis.json")
    args = parser.parse_args()

    models = REPO / "models"
    assets.fetch_cpu_models(models)
    photos = assets.fetch_photos()
    group = cv2.imread(str(photos["t1.jpg"]))
    frame = frame_1080p(group)
    sessions = SessionFactory(SessionConfig(providers=("cpu",), intra_op_threads=args.threads))

    results: dict[str, dict[str, float]] = {"model_only_ms": {}, "stage_ms": {}}
    for file in ("fr_detect.onnx", "face_detection_front_128x128_barracuda.onnx",
                 "face_detection_back_256x256_barracuda.onnx", "fr_landmark.onnx", "fr_feature.onnx"):
        results["model_only_ms"][file] = model_only(models / file, sessions, args.repeat)

    detectors = {
        "ulfd": detect.UlfdDetector(models / "fr_detect.onnx", sessions=sessions),
        "blazeface_back_256": detect.BlazeFaceDetector(models / "face_detection_back_256x256_barracuda.onnx", sessions=sessions),
        "blazeface_front_128_tiles_3x2": detect.BlazeFaceDetector(models / "face_detection_front_128x128_barracuda.onnx",
                                                                 tiles=(3, 2), score_threshold=0.6, sessions=sessions),
    }
    found = {}
    for name, detector in detectors.items():
        results["stage_ms"][f"detect_1080p_{name}"] = median_ms(lambda d=detector: d.detect(frame), args.repeat)
        found[name] = len(detector.detect(frame))

    landmarker = landmarks.Landmarker68(models / "fr_landmark.onnx", sessions=sessions)
    landmarker_plain = landmarks.Landmarker68(models / "fr_landmark.onnx", check_mirror=False, sessions=sessions)
    recogniser = embed.Recogniser(models / "fr_feature.onnx", sessions=sessions)
    faces = detectors["ulfd"].detect(frame)
    n = len(faces)
    results["stage_ms"]["landmarks68_per_face_with_mirror_score"] = round(
        median_ms(lambda: landmarker.landmark(frame, faces), args.repeat) / n, 3)
    results["stage_ms"]["landmarks68_per_face_no_score"] = round(
        median_ms(lambda: landmarker_plain.landmark(frame, faces), args.repeat) / n, 3)
    landmarker.landmark(frame, faces)
    results["stage_ms"]["embed_per_face_incl_alignment"] = round(
        median_ms(lambda: recogniser.embed(frame, faces), max(5, args.repeat // 3)) / n, 3)
    results["stage_ms"]["analyse_1080p_six_faces_ulfd_landmarks_embed"] = median_ms(
        lambda: recogniser.embed(frame, landmarker.landmark(frame, detectors["ulfd"].detect(frame))), max(5, args.repeat // 3))

    report = {"machine": {"cpu": platform.processor() or platform.machine(), "onnxruntime": ort.__version__,
                          "threads": args.threads}, "faces_found_1080p": found, **results}
    print(json.dumps(report, indent=2))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
