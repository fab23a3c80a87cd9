"""Does a swap look real? Per face: identity, seam, colour step, flicker, and compose cost.

Runs the CPU swapper (warp68) and the compose step on
- still: the group photo (t1.jpg) letterboxed into a 1080p frame;
- clip: the demo scene (bridge/io/demo_source.py) at 1080p with 4 faces moving;
- flicker: the still frame repeated with sensor noise (std 2), detected afresh every frame;
with a target that has hair over its forehead (guest6: a side fringe, cut from t1.jpg by
`python -m bridge.runtime.assets`; the group face that *is* guest6 is left out of the medians).

Per face:
- identity: recogniser cosine of the output face to the target, and to the input face;
- seam: gradient energy (Sobel on grey) on the edge band of the changed region, output / input;
- colour step: Lab distance between the local means just inside and just outside that edge,
  output minus input (0: the edge is as invisible as the picture's own pixels there);
- flicker: mean absolute frame-to-frame change inside the face box, output / input.

    python benchmarks/bench_realism.py [--target guest6] [--frames 12] [--json benchmarks/results/realism.json]
        [--crops DIR]                      # input and output face crops as PNG (for --grid)
    python benchmarks/bench_realism.py --grid docs/realism_grid.png --columns DIR_BEFORE DIR_AFTER
"""

from __future__ import annotations

import argparse
import copy
import inspect
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

# this checkout's bridge, not whichever one is installed (the numbers are of the code beside them)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bridge.faces.embed import Recogniser, cosine   # noqa: E402
from bridge.io.demo_source import DemoScene   # noqa: E402
from bridge.runtime import assets   # noqa: E402
from bridge.swap.base import CropGeometry, SwapOutput, TargetFace, crop_face  # noqa: E402
from bridge.swap.compose import Compose  # noqa: E402
from bridge.swap.warp68 import Warp68Swapper  # noqa: E402
from bridge.types import Face  # noqa: E402
from kit import cpu_kit, letterboxed  # noqa: E402  benchmarks/kit.py and timing.py (this folder is on sys.path)
from timing import median_ms  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CHANGED = 3  # a pixel counts as changed when a channel moved by more than this (uint8 levels)
CELL = 160  # side of one face in the PNG grid


