"""Where an identity-suite clip's IDF1 goes without ID switches: every scored face-frame that no
drawn swap matches at IoU ≥ 0.5 (as the suite scores it), by cause.

    .venv/bin/python benchmarks/identity_gaps.py reentry-0 lighting-3 [--pool holdout] [-v]

Causes: "loose box" (a drawn swap on the face, IoU 0.3-0.5: its box lags the face or covers
only the part that shows; "edge" when the true box runs off the picture), "followed, not drawn"
(a track not yet confirmed a face), "detected, no track", "not detected" (a detection frame
without a box on it), "coast frame, no track" (no detection ran and no track is on it: stopped
on its evidence). With a "loose box", the track's own (unsmoothed) box tells lag from cut.
-v lists the frames of each person.
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import identity_eval as ev  # noqa: E402
from bridge.faces.boxes import iou_matrix  # noqa: E402
from bridge.types import Frame  # noqa: E402
from tests import suite_clips  # noqa: E402


def run(kit: ev.Kit, clip, verbose: bool = False) -> Counter:
    from bridge.facestage.build import build_face_stage

    stage = build_face_stage(copy.deepcopy(kit.profile))
    tracker = stage.tracker
    detections: dict[int, np.ndarray | None] = {}
    update, frame = tracker.update, [0]

    def logged(image, faces, now, gray=None):  # on the instance: the class stays as it is
        detections[frame[0]] = None if faces is None else np.array([f.box for f in faces], np.float32).reshape(-1, 4)
        return update(image, faces, now, gray)

    tracker.update = logged
    drawn, followed = [], []
    for i, image in enumerate(clip.frames):
        frame[0] = i
        stage.process(Frame(image=image.copy(), sequence=i, frame_rate=(30, 1), received_at=1000.0 + clip.time(i)))
        tracks = [t for t in stage.last_tracks if t.target is not None]
        drawn.append(ev.Drawn.of([t.id for t in tracks], [t.face.box for t in tracks]))
        followed.append({e.id: (np.asarray(e.raw.box, np.float32), e.confirmed)
                         for e in tracker._entries.values() if e.visible})
    height, width = clip.frames[0].shape[:2]
    causes: Counter = Counter()
    frames_of: dict[int, list[str]] = defaultdict(list)
    total = 0
    for i in range(len(clip)):
        truth = suite_clips.scored(clip, i, ev.MIN_VISIBLE)
        boxes = np.array([t.box for t in truth], np.float32).reshape(-1, 4)
        matched = ev._match(boxes, drawn[i].boxes, 0.5)
        total += len(truth)
        for n, t in enumerate(truth):
            if n in matched:
                continue
            box = boxes[n]
            edge = bool(box[0] < 0 or box[1] < 0 or box[2] > width or box[3] > height)
            on_drawn = iou_matrix(box[None], drawn[i].boxes)[0]
            on_track = [(iou_matrix(box[None], b[None])[0, 0], sure) for b, sure in followed[i].values()]
            dets = detections.get(i)
            on_det = -1.0 if dets is None else float(iou_matrix(box[None], dets)[0].max(initial=0.0))
            if on_drawn.size and on_drawn.max() >= 0.3:
                tid = int(drawn[i].ids[int(on_drawn.argmax())])
                own = float(iou_matrix(box[None], followed[i][tid][0][None])[0, 0]) if tid in followed[i] else -1.0
                why = "loose box" + (" (its own box fits: smoothing lag)" if own >= 0.5 else "")
            elif any(iou >= 0.3 for iou, _ in on_track):
                why = "followed, not drawn"
            elif on_det >= 0.3:
                why = "detected, no track"
            elif on_det < 0:
                why = "coast frame, no track"
            else:
                why = "not detected"
            why += " [edge]" if edge else ""
            causes[why] += 1
            frames_of[t.id].append(f"f{i}:{why.split()[0]}{'E' if edge else ''}(vis {t.visible:.2f})")
    lost = sum(causes.values())
    print(f"  {total} scored face-frames, {lost} not matched ({lost / max(1, total):.1%})")
    for why, k in causes.most_common():
        print(f"    {k:4d}  {why}")
    if verbose:
        for person, rows in frames_of.items():
            print(f"  person {person}: " + " ".join(rows))
    return causes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="+", help="clip names KIND-SEED")
    parser.add_argument("--pool", default="train", choices=list(suite_clips.POOLS))
    parser.add_argument("-v", "--verbose", action="store_true", help="list each person's frames")
    args = parser.parse_args(argv)
    kit = ev.load_kit(ev.DEMO_PROFILE, 2)
    for name in args.clips:
        clip = suite_clips.render(suite_clips.named(name, pool=args.pool))
        print(f"{name}:", flush=True)
        run(kit, clip, args.verbose)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
