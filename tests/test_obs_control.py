"""ObsControl against Debian's real OBS Studio, headless (fixture `obs_studio` in conftest.py).

Debian's OBS has no NDI input kind (DistroAV is not packaged), so the placement tests inject
another input kind that Debian's OBS does have, "color_source_v3", through ObsControl's
`input_kind` argument. That injection exists only in these tests; the bridge places DistroAV's
`ndi_source`. What the NDI kind itself would show cannot be checked here.
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable
from typing import Any

import pytest

from bridge.obs.commands import Command, targets_event
from bridge.obs.control import MISSING_NDI_MESSAGE, ObsControl
from tests.obs_fixture import ObsStudio

pytestmark = [pytest.mark.obs, pytest.mark.slow]

STAND_IN_KIND = "color_source_v3"  # injected by the test only: Debian's OBS has no `ndi_source`


def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll until `condition()` is truthy (a deadline, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout} s")


def make_control(obs: ObsStudio, **options: Any) -> tuple[ObsControl, queue.Queue, list[str]]:
    commands: queue.Queue = queue.Queue()
    status: list[str] = []
    control = ObsControl(
        host=obs.host,
        port=obs.port,
        password=obs.password,
        command_sink=commands.put_nowait,
        on_status=status.append,
        backoff=(0.2, 1.0),
        **options,
    )
    return control, commands, status


def next_command(commands: queue.Queue, timeout: float = 5.0) -> Command:
    return commands.get(timeout=timeout)


def items_of(obs: ObsStudio, scene: str, source: str) -> list[dict[str, Any]]:
    client = obs.request_client()
    try:
        items = client.send("GetSceneItemList", {"sceneName": scene}, raw=True)["sceneItems"]
    finally:
        client.disconnect()
    return [item for item in items if item["sourceName"] == source]


def inputs_named(obs: ObsStudio, name: str) -> list[dict[str, Any]]:
    client = obs.request_client()
    try:
        return [i for i in client.send("GetInputList", raw=True)["inputs"] if i["inputName"] == name]
    finally:
        client.disconnect()


def test_missing_ndi_input_kind_is_reported_in_one_clear_line(obs_studio: ObsStudio) -> None:
    control, _commands, status = make_control(obs_studio, source_name="fb-ndi", scenes=["Main"])
    with control:
        wait_for(lambda: control.ndi_available is False)
        assert status.count(MISSING_NDI_MESSAGE) == 1
        assert "DistroAV" in MISSING_NDI_MESSAGE and "NDI 6 runtime" in MISSING_NDI_MESSAGE
        assert inputs_named(obs_studio, "fb-ndi") == []
        assert control.connected  # carries on: commands still flow without the source


def test_source_is_placed_in_every_scene_fitted_to_the_canvas(obs_studio: ObsStudio) -> None:
    control, _commands, _status = make_control(
        obs_studio, source_name="fb-placed", scenes=["Main", "Second"], input_kind=STAND_IN_KIND
    )
    with control:
        wait_for(lambda: control.placed_scenes == ["Main", "Second"])
    assert len(inputs_named(obs_studio, "fb-placed")) == 1
    width, height = obs_studio.canvas
    for scene in ("Main", "Second"):
        (item,) = items_of(obs_studio, scene, "fb-placed")
        transform = item["sceneItemTransform"]
        assert transform["boundsType"] == "OBS_BOUNDS_SCALE_INNER"
        assert (transform["boundsWidth"], transform["boundsHeight"]) == (width, height)
        assert (transform["positionX"], transform["positionY"]) == (0, 0)


def test_restart_of_the_bridge_neither_duplicates_nor_moves_the_users_source(obs_studio: ObsStudio) -> None:
    options = {"source_name": "fb-moved", "scenes": ["Main", "Second"], "input_kind": STAND_IN_KIND}
    control, _commands, _status = make_control(obs_studio, **options)
    with control:
        wait_for(lambda: control.placed_scenes == ["Main", "Second"])
    (item,) = items_of(obs_studio, "Main", "fb-moved")
    client = obs_studio.request_client()
    moved = {"positionX": 123.0, "positionY": 45.0, "boundsType": "OBS_BOUNDS_STRETCH", "boundsWidth": 200.0, "boundsHeight": 100.0}
    client.send("SetSceneItemTransform", {"sceneName": "Main", "sceneItemId": item["sceneItemId"], "sceneItemTransform": moved})
    # the user also removed it from the second scene: the profile still lists that scene
    (second,) = items_of(obs_studio, "Second", "fb-moved")
    client.send("RemoveSceneItem", {"sceneName": "Second", "sceneItemId": second["sceneItemId"]})
    client.disconnect()

    restarted, _commands, _status = make_control(obs_studio, **options)
    with restarted:
        wait_for(lambda: restarted.placed_scenes == ["Main", "Second"])
    assert len(inputs_named(obs_studio, "fb-moved")) == 1
    (kept,) = items_of(obs_studio, "Main", "fb-moved")
    transform = kept["sceneItemTransform"]
    assert kept["sceneItemId"] == item["sceneItemId"]
    assert (transform["positionX"], transform["positionY"], transform["boundsWidth"]) == (123.0, 45.0, 200.0)
    (readded,) = items_of(obs_studio, "Second", "fb-moved")
    assert readded["sceneItemTransform"]["boundsWidth"] == obs_studio.canvas[0]  # a new item: fitted


def test_every_hotkey_reaches_the_command_sink_and_malformed_events_are_ignored(obs_studio: ObsStudio) -> None:
    control, commands, _status = make_control(obs_studio)
    with control:
        wait_for(lambda: control.connected)
        client = obs_studio.request_client()
        client.send("BroadcastCustomEvent", {"eventData": {"realm": "facebridge", "action": "select_target", "slot": 12}})
        client.send("BroadcastCustomEvent", {"eventData": {"realm": "another-plugin", "action": "next_target"}})
        expected = {
            "facebridge.next_target": Command("next_target", source="obs"),
            "facebridge.prev_target": Command("prev_target", source="obs"),
            "facebridge.toggle_bypass": Command("toggle_bypass", source="obs"),
            **{f"facebridge.select_target_{s}": Command("select_target", slot=s, source="obs") for s in range(1, 10)},
            **{f"facebridge.cycle_face_target_{f}": Command("cycle_face_target", face=f, source="obs") for f in range(1, 5)},
        }
        for hotkey, command in expected.items():
            client.send("TriggerHotkeyByName", {"hotkeyName": hotkey})
            assert next_command(commands) == command, hotkey
        client.disconnect()
        assert control.events_rejected == 1
        assert commands.empty()


def test_target_list_is_broadcast_to_obs_on_change(obs_studio: ObsStudio) -> None:
    heard: queue.Queue = queue.Queue()
    listener = obs_studio.event_client()

    def on_custom_event(data: Any) -> None:
        heard.put({key: getattr(data, key) for key in data.attrs()})

    listener.callback.register(on_custom_event)
    control, commands, _status = make_control(obs_studio)
    try:
        with control:
            wait_for(lambda: control.connected)
            control.publish_targets(["alice", "bob"], "bob")
            assert heard.get(timeout=5) == targets_event(["alice", "bob"], "bob")
            # the script inside OBS heard it too and logged it
            wait_for(lambda: "targets from the bridge: alice, bob; active: bob" in obs_studio.script_log())
        assert commands.empty()  # its own broadcast is not a command
    finally:
        listener.disconnect()


def test_program_scene_change_applies_that_scenes_mapping_override(obs_studio: ObsStudio) -> None:
    overrides = {"Second": {"1": "alice", "2": "bob"}}
    control, commands, _status = make_control(obs_studio, scene_overrides=overrides)
    client = obs_studio.request_client()
    try:
        with control:
            wait_for(lambda: control.connected)
            assert next_command(commands) == Command("scene_mapping", scene="Main", source="scene")
            client.send("SetCurrentProgramScene", {"sceneName": "Second"})
            assert next_command(commands) == Command("scene_mapping", scene="Second", source="scene")
            client.send("SetCurrentProgramScene", {"sceneName": "Main"})
            assert next_command(commands) == Command("scene_mapping", scene="Main", source="scene")
    finally:
        client.disconnect()


def test_obs_restart_mid_run_reconnects_and_commands_flow_again(obs_studio: ObsStudio) -> None:
    control, commands, status = make_control(obs_studio, source_name="fb-restart", scenes=["Main"], input_kind=STAND_IN_KIND)
    with control:
        wait_for(lambda: control.placed_scenes == ["Main"])
        obs_studio.restart()
        wait_for(lambda: control.reconnects >= 1 and control.connected, timeout=20)
        assert any(line.startswith("lost the connection to OBS") for line in status)
        client = obs_studio.request_client()
        client.send("TriggerHotkeyByName", {"hotkeyName": "facebridge.toggle_bypass"})
        client.disconnect()
        assert next_command(commands) == Command("toggle_bypass", source="obs")
        wait_for(lambda: control.placed_scenes == ["Main"])
    assert len(inputs_named(obs_studio, "fb-restart")) == 1


def test_bridge_keeps_running_without_obs_and_never_logs_the_password(caplog: pytest.LogCaptureFixture) -> None:
    from tests.obs_fixture import free_port

    caplog.set_level("DEBUG")
    control = ObsControl(port=free_port(), password="s3cret-pass", backoff=(0.05, 0.1))
    with control:
        time.sleep(0.5)
        assert not control.connected
        assert control.connects == 0
    assert "s3cret-pass" not in caplog.text
    lines = [r.getMessage() for r in caplog.records if r.name == "facebridge.obs"]
    assert sum("OBS not reachable" in line for line in lines) == 1  # said once, not on every retry
    assert "s3cret-pass" not in json.dumps(control.status())


def test_wrong_password_is_reported_as_such_without_the_password(obs_studio: ObsStudio) -> None:
    control = ObsControl(host=obs_studio.host, port=obs_studio.port, password="not-the-password", backoff=(0.1, 0.2))
    status: list[str] = []
    control.on_status = status.append
    with control:
        wait_for(lambda: status)
        assert not control.connected
    assert "refused the login: check the obs-websocket password" in status[0]
    assert not any("not-the-password" in line for line in status)
