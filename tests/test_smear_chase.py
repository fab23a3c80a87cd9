"""A fast face the detector loses to motion blur is covered, not shown, and no track is started
on it (facestage/chase.py): the tracker lists the tracks whose flow or look failed moments ago
(Tracker.smeared), and the chase finds each face on a crop with its smear undone (real ULFD and
the real CPU landmarker on a real face photo composited by the suite's generator, smeared as the
suite's fast clips are)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from bridge.faces.boxes import iou_matrix
from bridge.faces.detect import UlfdDetector
from bridge.faces.landmarks import Landmarker68
from bridge.facestage.chase import SmearChase
from bridge.track.tracker import Tracker
from bridge.types import Face, Track
from tests import suite_clips as sc
from tests.test_track_switch_rules import GONE, IMAGE, face

REST = 8  # frames the face sits still before it sets off


@pytest.fixture(scope="module")
def models(models_dir):
    return UlfdDetector(models_dir / "fr_detect.onnx"), Landmarker68(models_dir / "fr_landmark.onnx")


@pytest.fixture(scope="module")
def dash() -> sc.Clip:
    """A held-out person sits still, then sets off sideways at 45 px a frame (the exposure the
    whole frame interval: smeared about 45 px, some 40 % of the face's width)."""
    h = 110.0
    actor = sc.Actor(1, [sc.Key(0, 300, 300, h), sc.Key(REST, 300, 300, h), sc.Key(REST + 16, 300 + 16 * 45, 330, h)])
    return sc.render(sc.Scene("dash", "fast", 11, REST + 17, [actor], blur=1.0, pool="holdout"))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(iou_matrix(np.asarray(a, np.float32)[None], np.asarray(b, np.float32)[None])[0, 0])


def _chase(chase: SmearChase, clip: sc.Clip, lost_box: np.ndarray, frames: range) -> list[list[Track]]:
    """The chase on `frames`, a track lost at `lost_box` on the frame before them listed for 6
    frames (as Tracker.smeared lists it for 0.2 s)."""
    seen = clip.time(frames[0] - 1)
    out = []
    for i in frames:
        lost = [(9, lost_box, np.zeros(2, np.float32), seen)] if clip.time(i) - seen <= 0.2 else []
        out.append(chase.cover(clip.frames[i], cv2.cvtColor(clip.frames[i], cv2.COLOR_BGR2GRAY), lost, [], clip.time(i)))
        for t in out[-1]:  # painted along the smear it read (sideways here): the whole smeared face
            grown = chase.extent(t.id, t.face.box)
            assert grown[2] - grown[0] >= t.face.box[2] - t.face.box[0] and grown[0] <= t.face.box[0]
    return out


def test_the_tracker_lists_tracks_whose_flow_failed_moments_ago_for_the_chase() -> None:
    tracker = Tracker()
    tracker.update(IMAGE, [face(100.0), face(220.0)], 0.0)
    ids = sorted(t.id for t in tracker.update(IMAGE, [face(100.0), face(220.0)], 0.1))
    assert tracker.smeared(0.1) == [], "shown tracks are not chased"
    assert tracker.update(GONE, None, 0.2) == []  # flow fails on every face
    listed = tracker.smeared(0.2)
    assert sorted(tid for tid, *_ in listed) == ids
    for tid, box, velocity, seen in listed:
        assert seen == pytest.approx(0.1) and box.shape == (4,) and velocity.shape == (2,)
    assert tracker.smeared(0.45) == [], "only tracks lost moments ago are looked for"


def test_a_track_that_left_the_frame_is_not_chased() -> None:
    tracker = Tracker()
    box = lambda x: Face(box=np.float32([x, 80, x + 70, 150]), score=0.9, landmark_score=0.9)  # noqa: E731
    tracker.update(IMAGE, [box(240.0)], 0.0)
    tracker.update(IMAGE, [box(250.0)], 0.05)
    for k, x in enumerate((290.0, 330.0, 370.0)):  # walks out by the right edge (320 px wide)
        tracker.update(IMAGE, [box(x)] if x < 300 else [], 0.1 + 0.05 * k)
    assert tracker.smeared(0.25) == []


def test_a_face_lost_to_motion_blur_is_covered_under_its_id_where_it_is(models, dash: sc.Clip) -> None:
    detector, landmarker = models
    frames = range(REST + 1, REST + 16)
    whole = [bool(iou_matrix(np.float32([f.box for f in detector.detect(dash.frames[i])]).reshape(-1, 4),
                             dash.truth[i][0].box[None]).max(initial=0.0) >= 0.3) for i in frames]
    assert sum(whole) <= 0.6 * len(frames), f"the whole-frame pass finds the smeared face on {sum(whole)} frames"
    chase = SmearChase(detector, landmarker)
    covers = _chase(chase, dash, dash.truth[REST][0].box, frames)
    on = [(i, t) for i, c in zip(frames, covers) for t in c]
    assert len(on) >= 0.6 * len(frames), f"covered on {len(on)} of {len(frames)} frames"
    assert all(t.id == 9 and t.state == "fallback" for _, t in on), "a cover carries its lost track's id"
    worst = min(_iou(t.face.box, dash.truth[i][0].box) for i, t in on)
    assert worst >= 0.3, f"a cover off the face (IoU {worst:.2f}): a ghost"
    assert max(len(c) for c in covers) == 1
    assert np.array_equal(chase.extent(5, np.float32([1, 2, 3, 4])), np.float32([1, 2, 3, 4])), "a face not chased"


def test_no_cover_where_no_face_is(models, dash: sc.Clip) -> None:
    """A track lost far from any face (the face is elsewhere): nothing the chase finds is covered."""
    detector, landmarker = models
    covers = _chase(SmearChase(detector, landmarker), dash, np.float32([1050, 450, 1130, 560]), range(REST + 1, REST + 7))
    assert not any(covers)


def test_a_face_a_shown_track_holds_is_not_covered_again(models, dash: sc.Clip) -> None:
    detector, landmarker = models
    chase = SmearChase(detector, landmarker)
    i = REST + 4
    truth = dash.truth[i][0].box
    shown = [Track(id=3, face=Face(box=truth.astype(np.float32), score=1.0))]
    grey = cv2.cvtColor(dash.frames[i], cv2.COLOR_BGR2GRAY)
    assert chase.cover(dash.frames[i], grey, [(9, truth, np.zeros(2, np.float32), dash.time(i - 1))], shown, dash.time(i)) == []


def test_the_real_stage_blurs_a_chased_face_under_its_lost_id(tmp_path, models_dir, dash: sc.Clip, monkeypatch) -> None:
    """The CPU demo profile's face stage: a track lost as the face set off (listed by the tracker,
    here scripted) is chased, drawn as state "fallback" under its id, and its smeared face is
    blurred in the output; the picture beside it is untouched."""
    from bridge.facestage.build import build_face_stage
    from bridge.facestage.stage import Analysed
    from bridge.profile import load_profile
    from bridge.types import Frame
    from tests.e2e_tools import face_profile

    stage = build_face_stage(load_profile(face_profile(tmp_path, detect_every=2)))
    assert stage.chase is not None, "the demo profile chases (look_again on, fallback not pass)"
    rest, seen = dash.truth[REST][0].box, 1000.0 + dash.time(REST)
    monkeypatch.setattr(stage.tracker, "smeared", lambda now, recent_s=0.2: [(99, rest, np.zeros(2, np.float32), seen)])
    covered = []
    for i in range(REST + 1, REST + 5):
        image = dash.frames[i].copy()
        frame = Frame(image=image, sequence=i, frame_rate=(30, 1), received_at=1000.0 + dash.time(i))
        out = stage.finish(Analysed(frame, [], grey=cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)))
        drawn = [d for d in out.drawn if d["id"] == 99]
        if drawn:
            assert drawn[0]["state"] == "fallback" and _iou(np.float32(drawn[0]["box"]), dash.truth[i][0].box) >= 0.3
            x0, y0, x1, y1 = (int(v) for v in dash.truth[i][0].box)
            changed = np.abs(out.image.astype(int) - dash.frames[i].astype(int)).sum(axis=2) > 6
            covered.append(float(changed[y0:y1, x0:x1].mean()))
            band = changed[max(0, y0 - 40):y1 + 40]  # the face's rows (the output's label sits in a corner)
            assert not band[:, :max(0, x0 - 120)].any() and not band[:, x1 + 160:].any(), "pixels far off changed"
    assert len(covered) >= 2, f"covered on {len(covered)} of 4 frames"
    assert min(covered) >= 0.5, f"the face only partly blurred ({min(covered):.2f} of its box)"


