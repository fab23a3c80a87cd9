"""Tracking quality and cost on generated clips with ground truth (tests/clips.py).

For each clip (2 and 4 faces, crossing, exit and re-entry) and detection every 1 and 3
frames: IDF1, ID switches, MOTA, leak rate (truth face-frames no track covers), embeddings
asked for, and milliseconds per frame spent in the tracker (detection and landmarks are timed
apart). The same detections go through the plain IoU tracker as the baseline. Plus jitter on
a still face: raw detector landmarks vs the tracker's smoothed ones.

    .venv/bin/python benchmarks/bench_tracking.py [--out benchmarks/results/tracking.json] [--truth]

--truth uses ground-truth detections (no models) instead of the CPU detector + landmarker.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bridge.track.baseline import IouTracker  # noqa: E402
from bridge.track.metrics import clear_mot, identity_scores, keypoint_jitter  # noqa: E402
from bridge.track.tracker import Tracker, embed_with  # noqa: E402
from tests import clips  # noqa: E402


class Timed:
    """Wraps a tracker to time `update` alone."""

    def __init__(self, tracker) -> None:
        self.tracker, self.seconds, self.frames = tracker, 0.0, 0

    def update(self, image, faces, now):
        t0 = time.perf_counter()
        out = self.tracker.update(image, faces, now)
        self.seconds += time.perf_counter() - t0
        self.frames += 1
        return out


class TimedEmbed:
    def __init__(self, embed) -> None:
        self.embed, self.seconds, self.faces = embed, 0.0, 0

    def __call__(self, image, faces):
        t0 = time.perf_counter()
        out = self.embed(image, faces)
        self.seconds += time.perf_counter() - t0
        self.faces += len(faces)
        return out


def evaluate(clip, make_tracker, detections, every: int) -> dict:
    timed = Timed(make_tracker())
    result = clips.run(clip, timed, lambda image, i: [replace(f, embedding=None) for f in detections[i]], every)
    truth = [clip.truth_boxes(i) for i in range(len(clip))]
    mot, ident = clear_mot(truth, result.hypothesis), identity_scores(truth, result.hypothesis)
    faces = sum(len(t) for t in clip.truth)
    return {
        "idf1": round(ident.idf1, 4), "id_switches": mot.id_switches, "mota": round(mot.mota, 4),
        "leak_rate": round(len(clips.uncovered(clip, result, every=every)) / faces, 4),
        "ms_per_frame": round(1000 * timed.seconds / timed.frames, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "tracking.json")
    parser.add_argument("--truth", action="store_true", help="ground-truth detections instead of the CPU models")
    args = parser.parse_args()

    embed = None
    if args.truth:
        def detect_all(clip):
            return [clips.truth_faces(clip, i, jitter=1.0) for i in range(len(clip))]
    else:
        from bridge.faces.detect import UlfdDetector
        from bridge.faces.embed import Recogniser
        from bridge.faces.landmarks import Landmarker68
        from bridge.runtime import assets

        models = REPO / "models"
        assets.fetch_cpu_models(models)
        detector, landmarker = UlfdDetector(models / "fr_detect.onnx"), Landmarker68(models / "fr_landmark.onnx")
        embed = embed_with(Recogniser(models / "fr_feature.onnx"))

        def detect_all(clip):
            t0 = time.perf_counter()
            out = [landmarker.landmark(im, detector.detect(im)) for im in clip.frames]
            detect_all.ms = 1000 * (time.perf_counter() - t0) / len(clip)  # type: ignore[attr-defined]
            return out

    report: dict = {"detections": "truth" if args.truth else "ulfd+fr_landmark", "clips": {}}
    for name, faces in [("two_faces", 2), ("four_faces", 4), ("crossing", 2), ("exit_and_reenter", 2)]:
        clip = getattr(clips, name)()
        detections = detect_all(clip)
        entry: dict = {"faces": faces, "frames": len(clip), "size": list(clip.frames[0].shape[1::-1])}
        if hasattr(detect_all, "ms"):
            entry["detect_landmark_ms_per_frame"] = round(detect_all.ms, 2)
        for every in (1, 3):
            truth_embed = clips.TruthEmbedder(clip)
            timed_embed = TimedEmbed(embed or truth_embed)
            tracked = evaluate(clip, lambda: Tracker(timed_embed), detections, every)
            tracked["embeddings"] = timed_embed.faces
            tracked["embed_ms_per_frame"] = round(1000 * timed_embed.seconds / len(clip), 2) if embed else None
            tracked["ms_per_frame"] = round(tracked["ms_per_frame"] - (tracked["embed_ms_per_frame"] or 0), 3)
            entry[f"tracker_every_{every}"] = tracked
            entry[f"iou_baseline_every_{every}"] = evaluate(clip, IouTracker, detections, every)
        report["clips"][name] = entry
        print(name, json.dumps(entry), flush=True)

    still = clips.still_face()
    detections = detect_all(still)
    tracker = Tracker()
    smoothed = [tracker.update(im, [f for f in d], still.time(i))[0].face.kps5 for i, (im, d) in enumerate(zip(still.frames, detections))]
    raw = np.array([d[0].kps5 for d in detections])[10:]
    report["still_face_jitter_px"] = {"raw": round(keypoint_jitter(raw), 4),
                                      "smoothed": round(keypoint_jitter(np.array(smoothed[10:])), 4)}
    print("jitter", report["still_face_jitter_px"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
