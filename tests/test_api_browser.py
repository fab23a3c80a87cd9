"""A real browser attacks a running bridge: no web page may switch targets or put the real face on air.

Real parts: Debian's chromium driven by selenium (the system browser and driver, nothing downloaded),
`facebridge run` as its own process on the CPU face profile, the demo source over loopback NDI, and an
attacker's page served from another loopback origin (127.0.0.1, another port). The page tries a no-cors
text/plain fetch, text/plain and url-encoded form POSTs, a beacon, JSON fetches with and without the token
and a cross-origin read of /status; a page whose name
resolves to 127.0.0.1 (DNS rebinding, simulated with chromium's host resolver rules) tries to read and
write. None may change the bridge's state; a client holding the token still can.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bridge.access import user_token
from bridge.io.demo_source import run_demo_source
from tests.e2e_tools import face_profile, free_port, get_status, post_command, wait_status
from tests.browser_tools import REBOUND_NAME, browser_missing_reason, chromium, serve_page
from tests.ndi_tools import start_bridge, stop_process, unique_name

@dataclass
class RunningBridge:
    port: int
    start_target: str


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory, ndi_runtime: None) -> Iterator[RunningBridge]:
    reason = browser_missing_reason()
    if reason:
        pytest.skip(f"real-browser test: {reason}")
    name, stop = unique_name("fb-browser-in"), threading.Event()
    source = threading.Thread(target=run_demo_source, args=(name, 480, 270, 10.0, 1, 0, stop), daemon=True)
    source.start()
    port = free_port()
    process = start_bridge(face_profile(tmp_path_factory.mktemp("browser"), port=port), name,
                           unique_name("fb-browser-out"))
    try:
        status = wait_status(port, lambda s: s.get("frames", {}).get("out", 0) > 5 and s.get("active_target"), 90)
        assert status.get("active_target") and status.get("bypass") is False, status
        yield RunningBridge(port, status["active_target"])
    finally:
        code, _, output = stop_process(process)
        stop.set()
        source.join(5)
    assert code == 0, output
    assert "Traceback" not in output, output
    assert user_token().value.value not in output


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = browser_missing_reason()
    if reason:
        pytest.skip(f"real-browser test: {reason}")
    with chromium() as driver:
        yield driver


ATTACK_PAGE = """<!doctype html><title>cute cat overlay</title>
<iframe name="sink" id="sink"></iframe>
<iframe name="sink2" id="sink2"></iframe>
<form id="form" method="POST" action="BRIDGE/command" enctype="text/plain" target="sink">
  <input type="hidden" name='{"action":"set_bypass","on":true,"pad":"' value='"}'>
</form>
<form id="form2" method="POST" action="BRIDGE/command" target="sink2">
  <input type="hidden" name="action" value="toggle_bypass">
</form>
<script>
const bridge = "BRIDGE", token = "TOKEN", results = {};
async function attempt(name, url, init) {
  try {
    const reply = await fetch(url, init);
    results[name] = reply.type === "opaque" ? "sent, opaque reply" : reply.status + " " + await reply.text();
  } catch (error) {
    results[name] = "blocked: " + error.name;
  }
}
async function attack() {
  await attempt("no-cors text/plain fetch", bridge + "/command",
                {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"},
                 body: JSON.stringify({action: "set_bypass", on: true})});
  for (const [form, frame, name] of [["form", "sink", "text/plain form POST"], ["form2", "sink2", "url-encoded form POST"]]) {
    await new Promise(done => {
      document.getElementById(frame).onload = done;
      setTimeout(done, 5000);
      document.getElementById(form).submit();
    });
    results[name] = "submitted";
  }
  results["sendBeacon"] = navigator.sendBeacon(bridge + "/command", JSON.stringify({action: "set_bypass", on: true}))
    ? "queued" : "refused by the browser";
  await attempt("JSON fetch without the token", bridge + "/command",
                {method: "POST", headers: {"Content-Type": "application/json"},
                 body: JSON.stringify({action: "select_target", target: "guest6"})});
  await attempt("JSON fetch with the token", bridge + "/command",
                {method: "POST", headers: {"Content-Type": "application/json", "Authorization": "Bearer " + token},
                 body: JSON.stringify({action: "toggle_bypass"})});
  await attempt("cross-origin read of /status", bridge + "/status", {});
  window.results = results;
}
attack();
</script>"""


@pytest.fixture
def attacker(bridge: RunningBridge) -> Iterator[str]:
    """The attacker's page on another loopback origin; it even knows the token."""
    page = (ATTACK_PAGE.replace("BRIDGE", f"http://127.0.0.1:{bridge.port}")
            .replace("TOKEN", user_token().value.value))
    with serve_page(page) as url:
        yield url


