"""Camera wiring and lip sync against Debian's real OBS Studio, headless (fixture `obs_studio` in conftest.py).

Debian's OBS has no DistroAV, so two kinds are injected, here only:
  - the NDI Filter (`ndi_filter`) → OBS's "scroll_filter" at speed 0 (a video filter that
    changes nothing), with DistroAV's name setting `ndi_filter_ndiname` stored on it;
  - the bridge's NDI source (`ndi_source`) → a green "color_source_v3" of the camera's size.
What DistroAV itself would send or show cannot be checked here. Everything else is real OBS:
the filter chain, the fail-closed colour correction (a program screenshot has no camera pixel
while the camera stays active), placement, restarts, unwire, and audio sync offsets on a real
media source that plays a WAV file.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from obsws_python.error import OBSSDKRequestError

from bridge.obs import wiring
from bridge.obs.control import MISSING_NDI_MESSAGE, ObsControl
from bridge.obs.lipsync import OffsetStore, PictureDelay, obs_hop_ms
from bridge.types import Frame
from tests.obs_fixture import REPO, ObsStudio
from tests.test_obs_control import wait_for

pytestmark = [pytest.mark.obs, pytest.mark.slow]

FILTER_STAND_IN = "scroll_filter"  # injected by the test only: Debian's OBS has no `ndi_filter`
SOURCE_STAND_IN = "color_source_v3"  # injected by the test only: Debian's OBS has no `ndi_source`
RED, GREEN = 0xFF0000FF, 0xFF00FF00  # OBS colours are ABGR
CAMERA_TRANSFORM = {"positionX": 100.0, "positionY": 40.0, "scaleX": 0.5, "scaleY": 0.5, "cropLeft": 40}


class Obs:
    """One request client on the fixture's OBS, as a `request(type, data)` callable."""

    def __init__(self, studio: ObsStudio) -> None:
        self.client = studio.request_client()

    def __call__(self, kind: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.client.send(kind, data, raw=True) or {}

    def close(self) -> None:
        self.client.disconnect()


@pytest.fixture
def obs(obs_studio: ObsStudio):
    request = Obs(obs_studio)
    yield request
    request.close()


def add_camera(obs: Obs, name: str, scenes: tuple[str, ...] = ("Main",), colour: int = RED) -> None:
    """A red 640×360 colour source standing in for the camera, moved, scaled and cropped like a real layout."""
    for i, scene in enumerate(scenes):
        if i == 0:
            created = obs("CreateInput", {"sceneName": scene, "inputName": name, "inputKind": "color_source_v3",
                                          "inputSettings": {"color": colour, "width": 640, "height": 360},
                                          "sceneItemEnabled": True})
        else:
            created = obs("CreateSceneItem", {"sceneName": scene, "sourceName": name, "sceneItemEnabled": True})
        obs("SetSceneItemTransform", {"sceneName": scene, "sceneItemId": created["sceneItemId"],
                                      "sceneItemTransform": CAMERA_TRANSFORM})


def remove_inputs(obs: Obs, *names: str) -> None:
    existing = {i["inputName"] for i in obs("GetInputList")["inputs"]}
    scenes = [scene["sceneName"] for scene in obs("GetSceneList")["scenes"]]
    for name in names:
        if name in existing:
            for scene in scenes:  # OBS 29 leaves the items of scenes not on program behind
                for item in obs("GetSceneItemList", {"sceneName": scene})["sceneItems"]:
                    if item["sourceName"] == name:
                        obs("RemoveSceneItem", {"sceneName": scene, "sceneItemId": item["sceneItemId"]})
            try:
                obs("RemoveInput", {"inputName": name})
            except OBSSDKRequestError as error:
                assert error.code == 600  # gone with its last item
    wait_for(lambda: not {i["inputName"] for i in obs("GetInputList")["inputs"]} & set(names), timeout=3)


def make_control(studio: ObsStudio, camera: str, bridge_source: str, **options: Any) -> tuple[ObsControl, list[str]]:
    status: list[str] = []
    settings = {"color": GREEN, "width": 640, "height": 360}
    control = ObsControl(host=studio.host, port=studio.port, password=studio.password, on_status=status.append,
                         backoff=(0.2, 1.0), source_name=bridge_source, ndi_source_name="HOST (fb-test)",
                         camera_source=camera, camera_ndi_name=wiring.camera_ndi_name("show"),
                         **{"ndi_filter_kind": FILTER_STAND_IN, "input_kind": SOURCE_STAND_IN,
                            "input_settings": settings, **options})
    return control, status


def screenshot(obs: Obs, source: str = "Main") -> np.ndarray:
    """The scene as OBS renders it on program, BGRA at canvas size."""
    reply = obs("GetSourceScreenshot", {"sourceName": source, "imageFormat": "png", "imageWidth": 640, "imageHeight": 360})
    data = base64.b64decode(reply["imageData"].split(",", 1)[1])
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def settled(obs: Obs, condition: Any, timeout: float = 10.0) -> np.ndarray:
    """The first program screenshot that meets `condition` (a change shows from OBS's next rendered frame)."""
    shots: list[np.ndarray] = []

    def meets() -> bool:
        shots.append(screenshot(obs))
        return bool(condition(shots[-1]))

    try:
        wait_for(meets, timeout)
    except AssertionError:
        pass  # the caller's assertion on the last screenshot says what is wrong
    return shots[-1]


def red_pixels(image: np.ndarray) -> int:
    b, g, r = (image[..., i].astype(int) for i in range(3))
    return int(np.count_nonzero((r > 128) & (g < 80) & (b < 80)))


def green_pixels(image: np.ndarray) -> int:
    b, g, r = (image[..., i].astype(int) for i in range(3))
    return int(np.count_nonzero((g > 128) & (r < 80) & (b < 80)))


def filters_of(obs: Obs, source: str) -> list[dict[str, Any]]:
    return obs("GetSourceFilterList", {"sourceName": source})["filters"]


def item_of(obs: Obs, scene: str, source: str) -> dict[str, Any]:
    (item,) = [i for i in obs("GetSceneItemList", {"sceneName": scene})["sceneItems"] if i["sourceName"] == source]
    return item


def test_filters_go_first_and_fail_closed_and_the_bridge_source_lands_over_the_camera(obs_studio: ObsStudio, obs: Obs) -> None:
    add_camera(obs, "cam-a", ("Main", "Second"))
    # a filter of the user's own, already on the camera: the NDI filter still goes first
    obs("CreateSourceFilter", {"sourceName": "cam-a", "filterName": "user sharpen", "filterKind": "sharpness_filter_v2",
                               "filterSettings": {}})
    assert red_pixels(screenshot(obs)) > 20_000  # the raw camera is on program before wiring
    control, status = make_control(obs_studio, "cam-a", "fb-a", scenes=["Main", "Second"])
    try:
        with control:
            wait_for(lambda: control.placed_scenes == ["Main", "Second"])
        chain = filters_of(obs, "cam-a")
        assert [f["filterName"] for f in chain] == [wiring.NDI_FILTER_NAME, wiring.HIDE_FILTER_NAME, "user sharpen"]
        assert chain[0]["filterKind"] == FILTER_STAND_IN
        assert chain[0]["filterSettings"]["ndi_filter_ndiname"] == "facebridge show camera"
        assert chain[1]["filterKind"] == "color_filter_v2" and chain[1]["filterSettings"]["opacity"] == 0.0
        assert control.wired and not control.wiring_problem

        for scene in ("Main", "Second"):
            camera, bridge = item_of(obs, scene, "cam-a"), item_of(obs, scene, "fb-a")
            assert bridge["sceneItemIndex"] == camera["sceneItemIndex"] + 1  # right above it
            c, b = camera["sceneItemTransform"], bridge["sceneItemTransform"]
            for key in ("positionX", "positionY", "rotation", "cropLeft", "cropTop"):
                assert b[key] == c[key], key
            assert (b["boundsWidth"], b["boundsHeight"]) == ((640 - 40) * 0.5, 360 * 0.5)  # the camera's displayed size

        # fail closed: the camera stays active (its NDI filter keeps sending) while program shows none of it
        active = obs("GetSourceActive", {"sourceName": "cam-a"})
        assert active["videoActive"] and active["videoShowing"]
        on_air = settled(obs, lambda image: red_pixels(image) == 0 and green_pixels(image) > 0)
        assert red_pixels(on_air) == 0
        assert green_pixels(on_air) == pytest.approx(300 * 180, rel=0.05)  # the bridge's picture, where the camera was
        bridge_item = item_of(obs, "Main", "fb-a")["sceneItemId"]
        obs("SetSceneItemEnabled", {"sceneName": "Main", "sceneItemId": bridge_item, "sceneItemEnabled": False})
        # Seen here: 1 screenshot in 8 runs, taken in the instant the item went, showed the camera
        # unfiltered, and the next one was black (GetSourceScreenshot renders the scene beside OBS's own
        # render thread; whether program output ever shows that frame is not known yet). So the check is:
        # black within a second, then black on every screenshot.
        started = time.monotonic()
        bridge_gone = settled(obs, lambda image: red_pixels(image) == 0 and green_pixels(image) == 0)
        assert red_pixels(bridge_gone) == 0 and green_pixels(bridge_gone) == 0  # black, never the raw face
        assert time.monotonic() - started < 1.0, "the raw camera showed for more than a few frames"
        for _ in range(10):
            assert red_pixels(screenshot(obs)) == 0
        assert obs("GetSourceActive", {"sourceName": "cam-a"})["videoActive"]
    finally:
        remove_inputs(obs, "cam-a", "fb-a")


def test_wiring_is_idempotent_across_bridge_and_obs_restarts(obs_studio: ObsStudio) -> None:
    obs = Obs(obs_studio)
    add_camera(obs, "cam-b")
    control, _status = make_control(obs_studio, "cam-b", "fb-b", scenes=["Main"])
    with control:
        wait_for(lambda: control.placed_scenes == ["Main"])
    # the user moves the bridge's source and switches the fail-closed filter off
    moved = {"positionX": 7.0, "positionY": 9.0, "boundsType": "OBS_BOUNDS_STRETCH", "boundsWidth": 100.0, "boundsHeight": 50.0}
    obs("SetSceneItemTransform", {"sceneName": "Main", "sceneItemId": item_of(obs, "Main", "fb-b")["sceneItemId"],
                                  "sceneItemTransform": moved})
    obs("SetSourceFilterEnabled", {"sourceName": "cam-b", "filterName": wiring.HIDE_FILTER_NAME, "filterEnabled": False})
    obs.close()
    obs_studio.restart()
    obs = Obs(obs_studio)
    try:
        again, status = make_control(obs_studio, "cam-b", "fb-b", scenes=["Main"])
        with again:
            wait_for(lambda: again.placed_scenes == ["Main"])
        chain = filters_of(obs, "cam-b")
        assert [f["filterName"] for f in chain] == [wiring.NDI_FILTER_NAME, wiring.HIDE_FILTER_NAME]
        assert chain[1]["filterEnabled"]  # fail closed again, and said so
        assert any(line.startswith(f"re-enabled '{wiring.HIDE_FILTER_NAME}'") for line in status)
        assert len([i for i in obs("GetInputList")["inputs"] if i["inputName"] == "fb-b"]) == 1
        kept = item_of(obs, "Main", "fb-b")["sceneItemTransform"]
        assert (kept["positionX"], kept["positionY"], kept["boundsWidth"]) == (7.0, 9.0, 100.0)  # never moved back
        assert red_pixels(settled(obs, lambda image: red_pixels(image) == 0)) == 0
    finally:
        remove_inputs(obs, "cam-b", "fb-b")
        obs.close()


def scene_state(obs: Obs, camera: str) -> tuple[Any, ...]:
    items = {scene: [(i["sourceName"], i["sceneItemIndex"], i["sceneItemTransform"]["positionX"])
                     for i in obs("GetSceneItemList", {"sceneName": scene})["sceneItems"]] for scene in ("Main", "Second")}
    return items, [(f["filterName"], f["filterKind"]) for f in filters_of(obs, camera)]


def test_unwire_restores_the_scene(obs_studio: ObsStudio, obs: Obs, tmp_path: Path) -> None:
    add_camera(obs, "cam-c", ("Main", "Second"))
    before, before_pixels = scene_state(obs, "cam-c"), red_pixels(screenshot(obs))
    control, _status = make_control(obs_studio, "cam-c", "fb-c", scenes=["Main", "Second"])
    try:
        with control:
            wait_for(lambda: control.placed_scenes == ["Main", "Second"])
        assert scene_state(obs, "cam-c") != before
        said = wiring.unwire(obs, "cam-c", "fb-c", SOURCE_STAND_IN)
        assert len(said) == 3, said  # two filters, one source
        wait_for(lambda: scene_state(obs, "cam-c") == before, timeout=3)  # items go on OBS's next video tick
        assert red_pixels(settled(obs, lambda image: red_pixels(image) == before_pixels)) == before_pixels > 0
        assert wiring.unwire(obs, "cam-c", "fb-c", SOURCE_STAND_IN) == []  # twice is harmless
    finally:
        remove_inputs(obs, "cam-c", "fb-c")


def test_a_camera_scene_that_nests_the_bridges_output_is_refused(obs_studio: ObsStudio, obs: Obs) -> None:
    # "Cam scene" holds the camera and, one scene deeper, the bridge's own source: a feedback loop
    for scene in ("Cam scene", "Inner"):
        obs("CreateScene", {"sceneName": scene})
    add_camera(obs, "cam-d", ("Cam scene",))
    obs("CreateInput", {"sceneName": "Inner", "inputName": "fb-d", "inputKind": SOURCE_STAND_IN,
                        "inputSettings": {"color": GREEN}, "sceneItemEnabled": True})
    obs("CreateSceneItem", {"sceneName": "Cam scene", "sourceName": "Inner", "sceneItemEnabled": True})
    control, status = make_control(obs_studio, "Cam scene", "fb-d", scenes=["Main"])
    try:
        with control:
            wait_for(lambda: control.wiring_problem)
            assert control.connected  # commands still flow
        assert "feedback loop" in control.wiring_problem and "Cam scene > Inner > fb-d" in control.wiring_problem
        assert sum("feedback loop" in line for line in status) == 1
        assert filters_of(obs, "Cam scene") == [] and not control.wired
    finally:
        remove_inputs(obs, "cam-d", "fb-d")
        for scene in ("Cam scene", "Inner"):
            obs("RemoveScene", {"sceneName": scene})


def test_missing_camera_and_missing_distroav_are_one_line_each(obs_studio: ObsStudio, obs: Obs) -> None:
    add_camera(obs, "cam-e")
    try:
        control, status = make_control(obs_studio, "no such camera", "fb-e")
        with control:
            wait_for(lambda: control.wiring_problem)
        assert control.wiring_problem.startswith("obs.camera_source: OBS has no source named 'no such camera'")
        assert "'cam-e'" in control.wiring_problem and "'Main'" in control.wiring_problem

        # the real kinds: Debian's OBS has neither DistroAV's filter nor its source
        control, status = make_control(obs_studio, "cam-e", "fb-e", ndi_filter_kind=wiring.NDI_FILTER_KIND,
                                       input_kind=wiring.NDI_INPUT_KIND, input_settings=None)
        with control:
            wait_for(lambda: control.wiring_problem)
            assert control.connected
        assert status.count(wiring.MISSING_FILTER_MESSAGE) == 1 and "DistroAV" in wiring.MISSING_FILTER_MESSAGE
        assert filters_of(obs, "cam-e") == []
        assert MISSING_NDI_MESSAGE not in status  # one line for the one missing plugin
    finally:
        remove_inputs(obs, "cam-e")


def test_an_old_websocket_is_named_in_one_line() -> None:
    # obs-websocket 5.0.0 lacked GetSourceFilterKindList and others; a reply without our requests stands for it
    line = wiring.websocket_too_old({"obsWebSocketVersion": "5.0.0", "availableRequests": ["GetVersion"]})
    assert line is not None and line.startswith("obs-websocket 5.0.0 is too old") and "\n" not in line
    assert wiring.websocket_too_old({"availableRequests": list(wiring.REQUIRED_REQUESTS)}) is None


def test_the_real_obs_websocket_has_every_request_the_wiring_uses(obs: Obs) -> None:
    assert wiring.websocket_too_old(obs("GetVersion")) is None


# ── lip sync ──────────────────────────────────────────────────────────────────────────────────
def write_tone(path: Path, seconds: float = 2.0, rate: int = 48_000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    samples = (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


def feed(delay: PictureDelay, delay_ms: float, count: int = 60, fps: int = 30) -> None:
    """Sent frames whose NDI send stamp lies `delay_ms` before now, as the pipeline reports them."""
    for i in range(count):
        stamp = time.time_ns() // 100 - int(delay_ms * 10_000)
        delay.add(Frame(image=np.zeros((2, 2, 3), np.uint8), sequence=i, timestamp=stamp, frame_rate=(fps, 1)))


def test_lip_sync_offset_is_set_followed_and_restored_on_a_real_media_source(obs_studio: ObsStudio, obs: Obs,
                                                                              tmp_path: Path) -> None:
    tone = write_tone(tmp_path / "tone.wav")
    obs("CreateInput", {"sceneName": "Main", "inputName": "mic", "inputKind": "ffmpeg_source",
                        "inputSettings": {"local_file": str(tone), "looping": True}, "sceneItemEnabled": True})
    obs("SetInputAudioSyncOffset", {"inputName": "mic", "inputAudioSyncOffset": 37})  # the user's own offset
    add_camera(obs, "cam-f")
    store = OffsetStore(tmp_path / "obs-audio-offsets.json")  # where FACEBRIDGE_STATE_DIR points the CLI
    delay = PictureDelay(clock_ns=time.time_ns)
    options = dict(sync_audio_inputs=["mic", "no-such-mic"], picture_delay=delay, offset_store=store, sync_min_interval_s=1.5)
    control, status = make_control(obs_studio, "cam-f", "fb-f", scenes=["Main"], **options)
    offset = lambda: obs("GetInputAudioSyncOffset", {"inputName": "mic"})["inputAudioSyncOffset"]  # noqa: E731
    hop = obs_hop_ms(1, 1000 / 30)
    try:
        with control:
            feed(delay, 120)
            wait_for(lambda: offset() != 37)
            assert offset() == pytest.approx(120 + hop, abs=2)
            assert control.status()["audio_sync"]["offset_ms"] == offset()
            assert any("'no-such-mic' does not exist" in line for line in status)
            assert store.originals(f"{obs_studio.host}:{obs_studio.port}") == {"mic": 37}

            feed(delay, 120 + 20)  # less than a frame (33 ms): kept
            time.sleep(2.5)
            assert offset() == pytest.approx(120 + hop, abs=2)
            feed(delay, 200)  # more than a frame: followed, once the minimum interval passed
            wait_for(lambda: abs(offset() - (200 + hop)) <= 2)
            assert control.offset_policy.changes == 2

        # the option removed: the next connect puts the user's offset back
        control, status = make_control(obs_studio, "cam-f", "fb-f", scenes=["Main"],
                                       **{**options, "sync_audio_inputs": []})
        with control:
            wait_for(lambda: offset() == 37)
        assert store.originals(f"{obs_studio.host}:{obs_studio.port}") == {}

        # and through unwire: set it again, then `facebridge obs unwire` restores it
        control, status = make_control(obs_studio, "cam-f", "fb-f", scenes=["Main"], **options)
        with control:
            feed(delay, 90)
            wait_for(lambda: offset() != 37)
        profile = tmp_path / "show.yaml"
        profile.write_text(f"obs:\n  enabled: true\n  host: {obs_studio.host}\n  port: {obs_studio.port}\n"
                           f"  password: ${{FB_TEST_OBS_PASSWORD}}\n  camera_source: cam-f\n  source_name: fb-f\n")
        env = {**os.environ, "FB_TEST_OBS_PASSWORD": obs_studio.password, "FACEBRIDGE_STATE_DIR": str(tmp_path),
               "PYTHONPATH": str(REPO)}
        done = subprocess.run([sys.executable, "-m", "bridge.cli", "obs", "unwire", "--profile", str(profile)],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "audio sync offset of 'mic' restored to 37 ms" in done.stdout
        assert f"removed the filter '{wiring.NDI_FILTER_NAME}' from 'cam-f'" in done.stdout
        assert offset() == 37
        assert filters_of(obs, "cam-f") == []
        assert "Traceback" not in done.stderr
    finally:
        remove_inputs(obs, "mic", "cam-f", "fb-f")


# ── the bridge as a user runs it ──────────────────────────────────────────────────────────────
@pytest.mark.usefixtures("ndi_runtime")
def test_run_receives_from_the_cameras_filter_name_and_keeps_sending_without_distroav(obs_studio: ObsStudio, obs: Obs,
                                                                                     tmp_path: Path) -> None:
    from tests.e2e_tools import free_port, wait_status
    from tests.ndi_tools import PatternSender, Recorder, stop_process, unique_name

    show = unique_name("show")
    add_camera(obs, "cam-g")
    port = free_port()
    profile = tmp_path / f"{show}.yaml"
    profile.write_text("analysis:\n  enabled: false\n"
                       f"telemetry:\n  port: {port}\n"
                       f"obs:\n  enabled: true\n  host: {obs_studio.host}\n  port: {obs_studio.port}\n"
                       "  password: ${FB_TEST_OBS_PASSWORD}\n  camera_source: cam-g\n")
    # stands in for DistroAV's NDI filter on the camera, which Debian's OBS cannot have
    camera = PatternSender(wiring.camera_ndi_name(show))
    output = unique_name("fb-out")
    env = {**os.environ, "FB_TEST_OBS_PASSWORD": obs_studio.password, "FACEBRIDGE_STATE_DIR": str(tmp_path),
           "PYTHONPATH": str(REPO)}
    bridge = subprocess.Popen([sys.executable, "-m", "bridge.cli", "run", "--profile", str(profile), "--output", output],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    recorder = Recorder(output)
    feeding = threading.Thread(target=camera.send_range, args=(range(300),), kwargs={"size": (320, 180)}, daemon=True)
    feeding.start()
    try:
        status = wait_status(port, lambda s: s.get("frames", {}).get("out", 0) > 10 and s["obs"].get("wiring_problem")
                             and s.get("picture_delay_ms") is not None, 40)
        assert f"({wiring.camera_ndi_name(show)})" in status["input"]["source"]  # no input.ndi_source needed
        assert status["obs"]["wiring_problem"] == wiring.MISSING_FILTER_MESSAGE
        assert status["obs"]["connected"] and status["picture_delay_ms"] is not None
        assert recorder.wait_for(lambda r: len(r._raw) > 5, 10), "the bridge's NDI output stopped"
    finally:
        feeding.join(25)  # up to 10 s for a receiver, 1 s preroll, 10 s of frames: never close the sender under it
        camera.close()
        recorder.close()
        code, _seconds, output_text = stop_process(bridge)
        remove_inputs(obs, "cam-g")
    assert code == 0 and "Traceback" not in output_text, output_text[-2000:]
    assert output_text.count("OBS has no NDI Filter") == 1


def test_check_lists_the_wiring(obs_studio: ObsStudio, obs: Obs, capsys: pytest.CaptureFixture[str]) -> None:
    from bridge.app import obs_wiring_report
    from bridge.profile import parse_profile

    add_camera(obs, "cam-h")
    control, _status = make_control(obs_studio, "cam-h", "fb-h", scenes=["Main"])
    try:
        with control:
            wait_for(lambda: control.placed_scenes == ["Main"])
        text = (f"obs:\n  enabled: true\n  host: {obs_studio.host}\n  port: {obs_studio.port}\n"
                "  password: ${P}\n  camera_source: cam-h\n  source_name: fb-h\n")
        profile = parse_profile(text, "show.yaml", REPO, env={"P": obs_studio.password})
        assert obs_wiring_report(profile) == 0
        out = capsys.readouterr().out
        assert f"wired   camera 'cam-h': '{wiring.NDI_FILTER_NAME}' filter #1 of 2" in out
        assert f"'{wiring.HIDE_FILTER_NAME}' filter #2 of 2" in out
        assert "source 'fb-h' in scenes: Main" in out and "facebridge obs unwire" in out
    finally:
        remove_inputs(obs, "cam-h", "fb-h")


def test_a_synced_input_removed_mid_show_is_dropped_without_losing_obs(obs_studio: ObsStudio, obs: Obs,
                                                                       tmp_path: Path) -> None:
    obs("CreateInput", {"sceneName": "Main", "inputName": "mic-gone", "inputKind": "ffmpeg_source",
                        "inputSettings": {"local_file": str(write_tone(tmp_path / "tone.wav")), "looping": True},
                        "sceneItemEnabled": True})
    delay = PictureDelay()
    status: list[str] = []
    control = ObsControl(host=obs_studio.host, port=obs_studio.port, password=obs_studio.password,
                         on_status=status.append, sync_audio_inputs=["mic-gone"], picture_delay=delay,
                         offset_store=OffsetStore(tmp_path / "offsets.json"), sync_min_interval_s=1.0)
    with control:
        feed(delay, 50)
        wait_for(lambda: control.offset_policy.changes == 1)
        remove_inputs(obs, "mic-gone")
        feed(delay, 400)
        wait_for(lambda: control.synced_inputs == [], timeout=6)
        assert control.connected and control.reconnects == 0
    assert any("'mic-gone' is gone from OBS" in line for line in status)


@pytest.mark.parametrize("layout", [
    {"positionX": 50.0, "positionY": 60.0, "rotation": 10.0, "cropTop": 20, "boundsType": "OBS_BOUNDS_STRETCH",
     "boundsWidth": 200.0, "boundsHeight": 100.0},
    {"positionX": 320.0, "positionY": 180.0, "alignment": 0, "scaleX": 0.4, "scaleY": 0.6, "cropRight": 100,
     "cropBottom": 30},
], ids=["bounded-rotated", "scaled-centred"])
def test_the_bridges_picture_covers_exactly_the_cameras_pixels(obs_studio: ObsStudio, obs: Obs,
                                                                layout: dict[str, Any]) -> None:
    camera_name, bridge_name = f"cam-i{layout['positionX']:.0f}", f"fb-i{layout['positionX']:.0f}"
    created = obs("CreateInput", {"sceneName": "Main", "inputName": camera_name, "inputKind": "color_source_v3",
                                  "inputSettings": {"color": RED, "width": 640, "height": 360}, "sceneItemEnabled": True})
    obs("SetSceneItemTransform", {"sceneName": "Main", "sceneItemId": created["sceneItemId"], "sceneItemTransform": layout})
    camera = red_pixels_mask(settled(obs, lambda image: red_pixels(image) > 1000))
    control, _status = make_control(obs_studio, camera_name, bridge_name, scenes=["Main"])
    try:
        with control:
            wait_for(lambda: control.placed_scenes == ["Main"])
        bridge = green_pixels_mask(settled(obs, lambda image: green_pixels(image) > 1000 and red_pixels(image) == 0))
        overlap = np.count_nonzero(camera & bridge) / np.count_nonzero(camera | bridge)
        assert overlap > 0.97, f"the bridge's picture covers {overlap:.3f} of the camera's area (IoU)"
    finally:
        remove_inputs(obs, camera_name, bridge_name)


def red_pixels_mask(image: np.ndarray) -> np.ndarray:
    b, g, r = (image[..., i].astype(int) for i in range(3))
    return (r > 128) & (g < 80) & (b < 80)


def green_pixels_mask(image: np.ndarray) -> np.ndarray:
    b, g, r = (image[..., i].astype(int) for i in range(3))
    return (g > 128) & (r < 80) & (b < 80)
