"""The terminal status panel and its plain-log fallback."""

from __future__ import annotations

import io
import logging
import threading

import pytest
from rich.console import Console

from bridge.status_view import BridgeStatus, LiveStatus, render_status, status_line

STATUS: BridgeStatus = {
    "input": {"source": "HOST (Camera)", "size": [1280, 720], "fps": 29.97},
    "output": {"name": "facebridge", "fps": 30.0, "connections": 1},
    "latency": {"p50_ms": 41.2, "p95_ms": 55.0, "max_ms": 80.0},
    "frames": {"in": 1000, "out": 990, "held": 0, "dropped": 10, "skipped": 0},
    "faces": 2,
    "tracks": [{"id": 3, "person": "alice", "target": "tom", "state": "detected"},
               {"id": 4, "person": None, "target": None, "state": "coasting"}],
    "active_target": "tom",
    "bypass": True,
    "obs": {"connected": False},
    "fallbacks": 1,
    "leaks": 0,
    "provider": "cpu",
    "uptime_s": 3725.0,
}


def draw(status: dict) -> str:
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(render_status(status))
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_panel_shows_every_fact_the_operator_needs() -> None:
    text = draw(dict(STATUS))
    for fact in ("HOST (Camera)", "1280×720", "29.97 fps", "facebridge  30 fps", "p50 41 ms", "p95 55 ms",
                 "dropped 10", "2 found, 2 tracked", "#3 alice → tom", "#4 unknown → — (coasting)", "BYPASS",
                 "disconnected", "fallbacks 1", "cpu", "up 1:02:05"):
        assert fact in text, fact
    assert "(detected)" not in text  # the usual state is not spelled out


def test_panel_of_an_empty_status_does_not_fail() -> None:
    text = draw({})
    assert "waiting for a source" in text and "OBS" in text


def test_panel_tolerates_wrong_types_from_a_half_built_status() -> None:
    text = draw({"input": {"size": "big", "fps": "fast"}, "tracks": ["odd", {"id": 1}], "faces": None,
                 "latency": {"p50_ms": None}})
    assert "faces" in text


def test_a_crowd_of_tracks_is_cut_short() -> None:
    text = draw({"tracks": [{"id": i, "person": f"p{i}"} for i in range(20)]})
    assert "#7 p7" in text and "#8 p8" not in text and "12 more" in text


def test_unhealthy_status_shows_the_reason() -> None:
    text = draw({"health": {"ok": False, "reason": "no input frame for 3.0 s"}})
    assert "no input frame for 3.0 s" in text


def test_plain_line_holds_the_same_facts_on_one_line() -> None:
    line = status_line(STATUS)
    assert "\n" not in line
    for fact in ("HOST (Camera) 1280x720@29.97", "out 30 fps", "p50 41 p95 55 ms", "faces 2 tracks 2",
                 "target tom", "bypass on", "obs down", "dropped 10", "fallbacks 1", "provider cpu"):
        assert fact in line, fact


def test_live_status_logs_plain_lines_when_not_on_a_terminal(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="facebridge.status")
    console = Console(file=io.StringIO(), force_terminal=False)
    with LiveStatus(console, lambda: STATUS, plain_every_s=60) as view:
        assert not view.live_mode
    lines = [r.getMessage() for r in caplog.records if r.name == "facebridge.status"]
    assert len(lines) == 1 and lines[0].startswith("status in HOST (Camera)")
    assert console.file.getvalue() == ""  # type: ignore[attr-defined]


def test_live_status_redraws_the_panel_on_a_terminal() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=100, color_system=None)
    calls = threading.Semaphore(0)

    def read() -> BridgeStatus:
        calls.release()
        return STATUS

    with LiveStatus(console, read, refresh_s=0.01) as view:
        assert view.live_mode
        for _ in range(3):  # it keeps asking, not just once
            assert calls.acquire(timeout=5)
    assert "HOST (Camera)" in console.file.getvalue()  # type: ignore[attr-defined]


def test_a_failing_status_source_is_logged_once_and_the_view_keeps_going(caplog: pytest.LogCaptureFixture) -> None:
    console = Console(file=io.StringIO(), force_terminal=False)
    view = LiveStatus(console, lambda: {}["missing"])
    view.refresh()
    view.refresh()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "KeyError" in errors[0].getMessage()


def test_a_recording_shows_in_the_panel_and_the_line() -> None:
    from rich.console import Console

    status = {"recording": {"state": "recording", "file": "/shows/air-1.mkv", "frames": 10}}
    console = Console(record=True, width=120)
    console.print(render_status(status))
    shown = console.export_text()
    assert "REC" in shown and "air-1.mkv" in shown
    assert status_line(status).endswith("rec recording")
    assert "rec" not in status_line({"recording": {"state": "off"}}).split(" | ")[-1]
