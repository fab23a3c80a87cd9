"""The control dock in a real browser against a running bridge on the demo source.

Real parts: Debian's chromium driven by selenium (the system browser and driver, nothing downloaded),
`facebridge run` as its own process on the CPU face profile (a copy with comments, so the test can see
they survive a dropped photo), the demo source with two real faces over loopback NDI.
Set DOCK_SCREENSHOTS=docs to write the README's screenshots (docs/dock-320.png, docs/dock-1000.png).
"""

from __future__ import annotations

import base64
import json
import os
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bridge.access import user_token
from bridge.io.demo_source import run_demo_source
from bridge.runtime import assets
from tests.e2e_tools import face_profile, free_port, get_status, post_command, wait_status
from tests.ndi_tools import start_bridge, stop_process, unique_name
from tests.browser_tools import browser_missing_reason, chromium, serve_page
from tests.test_api_browser import refused

DEMO_FACES = 2
COMMENTS = ("# The dock test's show: these comments must survive a dropped photo",
            "targets:  # who the faces become")


@dataclass
class Bridge:
    port: int
    profile: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dock_url(self) -> str:
        return f"{self.base}/dock?token={user_token().value.value}"


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory, ndi_runtime: None) -> Iterator[Bridge]:
    reason = browser_missing_reason()
    if reason:
        pytest.skip(f"real-browser test: {reason}")
    folder = tmp_path_factory.mktemp("dock")
    name, stop = unique_name("fb-dock-in"), threading.Event()
    source = threading.Thread(target=run_demo_source, args=(name, 640, 360, 15.0, DEMO_FACES, 0, stop), daemon=True)
    source.start()
    port = free_port()
    profile = face_profile(folder, port=port)
    text = profile.read_text().replace("targets:\n", COMMENTS[1] + "\n")
    profile.write_text(COMMENTS[0] + "\n" + text)
    process = start_bridge(profile, name, unique_name("fb-dock-out"))
    try:
        status = wait_status(port, lambda s: s.get("frames", {}).get("out", 0) > 5
                             and len(s.get("tracks") or []) == DEMO_FACES, 120)
        assert len(status.get("tracks") or []) == DEMO_FACES, status
        yield Bridge(port, profile)
    finally:
        code, _, output = stop_process(process, timeout_s=10)
        stop.set()
        source.join(5)
    assert code == 0, output
    assert "Traceback" not in output, output
    assert user_token().value.value not in output  # the dock's URL is never logged


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = browser_missing_reason()
    if reason:
        pytest.skip(f"real-browser test: {reason}")
    with chromium("--window-size=380,1000", script_timeout_s=60) as driver:
        yield driver


def until(predicate: Any, timeout_s: float = 10.0, every_s: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every_s)


@pytest.fixture(scope="module")
def dock(bridge: Bridge, browser: Any) -> Any:
    """The dock opened as OBS opens it: its URL, once."""
    browser.get(bridge.dock_url)
    assert until(lambda: browser.execute_script("return document.querySelectorAll('.target').length") == 3)
    return browser


def texts(browser: Any, selector: str) -> list[str]:
    return browser.execute_script(f"return [...document.querySelectorAll({selector!r})].map(e => e.textContent)")