def test_a_velocity_is_a_straight_line_fitted_to_the_finds() -> None:
    from bridge.facestage.chase import fitted_velocity

    rng = np.random.default_rng(3)
    run = [(i / 30, np.float64([100 + 34 * i, 200 - 5 * i]) + rng.normal(0, 4, 2)) for i in (0, 1, 3, 4, 7, 8)]
    fitted, last_step = fitted_velocity(run) / 30, (run[-1][1] - run[-2][1])
    assert np.abs(fitted - [34, -5]).max() < 0.5 * np.abs(last_step - [34, -5]).max(), "through the boxes' noise"
    assert np.array_equal(fitted_velocity(run[:1]), np.zeros(2, np.float32))
    assert np.array_equal(fitted_velocity([(1.0, np.ones(2)), (1.0, np.zeros(2))]), np.zeros(2, np.float32))


def test_a_smear_runs_along_a_velocity_either_way_and_not_across() -> None:
    from bridge.facestage.chase import runs_along

    v = np.float32([300.0, 20.0])
    assert runs_along(np.float32([30.0, 1.0]), v) and runs_along(np.float32([-30.0, -3.0]), v)
    assert not runs_along(np.float32([2.0, 30.0]), v), "across the way it went: it turned"
    assert not runs_along(np.float32([0.5, 0.0]), v), "too short to have a direction"
    assert not runs_along(np.float32([30.0, 0.0]), np.zeros(2, np.float32))