def refused(port: int) -> dict[str, float]:
    """The bridge's own count of refused requests, by why (from /metrics)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as reply:
        families = text_string_to_metric_families(reply.read().decode())
    return {s.labels["reason"]: s.value for f in families if f.name == "facebridge_api_refused"
            for s in f.samples if s.name.endswith("_total")}


def on_air(port: int) -> tuple[Any, Any]:
    status = get_status(port)
    return status["bypass"], status["active_target"]


@pytest.mark.slow
def test_a_page_from_another_origin_changes_nothing(bridge: RunningBridge, browser: Any, attacker: str) -> None:
    before = refused(bridge.port)
    browser.get(attacker)
    deadline = time.monotonic() + 30
    while (results := browser.execute_script("return window.results || null")) is None:
        assert time.monotonic() < deadline, "the attacker's page never finished"
        time.sleep(0.2)
    # the preflights were refused, so neither JSON request was ever sent; nor can the page read a reply
    assert results["JSON fetch without the token"] == "blocked: TypeError", results
    assert results["JSON fetch with the token"] == "blocked: TypeError", results
    assert results["cross-origin read of /status"] == "blocked: TypeError", results
    assert results["no-cors text/plain fetch"] == "sent, opaque reply", results
    assert results["sendBeacon"] == "queued", results
    time.sleep(1.5)  # anything that got through would be applied at the next frame; a beacon may leave late
    assert on_air(bridge.port) == (False, bridge.start_target), "a web page changed what is on air"
    after = refused(bridge.port)
    # every attempt reached the bridge and was refused for its Origin: the no-cors fetch, two forms, the beacon,
    # two preflights and the read
    assert after["foreign_origin"] - before.get("foreign_origin", 0) >= 7, (before, after)


@pytest.mark.slow
def test_a_rebound_page_can_neither_read_nor_write(bridge: RunningBridge, browser: Any) -> None:
    """DNS rebinding: the attacker's name now resolves to 127.0.0.1, so its page is same-origin with the port."""
    before = refused(bridge.port)
    browser.get(f"http://{REBOUND_NAME}:{bridge.port}/status")
    assert "not this bridge's address" in browser.page_source
    assert "active_target" not in browser.page_source
    token = user_token().value.value
    code = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch("/command", {method: "POST", headers: {"Content-Type": "application/json",
                                                     "Authorization": "Bearer " + arguments[0]},
                           body: JSON.stringify({action: "set_bypass", on: true})})
          .then(reply => done(reply.status), error => done("blocked: " + error.name));""", token)
    assert code == 403
    time.sleep(1.0)
    assert on_air(bridge.port) == (False, bridge.start_target)
    assert refused(bridge.port)["foreign_host"] - before.get("foreign_host", 0) >= 2


@pytest.mark.slow
def test_a_client_holding_the_token_still_switches(bridge: RunningBridge) -> None:
    """The control: the same commands with the token do change the show, so the checks above could fail."""
    try:
        assert post_command(bridge.port, json.dumps({"action": "select_target", "target": "guest6"}).encode())[0] == 202
        assert wait_status(bridge.port, lambda s: s["active_target"] == "guest6")["active_target"] == "guest6"
        assert post_command(bridge.port, b'{"action": "set_bypass", "on": true}')[0] == 202
        assert wait_status(bridge.port, lambda s: s["bypass"])["bypass"] is True
    finally:
        post_command(bridge.port, b'{"action": "set_bypass", "on": false}')
        post_command(bridge.port, json.dumps({"action": "select_target", "target": bridge.start_target}).encode())
    assert wait_status(bridge.port, lambda s: not s["bypass"])["bypass"] is False
