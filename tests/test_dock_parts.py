"""The control dock's parts without a browser: its guard (cookie, Origin), the preview hub, the photo checks
and the profile edit, the panic and per-face commands. The browser test (test_dock.py) drives them all."""

from __future__ import annotations

import threading
import time
from email.message import Message

import cv2
import numpy as np
import pytest

from bridge.access import DOCK_COOKIE, RequestGuard
from bridge.dock.photos import PhotoError, SeveralFaces, add_to_profile, choose_face, decode_photo, target_name
from bridge.dock.preview import PreviewHub, face_label
from bridge.facestage.mapping import BLUR, Mapping
from bridge.obs.commands import Command, CommandError, parse_command
from bridge.types import Face, Frame, Track

TOKEN = "a-test-token-of-enough-length-0123"
PORT = 8765


def headers(**values: str) -> Message:
    message = Message()
    message["Host"] = f"127.0.0.1:{PORT}"
    for name, value in values.items():
        message[name.replace("_", "-")] = value
    return message


@pytest.fixture
def guard() -> RequestGuard:
    return RequestGuard(TOKEN, "127.0.0.1", PORT)


def cookie(guard: RequestGuard) -> str:
    return f"other=1; {DOCK_COOKIE}={guard.dock_session}"


OWN = f"http://127.0.0.1:{PORT}"


def test_the_dock_cookie_lets_the_page_in_and_is_not_the_token(guard: RequestGuard) -> None:
    assert TOKEN not in guard.dock_session and guard.dock_session not in TOKEN
    assert "HttpOnly" in guard.session_cookie() and "SameSite=Strict" in guard.session_cookie()
    assert guard.check_dock_read(headers(Cookie=cookie(guard), Sec_Fetch_Site="same-origin")) is None
    assert guard.check_dock_read(headers()).status == 401
    assert guard.check_dock_read(headers(Cookie=f"{DOCK_COOKIE}=wrong")).status == 401
    assert guard.check_dock_read(headers(Cookie=f"{DOCK_COOKIE}={TOKEN}")).status == 401  # the token is not the cookie
    assert guard.check_dock_entry(headers(), TOKEN) is None
    assert guard.check_dock_entry(headers(), TOKEN[:-1]).status == 401


def test_another_page_gets_nothing_from_the_dock_even_with_its_cookie(guard: RequestGuard) -> None:
    # a page on another port of this host is "same-site": the browser would send the cookie along
    assert guard.check_dock_read(headers(Cookie=cookie(guard), Sec_Fetch_Site="same-site")).kind == "foreign_origin"
    assert guard.check_dock_read(headers(Cookie=cookie(guard), Origin="http://127.0.0.1:9999")).kind == "foreign_origin"
    assert guard.check_dock_entry(headers(Sec_Fetch_Site="cross-site"), TOKEN).kind == "foreign_origin"
    rebound = headers(Cookie=cookie(guard))
    rebound.replace_header("Host", f"evil.test:{PORT}")
    assert guard.check_dock_read(rebound).kind == "foreign_host"


def test_a_dock_post_needs_its_origin_the_cookie_and_json(guard: RequestGuard) -> None:
    good = dict(Cookie=cookie(guard), Origin=OWN, Sec_Fetch_Site="same-origin", Content_Type="application/json")
    assert guard.check_dock_write(headers(**good)) is None
    assert guard.check_dock_write(headers(**{**good, "Origin": "http://127.0.0.1:9999"})).status == 403
    assert guard.check_dock_write(headers(**{k: v for k, v in good.items() if k != "Origin"})).status == 403
    assert guard.check_dock_write(headers(**{**good, "Content_Type": "text/plain"})).status == 415
    assert guard.check_dock_write(headers(**{k: v for k, v in good.items() if k != "Cookie"})).status == 401
    # a tool without a browser may use the header instead (Companion, curl)
    assert guard.check_dock_write(headers(Authorization=f"Bearer {TOKEN}", Content_Type="application/json")) is None


