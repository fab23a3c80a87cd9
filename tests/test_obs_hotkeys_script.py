"""obs_scripts/facebridge_hotkeys.py loaded in Debian's real OBS (headless), plus its helpers in-process.

The fixture gives the script no host/port/password: every event that arrives here proves the
script took its defaults from OBS's own websocket settings (global.ini [OBSWebSocket]).
"""

from __future__ import annotations

import importlib.util
import json
import queue
import shutil
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.obs_fixture import OBS_TEST_KEY, SCRIPT, ObsStudio

def load_script(monkeypatch: pytest.MonkeyPatch | None = None, without_obsws: bool = False) -> ModuleType:
    """The script as a plain module (outside OBS `obspython` is missing and `obs` is None)."""
    if without_obsws and monkeypatch is not None:
        monkeypatch.setitem(sys.modules, "obsws_python", None)  # makes `import obsws_python` fail
    spec = importlib.util.spec_from_file_location("facebridge_hotkeys_under_test", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPT_MODULE = load_script()
EXPECTED = {name: {"realm": "facebridge", **data} for name, _description, data in SCRIPT_MODULE.HOTKEYS}


class Heard:
    """An outside obs-websocket client collecting facebridge custom events."""

    def __init__(self, studio: ObsStudio) -> None:
        self.events: queue.Queue = queue.Queue()
        self.client = studio.event_client()
        self.client.callback.register(self.on_custom_event)

    def on_custom_event(self, data: Any) -> None:
        event = {key: getattr(data, key) for key in data.attrs()}
        if event.get("realm") == "facebridge" and "action" in event:
            self.events.put(event)

    def next(self, timeout: float = 5.0) -> dict:
        return self.events.get(timeout=timeout)

    def close(self) -> None:
        self.client.disconnect()


@pytest.fixture
def heard(obs_studio: ObsStudio):
    listener = Heard(obs_studio)
    yield listener
    listener.close()


@pytest.mark.obs
@pytest.mark.slow
def test_script_registers_every_hotkey_in_obs(obs_studio: ObsStudio) -> None:
    client = obs_studio.request_client()
    hotkeys = client.send("GetHotkeyList", raw=True)["hotkeys"]
    client.disconnect()
    assert len(EXPECTED) == 16  # next, previous, slots 1-9, bypass, faces 1-4
    assert set(EXPECTED) <= set(hotkeys)


@pytest.mark.obs
@pytest.mark.slow
def test_each_hotkey_press_becomes_its_custom_event(obs_studio: ObsStudio, heard: Heard) -> None:
    client = obs_studio.request_client()
    for name, event in EXPECTED.items():
        client.send("TriggerHotkeyByName", {"hotkeyName": name})
        assert heard.next() == event, name
    client.disconnect()


@pytest.mark.obs
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool not installed (apt-get install xdotool)")
def test_a_real_key_press_on_the_display_sends_next_target(obs_studio: ObsStudio, heard: Heard) -> None:
    obs_studio.press_key(OBS_TEST_KEY)
    assert heard.next() == {"realm": "facebridge", "action": "next_target"}


@pytest.mark.obs
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool not installed (apt-get install xdotool)")
def test_key_bindings_are_saved_and_restored_over_an_obs_restart(obs_studio: ObsStudio) -> None:
    assert obs_studio.stop() == 0  # SIGINT: clean stop; OBS saves the collection, the script its bindings
    collection = json.loads((obs_studio.config / "obs-studio" / "basic" / "scenes" / "t.json").read_text())
    (script,) = collection["modules"]["scripts-tool"]
    assert script["settings"]["facebridge.next_target"] == [{"key": f"OBS_KEY_{OBS_TEST_KEY}"}]
    obs_studio.start()
    listener = Heard(obs_studio)
    try:
        obs_studio.press_key(OBS_TEST_KEY)
        assert listener.next() == {"realm": "facebridge", "action": "next_target"}
    finally:
        listener.close()


@pytest.mark.obs
@pytest.mark.slow
def test_connection_test_and_target_list_from_the_bridge(obs_studio: ObsStudio) -> None:
    """The script's worker, run in-process: the "Test connection" job and the bridge's target list."""
    sender = SCRIPT_MODULE.Sender()
    try:
        sender.configure(obs_studio.host, obs_studio.port, "wrong")
        assert sender.test().wait(5)
        assert sender.connection.startswith("failed")
        assert "wrong" not in sender.connection
        sender.configure(obs_studio.host, obs_studio.port, obs_studio.password)
        assert sender.test().wait(5)
        assert sender.connection.startswith("OK: obs-websocket 5.")
        assert sender.targets_text() == "nothing heard from the bridge yet"
        deadline = time.monotonic() + 10
        client = obs_studio.request_client()
        while not sender.heard_at and time.monotonic() < deadline:
            client.send("BroadcastCustomEvent", {"eventData": {"realm": "facebridge", "event": "targets",
                                                               "targets": ["alice", "bob"], "active": "bob"}})
            time.sleep(0.2)
        client.disconnect()
        assert sender.targets_text().startswith("alice, [bob]")
    finally:
        sender.stop()
    assert not sender.thread.is_alive()


def test_websocket_defaults_are_read_from_obs_29_global_ini(tmp_path: Path) -> None:
    (tmp_path / "global.ini").write_text(
        "\ufeff[General]\nFirstRun=true\n[OBSWebSocket]\nServerEnabled=true\nServerPort=4466\nAuthRequired=true\n"
        "ServerPassword=abc%def\n"
    )
    assert SCRIPT_MODULE.read_websocket_settings(tmp_path) == {"port": 4466, "password": "abc%def"}


def test_websocket_defaults_prefer_obs_30_plugin_config(tmp_path: Path) -> None:
    plugin = tmp_path / "plugin_config" / "obs-websocket"
    plugin.mkdir(parents=True)
    (plugin / "config.json").write_text(json.dumps({"server_port": 4477, "auth_required": True, "server_password": "pw"}))
    (tmp_path / "global.ini").write_text("[OBSWebSocket]\nServerPort=4466\nServerPassword=old\n")
    assert SCRIPT_MODULE.read_websocket_settings(tmp_path) == {"port": 4477, "password": "pw"}
    assert SCRIPT_MODULE.read_websocket_settings(tmp_path / "missing") == {}


def test_description_tells_how_to_install_obsws_python_when_it_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = load_script(monkeypatch, without_obsws=True)
    assert missing.obsws is None
    text = missing.script_description()
    assert "obsws-python is not importable" in text
    for system in ("Windows", "macOS", "Linux"):
        assert system in text
    assert "not importable" not in SCRIPT_MODULE.script_description()