class _Blind:
    """The real ULFD, made to find nothing on the frames listed in `blind`: it stands in for the
    deblurred look missing a smeared face, which the real detector does on about half the looks at
    a 30 px smear, on frames no clip can be made to pick."""

    def __init__(self, detector: UlfdDetector) -> None:
        self.detector, self.blind, self.frame = detector, set(), -1
        self.width, self.height = detector.width, detector.height

    def detect(self, image: np.ndarray, least_score: float | None = None) -> list[Face]:
        return [] if self.frame in self.blind else self.detector.detect(image, least_score=least_score)


def _dash_turning(turn: bool) -> sc.Clip:
    """A held-out face sets off sideways at 36 px a frame; with `turn`, it goes straight down from
    frame 14 at the same speed."""
    h, s, k = 110.0, 36.0, 14
    keys = [sc.Key(0, 200, 200, h), sc.Key(REST, 200, 200, h), sc.Key(k, 200 + (k - REST) * s, 200, h)]
    keys.append(sc.Key(k + 8, 200 + (k - REST) * s, 200 + 8 * s, h) if turn else sc.Key(k + 8, 200 + (k + 8 - REST) * s, 200, h))
    return sc.render(sc.Scene("dash-turn" if turn else "dash-on", "fast", 12, k + 9, [sc.Actor(1, keys)], blur=1.0, pool="holdout"))


@pytest.mark.parametrize("turn", [False, True], ids=["straight", "turning"])
def test_misses_are_covered_while_the_smear_runs_its_way_and_not_once_it_turned(models, turn: bool) -> None:
    """Looks that find nothing for 7 frames from frame 14 (the face found before them): a face
    going on the same way is covered on every one (its smear still runs along its fitted
    velocity), on the face; one that turned there is covered at most on the two frames any
    steady face is, and never off the face after them."""
    detector, landmarker = models
    clip = _dash_turning(turn)
    blind = _Blind(detector)
    blind.blind = set(range(14, 21))
    chase = SmearChase(blind, landmarker)
    seen = clip.time(REST)
    covers = {}
    for i in range(REST + 1, 21):
        blind.frame = i
        lost = [(9, clip.truth[REST][0].box, np.zeros(2, np.float32), seen)] if clip.time(i) - seen <= 0.2 else []
        grey = cv2.cvtColor(clip.frames[i], cv2.COLOR_BGR2GRAY)
        covers[i] = [_iou(t.face.box, clip.truth[i][0].box) for t in chase.cover(clip.frames[i], grey, lost, [], clip.time(i))]
    assert all(covers[i] for i in (12, 13)), f"found before the misses: {covers}"
    missed = [covers[i] for i in range(14, 21)]
    if not turn:
        assert all(missed) and min(c[0] for c in missed) >= 0.5, f"a steady face covered on its misses, on it: {missed}"
    else:
        assert not any(missed[2:]), f"covered where it no longer goes: {missed}"
