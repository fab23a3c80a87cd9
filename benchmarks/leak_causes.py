"""Why each leaked face-frame leaked: a diagnostic for the identity suite (issue 14).

Runs clips through the bridge exactly as benchmarks/identity_eval.run_ours does (same stage,
same pixel judge) while recording what the tracker knew on each frame, then puts every leaked
face-frame (and every ghost swap) in one cause class:

    .venv/bin/python benchmarks/leak_causes.py --clips occlude_face-0,beside-0
    .venv/bin/python benchmarks/leak_causes.py --kinds occlude_face,crowd --out /tmp/x.json

Leak classes (first that applies):
- before first swap: the person was never drawn yet (entry; `detected` if a detection had it);
- not drawn, unconfirmed: the tracker follows it but has not confirmed it a face yet;
- not drawn, stopped <why>: its track was stopped (evidence.py's reasons, "occluded", "lost");
- not drawn, no track: nothing follows it (detection missed it);
- drawn off the face: a drawn box touches it with IoU < 0.3 (drifted, or on a neighbour);
- drawn, swap does not hide: a drawn box covers it, but the output still shows the person;
each with where the face is: "edge" (part out of frame), "behind face" (another face covers
it), "behind object", or "clear".
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import identity_eval as ev  # noqa: E402
from bridge.faces.boxes import iou_matrix  # noqa: E402
from bridge.track.evidence import inside_fraction  # noqa: E402
from bridge.types import Frame  # noqa: E402
from tests import suite_clips  # noqa: E402


def _where(t: Any, others: list[Any], shape: tuple[int, ...]) -> str:
    inside = inside_fraction(t.box, shape)
    if inside < 0.95:
        return "edge"
    if t.visible >= 0.95 * inside:
        return "clear"
    boxes = np.array([o.box for o in others if o.id != t.id], np.float32).reshape(-1, 4)
    if len(boxes):
        x0, y0, x1, y1 = t.box
        ix = np.clip(np.minimum(boxes[:, 2], x1) - np.maximum(boxes[:, 0], x0), 0, None)
        iy = np.clip(np.minimum(boxes[:, 3], y1) - np.maximum(boxes[:, 1], y0), 0, None)
        if (ix * iy).max() / max(1.0, (x1 - x0) * (y1 - y0)) > 0.1:
            return "behind face"
    return "behind object"


def diagnose(kit: ev.Kit, judge: ev.LeakJudge, scene: Any) -> dict[str, Any]:
    from bridge.facestage.build import build_face_stage

    clip = suite_clips.render(scene)
    stage = build_face_stage(copy.deepcopy(kit.profile))
    judge.reset()
    causes: Counter[str] = Counter()
    ghosts: Counter[str] = Counter()
    examples: dict[str, list[list[int]]] = {}
    ever_drawn: set[int] = set()
    faces_total = 0
    drawn_runs: list[ev.Drawn] = []
    leaked_runs: list[np.ndarray] = []
    for i, image in enumerate(clip.frames):
        frame = Frame(image=image.copy(), sequence=i, frame_rate=(30, 1), received_at=1000.0 + clip.time(i))
        analysed = stage.analyse(frame)
        out = stage.finish(analysed)
        tracks = [t for t in stage.last_tracks if t.target is not None] if not stage.mapping.bypass else []
        drawn = np.array([t.face.box for t in tracks], np.float32).reshape(-1, 4)
        entries = list(stage.tracker._entries.values())
        followed = np.array([e.raw.box for e in entries if e.visible and not e.confirmed], np.float32).reshape(-1, 4)
        lost = [e for e in entries if not e.visible]
        dets = np.array([f.box for f in analysed.faces or []], np.float32).reshape(-1, 4)
        faces = suite_clips.scored(clip, i, ev.MIN_VISIBLE)
        present = clip.truth[i]
        own = iou_matrix(drawn, np.array([t.box for t in present], np.float32).reshape(-1, 4))
        owner = np.array([present[int(k)].id if own[n, k] > 0 else -1 for n, k in enumerate(own.argmax(axis=1))]
                         if own.size else [-1] * len(drawn))
        judged = [t for t in faces if ev._inside(t.kps5, image.shape)]
        sim = judge.similarity(image, out.image, judged, i)
        drawn_runs.append(ev.Drawn.of([t.id for t in tracks], [t.face.box for t in tracks]))
        flags = np.zeros(len(faces), bool)
        k = 0
        for n, t in enumerate(faces):
            if ev._inside(t.kps5, image.shape):
                leaked = sim[k] >= judge.threshold
                k += 1
            else:
                leaked = not ev._covered(t.box, drawn)
            flags[n] = leaked
            faces_total += 1
            # a drawn box is this face's when this face is the one it overlaps most (not a neighbour's swap)
            iou_d = iou_matrix(t.box[None], drawn)[0] * (owner == t.id) if len(drawn) else np.zeros(0)
            best = float(iou_d.max()) if iou_d.size else 0.0
            if best >= ev.COVER_IOU:
                ever_drawn.add(t.id)
            if not leaked:
                continue
            where = _where(t, clip.truth[i], image.shape)
            detected = analysed.faces is None or (iou_matrix(t.box[None], dets).max(initial=0.0) >= ev.COVER_IOU)
            if best >= ev.COVER_IOU:
                why = "drawn, swap does not hide"
            elif best > 0.0:
                why = "drawn off the face"
            elif iou_matrix(t.box[None], followed).max(initial=0.0) >= ev.COVER_IOU:
                why = "not drawn, unconfirmed"
            elif t.id not in ever_drawn:
                why = "before first swap" + ("" if detected else ", undetected")
            else:
                near = [e for e in lost if iou_matrix(t.box[None], e.raw.box[None])[0, 0] >= 0.1]
                why = f"not drawn, stopped {near[0].lost_why}" if near else "not drawn, no track"
                if analysed.faces is not None:
                    why += ", detected" if detected else ", undetected"
            key = f"{why} | {where}"
            causes[key] += 1
            examples.setdefault(key, []).append([i, t.id])
        everyone = np.array([t.box for t in clip.truth[i] if t.visible >= ev.GHOST_VISIBLE], np.float32).reshape(-1, 4)
        for t, box in zip(tracks, drawn):
            near = iou_matrix(box[None], everyone)
            if near.size and near.max() >= ev.COVER_IOU:
                continue
            ghosts[f"{t.state}{' near a face' if near.size and near.max() > 0 else ' on background'}"] += 1
            examples.setdefault(f"ghost {t.state}", []).append([i, t.id])
        leaked_runs.append(flags)
    scores = ev.score(clip, ev.MethodRun("ours", drawn_runs, leaked_runs))
    keep = ("idf1", "id_switches", "faces", "leaks", "leak_rate", "ghosts", "ghost_rate", "first_swap_frames",
            "reentries", "reentries_kept")
    return {"clip": scene.name, "score": {k: scores[k] for k in keep},
            "faces": faces_total, "leaks": sum(causes.values()), "causes": dict(causes),
            "ghosts": dict(ghosts), "examples": {k: v[:12] for k, v in examples.items()}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", default="")
    parser.add_argument("--kinds", default="")
    parser.add_argument("--pool", default="train")
    parser.add_argument("--out", default="")
    parser.add_argument("--detect-every", default=2, type=int, help="as identity_suite.py's default (auto varies with load)")
    args = parser.parse_args(argv)
    names = [c for c in args.clips.split(",") if c]
    kinds = [k for k in args.kinds.split(",") if k]
    chosen = [suite_clips.named(n, pool=args.pool) for n in names]
    chosen += suite_clips.suite(4, kinds, args.pool) if kinds else []
    kit = ev.load_kit(detect_every=args.detect_every)
    judge = ev.LeakJudge(kit.recogniser)
    results, total, ghosts = [], Counter(), Counter()
    for scene in chosen:
        r = diagnose(kit, judge, scene)
        results.append(r)
        total.update(r["causes"])
        ghosts.update(r["ghosts"])
        print(f"{r['clip']}: {r['leaks']}/{r['faces']} leaked; {r['causes']}; ghosts {r['ghosts']}", flush=True)
        if args.out:
            Path(args.out).write_text(json.dumps(results, indent=1))
    print("\nleak causes (face-frames):")
    for key, n in total.most_common():
        print(f"  {n:6d}  {key}")
    print("ghosts:", dict(ghosts))
    faces = sum(r["score"]["faces"] for r in results)
    first = [f for r in results for f in r["score"]["first_swap_frames"]]
    print(f"clips {len(results)}: leak {100 * sum(r['score']['leaks'] for r in results) / max(1, faces):.2f} %, "
          f"ghost {100 * sum(r['score']['ghosts'] for r in results) / max(1, faces):.2f} %, "
          f"first swap p95 {np.percentile(first, 95) if first else 0:.1f}, "
          f"IDF1 median {np.median([r['score']['idf1'] for r in results]):.3f} "
          f"min {min((r['score']['idf1'] for r in results), default=0):.3f}, "
          f"ID switches {sum(r['score']['id_switches'] for r in results)}")


if __name__ == "__main__":
    main()
