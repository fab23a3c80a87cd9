"""Runs one clip of the identity suite through the bridge and its peers, and scores each run.

- **ours**: the real face stage built from the CPU demo profile (profiles/demo.yaml: its
  detector, landmarker, recogniser, detect_every, tracker and warp68 swapper), every face mapped
  to one target (`mapping.unknown: active`). Leaks are judged in the output pixels by the
  recogniser: a scored face whose output still embeds as its input (cosine ≥ LEAK_SIMILARITY
  between the output and input crops at the true landmarks) shows the real face.
- **peers** get the same detections (the profile's detector and landmarker on every frame):
  ByteTrack, OC-SORT and BoT-SORT (roboflow `trackers`, default settings), Deep-Live-Cam-style
  per-frame matching (each face to its nearest cluster-centroid embedding, no tracks), and our
  plain IoU tracker (bridge/track/baseline.py). A peer draws a swap on each box it outputs with
  an id; a scored face no drawn box covers (IoU ≥ 0.3) is a leak.

Scores (trackers.eval for IDF1, ID switches and MOTA, IoU ≥ 0.5): leak rate, ghost rate (drawn
swaps with IoU < 0.3 to every face in the picture, per scored face-frame), frames from each
entry to the first swap, and re-entries that kept their id.
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from bridge.faces.boxes import iou_matrix
from bridge.types import Face, Frame
from tests.clips import Clip, Truth
from tests.suite_clips import scored

REPO = Path(__file__).resolve().parents[1]
DEMO_PROFILE = REPO / "profiles" / "demo.yaml"

MIN_VISIBLE = 0.5  # a face is scored when at least half of its head shows
GHOST_VISIBLE = 0.1  # a swap on a face showing this much is not a ghost
COVER_IOU = 0.3  # a drawn swap covers a face (peers' leaks; ghosts are below it to every face)
# output crop still embeds as the input person: the real face is on air. Measured on 1074 judged face-frames of four
# clips (small, large, occluded, fast): swapped faces score 0.0-0.5, faces left raw or half-covered 0.8-1.0, 13 fell between.
LEAK_SIMILARITY = 0.6
REENTRY_GAP = 10  # frames unscored before a return counts as a re-entry
PEERS = ("bytetrack", "ocsort", "botsort", "per_frame", "iou_baseline")


@dataclass
class Drawn:
    """What a method put on air on one frame: one id and box per drawn swap."""

    ids: np.ndarray
    boxes: np.ndarray

    @staticmethod
    def of(ids: list[int], boxes: list[np.ndarray]) -> Drawn:
        return Drawn(np.asarray(ids, np.int64), np.asarray(boxes, np.float32).reshape(-1, 4))


@dataclass
class MethodRun:
    name: str
    drawn: list[Drawn]
    leaked: list[np.ndarray] | None = None  # per frame, per scored face: real face in the output pixels
    ms_per_frame: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


# -- the models --------------------------------------------------------------------------

@dataclass
class Kit:
    """The profile, its analysis models (for the peers' detections and the leak judge) and the target."""

    profile: Any
    detector: Any
    landmarker: Any
    recogniser: Any
    target_embedding: np.ndarray


def load_kit(profile_path: Path = DEMO_PROFILE, detect_every: int | str | None = None) -> Kit:
    from bridge.facestage.build import Analysis, sessions_for
    from bridge.profile import load_profile
    from bridge.runtime import assets

    assets.fetch_cpu_models(REPO / "models")
    assets.demo_targets()
    profile = load_profile(profile_path)
    profile.compose.label.text = ""  # the label is not a face; it would only muddy the pixel judge
    profile.models.threads = profile.models.threads or 1  # identity, not speed, is measured: share the cores politely
    if detect_every is not None:
        profile.analysis.detect_every = detect_every
    analysis = Analysis(profile, sessions_for(profile))
    active = profile.targets[0]
    image = cv2.imread(str(active.images[0]))
    faces = analysis.find_faces(image)
    if not faces:
        raise RuntimeError(f"no face found in target image {active.images[0]}")
    target = max(faces, key=lambda f: float((f.box[2] - f.box[0]) * (f.box[3] - f.box[1])))
    return Kit(profile, analysis.detector, analysis.landmarker, analysis.recogniser, target.embedding)


def detect_clip(kit: Kit, clip: Clip) -> tuple[list[list[Face]], float]:
    """The profile's detector and landmarker on every frame (the peers' input), and ms per frame."""
    t0 = time.perf_counter()
    out = [kit.landmarker.landmark(image, kit.detector.detect(image)) for image in clip.frames]
    return out, 1000 * (time.perf_counter() - t0) / max(1, len(clip))


# -- ours ----------------------------------------------------------------------------------

def _inside(kps: np.ndarray, shape: tuple[int, ...]) -> bool:
    h, w = shape[:2]
    return bool((kps[:, 0] >= 0).all() and (kps[:, 0] < w).all() and (kps[:, 1] >= 0).all() and (kps[:, 1] < h).all())


class LeakJudge:
    """Says, from the pixels alone, whether a face left the bridge as itself: the recogniser's
    cosine between the output crop and the input crop at the true landmarks.

    The input side is embedded at most every `refresh` frames per person (the nearest input
    embedding of the same person stands in between), which halves the recogniser runs; an output
    crop whose pixels are untouched is 1.0 without any."""

    def __init__(self, recogniser: Any, threshold: float = LEAK_SIMILARITY, refresh: int = 3) -> None:
        self.recogniser, self.threshold, self.refresh = recogniser, threshold, refresh
        self._inputs: dict[int, tuple[int, np.ndarray]] = {}  # person -> (frame, input embedding)

    def reset(self) -> None:
        self._inputs.clear()

    def similarity(self, before: np.ndarray, after: np.ndarray, faces: list[Truth], frame: int | None = None) -> np.ndarray:
        out = np.ones(len(faces), np.float32)
        pairs = [(n, self.recogniser.align(before, f), self.recogniser.align(after, f))
                 for n, f in enumerate(Face(box=t.box, score=1.0, kps5=t.kps5) for t in faces)]
        changed = [(n, a, b) for n, a, b in pairs if not np.array_equal(a, b)]
        if not changed:
            return out
        fresh = [(n, a) for n, a, _ in changed if frame is None or faces[n].id not in self._inputs
                 or frame - self._inputs[faces[n].id][0] >= self.refresh]
        emb = self.recogniser.embed_crops([b for _, _, b in changed] + [a for _, a in fresh])
        k = len(changed)
        inputs = {n: emb[k + j] for j, (n, _) in enumerate(fresh)}
        if frame is not None:
            for n, v in inputs.items():
                self._inputs[faces[n].id] = (frame, v)
        for j, (n, _, _) in enumerate(changed):
            reference = inputs[n] if n in inputs else self._inputs[faces[n].id][1]
            out[n] = float(emb[j] @ reference)
        return out

    def leaked(self, before: np.ndarray, after: np.ndarray, faces: list[Truth]) -> np.ndarray:
        return self.similarity(before, after, faces) >= self.threshold


def run_ours(kit: Kit, clip: Clip, judge: LeakJudge, build: Callable[[Any], Any] | None = None) -> MethodRun:
    """The clip through a fresh face stage from the profile, frame by frame, as the bridge runs."""
    from bridge.facestage.build import build_face_stage

    stage = (build or build_face_stage)(copy.deepcopy(kit.profile))
    judge.reset()
    drawn, leaked, sims, slots = [], [], [], []
    spent = 0.0
    for i, image in enumerate(clip.frames):
        before = image
        frame = Frame(image=image.copy(), sequence=i, frame_rate=(30, 1), received_at=1000.0 + clip.time(i))
        t0 = time.perf_counter()
        out = stage.process(frame)
        spent += time.perf_counter() - t0
        tracks = [t for t in stage.last_tracks if t.target is not None] if not stage.mapping.bypass else []
        drawn.append(Drawn.of([t.id for t in tracks], [t.face.box for t in tracks]))
        slots.append({t.id: getattr(t, "slot", None) for t in stage.last_tracks})
        faces = scored(clip, i, MIN_VISIBLE)
        judged = [t for t in faces if _inside(t.kps5, image.shape)]
        sim = judge.similarity(before, out.image, judged, i)
        flags = np.zeros(len(faces), bool)
        k = 0
        for n, t in enumerate(faces):
            if _inside(t.kps5, image.shape):
                flags[n] = sim[k] >= judge.threshold
                sims.append(float(sim[k]))
                k += 1
            else:  # landmarks off the picture: judged by whether a drawn swap covers it
                flags[n] = not _covered(t.box, drawn[-1].boxes)
        leaked.append(flags)
    return MethodRun("ours", drawn, leaked, 1000 * spent / max(1, len(clip)),
                     {"detect_every": stage.detect_every.every, "similarities": sims, "slots": slots})


def _covered(box: np.ndarray, boxes: np.ndarray) -> bool:
    iou = iou_matrix(box[None], boxes)
    return bool(iou.size and iou.max() >= COVER_IOU)


# -- peers ---------------------------------------------------------------------------------

def _sv_detections(faces: list[Face]):
    import supervision as sv

    if not faces:
        return sv.Detections.empty()
    return sv.Detections(xyxy=np.array([f.box for f in faces], np.float32).reshape(-1, 4),
                         confidence=np.array([f.score for f in faces], np.float32))


def run_trackers_peer(name: str, clip: Clip, detections: list[list[Face]]) -> MethodRun:
    import warnings

    import trackers

    make = {"bytetrack": trackers.ByteTrackTracker, "ocsort": trackers.OCSORTTracker,
            "botsort": trackers.BoTSORTTracker}[name]
    tracker = make(frame_rate=clip.fps)
    drawn, spent = [], 0.0
    for i, (image, faces) in enumerate(zip(clip.frames, detections)):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = tracker.update(_sv_detections(faces), frame=image if name == "botsort" else None, timestamp=clip.time(i))
        spent += time.perf_counter() - t0
        ids = np.asarray(out.tracker_id if out.tracker_id is not None else [], np.int64)
        keep = ids >= 0
        drawn.append(Drawn(ids[keep], np.asarray(out.xyxy, np.float32).reshape(-1, 4)[keep]))
    return MethodRun(name, drawn, None, 1000 * spent / max(1, len(clip)))


def run_iou_baseline(clip: Clip, detections: list[list[Face]]) -> MethodRun:
    from bridge.track.baseline import IouTracker

    tracker, drawn, spent = IouTracker(), [], 0.0
    for i, (image, faces) in enumerate(zip(clip.frames, detections)):
        t0 = time.perf_counter()
        tracks = tracker.update(image, faces, clip.time(i))
        spent += time.perf_counter() - t0
        drawn.append(Drawn.of([t.id for t in tracks], [t.face.box for t in tracks]))
    return MethodRun("iou_baseline", drawn, None, 1000 * spent / max(1, len(clip)))


def run_per_frame(kit: Kit, clip: Clip, detections: list[list[Face]]) -> MethodRun:
    """Deep-Live-Cam's map-faces way: the clip's face embeddings are clustered (k = the number of
    people, which favours the peer), then every detected face of every frame goes to its nearest
    centroid and is swapped; no tracks, no memory between frames."""
    from scipy.cluster.vq import kmeans2

    for image, faces in zip(clip.frames, detections):
        if faces:
            kit.recogniser.embed(image, faces)
    vectors = np.array([f.embedding for faces in detections for f in faces], np.float32).reshape(-1, 512)
    people = len({t.id for frame in clip.truth for t in frame})
    drawn = []
    if len(vectors) == 0:
        return MethodRun("per_frame", [Drawn.of([], []) for _ in clip.frames])
    k = max(1, min(people, len(vectors)))
    centroids, _ = kmeans2(vectors.astype(np.float64), k, minit="++", seed=np.random.default_rng(0))
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-9)
    t0 = time.perf_counter()
    for faces in detections:
        ids = [int(np.argmax(centroids @ f.embedding)) for f in faces]
        drawn.append(Drawn.of(ids, [f.box for f in faces]))
    return MethodRun("per_frame", drawn, None, 1000 * (time.perf_counter() - t0) / max(1, len(clip)))


