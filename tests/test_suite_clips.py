"""The identity suite's clip generator and scoring: deterministic clips that cover every situation
the issue lists, truth that says what shows, and scores that move the way they should."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from benchmarks import identity_eval as ev
from tests import suite_clips as sc


def _digest(clip) -> str:
    h = hashlib.sha256()
    for frame in clip.frames:
        h.update(frame.tobytes())
    return h.hexdigest()


def test_same_seed_same_pixels_other_seed_other_clip() -> None:
    a, b = sc.render(sc.scene("crossing", 7, seconds=0.5)), sc.render(sc.scene("crossing", 7, seconds=0.5))
    c = sc.render(sc.scene("crossing", 8, seconds=0.5))
    assert a.frames[0].shape == (720, 1280, 3)
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)
    assert [[(t.id, t.box.tolist()) for t in f] for f in a.truth] == [[(t.id, t.box.tolist()) for t in f] for f in b.truth]


def test_suite_covers_every_situation_the_issue_lists() -> None:
    scenes = sc.suite()
    assert len(scenes) >= 40 and len({s.name for s in scenes}) == len(scenes)
    by_kind = {k: [s for s in scenes if s.kind == k] for k in sc.KINDS}
    people = [len({a.person for a in s.actors}) for s in scenes]
    assert min(people) <= 2 and max(people) == 6
    heights = lambda s: [k.height for a in s.actors for k in a.keys]  # noqa: E731
    assert all(35 <= h <= 60 for s in by_kind["small"] for h in heights(s)), "small faces are 35-60 px tall"
    assert all(min(heights(s)) >= 200 for s in by_kind["large"])
    for s in by_kind["reentry"]:
        visits = {p: [a for a in s.actors if a.person == p] for p in {a.person for a in s.actors}}
        assert all(len(v) >= 4 for v in visits.values()), f"{s.name}: fewer than 3 re-entries for someone"
        entries = {_edge(a.keys[0]) for v in visits.values() for a in v}
        assert entries == {"left", "right", "top", "bottom"}, f"{s.name}: enters through {entries}"
    assert all(s.occluders for s in by_kind["occlude_object"])
    assert all(s.blur > 0 for s in by_kind["fast"])
    assert all(s.camera for s in by_kind["pan"] + by_kind["zoom"])
    assert all(any(g != (1.0, 1.0, 1.0) for _, g in s.gain) for s in by_kind["lighting"])
    assert sum(s.camera_at(0)[0, 0] != s.camera_at(s.frames - 1)[0, 0] for s in by_kind["zoom"]) == len(by_kind["zoom"])


def _edge(k: sc.Key) -> str:
    if k.x < 0:
        return "left"
    if k.x > sc.W:
        return "right"
    return "top" if k.y < 0 else "bottom"


def test_truth_says_what_shows_behind_an_object_and_off_the_edge() -> None:
    pole = sc.Occluder([sc.Key(0, 640, 360, 2000), sc.Key(9, 640, 360, 2000)], 100 / 2000, (40.0, 40.0, 40.0))
    scene = sc.Scene("t", "occlude_object", 0, 10, [sc.Actor(0, [sc.Key(0, 400, 360, 120), sc.Key(9, 640, 360, 120)]),
                                                   sc.Actor(6, [sc.Key(0, 1100, 360, 120), sc.Key(9, 1400, 360, 120)])],
                     occluders=[pole], noise=0)
    clip = sc.render(scene)
    first, last = {t.id: t for t in clip.truth[0]}, {t.id: t for t in clip.truth[9]}
    assert first[0].visible > 0.99 and first[6].visible > 0.99
    assert last[0].visible < 0.5, "a face behind the pole does not count as showing"
    assert 6 not in last or last[6].visible < 0.1, "a face past the right edge is gone"
    assert [t.id for t in sc.scored(clip, 9)] == []
    # the face's pixels are the photo's: its box centre differs from the bare background
    x0, y0, x1, y1 = first[0].box.astype(int)
    assert np.abs(clip.frames[0][y0:y1, x0:x1].astype(int) - clip.frames[9][y0:y1, x0:x1].astype(int)).mean() > 10


def _perfect(clip) -> ev.MethodRun:
    drawn = []
    for i in range(len(clip)):
        truth = sc.scored(clip, i)
        drawn.append(ev.Drawn.of([100 + t.id for t in truth], [t.box for t in truth]))
    return ev.MethodRun("perfect", drawn)


@pytest.fixture(scope="module")
def reentry_clip():
    return sc.render(sc.scene("reentry", 3, seconds=4.0))


def test_scores_of_a_perfect_run_and_of_each_kind_of_mistake(reentry_clip) -> None:
    clip = reentry_clip
    perfect = ev.score(clip, _perfect(clip))
    assert perfect["idf1"] == 1.0 and perfect["id_switches"] == 0 and perfect["leaks"] == 0 and perfect["ghosts"] == 0
    assert perfect["reentries"] >= 3 and perfect["reentries_kept"] == perfect["reentries"]
    assert perfect["first_swap_frames"] and max(perfect["first_swap_frames"]) == 0

    busy = next(i for i in range(len(clip)) if sc.scored(clip, i))
    ghost = _perfect(clip)
    ghost.drawn[busy] = ev.Drawn(np.append(ghost.drawn[busy].ids, 999),
                                 np.vstack([ghost.drawn[busy].boxes, [[-300, -300, -200, -200]]]).astype(np.float32))
    assert ev.score(clip, ghost)["ghosts"] == 1

    missed = _perfect(clip)
    missed.drawn[busy] = ev.Drawn.of([], [])
    m = ev.score(clip, missed)
    assert m["leaks"] == len(sc.scored(clip, busy)) and m["first_swap_frames"] != perfect["first_swap_frames"]

    renamed = _perfect(clip)  # everyone comes back with a new id on every visit
    visit: dict[int, int] = {}
    for i in range(len(clip)):
        present = {t.id for t in sc.scored(clip, i)}
        for p in present:
            if i == 0 or p not in {t.id for t in sc.scored(clip, i - 1)}:
                visit[p] = visit.get(p, 0) + 1
        renamed.drawn[i] = ev.Drawn.of([1000 * visit[t.id] + t.id for t in sc.scored(clip, i)],
                                       [t.box for t in sc.scored(clip, i)])
    r = ev.score(clip, renamed)
    assert r["reentries_kept"] == 0 and r["idf1"] < 0.9 and r["leaks"] == 0


def test_peers_on_truth_boxes_as_detections(reentry_clip) -> None:
    from bridge.types import Face

    clip = reentry_clip
    detections = [[Face(box=t.box.copy(), score=0.95, kps5=t.kps5.copy()) for t in sc.scored(clip, i)] for i in range(len(clip))]
    for name in ("bytetrack", "ocsort", "botsort"):
        s = ev.score(clip, ev.run_trackers_peer(name, clip, detections))
        assert s["ghosts"] == 0, f"{name} draws only what was detected"
        assert s["drawn"] > 0.5 * s["faces"] and s["idf1"] > 0.2, f"{name} follows the faces: {s}"
    s = ev.score(clip, ev.run_iou_baseline(clip, detections))
    assert s["leaks"] == 0 and s["ghosts"] == 0


@pytest.mark.usefixtures("models_dir")
def test_leak_judge_tells_the_real_face_from_a_swapped_one() -> None:
    import cv2

    kit = ev.load_kit(detect_every=1)
    judge = ev.LeakJudge(kit.recogniser)
    clip = sc.render(sc.scene("large", 0, seconds=0.2))
    truth = sc.scored(clip, 0)
    before = clip.frames[0]
    after = before.copy()
    assert judge.leaked(before, after, truth).all(), "an untouched face is a leak"
    portrait = cv2.imread(str(kit.profile.targets[0].images[0]))
    for t in truth:  # cover each face with the target's picture
        x0, y0, x1, y1 = np.clip(t.box, 0, [1279, 719, 1279, 719]).astype(int)
        after[y0:y1, x0:x1] = cv2.resize(portrait[20:-20, 20:-20], (x1 - x0, y1 - y0))
    assert not judge.leaked(before, after, truth).any(), "a face replaced by another person is not a leak"


def test_summary_goals_table_and_chart(reentry_clip, tmp_path) -> None:
    from benchmarks import identity_suite as suite

    clip = reentry_clip
    missed = _perfect(clip)
    for i in range(0, len(clip), 3):
        missed.drawn[i] = ev.Drawn.of([], [])
    entries = [{"clip": f"reentry-{k}", "kind": "reentry", "frames": len(clip), "people": 3,
                "methods": {"ours": ev.score(clip, _perfect(clip)), "bytetrack": ev.score(clip, missed)}} for k in range(2)]
    summary = {m: suite.summarise(entries, m) for m in ("ours", "bytetrack")}
    assert summary["ours"]["idf1_median"] == 1.0 and summary["ours"]["leak_rate"] == 0.0
    assert summary["bytetrack"]["leak_rate"] > 0.3 and summary["bytetrack"]["clips"] == 2
    goals = suite.goals(summary["ours"], {"bytetrack": summary["bytetrack"]})
    assert all(goals.values()), goals
    assert not suite.goals(summary["bytetrack"], {"ours": summary["ours"]})["leak ≤ 0.5 % overall"]
    report = {"command": "test", "date": "now", "machine": "here", "profile": "demo", "detect_every": 2,
              "summary": summary, "goals": goals, "clips": entries}
    table = suite.markdown(report)
    assert "| facebridge | 2 | 1.000 |" in table and "| ByteTrack | 2 |" in table and "| reentry-1 |" in table
    suite.chart(report, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").stat().st_size > 10_000
