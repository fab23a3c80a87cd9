"""The tracker and the mapping on generated clips with the real CPU models (ULFD detector,
68-point landmarker, light recogniser): what a viewer would notice."""

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from bridge.faces.detect import UlfdDetector
from bridge.faces.embed import Recogniser
from bridge.faces.landmarks import Landmarker68
from bridge.facestage.mapping import Mapping
from bridge.faces.boxes import iou_matrix
from bridge.track.metrics import clear_mot, keypoint_jitter
from bridge.track.tracker import Tracker, embed_with
from tests import clips


@pytest.fixture(scope="module")
def models(models_dir):
    return (UlfdDetector(models_dir / "fr_detect.onnx"), Landmarker68(models_dir / "fr_landmark.onnx"),
            Recogniser(models_dir / "fr_feature.onnx"))


@pytest.fixture(scope="module")
def detect(models):
    detector, landmarker, _ = models
    return lambda image, i: landmarker.landmark(image, detector.detect(image))


@pytest.fixture(scope="module")
def references(models, group_photo):
    """Reference embeddings of the show's people, from the group photo (not from the clips)."""
    detector, landmarker, recogniser = models
    faces = recogniser.embed(group_photo, landmarker.landmark(group_photo, detector.detect(group_photo)))
    boxes = np.array([f.box for f in faces])
    refs = {}
    for person, index in {"host": 2, "guest": 5}.items():
        iou = iou_matrix(np.array([clips.T1_FACES[index][0]], np.float32), boxes)[0]
        refs[person] = faces[int(iou.argmax())].embedding
    return refs


@pytest.fixture(scope="module")
def crossing():
    return clips.crossing()


def targets_by_truth(clip, result):
    """Truth id → set of targets its covering tracks showed."""
    seen: dict[int, set] = {}
    for i in range(len(clip)):
        ids, boxes = clip.truth_boxes(i)
        tracks = result.tracks[i]
        iou = iou_matrix(boxes, np.array([t.face.box for t in tracks]).reshape(-1, 4))
        for n, tid in enumerate(ids):
            if iou.shape[1] and iou[n].max() >= 0.5:
                seen.setdefault(tid, set()).add(tracks[int(iou[n].argmax())].target)
    return seen


def test_crossing_people_keep_their_ids_and_their_targets(crossing, models, detect, references):
    mapping = Mapping(["X"], people={"host": "H", "guest": "G"}, references=references, unknown="keep")
    tracker = Tracker(embed_with(models[2]))

    def tracked(image, faces, now):
        return mapping.assign(tracker.update(image, faces, now))

    class Step:
        update = staticmethod(tracked)

    result = clips.run(crossing, Step, detect)
    truth = [crossing.truth_boxes(i) for i in range(len(crossing))]
    assert clear_mot(truth, result.hypothesis).id_switches == 0
    assert targets_by_truth(crossing, result) == {2: {"H"}, 5: {"G"}}
    for tracks in result.tracks:  # two people never share a person or a target
        people = [t.person for t in tracks if t.person]
        assert len(people) == len(set(people))


def test_exit_and_reentry_returns_the_same_id_and_target(models, detect):
    clip = clips.exit_and_reenter()
    mapping = Mapping(["X"], unknown="pool", pool=["P1", "P2", "P3"])
    tracker = Tracker(embed_with(models[2]))

    class Step:
        @staticmethod
        def update(image, faces, now):
            return mapping.assign(tracker.update(image, faces, now))

    result = clips.run(clip, Step, detect)
    assert {k: len(v) for k, v in clips.identity_of(clip, result).items()} == {0: 1, 3: 1}
    assert targets_by_truth(clip, result) == {0: {"P1"}, 3: {"P2"}}
    # person 3 really was gone in between
    assert any(3 not in clip.truth_boxes(i)[0] for i in range(len(clip)))


def test_detect_every_third_frame_still_covers_every_frame(models, detect):
    clip = clips.four_faces()
    result = clips.run(clip, Tracker(embed_with(models[2])), detect, every=3)
    # a face tracked on a detection frame stays covered by its track until the next one
    gaps = []
    for d in range(0, len(clip), 3):
        ids, boxes = clip.truth_boxes(d)
        h_ids, h_boxes = result.hypothesis[d]
        iou = iou_matrix(boxes, h_boxes)
        rows, cols = linear_sum_assignment(-iou)
        tracked = {ids[r]: h_ids[c] for r, c in zip(rows, cols) if iou[r, c] >= 0.5}
        for i in range(d + 1, min(d + 3, len(clip))):
            ids_i, boxes_i = clip.truth_boxes(i)
            h_i = dict(zip(*result.hypothesis[i]))
            for n, tid in enumerate(ids_i):
                box = h_i.get(tracked.get(tid, -1))
                if tid in tracked and (box is None or iou_matrix(boxes_i[n:n + 1], box[None])[0, 0] < 0.3):
                    gaps.append((i, tid))
    assert gaps == []
    assert len(clips.uncovered(clip, result, every=3)) <= 0.03 * sum(len(t) for t in clip.truth)


def test_still_face_jitter_is_reduced_at_least_three_times(detect):
    clip = clips.still_face()
    tracker = Tracker()
    raw, smoothed = [], []
    for i, image in enumerate(clip.frames):
        faces = detect(image, i)
        raw.append(faces[0].kps5.copy())
        (track,) = tracker.update(image, faces, clip.time(i))
        smoothed.append(track.face.kps5)
    assert keypoint_jitter(np.array(raw[10:])) > 3 * keypoint_jitter(np.array(smoothed[10:]))
