import numpy as np
import pytest

from bridge.facestage.mapping import BLUR, Mapping, MappingError, SceneOverride
from bridge.obs.commands import Command
from bridge.types import Face, Track

RNG = np.random.default_rng(0)
HOST, GUEST, STRANGER = (v / np.linalg.norm(v) for v in RNG.normal(size=(3, 64)))


def track(tid, embedding=None):
    return Track(id=tid, face=Face(box=np.zeros(4, np.float32), score=1.0), embedding=embedding)


def near(v, noise=0.1, seed=1):
    w = v + np.random.default_rng(seed).normal(0, noise / np.sqrt(len(v)), len(v))
    return w / np.linalg.norm(w)


def show(**kw):
    base = dict(targets=["A", "B", "C"], people={"host": "H", "guest": "G"},
                references={"host": HOST, "guest": GUEST})
    base.update(kw)
    return Mapping(**base)


def test_known_people_get_their_targets_and_strangers_the_active_one():
    m = show()
    t = m.assign([track(1, near(HOST)), track(2, near(GUEST)), track(3, STRANGER)])
    assert [(x.person, x.target) for x in t] == [("host", "H"), ("guest", "G"), (None, "A")]


def test_two_tracks_never_hold_the_same_person():
    m = show()
    t = m.assign([track(1, near(HOST, seed=1)), track(2, near(HOST, seed=2))])
    assert [x.person for x in t].count("host") == 1


def test_a_track_keeps_its_person_on_a_near_tie():
    m = show()
    m.assign([track(1, near(HOST, 0.2, 1))])
    # a second face that fits the host a hair better does not take the host away
    t = m.assign([track(1, near(HOST, 0.2, 1)), track(2, HOST)])
    assert t[0].person == "host" and t[1].person is None


def test_person_is_kept_on_frames_without_embedding():
    m = show()
    m.assign([track(1, near(GUEST))])
    assert m.assign([track(1)])[0].target == "G"


@pytest.mark.parametrize("policy,expected", [("keep", None), ("blur", BLUR), ("fixed", "C"), ("active", "A")])
def test_unknown_face_policy(policy, expected):
    m = show(unknown=policy, fixed_target="C")
    assert m.assign([track(5, STRANGER)])[0].target == expected


def test_pool_gives_distinct_targets_in_order_of_appearance_and_keeps_them():
    m = show(unknown="pool", pool=["P1", "P2"])
    assert [t.target for t in m.assign([track(1)])] == ["P1"]
    assert [t.target for t in m.assign([track(1), track(2)])] == ["P1", "P2"]
    # pool exhausted while both are on screen: the active target
    assert [t.target for t in m.assign([track(1), track(2), track(3)])] == ["P1", "P2", "A"]
    # id 1 gone: a newcomer reclaims its pool target; id 2 keeps its own
    assert [t.target for t in m.assign([track(2), track(4)])] == ["P2", "P1"]


def test_hotkeys_switch_the_active_target_on_the_next_frame_for_all_unknown_faces():
    m = show()
    m.assign([track(1), track(2)])
    assert m.apply(Command("next_target")).applied
    assert [t.target for t in m.assign([track(1), track(2)])] == ["B", "B"]
    m.apply(Command("prev_target"))
    m.apply(Command("prev_target"))
    assert m.active_target == "C"
    m.apply(Command("select_target", slot=2))
    assert m.active_target == "B"
    m.apply(Command("select_target", target="A"))
    assert m.active_target == "A"


def test_bad_selects_and_unknown_actions_are_not_applied():
    m = show()
    assert not m.apply(Command("select_target", slot=9)).applied
    assert not m.apply(Command("select_target", target="nobody")).applied
    assert not m.apply(Command("dance")).applied
    assert m.active_target == "A"


