"""The whole show: real headless OBS with the hotkey script, the bridge as a subprocess, the demo source's faces over NDI."""

from __future__ import annotations

import os
import signal
import subprocess
import shutil
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bridge.io.demo_source import run_demo_source
from tests.e2e_tools import TARGET_NAMES, face_profile, free_port, get_status, wait_status
from tests.ndi_tools import Recorder, start_bridge, unique_name
from tests.obs_fixture import OBS_TEST_KEY, ObsStudio

pytestmark = [pytest.mark.obs, pytest.mark.slow, pytest.mark.usefixtures("ndi_runtime")]
PASSWORD_ENV = "FACEBRIDGE_TEST_OBS_PASSWORD"


class Show:
    def __init__(self, obs: ObsStudio, port: int, output: str, process: Any):
        self.obs, self.port, self.output, self.process = obs, port, output, process
        self.lines: list[str] = []

    def hotkey(self, name: str) -> None:
        client = self.obs.request_client()
        try:
            client.send("TriggerHotkeyByName", {"hotkeyName": name})
        finally:
            client.disconnect()

    def status(self) -> dict[str, Any]:
        return get_status(self.port)

    def wait(self, predicate: Any, timeout_s: float = 6.0) -> dict[str, Any]:
        return wait_status(self.port, predicate, timeout_s)


@pytest.fixture(scope="module")
def show(obs_studio: ObsStudio, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Show]:
    folder = tmp_path_factory.mktemp("e2e")
    port = free_port()
    obs_block = (f"obs:\n  enabled: true\n  host: {obs_studio.host}\n  port: {obs_studio.port}\n"
                 f"  password: ${{{PASSWORD_ENV}}}\n  scenes: [Main]\n")
    profile = face_profile(folder, port=port, obs=obs_block)
    source, output = unique_name("fb-demo"), unique_name("fb-out")
    stop = threading.Event()
    demo = threading.Thread(target=run_demo_source, args=(source, 640, 360, 15.0, 2, 0, stop), daemon=True)
    demo.start()
    os.environ[PASSWORD_ENV] = obs_studio.password
    try:
        process = start_bridge(profile, source, output)
    finally:
        del os.environ[PASSWORD_ENV]
    show = Show(obs_studio, port, output, process)
    reader = threading.Thread(target=lambda: show.lines.extend(iter(process.stdout.readline, "")), daemon=True)
    reader.start()  # drained as it comes: a full pipe would block the bridge mid-show
    try:
        status = show.wait(lambda s: s.get("obs", {}).get("connected") and s["frames"]["out"] > 0
                           and s.get("tracks"), 60)
        assert status.get("obs", {}).get("connected"), f"bridge never connected to OBS: {status}"
        assert status.get("tracks"), f"no faces tracked from the demo source: {status}"
        yield show
    finally:
        stop.set()
        demo.join(5)
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        reader.join(5)
        print("".join(show.lines))  # shown by pytest when a test failed


def test_hotkeys_in_obs_change_the_bridge(show: Show) -> None:
    start = show.status()
    assert start["targets"] == list(TARGET_NAMES)
    assert start["obs"]["program_scene"] in ("Main", "Second")  # the dock's health line shows it
    show.hotkey("facebridge.select_target_1")
    assert show.wait(lambda s: s["active_target"] == "portrait")["active_target"] == "portrait"
    show.hotkey("facebridge.next_target")
    assert show.wait(lambda s: s["active_target"] == "guest5")["active_target"] == "guest5"
    show.hotkey("facebridge.select_target_3")
    assert show.wait(lambda s: s["active_target"] == "guest6")["active_target"] == "guest6"
    show.hotkey("facebridge.select_target_2")
    assert show.wait(lambda s: s["active_target"] == "guest5")["active_target"] == "guest5"

    bypass = show.status()["bypass"]
    show.hotkey("facebridge.toggle_bypass")
    assert show.wait(lambda s: s["bypass"] is not bypass)["bypass"] is not bypass
    show.hotkey("facebridge.toggle_bypass")
    assert show.wait(lambda s: s["bypass"] is bypass)["bypass"] is bypass

    # cycle face 1: the face in slot 1 moves off the active target to the next one in the list
    tracks = show.wait(lambda s: any(t.get("slot") == 1 for t in s["tracks"]))["tracks"]
    face1 = next((t["id"] for t in tracks if t.get("slot") == 1), None)
    if face1 is None:
        pytest.fail(f"no face in slot 1 to cycle: {tracks}")
    show.hotkey("facebridge.cycle_face_target_1")
    after = show.wait(lambda s: any(t["id"] == face1 and t["target"] == "guest6" for t in s["tracks"]))
    assert any(t["id"] == face1 and t["target"] == "guest6" for t in after["tracks"]), after["tracks"]
    assert after["obs"]["commands_received"] >= 7  # one per hotkey above


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool not installed")
def test_a_real_key_press_switches_the_target(show: Show) -> None:
    before = show.status()["active_target"]
    show.obs.press_key(OBS_TEST_KEY)
    expected = TARGET_NAMES[(TARGET_NAMES.index(before) + 1) % len(TARGET_NAMES)]
    assert show.wait(lambda s: s["active_target"] == expected)["active_target"] == expected


def test_missing_ndi_input_kind_is_reported_clearly_and_the_bridge_keeps_running(show: Show) -> None:
    status = show.status()
    assert status["obs"]["ndi_input_available"] is False  # Debian's OBS has no DistroAV
    assert status["obs"]["placed_scenes"] == []
    assert show.process.poll() is None
    said = [line for line in show.lines if "ndi_source" in line and "missing" in line]
    assert said, "the bridge never said that OBS lacks the NDI input:\n" + "".join(show.lines[-30:])
    assert "DistroAV" in said[0] and "Traceback" not in "".join(show.lines)
    frames_out = status["frames"]["out"]
    assert show.wait(lambda s: s["frames"]["out"] > frames_out + 5)["frames"]["out"] > frames_out + 5


def test_obs_restart_mid_show_keeps_ndi_flowing_and_reconnects(show: Show) -> None:
    recorder = Recorder(show.output)
    try:
        recorder.wait_connected()
        assert recorder.wait_for(lambda r: len(r._raw) > 5, 10), "no frames from the bridge"
        reconnects = show.status()["obs"]["reconnects"]
        restarted_at = time.monotonic()
        show.obs.restart()
        restarted_done = time.monotonic()
        arrivals = [at for at, _ in recorder._raw if restarted_at <= at <= restarted_done]
        status = show.wait(lambda s: s["obs"]["connected"] and s["obs"]["reconnects"] > reconnects, 30)
        assert status["obs"]["connected"] and status["obs"]["reconnects"] > reconnects, status["obs"]
        span = restarted_done - restarted_at
        assert len(arrivals) >= span * 5, f"only {len(arrivals)} frames in the {span:.1f} s of the OBS restart"
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
        assert max(gaps, default=0) < 1.0, f"output stalled {max(gaps):.2f} s during the OBS restart"
        before = status["active_target"]
        show.hotkey("facebridge.next_target")
        expected = TARGET_NAMES[(TARGET_NAMES.index(before) + 1) % len(TARGET_NAMES)]
        assert show.wait(lambda s: s["active_target"] == expected)["active_target"] == expected
    finally:
        recorder.close()
    assert show.process.poll() is None
