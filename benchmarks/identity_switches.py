"""Why each ID switch of an identity-suite clip happened: a diagnostic for tracker work.

    .venv/bin/python benchmarks/identity_switches.py crowd-1 reentry-3 [--pool holdout]

Runs the clip through the CPU demo profile's face stage (as identity_eval.run_ours, without the
leak judge) with the tracker's decisions logged, then, for every switch of a scored person's
matched id (IoU ≥ 0.5, as the suite scores it), prints what the tracker did to the two ids on
that frame and the frames before (motion match, takeover, take-back, revival by appearance /
weak embedding / place, new track, hand-over, swap repair, lost) and the ground truth there:
how much of the face shows, how much another face covers it, and how the recogniser's crops of
that detection compare with each person's clean look.
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import identity_eval as ev  # noqa: E402
from bridge.faces.boxes import iou_matrix  # noqa: E402
from bridge.types import Frame  # noqa: E402
from tests import suite_clips  # noqa: E402


def _person(clip, i: int, box: np.ndarray, least: float = 0.3) -> int | None:
    truth = clip.truth[i]
    if not truth:
        return None
    iou = iou_matrix(np.asarray(box, np.float32)[None], np.array([t.box for t in truth], np.float32))[0]
    k = int(iou.argmax())
    return truth[k].id if iou[k] >= least else None


class Log:
    """Decisions of one tracker, by frame."""

    def __init__(self) -> None:
        self.frame = 0
        self.events: dict[int, list[tuple[int, str]]] = defaultdict(list)  # frame -> (track id, what)
        self.embeds: list[tuple[int, np.ndarray, np.ndarray]] = []  # (frame, box, vector)

    def add(self, tid: int, what: str) -> None:
        self.events[self.frame].append((tid, what))


def instrument(tracker, log: Log) -> None:
    t = tracker
    orig = {name: getattr(t, name) for name in ("_pair", "_reclaim", "_reidentify", "_new", "_take_face",
                                               "_swap_people", "_stop", "_lose", "_embed", "_drop", "_missed")}

    def _pair(image, visible, predictions, faces, embeddings, blurred=frozenset(), merged=frozenset()):
        before = t.stats.takeovers
        pairs = orig["_pair"](image, visible, predictions, faces, embeddings, blurred, merged)
        n_take = t.stats.takeovers - before
        for k, (r, c) in enumerate(pairs):
            how = "takeover" if k >= len(pairs) - n_take else "motion"
            log.add(visible[r].id, f"{how} det{c}" + (" +app" if c in embeddings else ""))
        return pairs

    def _reclaim(image, gray, visible, pairs, fresh, faces, embeddings):
        before = dict(pairs)
        out = orig["_reclaim"](image, gray, visible, pairs, fresh, faces, embeddings)
        for r, c in out[0]:
            if before.get(r) != c:
                log.add(visible[r].id, f"TAKE-BACK det{c} (was det{before.get(r)})")
        return out

    def _reidentify(candidates, faces, fresh, embeddings, now, *rest):
        out, weak = orig["_reidentify"](candidates, faces, fresh, embeddings, now, *rest)
        for j, e in out.items():
            if j in weak:
                how = "weak"
            elif j in embeddings and e.gallery.similarity(embeddings[j]) >= t.rule.threshold:
                how = f"appearance {e.gallery.similarity(embeddings[j]):.2f}"
            else:
                how = "place" + (f" sim {e.gallery.similarity(embeddings[j]):.2f}" if j in embeddings else "")
            log.add(e.id, f"REVIVE-{how} det{j} (was {'visible' if e.visible else 'lost'})")
        return out, weak

    def _new(face, pyramid, now):
        box = np.asarray(face.box, np.float32)
        size = float(np.sqrt(max(1.0, (box[2] - box[0]) * (box[3] - box[1]))))
        notes = []
        v = None if face.embedding is None else face.embedding / np.linalg.norm(face.embedding)
        for o in t._entries.values():
            c = (box[:2] + box[2:]) / 2
            oc = (o.raw.box[:2] + o.raw.box[2:]) / 2
            iou = float(iou_matrix(box[None], np.asarray(o.raw.box, np.float32)[None])[0, 0])
            sim = f" sim {o.gallery.similarity(v):.2f}" if v is not None and not o.gallery.empty else ""
            notes.append(f"[{o.id} {'vis' if o.visible else 'lost'} {now - o.last_seen:.2f}s "
                         f"d {np.linalg.norm(c - oc) / size:.1f} iou {iou:.2f}{sim}{' prov' if o.gallery.provisional else ''}]")
        e = orig["_new"](face, pyramid, now)
        log.add(e.id, "NEW " + (f"emb " if v is not None else "no-emb ") + " ".join(notes))
        return e

    def _take_face(back, e, now):
        log.add(back.id, f"HANDOVER from {e.id}")
        return orig["_take_face"](back, e, now)

    def _swap_people(a, b):
        log.add(a.id, f"SWAP-REPAIR with {b.id}")
        return orig["_swap_people"](a, b)

    def _stop(e, why, now):
        log.add(e.id, f"stop {why}")
        return orig["_stop"](e, why, now)

    def _lose(e, now):
        if e.visible:
            log.add(e.id, "lose")
        return orig["_lose"](e, now)

    def _missed(e, prediction, detected, pyramid, shape, now):
        before = t.stats.hidden["occluded"]
        out = orig["_missed"](e, prediction, detected, pyramid, shape, now)
        if t.stats.hidden["occluded"] > before:
            log.add(e.id, "OCCLUDED (covered by a detection)")
        return out

    def _drop(e):
        log.add(e.id, "drop")
        return orig["_drop"](e)

    def _embed(image, faces, idx):
        out = orig["_embed"](image, faces, idx)
        for j, v in out.items():
            log.embeds.append((log.frame, np.asarray(faces[j].box, np.float32), v))
        return out

    wrapped = {"_pair": _pair, "_reclaim": _reclaim, "_reidentify": _reidentify, "_new": _new, "_take_face": _take_face,
               "_swap_people": _swap_people, "_stop": _stop, "_lose": _lose, "_embed": _embed, "_drop": _drop,
               "_missed": _missed}
    for name, fn in wrapped.items():  # on the instance: the class (and other trackers) stay as they are
        setattr(t, name, fn)


def run(kit: ev.Kit, clip, verbose: bool = True) -> dict:
    from bridge.facestage.build import build_face_stage

    stage = build_face_stage(copy.deepcopy(kit.profile))
    log = Log()
    instrument(stage.tracker, log)
    drawn, boxes_of = [], []
    for i, image in enumerate(clip.frames):
        log.frame = i
        stage.process(Frame(image=image.copy(), sequence=i, frame_rate=(30, 1), received_at=1000.0 + clip.time(i)))
        tracks = [t for t in stage.last_tracks if t.target is not None]
        drawn.append(ev.Drawn.of([t.id for t in tracks], [t.face.box for t in tracks]))
        boxes_of.append({t.id: t.face.box for t in stage.last_tracks})
    s = stage.tracker.stats
    print(f"  stats: new {s.new_tracks} reid {s.reidentified} takeovers {s.takeovers} reclaimed {s.reclaimed} "
          f"swaps-fixed {s.identity_swaps} dups {s.duplicates} hidden {dict(s.hidden)}")

    # each person's clean look: mean embedding of crops of them nearly whole and uncovered
    looks: dict[int, list[np.ndarray]] = defaultdict(list)
    crops: list[tuple[int, int | None, np.ndarray]] = []
    for f, box, v in log.embeds:
        p = _person(clip, f, box, 0.5)
        crops.append((f, p, v))
        truth = {t.id: t for t in clip.truth[f]}
        if p is not None and truth[p].visible >= 0.95 and _cover(clip, f, p) < 0.05:
            looks[p].append(v)
    mean = {p: (np.mean(vs, axis=0) / np.linalg.norm(np.mean(vs, axis=0))) for p, vs in looks.items()}

    # switches: a person's matched id changes from its last matched id
    last: dict[int, int] = {}
    found = []
    for i in range(len(clip)):
        truth = suite_clips.scored(clip, i, ev.MIN_VISIBLE)
        t_boxes = np.array([t.box for t in truth], np.float32).reshape(-1, 4)
        m = ev._match(t_boxes, drawn[i].boxes, 0.5)
        for n, t in enumerate(truth):
            if n not in m:
                continue
            tid = int(drawn[i].ids[m[n]])
            if t.id in last and last[t.id] != tid:
                found.append((i, t.id, last[t.id], tid))
            last[t.id] = tid
    print(f"  {len(found)} switches")
    for i, person, old, new in found:
        truth = {t.id: t for t in clip.truth[i]}
        t = truth[person]
        print(f"  frame {i}: person {person} id {old} -> {new}  visible {t.visible:.2f} covered-by-face "
              f"{_cover(clip, i, person):.2f} (by {_coverer(clip, i, person)})")
        earlier = [(f, tid, w) for f in range(max(0, i - 40), max(0, i - 4)) for tid, w in log.events.get(f, [])
                   if tid in (old, new) and not w.startswith("motion")]
        for f, tid, w in earlier[-4:]:
            print(f"     (f{f} {tid}:{w})")
        for f in range(max(0, i - 4), i + 1):
            ev_f = [(tid, w) for tid, w in log.events.get(f, []) if tid in (old, new)]
            where = {tid: _person(clip, f, boxes_of[f][tid]) if tid in boxes_of[f] else "-" for tid in (old, new)}
            print(f"     f{f}: on-person {where} " + "; ".join(f"{tid}:{w}" for tid, w in ev_f))
        near = [(f, p, v) for f, p, v in crops if p == person and i - 6 <= f <= i]
        for f, p, v in near:
            sims = " ".join(f"p{q}:{float(v @ mu):.2f}" for q, mu in sorted(mean.items()))
            print(f"     crop f{f} of p{p} (vis {next(x.visible for x in clip.truth[f] if x.id == p):.2f}, "
                  f"cov {_cover(clip, f, p):.2f}): {sims}")
    return {"switches": found}


def _cover(clip, i: int, person: int) -> float:
    truth = clip.truth[i]
    me = next(t for t in truth if t.id == person)
    others = np.array([t.box for t in truth if t.id != person], np.float32).reshape(-1, 4)
    from bridge.track.association import covered
    return covered(me.box, others)


def _coverer(clip, i: int, person: int):
    truth = clip.truth[i]
    me = next(t for t in truth if t.id == person)
    others = [t for t in truth if t.id != person]
    if not others:
        return None
    from bridge.track.association import covered
    return max(others, key=lambda o: covered(me.box, np.asarray(o.box, np.float32)[None])).id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="+", help="clip names KIND-SEED")
    parser.add_argument("--pool", default="train", choices=list(suite_clips.POOLS))
    args = parser.parse_args(argv)
    kit = ev.load_kit(ev.DEMO_PROFILE, 2)
    for name in args.clips:
        clip = suite_clips.render(suite_clips.named(name, pool=args.pool))
        print(f"{name}:", flush=True)
        run(kit, clip)
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
