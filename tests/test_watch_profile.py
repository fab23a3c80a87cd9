"""`facebridge run --watch`: a saved profile goes live mid-show; a broken one is reported and the show runs on.

Real parts: the bridge as its own process, the demo source over loopback NDI, the CPU models.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.io.demo_source import run_demo_source
from tests.e2e_tools import TARGET_NAMES, face_profile, free_port, get_status, post_command, wait_status
from tests.ndi_tools import start_bridge, stop_process, unique_name


def drop_target(text: str, name: str) -> str:
    """The profile text without target `name` (its two lines in face_profile's layout)."""
    lines = text.splitlines()
    at = lines.index(f"  - name: {name}")
    return "\n".join(lines[:at] + lines[at + 2:]) + "\n"


def save(path: Path, text: str) -> None:
    """Saved the way editors do: a new file renamed over the old one."""
    temporary = path.with_suffix(".saving")
    temporary.write_text(text)
    temporary.replace(path)


@pytest.fixture
def demo_source() -> Iterator[str]:
    name, stop = unique_name("fb-watch-in"), threading.Event()
    thread = threading.Thread(target=run_demo_source, args=(name, 640, 360, 15.0, 2, 0, stop), daemon=True)
    thread.start()
    yield name
    stop.set()
    thread.join(5)


@pytest.mark.slow
@pytest.mark.usefixtures("ndi_runtime")
def test_an_edited_profile_goes_live_and_a_broken_one_keeps_the_show(tmp_path: Path, demo_source: str) -> None:
    port = free_port()
    profile = face_profile(tmp_path, port=port)
    original = profile.read_text()
    process = start_bridge(profile, demo_source, unique_name("fb-watch-out"), "--watch")
    try:
        status = wait_status(port, lambda s: s.get("frames", {}).get("out", 0) > 10 and s.get("tracks"), 60)
        assert status.get("targets") == list(TARGET_NAMES), status
        assert post_command(port, b'{"action": "select_target", "target": "guest5"}')[0] == 202
        assert wait_status(port, lambda s: s["active_target"] == "guest5")["active_target"] == "guest5"

        # a valid edit: one target fewer, live within a second or two, the on-air target kept
        save(profile, drop_target(original, "guest6"))
        status = wait_status(port, lambda s: s["targets"] == ["portrait", "guest5"], 20)
        assert status["targets"] == ["portrait", "guest5"], status
        assert status["active_target"] == "guest5", "the reload changed what was on air"
        out_before = status["frames"]["out"]

        # an invalid edit: the running profile stays, frames keep flowing
        save(profile, original.replace("unknown: active", "unknown: sometimes"))
        wait_status(port, lambda s: s["frames"]["out"] > out_before + 30, 15)
        status = get_status(port)
        assert status["targets"] == ["portrait", "guest5"], "an invalid profile replaced the running one"
        assert status["frames"]["out"] > out_before + 30, "frames stopped while the profile was broken"

        # a valid edit that touches a restart-only key: the live part applies, the rest is reported
        save(profile, original.replace("ndi_source: placeholder", "ndi_source: elsewhere"))
        status = wait_status(port, lambda s: s["targets"] == list(TARGET_NAMES), 20)
        assert status["targets"] == list(TARGET_NAMES), status
        assert status["input"]["connected"], "the input was dropped for a restart-only change"
        assert process.poll() is None, "the bridge died"
    finally:
        code, _, output = stop_process(process)
    assert code == 0, output
    assert "Traceback" not in output, output
    assert "mapping.unknown" in output and "kept the running profile" in output, output
    assert "input.ndi_source changed; restart the bridge to apply it" not in output, "the --input override counts"
    assert "reloaded; on air from the next frame" in output, output