@pytest.mark.slow
def test_the_dock_is_refused_without_the_token(bridge: Bridge) -> None:
    for url in (f"{bridge.base}/dock/", f"{bridge.base}/dock/preview", f"{bridge.base}/dock/events",
                f"{bridge.base}/dock?token=wrong-token-0123456789"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=3)
        assert refused.value.code == 401, url
    request = urllib.request.Request(f"{bridge.base}/dock/", headers={"Host": f"evil.test:{bridge.port}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=3)
    assert refused.value.code == 403


@pytest.mark.slow
def test_the_token_leaves_the_address_bar_for_a_strict_httponly_cookie(bridge: Bridge, dock: Any) -> None:
    assert dock.current_url == f"{bridge.base}/dock/"
    assert user_token().value.value not in dock.current_url
    cookies = {c["name"]: c for c in dock.get_cookies()}
    session = cookies["facebridge_dock"]
    assert session["httpOnly"] is True and session["sameSite"] == "Strict"
    assert session["value"] != user_token().value.value
    assert dock.execute_script("return document.cookie") == ""  # no script can read it
    # a fresh browser tab without the cookie is refused
    dock.delete_all_cookies()
    dock.get(f"{bridge.base}/dock/")
    assert "dock opens with its URL once" in dock.page_source
    dock.get(bridge.dock_url)
    assert until(lambda: dock.execute_script("return document.querySelectorAll('.target').length") == 3)


@pytest.mark.slow
def test_it_shows_the_three_demo_targets_and_a_click_makes_one_active_within_200_ms(bridge: Bridge, dock: Any) -> None:
    status = get_status(bridge.port)
    assert [t.strip() for t in texts(dock, ".target .name")] == status["targets"] == ["portrait", "guest5", "guest6"]
    thumbs = dock.execute_script("return [...document.querySelectorAll('.target img')].map(i => i.naturalWidth)")
    assert until(lambda: all(w > 0 for w in dock.execute_script(
        "return [...document.querySelectorAll('.target img')].map(i => i.naturalWidth)"))), thumbs
    delays = []
    for name in ("guest6", "guest5", "portrait"):
        started = time.monotonic()
        dock.execute_script("document.querySelector(`.target[data-name='${arguments[0]}']`).click()", name)
        assert until(lambda: get_status(bridge.port, 1.0)["active_target"] == name, 3.0, 0.005), name
        delays.append(time.monotonic() - started)
        assert until(lambda: dock.execute_script(
            "return document.querySelector('.target[aria-pressed=true]').dataset.name") == name, 3.0)
    print(f"click → /status active: {[round(d * 1000) for d in delays]} ms")
    assert statistics.median(delays) <= 0.2, delays
    # keys 1–9 do the same
    dock.find_element("tag name", "body").send_keys("2")
    assert until(lambda: get_status(bridge.port)["active_target"] == "guest5", 3.0)


@pytest.mark.slow
def test_the_face_rows_match_the_demo_faces_and_a_picker_blurs_one(bridge: Bridge, dock: Any) -> None:
    tracks = get_status(bridge.port)["tracks"]
    assert len(tracks) == DEMO_FACES
    names = sorted(f"Face {t['slot']}" if t.get("slot") is not None else f"Face #{t['id']}" for t in tracks)
    assert until(lambda: sorted(texts(dock, "#faces td:first-child")) == names, 5.0), texts(dock, "#faces td:first-child")
    options = dock.execute_script("return [...document.querySelector('#faces select').options].map(o => o.value)")
    assert options == ["@auto", "portrait", "guest5", "guest6", "@keep", "@blur"]
    first = dock.execute_script("return document.querySelector('#faces tr').dataset.face")
    dock.execute_script("""const s = document.querySelector('#faces select');
                           s.value = '@blur'; s.dispatchEvent(new Event('change'));""")

    def target_of_first() -> Any:
        for t in get_status(bridge.port)["tracks"]:
            if (str(t["slot"]) if t.get("slot") is not None else f"#{t['id']}") == first:
                return t["target"]
        return None

    try:
        assert until(lambda: target_of_first() == "@blur", 3.0), get_status(bridge.port)["tracks"]
        others = [t["target"] for t in get_status(bridge.port)["tracks"] if t["target"] != "@blur"]
        assert others and all(t == get_status(bridge.port)["active_target"] for t in others)
    finally:
        dock.execute_script("""const s = document.querySelector('#faces select');
                               s.value = '@auto'; s.dispatchEvent(new Event('change'));""")
    assert until(lambda: target_of_first() not in (None, "@blur"), 3.0)


@pytest.mark.slow
def test_bypass_and_panic_buttons_change_status_and_say_so(bridge: Bridge, dock: Any) -> None:
    try:
        dock.find_element("id", "bypass").click()
        assert wait_status(bridge.port, lambda s: s["bypass"])["bypass"] is True
        assert until(lambda: "BYPASS" in dock.find_element("id", "onair").text, 3.0)
        assert dock.find_element("id", "bypass").get_attribute("aria-pressed") == "true"
        dock.find_element("id", "panic").click()  # panic wins over bypass: no real face shows
        status = wait_status(bridge.port, lambda s: s["panic"] and all(t["target"] == "@blur" for t in s["tracks"]))
        assert status["panic"] and status["tracks"] and all(t["target"] == "@blur" for t in status["tracks"]), status
        assert until(lambda: "PANIC" in dock.find_element("id", "onair").text, 3.0)
        dock.find_element("id", "panic").click()
        assert wait_status(bridge.port, lambda s: not s["panic"])["panic"] is False
        dock.find_element("id", "bypass").click()
        assert wait_status(bridge.port, lambda s: not s["bypass"])["bypass"] is False
        assert until(lambda: "Swapping" in dock.find_element("id", "onair").text, 3.0)
    finally:
        post_command(bridge.port, b'{"action": "set_panic", "on": false}')
        post_command(bridge.port, b'{"action": "set_bypass", "on": false}')


GRAB = """const img = document.getElementById('preview');
if (!img.naturalWidth) return null;
const canvas = document.createElement('canvas');
canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
const context = canvas.getContext('2d');
context.drawImage(img, 0, 0);
const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
let sum = 0; const sample = [];
for (let i = 0; i < data.length; i += 4 * 97) { sum += data[i] + data[i + 1] + data[i + 2]; sample.push(data[i]); }
return {width: canvas.width, height: canvas.height, mean: sum / (data.length / (4 * 97)) / 3, sample};"""


@pytest.mark.slow
def test_the_preview_shows_a_picture_that_changes(bridge: Bridge, dock: Any) -> None:
    first = until(lambda: dock.execute_script(GRAB), 10.0, 0.2)
    assert first is not None, "no preview picture decoded"
    assert first["width"] == 480 and 250 <= first["height"] <= 300, first
    assert first["mean"] > 10, "the preview is black"
    time.sleep(1.0)
    second = dock.execute_script(GRAB)
    changed = sum(a != b for a, b in zip(first["sample"], second["sample"]))
    assert changed > len(first["sample"]) * 0.02, "the preview did not change in a second"
    dock.execute_script("document.querySelector('input[name=view][value=input]').click()")
    assert until(lambda: "view=input" in dock.execute_script("return document.getElementById('preview').src"))
    assert until(lambda: (dock.execute_script(GRAB) or {}).get("width") == 480, 10.0, 0.2)
    dock.execute_script("document.querySelector('input[name=view][value=output]').click()")


DROP = """const [name, type, data] = arguments;
const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
const transfer = new DataTransfer();
transfer.items.add(new File([bytes], name, {type}));
document.getElementById('drop').dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true, cancelable: true}));"""


def drop(browser: Any, path_or_bytes: Path | bytes, name: str, kind: str = "image/jpeg") -> None:
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else path_or_bytes.read_bytes()
    browser.execute_script(DROP, name, kind, base64.b64encode(data).decode())


def message(browser: Any) -> str:
    return browser.find_element("id", "message").text


@pytest.mark.slow
def test_a_bad_file_is_one_line_and_changes_nothing(bridge: Bridge, dock: Any) -> None:
    before, profile_before = get_status(bridge.port)["targets"], bridge.profile.read_text()
    for data, name, kind, says in ((b"%PDF-1.4 not a photo", "notes.png", "image/png", "not an image"),
                                   (b"\x00" * 10, "blank.txt", "text/plain", "not an image")):
        dock.execute_script("document.getElementById('message').textContent = ''")
        drop(dock, data, name, kind)
        assert until(lambda: says in message(dock), 10.0), message(dock)
        assert "\n" not in message(dock)
    landscape = assets.demo_targets()  # a photo with no face: the demo's own target cropped to its background
    import cv2

    picture = cv2.imread(str(landscape["portrait"]))[:40, :40]
    drop(dock, cv2.imencode(".png", picture)[1].tobytes(), "wall.png", "image/png")
    assert until(lambda: "no face" in message(dock), 30.0), message(dock)
    assert get_status(bridge.port)["targets"] == before
    assert bridge.profile.read_text() == profile_before
    assert not (bridge.profile.parent / "targets").exists() or not any((bridge.profile.parent / "targets").iterdir())


@pytest.mark.slow
def test_dropping_a_photo_adds_a_target_with_the_profiles_comments_kept(bridge: Bridge, dock: Any,
                                                                        photo_paths: dict[str, Path]) -> None:
    drop(dock, photo_paths["Tom_Hanks_54745.png"], "Host Photo.png", "image/png")
    assert until(lambda: "added target host-photo" in message(dock), 90.0, 0.2), message(dock)
    status = wait_status(bridge.port, lambda s: "host-photo" in s["targets"], 10)
    assert status["targets"] == ["portrait", "guest5", "guest6", "host-photo"]
    text = bridge.profile.read_text()
    assert all(comment in text for comment in COMMENTS), text
    assert "  - name: host-photo\n    images: [targets/host-photo.png]\n" in text
    assert (bridge.profile.parent / "targets" / "host-photo.png").is_file()
    assert until(lambda: "host-photo" in texts(dock, ".target .name"), 5.0)
    # live: a click puts it on the faces at the next frame
    dock.execute_script("document.querySelector(`.target[data-name='host-photo']`).click()")
    assert wait_status(bridge.port, lambda s: s["active_target"] == "host-photo" and
                       all(t["target"] == "host-photo" for t in s["tracks"]))["active_target"] == "host-photo"
    post_command(bridge.port, json.dumps({"action": "select_target", "target": "portrait"}).encode())


@pytest.mark.slow
def test_a_group_photo_asks_which_face(bridge: Bridge, dock: Any, photo_paths: dict[str, Path]) -> None:
    drop(dock, photo_paths["t1.jpg"], "the band.jpg")
    assert until(lambda: dock.find_element("id", "pick").is_displayed(), 60.0, 0.2), message(dock)
    faces = dock.execute_script("return document.querySelectorAll('#pick-faces button').length")
    assert faces >= 2
    assert "pick one" in dock.find_element("id", "pick-text").text
    dock.execute_script("document.querySelector('#pick-faces button').click()")
    assert until(lambda: "added target the-band" in message(dock), 90.0, 0.2), message(dock)
    assert "the-band" in wait_status(bridge.port, lambda s: "the-band" in s["targets"], 10)["targets"]
    assert all(comment in bridge.profile.read_text() for comment in COMMENTS)


@pytest.mark.slow
def test_the_dock_fits_a_dock_and_a_tab(bridge: Bridge, dock: Any) -> None:
    """The dock at OBS's dock width and in a wide tab: it fits (no sideways scroll); optionally saved for the README."""
    folder = os.environ.get("DOCK_SCREENSHOTS")
    for width, theme in ((320, "dark"), (1000, "dark"), (1000, "light")):
        dock.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": theme}]})
        assert dock.execute_script(f"return matchMedia('(prefers-color-scheme: {theme})').matches")
        dock.set_window_size(width, 1100 if width < 500 else 760)
        dock.execute_script("document.activeElement && document.activeElement.blur()")
        time.sleep(1.5)
        inner = dock.execute_script("return window.innerWidth")
        assert dock.execute_script("return document.documentElement.scrollWidth") <= inner, width
        background = dock.execute_script("return getComputedStyle(document.body).backgroundColor")
        assert (background == "rgb(29, 31, 38)") == (theme == "dark"), background  # OBS's dark grey, or light
        if folder:
            height = dock.execute_script("return document.documentElement.scrollHeight")
            dock.set_window_size(width, height + (dock.execute_script("return window.outerHeight - window.innerHeight") or 0))
            time.sleep(1.0)
            dock.save_screenshot(str(Path(folder) / f"dock-{width}{'-light' if theme == 'light' else ''}.png"))
    dock.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    assert dock.find_element("id", "lost").get_attribute("hidden") is not None


NEIGHBOUR_PAGE = """<!doctype html><title>an overlay on another port</title>
<iframe name="sink" id="sink"></iframe>
<form id="form" method="POST" action="BRIDGE/dock/command" enctype="text/plain" target="sink">
  <input type="hidden" name='{"action":"set_bypass","on":true,"pad":"' value='"}'>
</form>
<img id="peek" src="BRIDGE/dock/preview">
<script>
const results = {};
async function attempt(name, init) {
  try {
    const reply = await fetch("BRIDGE/dock/command", {credentials: "include", ...init});
    results[name] = reply.type === "opaque" ? "sent, opaque reply" : reply.status;
  } catch (error) { results[name] = "blocked: " + error.name; }
}
(async () => {
  await attempt("no-cors text/plain", {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"},
                                       body: JSON.stringify({action: "set_bypass", on: true})});
  await attempt("json", {method: "POST", headers: {"Content-Type": "application/json"},
                         body: JSON.stringify({action: "set_bypass", on: true})});
  await new Promise(done => { document.getElementById("sink").onload = done; setTimeout(done, 5000);
                              document.getElementById("form").submit(); });
  await new Promise(done => setTimeout(done, 1500));
  results.peek = document.getElementById("peek").naturalWidth;
  window.results = results;
})();
</script>"""


@pytest.mark.slow
def test_a_page_on_another_port_gets_nothing_even_though_the_browser_sends_the_cookie(bridge: Bridge, dock: Any) -> None:
    """127.0.0.1 at another port is the same *site*: SameSite=Strict lets the dock's cookie go along with
    this page's requests. The guard's Origin and Sec-Fetch-Site checks are what refuse them."""
    page = NEIGHBOUR_PAGE.replace("BRIDGE", bridge.base)
    try:
        with serve_page(page) as url:
            assert any(c["name"] == "facebridge_dock" for c in dock.get_cookies())  # the browser holds the cookie
            before = refused(bridge.port)
            dock.get(url)
            results = until(lambda: dock.execute_script("return window.results || null"), 30.0, 0.2)
    finally:
        dock.get(bridge.dock_url)
    assert results is not None, "the neighbour's page never finished"
    assert results["json"] == "blocked: TypeError", results  # its preflight was refused
    assert results["peek"] == 0, "another page could show the dock's preview"
    time.sleep(1.0)
    assert get_status(bridge.port)["bypass"] is False, "a page on another port changed what is on air"
    after = refused(bridge.port)
    # the no-cors POST, the preflight, the form and the picture all reached the bridge and were refused
    assert after["foreign_origin"] - before.get("foreign_origin", 0) >= 4, (before, after)
    assert until(lambda: dock.execute_script("return document.querySelectorAll('.target').length") >= 3)