def test_bypass_clears_every_target_and_comes_back():
    m = show()
    m.apply(Command("toggle_bypass"))
    assert [t.target for t in m.assign([track(1, near(HOST)), track(2)])] == [None, None]
    m.apply(Command("set_bypass", on=False))
    assert [t.target for t in m.assign([track(1, near(HOST)), track(2)])] == ["H", "A"]


def test_cycle_face_target_moves_one_face_only():
    m = show()
    m.assign([track(1), track(2)])
    m.apply(Command("cycle_face_target", track=2))
    assert [t.target for t in m.assign([track(1), track(2)])] == ["A", "B"]
    m.apply(Command("cycle_face_target", track=2))
    assert m.assign([track(2)])[0].target == "C"


def test_cycle_face_target_by_slot_follows_the_face_holding_it():
    m = show()
    first = [track(7), track(9)]
    first[0].slot, first[1].slot = 2, 1
    m.assign(first)
    assert m.apply(Command("cycle_face_target", face=2)).applied
    assert [t.target for t in m.assign(first)] == ["B", "A"]  # track 7 holds slot 2
    again = track(12)  # slot 1 freed and reused by a newcomer: the hotkey now means them
    again.slot = 1
    m.assign([first[0], again])
    m.apply(Command("cycle_face_target", face=1))
    assert [t.target for t in m.assign([first[0], again])] == ["B", "B"]
    assert not m.apply(Command("cycle_face_target", face=4)).applied  # nobody there


def test_cycle_right_after_bypass_goes_off_starts_from_what_the_face_shows_now():
    m = show()
    m.assign([track(1)])  # A: the active target
    m.apply(Command("toggle_bypass"))
    m.assign([track(1)])  # a frame in bypass: nothing mapped
    m.apply(Command("toggle_bypass"))
    m.apply(Command("cycle_face_target", track=1))  # before any frame out of bypass
    assert m.assign([track(1)])[0].target == "B"
    m = show(scene_overrides={"Interview": SceneOverride(unknown="blur"), "Break": SceneOverride(bypass=True)})
    m.apply(Command("scene_mapping", scene="Interview"))
    t = m.assign([track(1, near(GUEST)), track(2, STRANGER)])
    assert [x.target for x in t] == ["G", BLUR]  # the known guest keeps theirs; strangers are blurred here
    m.apply(Command("scene_mapping", scene="Break"))
    assert m.bypass and m.assign([track(1, near(GUEST))])[0].target is None
    m.apply(Command("scene_mapping", scene="Main"))
    assert [x.target for x in m.assign([track(1, near(GUEST)), track(2, STRANGER)])] == ["G", "A"]


def test_reload_keeps_the_active_target_by_name():
    m = show()
    m.apply(Command("select_target", target="B"))
    assert m.apply(Command("reload_targets")).reload
    assert m.reload_targets(["Z", "B"]).applied
    assert m.active_target == "B"


@pytest.mark.parametrize("kw,words", [
    (dict(unknown="fixed"), "fixed_target"),
    (dict(unknown="pool"), "pool"),
    (dict(unknown="sometimes"), "policy"),
    (dict(targets=["@blur"]), "'@'"),
    (dict(references={}), "reference"),
])
def test_contradictory_settings_are_one_line_errors(kw, words):
    with pytest.raises(MappingError, match=words):
        show(**kw)


def test_a_reloaded_mapping_continues_what_is_on_air():
    running = Mapping(["a", "b", "c"], scene_overrides={"Interview": SceneOverride(unknown="keep")})
    running.select_target("c")
    running.set_scene("Interview")
    running.set_bypass(True)
    reloaded = Mapping(["b", "c"], scene_overrides={"Interview": SceneOverride(unknown="blur")})
    reloaded.continue_from(running)
    assert (reloaded.active_target, reloaded.bypass, reloaded.scene) == ("c", True, "Interview")
    assert reloaded.unknown == "blur", "the edited scene override applies"
    gone = Mapping(["x", "y"])
    gone.continue_from(running)
    assert gone.active_target == "x", "a target the edit removed falls back to the first"