def changed_region(before: np.ndarray, after: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The filled largest blob of changed pixels in `box` (x0, y0, x1, y1), as a full-frame uint8 mask."""
    x0, y0, x1, y1 = box
    diff = (np.abs(after[y0:y1, x0:x1].astype(np.int16) - before[y0:y1, x0:x1]).max(axis=2) > CHANGED).astype(np.uint8)
    diff = cv2.morphologyEx(diff, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(diff)
    region = np.zeros(before.shape[:2], np.uint8)
    if count <= 1:
        return region
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    blob = (labels == largest).astype(np.uint8)
    contours, _ = cv2.findContours(blob, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(region[y0:y1, x0:x1], contours, -1, 1, -1)
    return region


def edge_scores(before: np.ndarray, after: np.ndarray, region: np.ndarray, face_size: float) -> tuple[float, float]:
    """(seam, colour step) on the edge of `region`: gradient energy ratio, Lab step out − in."""
    if region.sum() < 50:
        return float("nan"), float("nan")
    r = max(2, int(round(0.04 * face_size)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    outer = cv2.dilate(region, kernel)
    inner = cv2.erode(region, kernel)
    band = (outer > 0) & (inner == 0)
    ys, xs = np.nonzero(outer)
    y0, y1, x0, x1 = max(0, ys.min() - 2 * r), ys.max() + 2 * r + 1, max(0, xs.min() - 2 * r), xs.max() + 2 * r + 1
    window = (slice(y0, y1), slice(x0, x1))

    def energy(image: np.ndarray) -> float:
        grey = cv2.cvtColor(image[window], cv2.COLOR_BGR2GRAY).astype(np.float32)
        gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
        return float((gx * gx + gy * gy)[band[window]].mean())

    ring_in = ((region > 0) & (inner == 0))[window].astype(np.float32)
    ring_out = ((outer > 0) & (region == 0))[window].astype(np.float32)
    edge = (region[window] > 0) & (cv2.erode(region, np.ones((3, 3), np.uint8))[window] == 0)
    sigma = 2.0 * r

    def step(image: np.ndarray) -> float:
        lab = cv2.cvtColor(image[window].astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB)
        means = []
        for ring in (ring_in, ring_out):
            weight = cv2.GaussianBlur(ring, (0, 0), sigma)[..., None]
            means.append(cv2.GaussianBlur(lab * ring[..., None], (0, 0), sigma) / np.maximum(weight, 1e-6))
        return float(np.linalg.norm(means[0] - means[1], axis=2)[edge].mean())

    return energy(after) / max(energy(before), 1e-6), step(after) - step(before)


class Run:
    """The swap as the bridge does it: crop, warp68, compose (with the track id where compose takes one)."""

    def __init__(self, target: TargetFace) -> None:
        # as the app builds them (bridge/facestage/build.py): compose with the profile's defaults, and
        # warp68's own colour match only where compose does none
        self.compose = Compose(**getattr(Compose, "REALISTIC", {}))
        self.swapper = Warp68Swapper(colour_match=not self.compose.colour_correction)
        self.prepared = self.swapper.prepare([target])
        self.takes_track = "track_id" in inspect.signature(self.compose.paste_face).parameters

    def pieces(self, frame: np.ndarray, faces: list[Face]) -> list:
        crops = [crop_face(frame, face, self.swapper.crop_geometry) for face in faces]
        return list(zip(crops, [self.swapper.swap(c, self.prepared) for c in crops]))

    def paste(self, frame: np.ndarray, crop, swapped, track: int) -> None:
        if self.takes_track:
            self.compose.paste_face(frame, crop, swapped, None, track_id=track)
        else:
            self.compose.paste_face(frame, crop, swapped, None)

    def __call__(self, frame: np.ndarray, faces: list[Face]) -> np.ndarray:
        out = frame.copy()
        for track, (crop, swapped) in enumerate(self.pieces(frame, faces)):
            self.paste(out, crop, swapped, track)
        return out


def box_of(face: Face, shape: tuple[int, ...], grow: float = 0.6) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = face.box
    g = grow * max(x1 - x0, y1 - y0)
    return (int(max(0, x0 - g)), int(max(0, y0 - g)), int(min(shape[1], x1 + g)), int(min(shape[0], y1 + g)))


def score_frame(frame: np.ndarray, out: np.ndarray, faces: list[Face], recogniser: Recogniser,
                target_embedding: np.ndarray) -> list[dict[str, float]]:
    swapped = recogniser.embed(out, copy.deepcopy(faces))
    rows = []
    for face, after in zip(faces, swapped):
        size = float(max(face.box[2] - face.box[0], face.box[3] - face.box[1]))
        seam, colour = edge_scores(frame, out, changed_region(frame, out, box_of(face, frame.shape)), size)
        rows.append({"to_target": cosine(after.embedding, target_embedding),
                     "to_input": cosine(after.embedding, face.embedding),
                     "input_to_target": cosine(face.embedding, target_embedding),
                     "seam": seam, "colour_step": colour, "face_px": size})
    return rows


def flicker(kit, recogniser: Recogniser, run: Run, still: np.ndarray, frames: int) -> list[dict[str, float]]:
    """Mean |frame-to-frame change| inside each face box, output / input, on a noisy still frame."""
    rng = np.random.default_rng(0)
    noisy = [np.clip(still + rng.normal(0, 2.0, still.shape), 0, 255).astype(np.uint8) for _ in range(frames)]
    reference = kit.landmarker.landmark(still, kit.detector.detect(still))
    outputs = []
    for frame in noisy:
        faces = kit.landmarker.landmark(frame, kit.detector.detect(frame))
        # the same face order as the reference (nearest box centre), so each face is its own track
        ordered = []
        for ref in reference:
            centre = (ref.box[:2] + ref.box[2:]) / 2
            ordered.append(min(faces, key=lambda f: float(np.linalg.norm((f.box[:2] + f.box[2:]) / 2 - centre))))
        outputs.append(run(frame, ordered))
    rows = []
    for ref in reference:
        x0, y0, x1, y1 = ref.box.astype(int)
        change_in = np.mean([np.abs(b[y0:y1, x0:x1].astype(np.int16) - a[y0:y1, x0:x1]).mean()
                             for a, b in zip(noisy, noisy[1:])])
        change_out = np.mean([np.abs(b[y0:y1, x0:x1].astype(np.int16) - a[y0:y1, x0:x1]).mean()
                              for a, b in zip(outputs, outputs[1:])])
        rows.append({"flicker": float(change_out / max(change_in, 1e-6)),
                     "input_change": float(change_in), "output_change": float(change_out)})
    return rows


def cpu_ms(fn, repeat: int) -> float:
    """Mean CPU time of `fn` in ms (all threads of this process): what the step costs the machine,
    whatever else shares the cores (wall time on a busy machine also counts the waiting)."""
    fn()
    start = time.process_time()
    for _ in range(repeat):
        fn()
    return (time.process_time() - start) * 1000 / repeat


def median(rows: list[dict[str, float]], key: str) -> float:
    values = [r[key] for r in rows if key in r and np.isfinite(r[key])]
    return float(statistics.median(values)) if values else float("nan")


def save_crops(folder: Path, frame: np.ndarray, out: np.ndarray, faces: list[Face], prefix: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k, face in enumerate(faces):
        x0, y0, x1, y1 = box_of(face, frame.shape, 0.35)
        cv2.imwrite(str(folder / f"{prefix}{k}_input.png"), cv2.resize(frame[y0:y1, x0:x1], (CELL, CELL)))
        cv2.imwrite(str(folder / f"{prefix}{k}_output.png"), cv2.resize(out[y0:y1, x0:x1], (CELL, CELL)))


def grid(path: Path, columns: list[Path], target: np.ndarray) -> None:
    """Rows of faces: input | each folder's output, with the target in the corner."""
    names = sorted(p.name for p in columns[0].glob("*_input.png"))
    rows = []
    for name in names:
        cells = [cv2.imread(str(columns[0] / name))]
        cells += [cv2.imread(str(folder / name.replace("_input", "_output"))) for folder in columns]
        rows.append(np.hstack(cells))
    thumb = cv2.resize(target, (int(100 * target.shape[1] / target.shape[0]), 100))
    header = np.full((140, rows[0].shape[1], 3), 255, np.uint8)
    for k, title in enumerate(["input"] + [folder.name for folder in columns]):
        cv2.putText(header, title, (10 + CELL * k, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2, cv2.LINE_AA)
    cv2.putText(header, "target:", (10, 90), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 2, cv2.LINE_AA)
    header[36:136, 110:110 + thumb.shape[1]] = thumb
    picture = np.vstack([header] + rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), picture, [cv2.IMWRITE_PNG_COMPRESSION, 9])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="guest6", help="a demo target name (guest6, guest5, portrait)")
    parser.add_argument("--frames", type=int, default=12, help="frames of the clip and of the still-face run")
    parser.add_argument("--repeat", type=int, default=20, help="timing repeats of the compose step")
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "realism.json")
    parser.add_argument("--crops", type=Path, help="write input/output face crops of the still here")
    parser.add_argument("--grid", type=Path, help="compose a PNG grid from --columns crop folders and stop")
    parser.add_argument("--columns", type=Path, nargs="*", default=[])
    args = parser.parse_args()
    target_image = cv2.imread(str(assets.demo_targets()[args.target]))
    if args.grid:
        grid(args.grid, args.columns, target_image)
        return
    kit = cpu_kit()
    recogniser = Recogniser(kit.models / "fr_feature.onnx")

    def analyse(image: np.ndarray) -> list[Face]:
        return recogniser.embed(image, kit.landmarker.landmark(image, kit.detector.detect(image)))

    target_faces = analyse(target_image)
    target = TargetFace(target_image, max(target_faces, key=lambda f: float(f.box[2] - f.box[0])))
    report: dict[str, object] = {"machine": platform.processor() or platform.machine(), "target": args.target}

    still = letterboxed(kit.group, 1080, cv2.INTER_CUBIC)
    faces = analyse(still)
    run = Run(target)
    out = run(still, faces)
    rows = score_frame(still, out, faces, recogniser, target.face.embedding)
    if args.crops:
        save_crops(args.crops, still, out, faces, "still")
    report["still"] = rows

    scene = DemoScene(1920, 1080, 4, kit.group)
    clip_rows: list[dict[str, float]] = []
    clip_run = Run(target)
    for index in range(0, 3 * args.frames, 3):
        frame = scene.render(index, 30.0)
        frame_faces = analyse(frame)
        clip_rows += score_frame(frame, clip_run(frame, frame_faces), frame_faces, recogniser, target.face.embedding)
    report["clip"] = clip_rows

    report["flicker"] = flicker(kit, recogniser, Run(target), still, args.frames)

    timing = Run(target)
    pieces = timing.pieces(still, faces)
    canvas = still.copy()
    report["compose_ms_per_face_1080p"] = median_ms(
        lambda: [timing.paste(canvas, c, s, k) for k, (c, s) in enumerate(pieces)], args.repeat) / len(pieces)
    report["compose_cpu_ms_per_face_1080p"] = cpu_ms(
        lambda: [timing.paste(canvas, c, s, k) for k, (c, s) in enumerate(pieces)], args.repeat) / len(pieces)
    # a neural swapper's aligned 128² crop (its output stands in: compose's cost does not depend on it)
    neural = [crop_face(still, face, CropGeometry("arcface_128", 128)) for face in faces]
    neural_pieces = [(c, SwapOutput(cv2.add(c.image, np.full_like(c.image, 20)))) for c in neural]
    report["compose_cpu_ms_per_face_1080p_neural128"] = cpu_ms(
        lambda: [timing.paste(canvas, c, s, k) for k, (c, s) in enumerate(neural_pieces)], args.repeat) / len(faces)
    report["swap_ms_per_face_1080p"] = median_ms(lambda: timing.pieces(still, faces), max(3, args.repeat // 4)) / len(pieces)

    others = lambda rs: [r for r in rs if r["input_to_target"] < 0.5]  # noqa: E731  (the target's own face)
    summary = {}
    for name in ("still", "clip"):
        rs = others(report[name])  # type: ignore[arg-type]
        summary[name] = {key: median(rs, key) for key in ("to_target", "to_input", "seam", "colour_step")}
    summary["flicker"] = median(report["flicker"], "flicker")  # type: ignore[arg-type]
    summary["compose_ms_per_face_1080p"] = report["compose_ms_per_face_1080p"]
    summary["compose_cpu_ms_per_face_1080p"] = report["compose_cpu_ms_per_face_1080p"]
    summary["compose_cpu_ms_per_face_1080p_neural128"] = report["compose_cpu_ms_per_face_1080p_neural128"]
    summary["swap_ms_per_face_1080p"] = report["swap_ms_per_face_1080p"]
    report["summary"] = summary
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print("face  to_target  to_input  seam   colour_step   (still)")
    for k, r in enumerate(rows):
        print(f"{k:>4}  {r['to_target']:9.3f}  {r['to_input']:8.3f}  {r['seam']:5.2f}  {r['colour_step']:6.2f}")
    print("flicker per face:", " ".join(f"{r['flicker']:.2f}" for r in report["flicker"]))  # type: ignore[union-attr]
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
