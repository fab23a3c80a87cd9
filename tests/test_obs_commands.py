"""The control protocol: what a hotkey, a Stream Deck or POST /command may send, and what is refused."""

from __future__ import annotations

import json

import pytest

from bridge.obs.commands import (
    ACTIONS,
    MAX_COMMAND_BYTES,
    Command,
    CommandError,
    is_bridge_event,
    parse_command,
    parse_command_json,
    scene_command,
    targets_event,
)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"realm": "facebridge", "action": "next_target"}, Command("next_target")),
        ({"realm": "facebridge", "action": "prev_target"}, Command("prev_target")),
        ({"realm": "facebridge", "action": "select_target", "slot": 9}, Command("select_target", slot=9)),
        ({"realm": "facebridge", "action": "select_target", "target": "alice"}, Command("select_target", target="alice")),
        ({"realm": "facebridge", "action": "toggle_bypass"}, Command("toggle_bypass")),
        ({"realm": "facebridge", "action": "set_bypass", "on": False}, Command("set_bypass", on=False)),
        ({"realm": "facebridge", "action": "cycle_face_target", "track": 3}, Command("cycle_face_target", track=3)),
        ({"realm": "facebridge", "action": "cycle_face_target", "face": 2}, Command("cycle_face_target", face=2)),
        ({"realm": "facebridge", "action": "reload_targets"}, Command("reload_targets")),
    ],
)
def test_every_protocol_action_becomes_its_command(data: dict, expected: Command) -> None:
    assert parse_command(data) == expected


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ([1, 2], "JSON object"),
        ({"action": "next_target"}, "missing 'realm'"),
        ({"realm": "other", "action": "next_target"}, "realm is 'other'"),
        ({"realm": "facebridge"}, "missing 'action'"),
        ({"realm": "facebridge", "action": "explode"}, "unknown action 'explode'"),
        ({"realm": "facebridge", "action": "select_target", "slot": 0}, "out of range 1..9"),
        ({"realm": "facebridge", "action": "select_target", "slot": 10}, "out of range 1..9"),
        ({"realm": "facebridge", "action": "select_target", "slot": True}, "integer 1..9"),
        ({"realm": "facebridge", "action": "select_target", "slot": "3"}, "integer 1..9"),
        ({"realm": "facebridge", "action": "select_target"}, "exactly one of"),
        ({"realm": "facebridge", "action": "select_target", "slot": 1, "target": "a"}, "exactly one of"),
        ({"realm": "facebridge", "action": "select_target", "target": ""}, "non-empty string"),
        ({"realm": "facebridge", "action": "set_bypass", "on": "yes"}, "true or false"),
        ({"realm": "facebridge", "action": "set_bypass"}, "true or false"),
        ({"realm": "facebridge", "action": "cycle_face_target", "track": -1}, "non-negative integer"),
        ({"realm": "facebridge", "action": "cycle_face_target"}, "non-negative integer"),
        ({"realm": "facebridge", "action": "cycle_face_target", "face": 0}, "face slot 1..9"),
        ({"realm": "facebridge", "action": "cycle_face_target", "face": True}, "face slot 1..9"),
        ({"realm": "facebridge", "action": "cycle_face_target", "face": 1, "track": 4}, "not both"),
        ({"realm": "facebridge", "action": "next_target", "pad": "x" * MAX_COMMAND_BYTES}, "bytes, more than"),
    ],
)
def test_malformed_requests_are_refused_with_a_one_line_reason(data: object, reason: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse_command(data)
    assert reason in str(caught.value)
    assert "\n" not in str(caught.value)


def test_http_body_is_size_checked_before_it_is_decoded() -> None:
    with pytest.raises(CommandError, match="bytes, more than"):
        parse_command_json(b"[" * (MAX_COMMAND_BYTES + 1))
    with pytest.raises(CommandError, match="not valid JSON"):
        parse_command_json("{realm")
    assert parse_command_json('{"realm": "facebridge", "action": "toggle_bypass"}', source="http") == Command(
        "toggle_bypass", source="http"
    )


def test_a_command_round_trips_through_its_event_data() -> None:
    for command in (Command("select_target", slot=4), Command("set_bypass", on=True), Command("cycle_face_target", track=2),
                    Command("cycle_face_target", face=3)):
        assert parse_command(json.loads(json.dumps(command.to_event()))) == command


def test_scene_mapping_is_internal_and_not_accepted_from_outside() -> None:
    assert "scene_mapping" not in ACTIONS
    with pytest.raises(CommandError, match="unknown action"):
        parse_command({"realm": "facebridge", "action": "scene_mapping", "scene": "Main"})


def test_program_scene_change_names_the_scene_and_the_mapping_applies_its_override() -> None:
    from bridge.facestage.mapping import Mapping, SceneOverride

    assert scene_command("Interview") == Command("scene_mapping", scene="Interview", source="scene")
    mapping = Mapping(["A", "B"], scene_overrides={"Interview": SceneOverride(bypass=True, active_target="B")})
    assert mapping.apply(scene_command("Interview")).applied
    assert mapping.bypass and mapping.active_target == "B" and mapping.scene == "Interview"
    assert mapping.apply(scene_command("Main")).applied and not mapping.bypass  # no override: the show's own


def test_the_bridges_target_broadcast_is_recognised_and_not_a_command() -> None:
    event = targets_event(["alice", "bob"], "bob")
    assert is_bridge_event(event)
    assert not is_bridge_event({"realm": "facebridge", "action": "next_target"})
    with pytest.raises(CommandError):
        parse_command(event)