def _frame(n: int, width: int = 1280) -> Frame:
    image = np.full((width * 9 // 16, width, 3), n % 250, np.uint8)
    frame = Frame(image=image, sequence=n, received_at=time.monotonic())
    frame.drawn = [{"id": 3, "slot": 1, "box": [100.0, 100.0, 300.0, 320.0], "person": None, "target": "guest5",
                    "state": "detected"}]
    return frame


def test_the_preview_costs_nothing_unwatched_and_encodes_once_per_picture_for_any_viewers() -> None:
    hub = PreviewHub(fps=1000)
    for n in range(20):
        hub.sent(_frame(n))
    assert hub.encoded_count == 0 and hub.next_picture("output", 0, timeout_s=0.05) is None
    got: list[list[int]] = [[], []]

    def viewer(index: int) -> None:
        with hub.watching("output"):
            seen = 0
            while len(got[index]) < 5:
                picture = hub.next_picture("output", seen, timeout_s=1.0)
                if picture is not None:
                    seen = picture.sequence
                    got[index].append(picture.sequence)
                    image = cv2.imdecode(np.frombuffer(picture.jpeg, np.uint8), cv2.IMREAD_COLOR)
                    assert image.shape[1] == 480

    threads = [threading.Thread(target=viewer, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    n = 100
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        hub.sent(_frame(n))
        n += 1
        time.sleep(0.01)
    for t in threads:
        t.join(1)
    assert all(len(g) >= 5 for g in got)
    assert hub.encoded_count <= len(set(got[0]) | set(got[1]))  # both viewers shared the encodes
    assert hub.viewers == 0


def test_too_many_previews_are_refused_and_close_ends_a_waiting_viewer() -> None:
    hub = PreviewHub(max_viewers=1)
    with hub.watching("output"):
        with pytest.raises(Exception, match="open already"):
            with hub.watching("input"):
                pass
        waiter = threading.Thread(target=hub.next_picture, args=("output", 0, 30.0))
        waiter.start()
        hub.close()
        waiter.join(1)
        assert not waiter.is_alive()


def test_face_labels_say_slot_person_target_and_state() -> None:
    assert face_label({"id": 4, "slot": 2, "person": "host", "target": "guest5", "state": "detected"}) == "2 host: guest5 (swapped)"
    assert face_label({"id": 4, "slot": None, "target": None, "state": "detected"}) == "#4 own face (as is)"
    assert face_label({"id": 4, "slot": 1, "target": BLUR, "state": "coasting"}) == "1 blur (blurred)"
    assert face_label({"id": 4, "slot": 1, "target": "x", "state": "fallback"}).endswith("(fallback)")


PROFILE = """# The Tuesday show
input:
  ndi_source: cam   # the studio camera
targets:  # who faces become
  - name: portrait
    images: [a.png]  # the first one
# mapping decides who gets what
mapping:
  unknown: active
"""


def test_adding_a_target_keeps_the_profiles_comments_and_order() -> None:
    edited = add_to_profile(PROFILE, "obama", "targets/obama.png")
    assert edited.replace("  - name: obama\n    images: [targets/obama.png]\n", "") == PROFILE
    import yaml

    assert yaml.safe_load(edited)["targets"][-1] == {"name": "obama", "images": ["targets/obama.png"]}
    assert "targets:" in add_to_profile("input:\n  ndi_source: cam\n", "x", "targets/x.png")
    with pytest.raises(PhotoError, match="not valid YAML"):
        add_to_profile("input: [\n", "x", "x.png")


def test_bad_photos_are_one_line_each() -> None:
    with pytest.raises(PhotoError, match="not an image"):
        decode_photo(b"<html>not a picture</html>")
    with pytest.raises(PhotoError, match="empty"):
        decode_photo(b"")
    with pytest.raises(PhotoError, match="MB at most"):
        decode_photo(b"\xff" * (9 * 1024 * 1024))
    huge = cv2.imencode(".png", np.zeros((8000, 6000), np.uint8))[1].tobytes()
    with pytest.raises(PhotoError, match="megapixels"):
        decode_photo(huge)


def _face(x: float, size: float) -> Face:
    return Face(box=np.array([x, 50, x + size, 50 + size], np.float32), score=0.9)


def test_one_face_keeps_the_photo_several_ask_which_and_a_pick_crops_to_it() -> None:
    image = np.zeros((400, 900, 3), np.uint8)
    assert choose_face(image, [_face(100, 120), _face(600, 20)], None) is image  # the small one is background
    with pytest.raises(PhotoError, match="no face"):
        choose_face(image, [], None)
    with pytest.raises(SeveralFaces) as several:
        choose_face(image, [_face(100, 120), _face(600, 110)], None)
    assert [c["face"] for c in several.value.choices] == [0, 1] and several.value.choices[0]["thumb"].startswith("data:image/jpeg")
    crop = choose_face(image, [_face(100, 120), _face(600, 110)], 1)
    assert crop.shape[1] < 300
    with pytest.raises(PhotoError, match="not one of"):
        choose_face(image, [_face(100, 120), _face(600, 110)], 5)
    assert target_name("My Photo (1).JPG", ["my-photo-1"]) == "my-photo-1-2"
    assert target_name("@blur.png", []) == "blur"


def test_panic_covers_every_face_even_in_bypass_and_a_face_can_be_given_its_own_target() -> None:
    mapping = Mapping(["a", "b"])
    tracks = [Track(1, _face(0, 10)), Track(2, _face(50, 10))]
    mapping.assign(tracks)
    assert mapping.apply(Command("set_face_target", track=2, target="b")).applied
    assert [t.target for t in mapping.assign(tracks)] == ["a", "b"]
    assert mapping.apply(Command("set_face_target", track=1, target="@keep")).applied
    assert [t.target for t in mapping.assign(tracks)] == [None, "b"]
    assert not mapping.apply(Command("set_face_target", track=1, target="nobody")).applied
    mapping.apply(Command("set_bypass", on=True))
    mapping.apply(Command("set_panic", on=True))
    assert [t.target for t in mapping.assign(tracks)] == [BLUR, BLUR]
    mapping.apply(Command("set_panic", on=False))
    assert [t.target for t in mapping.assign(tracks)] == [None, None]  # bypass again
    mapping.apply(Command("set_bypass", on=False))
    mapping.apply(Command("set_face_target", track=1, target="@auto"))
    assert [t.target for t in mapping.assign(tracks)] == ["a", "b"]


def test_the_new_commands_are_checked_like_the_others() -> None:
    base = {"realm": "facebridge"}
    assert parse_command({**base, "action": "set_panic", "on": True}).on is True
    command = parse_command({**base, "action": "set_face_target", "face": 2, "target": "@blur"})
    assert (command.face, command.track, command.target) == (2, None, "@blur")
    for bad in ({"action": "set_panic"}, {"action": "set_panic", "on": 1},
                {"action": "set_face_target", "target": "a"},
                {"action": "set_face_target", "face": 1, "track": 2, "target": "a"},
                {"action": "set_face_target", "face": 12, "target": "a"},
                {"action": "set_face_target", "face": 1, "target": "@everyone"}):
        with pytest.raises(CommandError):
            parse_command({**base, **bad})


def test_dock_url_prints_the_url_with_the_token_last(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    from bridge.access import user_token
    from bridge.cli import main

    assert main(["dock-url"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"http://127.0.0.1:8765/dock?token={user_token().value.value}"
    profile = tmp_path / "show.yaml"
    profile.write_text("telemetry:\n  host: 127.0.0.1\n  port: 9123\n  token: profile-token-0123456789\n")
    assert main(["dock-url", "--profile", str(profile)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "http://127.0.0.1:9123/dock?token=profile-token-0123456789"
    profile.write_text("telemetry:\n  port: 0\n")
    assert main(["dock-url", "--profile", str(profile)]) == 2
    assert "the dock, is off" in capsys.readouterr().err
