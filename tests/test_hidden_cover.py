"""A face half hidden behind another is never on air: the tracker keeps where it was hidden
(Tracker.hidden) and the face stage blurs what still shows beside the face in front
(facestage/cover.py). Real face photos composited by the suite's generator; the last test runs
the real face stage (CPU demo profile, real models) and judges the output pixels with the
recogniser, as the identity suite does."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.faces.boxes import iou_matrix
from bridge.facestage.cover import HiddenCover
from bridge.track.tracker import Tracker
from bridge.types import Face, Track
from tests import suite_clips as sc

FRAMES = 60


def _scene(seed: int = 7, pool: str = "train", apart: float = 0.5) -> sc.Scene:
    """A seated face (person 0); a second (person 1) slides in front of its right side at frame
    15, `apart` face heights from it, stays until 40, and leaves."""
    h = 150.0
    back = sc.Actor(0, [sc.Key(0, 500, 360, h), sc.Key(FRAMES - 1, 505, 360, h)])
    front = sc.Actor(1, [sc.Key(0, 900, 370, h), sc.Key(15, 500 + apart * h, 370, h), sc.Key(40, 503 + apart * h, 370, h),
                         sc.Key(FRAMES - 1, 900, 370, h)])
    return sc.Scene("hidden", "occlude_face", seed, FRAMES, [back, front], pool=pool)


def _detections(truth: list[sc.Truth]) -> list[Face]:
    """What the CPU detector gives on such frames (seen on the suite's occlude_face clips): faces
    that show nearly whole, and one box over the pair while one half hides the other."""
    whole = [t for t in truth if t.visible >= 0.8]
    out = [Face(box=t.box.astype(np.float32), score=0.9, kps5=t.kps5.astype(np.float32)) for t in whole]
    if len(whole) < len(truth) and whole:
        boxes = np.array([t.box for t in truth], np.float32)
        out[0] = Face(box=np.concatenate([boxes[:, :2].min(0), boxes[:, 2:].max(0)]), score=0.9, kps5=whole[0].kps5)
    return out


def _track(tid: int, box, landmarks=None) -> Track:
    return Track(id=tid, face=Face(box=np.float32(box), score=1.0, landmarks68=landmarks))


@pytest.fixture(scope="module")
def clip() -> sc.Clip:
    return sc.render(_scene())


def test_the_tracker_keeps_a_face_hidden_behind_another_where_it_was(clip: sc.Clip) -> None:
    tracker = Tracker()
    hidden_frames, placed = [], []
    for i, image in enumerate(clip.frames):
        tracker.update(image, _detections(clip.truth[i]), clip.time(i))
        back = next(t for t in clip.truth[i] if t.id == 0)
        for t in tracker.hidden(clip.time(i)):
            hidden_frames.append(i)
            placed.append(float(iou_matrix(t.face.box[None], back.box[None])[0, 0]))
            assert t.state == "fallback"
    behind = [i for i in range(FRAMES) if next(t for t in clip.truth[i] if t.id == 0).visible < 0.8]
    assert behind, "the scene hides the back face"
    assert hidden_frames, "the back face's track was never listed as hidden"
    assert set(hidden_frames) <= set(range(behind[0], behind[-1] + 2)), "listed hidden while it showed whole"
    assert min(placed) >= 0.5, f"hidden box off the face behind (IoU {min(placed):.2f})"


def test_a_hidden_face_found_again_is_no_longer_covered(clip: sc.Clip) -> None:
    tracker = Tracker()
    for i in range(25):
        tracker.update(clip.frames[i], _detections(clip.truth[i]), clip.time(i))
    assert tracker.hidden(clip.time(24)), "hidden at frame 24"
    # the detector finds the face behind again (its own box beside the face in front)
    faces = [Face(box=t.box.astype(np.float32), score=0.9, kps5=t.kps5.astype(np.float32)) for t in clip.truth[25]]
    tracks = tracker.update(clip.frames[25], faces, clip.time(25))
    back = next(t for t in clip.truth[25] if t.id == 0)
    assert any(iou_matrix(t.face.box[None], back.box[None])[0, 0] >= 0.5 for t in tracks), "followed again"
    assert not tracker.hidden(clip.time(25)), "still covered as hidden while a track follows it"


def test_cover_blurs_what_shows_beside_the_face_in_front_and_leaves_that_face(clip: sc.Clip) -> None:
    i = 30
    image = clip.frames[i].copy()
    back = next(t for t in clip.truth[i] if t.id == 0)
    front = next(t for t in clip.truth[i] if t.id == 1)
    x0, y0, x1, y1 = front.box
    outline = np.float32([[x0 + 5, y0 + 40], [x1 - 5, y0 + 40], [x1 - 5, y1 - 5], [x0 + 5, y1 - 5]] * 17)  # 68 points
    cover = HiddenCover()
    shown = [_track(2, front.box, outline)]
    hidden = [_track(1, back.box)]
    assert [t.id for t in cover.behind(hidden, shown, image.shape)] == [1]
    before = image.copy()
    cover.paint(image, back.box, shown)
    bx0, by0, bx1, by1 = (int(v) for v in back.box)
    changed = np.abs(image.astype(int) - before.astype(int)).sum(axis=2) > 0
    assert changed[by0:by1, bx0:int(x0)].mean() > 0.5, "the showing half of the face behind was not covered"
    fx0, fy0 = int(x0) + 10, int(y0) + 50
    assert not changed[fy0:int(y1) - 10, fx0:int(x1) - 10].any(), "the face in front (its swap) was touched"
    assert not changed[:, :max(0, bx0 - 40)].any(), "pixels far from the face changed"


def test_cover_needs_a_face_in_front_and_enough_showing(clip: sc.Clip) -> None:
    shape = clip.frames[0].shape
    back = np.float32([400, 280, 520, 430])
    cover = HiddenCover()
    assert not cover.behind([_track(1, back)], [], shape), "nothing in front: the detector's turn"
    assert not cover.behind([_track(1, back)], [_track(2, [700, 280, 820, 430])], shape), "in front of nobody"
    whole = HiddenCover()
    for _ in range(whole.grace):
        assert not whole.behind([_track(1, back)], [_track(2, [390, 270, 530, 440])], shape), "hidden whole: nothing shows"
    # not qualifying in its first frames, a hidden face is not covered later (its last place is stale by then)
    assert not whole.behind([_track(1, back)], [_track(2, [470, 280, 590, 430])], shape)
    fresh = HiddenCover()
    assert fresh.behind([_track(1, back)], [_track(2, [470, 280, 590, 430])], shape), "half behind, on the first frame"


@pytest.mark.slow
@pytest.mark.usefixtures("models_dir")
def test_real_stage_keeps_half_hidden_faces_off_air() -> None:
    """The real face stage on an occlude_face clip of held-out people it was never tuned on (seed
    104; the benchmark uses 0-3): faces half behind others stay off air (pixel judge) within the
    issue's goal, with no ghost swaps. Without the cover this clip shows the real face on 1.3 %
    of its face-frames."""
    from benchmarks import identity_eval as ev

    held = sc.render(sc.scene("occlude_face", 104, 3.0, pool="holdout"))
    behind = [i for i in range(len(held)) for t in sc.scored(held, i, ev.MIN_VISIBLE) if t.visible < 0.8]
    assert len(behind) >= 8, "the clip has scored faces partly hidden"
    kit = ev.load_kit(detect_every=2)
    s = ev.score(held, ev.run_ours(kit, held, ev.LeakJudge(kit.recogniser)))
    assert s["leak_rate"] <= 0.005, f"real face on air: {s['leaks']} of {s['faces']} face-frames ({s['leak_spans']})"
    assert s["ghost_rate"] <= 0.005, f"ghosts {s['ghosts']} of {s['faces']}"


def _jittered(truth: list[sc.Truth], i: int, px: float = 6.0) -> list[Face]:
    """`_detections` with the back face's box jumping `px` left and right frame by frame, as the
    CPU detector's boxes of a still face do (and more on a box another face eats into)."""
    out = _detections(truth)
    back = next(t for t in truth if t.id == 0)
    for k, f in enumerate(out):
        if float(iou_matrix(f.box[None], back.box[None].astype(np.float32))[0, 0]) >= 0.8:
            shift = np.float32([px, 0, px, 0]) * (1 if i % 2 else -1)
            out[k] = Face(box=f.box + shift, score=f.score, kps5=f.kps5)
    return out


def test_a_still_face_whose_boxes_jitter_is_covered_for_as_long_as_it_is_hidden(clip: sc.Clip) -> None:
    """The velocity rule (a face last seen moving has gone on) reads the face's speed over its
    sure detections of the last moments, not one frame's step of its box: box jitter alone read
    as 360 px/s, and a still face behind another went on air after a few frames."""
    tracker = Tracker()
    behind, covered = [], []
    for i, image in enumerate(clip.frames):
        tracker.update(image, _jittered(clip.truth[i], i), clip.time(i))
        back = next(t for t in clip.truth[i] if t.id == 0)
        if i > 15 and back.visible < 0.8 and back.visible >= 0.4:
            behind.append(i)
            if any(iou_matrix(t.face.box[None], back.box[None])[0, 0] >= 0.5 for t in tracker.hidden(clip.time(i))):
                covered.append(i)
    assert len(behind) >= 10, "the scene hides the back face for a while"
    assert len(covered) >= 0.9 * len(behind), f"covered on {len(covered)} of {len(behind)} hidden frames"


def test_a_face_moving_on_behind_another_is_still_not_covered_where_it_was() -> None:
    """A face walking steadily behind a still one has gone on from where it was last surely seen:
    once it could have moved HIDDEN_DRIFT face sizes, its old place is not covered."""
    h = 150.0
    walker = sc.Actor(0, [sc.Key(0, 150, 360, h), sc.Key(FRAMES - 1, 1000, 360, h)])  # ~14 px a frame
    seated = sc.Actor(1, [sc.Key(0, 640, 370, h), sc.Key(FRAMES - 1, 642, 370, h)])
    walk = sc.render(sc.Scene("walk", "occlude_face", 3, FRAMES, [walker, seated]))
    tracker = Tracker()
    late = []
    for i, image in enumerate(walk.frames):
        tracker.update(image, _detections(walk.truth[i]), walk.time(i))
        for t in tracker.hidden(walk.time(i)):
            gone = abs((t.face.box[0] + t.face.box[2]) / 2 - next(g for g in walk.truth[i] if g.id == 0).box[[0, 2]].mean())
            late.append(gone / h)
    assert late, "the walker was hidden behind the seated face at some point"
    assert max(late) <= 2 * Tracker.HIDDEN_DRIFT, f"covered {max(late):.2f} face sizes from where the walker is"