def run_peers(kit: Kit, clip: Clip, detections: list[list[Face]], names: tuple[str, ...] = PEERS) -> list[MethodRun]:
    runs = []
    for name in names:
        if name == "per_frame":
            runs.append(run_per_frame(kit, clip, copy.deepcopy(detections)))
        elif name == "iou_baseline":
            runs.append(run_iou_baseline(clip, detections))
        else:
            runs.append(run_trackers_peer(name, clip, detections))
    return runs


# -- scoring -------------------------------------------------------------------------------

def _match(truth_boxes: np.ndarray, drawn_boxes: np.ndarray, least: float) -> dict[int, int]:
    """Scored face index → drawn swap index, one-to-one by IoU (at least `least`)."""
    iou = iou_matrix(truth_boxes, drawn_boxes)
    if iou.size == 0:
        return {}
    rows, cols = linear_sum_assignment(-iou)
    return {int(r): int(c) for r, c in zip(rows, cols) if iou[r, c] >= least}


def _segments(present: list[bool]) -> list[tuple[int, int]]:
    out, start = [], None
    for i, p in enumerate(present + [False]):
        if p and start is None:
            start = i
        elif not p and start is not None:
            out.append((start, i))
            start = None
    return out


def score(clip: Clip, run: MethodRun) -> dict[str, Any]:
    from trackers.eval import compute_clear_metrics, compute_identity_metrics

    gt_ids, tr_ids, sims = [], [], []
    faces = leaks = ghosts = drawn_total = 0
    per_person: dict[int, list[tuple[int, bool, int | None]]] = {}  # frames: (index, leaked, matched id)
    for i in range(len(clip)):
        truth = scored(clip, i, MIN_VISIBLE)
        drawn = run.drawn[i]
        t_boxes = np.array([t.box for t in truth], np.float32).reshape(-1, 4)
        iou = iou_matrix(t_boxes, drawn.boxes)
        gt_ids.append(np.array([t.id for t in truth], np.int64))
        tr_ids.append(drawn.ids)
        sims.append(iou)
        faces += len(truth)
        drawn_total += len(drawn.ids)
        # ghosts: drawn where no face is (any face showing at all counts as a face)
        everyone = np.array([t.box for t in clip.truth[i] if t.visible >= GHOST_VISIBLE], np.float32).reshape(-1, 4)
        near = iou_matrix(drawn.boxes, everyone)
        ghosts += int(len(drawn.ids) if near.shape[1] == 0 else (near.max(axis=1) < COVER_IOU).sum())
        cover = _match(t_boxes, drawn.boxes, COVER_IOU)
        same = _match(t_boxes, drawn.boxes, 0.5)
        for n, t in enumerate(truth):
            leaked = bool(run.leaked[i][n]) if run.leaked is not None else n not in cover
            leaks += leaked
            per_person.setdefault(t.id, []).append((i, leaked, int(drawn.ids[same[n]]) if n in same else None))
    ident = compute_identity_metrics(gt_ids, tr_ids, sims, threshold=0.5)
    clear = compute_clear_metrics(gt_ids, tr_ids, sims, threshold=0.5)

    first_swap, return_swap, reentries, kept = [], [], 0, 0
    for person, frames in per_person.items():
        index = {f: (leaked, hid) for f, leaked, hid in frames}
        present = [i in index for i in range(len(clip))]
        segments = _segments(present)
        merged: list[tuple[int, int]] = []
        for s in segments:  # a flicker shorter than a re-entry gap is the same appearance
            if merged and s[0] - merged[-1][1] < REENTRY_GAP:
                merged[-1] = (merged[-1][0], s[1])
            else:
                merged.append(s)
        for k, (a, b) in enumerate(merged):
            frames_in = [i for i in range(a, b) if i in index]
            delay = next((n for n, i in enumerate(frames_in) if not index[i][0]), len(frames_in))
            (first_swap if k == 0 else return_swap).append(delay)
            if k == 0:
                continue
            pa, pb = merged[k - 1]
            before = [index[i][1] for i in range(max(pa, pb - 10), pb) if i in index and index[i][1] is not None]
            after = [index[i][1] for i in range(a, b) if i in index and index[i][1] is not None][:15]
            if not before:
                continue
            reentries += 1
            if after and Counter(after).most_common(1)[0][0] == Counter(before).most_common(1)[0][0]:
                kept += 1
    leak_spans = {str(person): [list(span) for span in _segments([i in {f for f, leaked, _ in frames if leaked}
                                                                   for i in range(len(clip))])]
                  for person, frames in per_person.items() if any(leaked for _, leaked, _ in frames)}
    return {
        "idf1": round(float(ident["IDF1"]), 4),
        "id_switches": int(clear["IDSW"]),
        "mota": round(float(clear["MOTA"]), 4),
        "faces": faces,
        "leaks": leaks,
        "leak_rate": round(leaks / faces, 5) if faces else 0.0,
        "ghosts": ghosts,
        "ghost_rate": round(ghosts / faces, 5) if faces else 0.0,
        "drawn": drawn_total,
        "first_swap_frames": first_swap,
        "return_swap_frames": return_swap,
        "reentries": reentries,
        "reentries_kept": kept,
        "ms_per_frame": round(run.ms_per_frame, 3),
        "leak_spans": leak_spans,  # person -> [first, end) frame ranges that showed the real face
        **run.extra,
    }


def slot_stability(clip: Clip, run: MethodRun) -> dict[str, int]:
    """How steady the on-screen face slots were: slot changes of a person between the frames a
    track covered them (re-entries included), and frames where two drawn faces shared a slot."""
    last: dict[int, int] = {}
    changes = checks = shared = 0
    slots = run.extra.get("slots") or []
    for i, frame_slots in enumerate(slots):
        values = [s for s in frame_slots.values() if s is not None]
        shared += len(values) != len(set(values))
        truth = scored(clip, i, MIN_VISIBLE)
        t_boxes = np.array([t.box for t in truth], np.float32).reshape(-1, 4)
        drawn = run.drawn[i]
        for n, k in _match(t_boxes, drawn.boxes, 0.5).items():
            slot = frame_slots.get(int(drawn.ids[k]))
            if slot is None:
                continue
            person = truth[n].id
            if person in last:
                checks += 1
                changes += last[person] != slot
            last[person] = slot
    return {"slot_checks": checks, "slot_changes": changes, "slot_shared_frames": shared}
