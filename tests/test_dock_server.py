"""The dock's streams against the real HTTP server in this process: they end when the server stops (no
thread held), and a dock in a real browser that loses the bridge says so and comes back by itself."""

from __future__ import annotations

import http.client
import threading
import time
from typing import Any

import numpy as np
import pytest

from bridge.dock.preview import PreviewHub
from bridge.dock.routes import DockBackend
from bridge.obs.commands import Command
from bridge.telemetry import Metrics, TelemetryServer
from bridge.types import Frame
from tests.e2e_tools import free_port
from tests.test_dock import browser, until  # noqa: F401 - the real-browser fixture

TOKEN = "dock-server-test-token-0123456789"


def server_on(port: int, state: dict[str, Any], hub: PreviewHub) -> TelemetryServer:
    def command(parsed: Command) -> tuple[bool, str]:
        if parsed.action == "set_bypass":
            state["bypass"] = parsed.on
        return True, "queued"

    server = TelemetryServer("127.0.0.1", port, TOKEN, status=lambda: dict(state), health=lambda: (True, "ok"),
                             command=command, metrics=Metrics(), dock=DockBackend(hub, lambda: {}))
    server.start()
    return server


def session(server: TelemetryServer) -> str:
    assert server.guard is not None
    return f"facebridge_dock={server.guard.dock_session}"


def feed(hub: PreviewHub, stop: threading.Event) -> None:
    n = 0
    while not stop.is_set():
        image = np.random.default_rng(n).integers(0, 255, (360, 640, 3), np.uint8)
        hub.sent(Frame(image=image, sequence=n, received_at=time.monotonic()))
        n += 1
        time.sleep(0.02)


def test_open_streams_end_when_the_server_stops() -> None:
    hub, stop = PreviewHub(), threading.Event()
    feeder = threading.Thread(target=feed, args=(hub, stop), daemon=True)
    feeder.start()
    server = server_on(free_port(), {"bypass": False, "targets": []}, hub)
    readers: list[threading.Thread] = []
    got: dict[str, int] = {}

    def read(path: str) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request("GET", path, headers={"Cookie": session(server)})
        reply = connection.getresponse()
        assert reply.status == 200, reply.read()
        total = 0
        while chunk := reply.read1(65536):
            total += len(chunk)
        got[path] = total

    try:
        for path in ("/dock/events", "/dock/preview", "/dock/preview?view=input"):
            readers.append(threading.Thread(target=read, args=(path,), daemon=True))
            readers[-1].start()
        assert until(lambda: hub.viewers == 2, 5.0)
        time.sleep(0.5)
        started = time.monotonic()
        server.stop()
        for reader in readers:
            reader.join(3.0)
        assert not any(r.is_alive() for r in readers), "a stream outlived the server"
        assert time.monotonic() - started < 3.0
        assert got["/dock/events"] > 0 and got["/dock/preview"] > 10_000, got  # they had streamed
        assert hub.viewers == 0
    finally:
        stop.set()
        server.stop()


def test_too_many_previews_get_503_not_a_thread_each() -> None:
    hub = PreviewHub(max_viewers=1)
    server = server_on(free_port(), {"bypass": False}, hub)
    try:
        first = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        first.request("GET", "/dock/preview", headers={"Cookie": session(server)})
        assert first.getresponse().status == 200
        second = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        second.request("GET", "/dock/preview", headers={"Cookie": session(server)})
        reply = second.getresponse()
        assert reply.status == 503 and b"open already" in reply.read()
    finally:
        server.stop()


@pytest.mark.slow
def test_a_dock_that_loses_the_bridge_says_so_and_reconnects(browser: Any) -> None:  # noqa: F811
    port, hub = free_port(), PreviewHub()
    state = {"bypass": False, "targets": ["a", "b"], "active_target": "a", "tracks": [], "panic": False}
    server = server_on(port, state, hub)
    try:
        browser.get(server.dock_url)
        assert until(lambda: "Swapping" in browser.find_element("id", "onair").text, 10.0)
        assert browser.find_element("id", "lost").get_attribute("hidden") is not None
        server.stop()
        assert until(lambda: browser.find_element("id", "lost").get_attribute("hidden") is None, 10.0)
        assert "reconnecting" in browser.find_element("id", "lost").text
        state["bypass"] = True  # what changed while the dock was away shows once it is back
        server = server_on(port, state, hub)
        assert until(lambda: browser.find_element("id", "lost").get_attribute("hidden") is not None, 15.0)
        assert until(lambda: "BYPASS" in browser.find_element("id", "onair").text, 5.0)
        browser.find_element("id", "bypass").click()  # and its commands work again (same cookie, new server)
        assert until(lambda: state["bypass"] is False, 5.0)
    finally:
        server.stop()


@pytest.mark.slow
def test_the_health_line_shows_the_recording_and_the_audio_offset(browser: Any) -> None:  # noqa: F811
    port, hub = free_port(), PreviewHub()
    state: dict[str, Any] = {"bypass": False, "targets": ["a"], "active_target": "a", "tracks": [], "panic": False,
                             "obs": {"connected": True, "audio_sync": {"inputs": ["Mic"], "offset_ms": 87}},
                             "recording": {"state": "recording", "file": "/shows/iso/show-2026.mkv"}}
    server = server_on(port, state, hub)
    try:
        browser.get(server.dock_url)
        health = lambda: browser.find_element("id", "health").text  # noqa: E731
        assert until(lambda: "87 ms" in health(), 10.0), health()
        assert "show-2026.mkv" in health()
        state["recording"] = {"state": "failed", "file": "/shows/iso/show-2026.mkv", "error": "disk full"}
        state["bypass"] = True  # an on-air change, so the dock hears of it at once
        assert until(lambda: "failed: disk full" in health(), 10.0), health()
    finally:
        server.stop()
