"""Who may change the show: the API token's store, the request checks, `facebridge token`, and a whole run of
the bridge whose log must never hold the token."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bridge import access
from bridge.access import RequestGuard, TokenError, resolve_token, split_host, user_token
from bridge.obs.commands import Command
from bridge.profile import ProfileError, parse_profile
from tests.e2e_tools import REPO, free_port, get_status, post_command, wait_status
from tests.ndi_tools import stop_process, unique_name

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- the token store ---------------------------------------------------------------------------

@posix_only
def test_the_token_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    folder = tmp_path / "config"
    first = user_token(folder)
    path = folder / access.TOKEN_FILE
    assert mode(path) == 0o600
    assert mode(folder) == 0o700
    assert len(first.value.value) >= 43 and first.origin == str(path)
    assert user_token(folder).value.value == first.value.value  # kept, not made again
    assert [p.name for p in folder.iterdir()] == [access.TOKEN_FILE]  # no temporary file left behind


def test_two_tokens_are_never_the_same(tmp_path: Path) -> None:
    values = {user_token(tmp_path / str(i)).value.value for i in range(20)}
    assert len(values) == 20


def test_bridges_starting_at_once_share_one_token(tmp_path: Path) -> None:
    start, found = threading.Barrier(8), []

    def take() -> None:
        start.wait()
        found.append(user_token(tmp_path).value.value)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(found) == 8 and len(set(found)) == 1
    assert (tmp_path / access.TOKEN_FILE).read_text().strip() == found[0]


@posix_only
def test_renew_replaces_the_token_keeping_mode_0600(tmp_path: Path) -> None:
    old = user_token(tmp_path).value.value
    new = user_token(tmp_path, renew=True).value.value
    assert new != old and user_token(tmp_path).value.value == new
    assert mode(tmp_path / access.TOKEN_FILE) == 0o600


@posix_only
def test_a_token_file_others_can_read_is_made_0600(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    token = user_token(tmp_path).value.value
    path = tmp_path / access.TOKEN_FILE
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="bridge.access"):
        assert user_token(tmp_path).value.value == token
    assert mode(path) == 0o600
    assert "readable by other users" in caplog.text and token not in caplog.text


@pytest.mark.parametrize("content", ["", "tiny\n", "has a space in it, quite long\n", "\xff\xfe" * 20])
def test_a_broken_token_file_is_one_clear_line(tmp_path: Path, content: str) -> None:
    (tmp_path / access.TOKEN_FILE).write_bytes(content.encode("latin-1"))
    with pytest.raises(TokenError) as caught:
        user_token(tmp_path)
    message = str(caught.value)
    assert str(tmp_path / access.TOKEN_FILE) in message and "facebridge token" in message
    assert "\n" not in message
    if content.strip():
        assert content.strip() not in message  # a near-token is still never quoted


def test_an_unusable_config_folder_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "home").write_text("a file where the config folder's parent should be")
    with pytest.raises(TokenError) as caught:
        user_token(tmp_path / "home" / "facebridge")
    message = str(caught.value)
    assert "cannot store the API token" in message and "telemetry.token" in message and "\n" not in message


def test_the_config_folder_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(access.CONFIG_DIR_ENV, str(tmp_path))
    assert access.token_path() == tmp_path / access.TOKEN_FILE
    monkeypatch.delenv(access.CONFIG_DIR_ENV)
    assert access.config_dir().name == "facebridge"  # platformdirs' folder; nothing is written there


def test_the_profiles_token_wins_over_the_users(tmp_path: Path) -> None:
    token = resolve_token(access.Secret("profile-token-0123456789"), "show.yaml", tmp_path)
    assert token.value.value == "profile-token-0123456789" and token.origin == "show.yaml: telemetry.token"
    assert not (tmp_path / access.TOKEN_FILE).exists()
    assert resolve_token(None, "show.yaml", tmp_path).origin == str(tmp_path / access.TOKEN_FILE)


@pytest.mark.parametrize(("token", "problem"), [("tooshort", "8 characters is too short"),
                                                ("has spaces but is long enough", "without spaces")])
def test_a_weak_profile_token_is_a_profile_error_that_never_quotes_it(token: str, problem: str) -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile("telemetry:\n  token: ${T}\n", "show.yaml", REPO, env={"T": token})
    assert f"show.yaml: telemetry.token: " in str(caught.value) and problem in str(caught.value)
    assert token not in str(caught.value)


# -- the request checks, without a network ------------------------------------------------------

class Headers(dict):
    """Header lookups as http.server gives them (case-insensitive, repeats kept)."""

    def __init__(self, *pairs: tuple[str, str]):
        super().__init__()
        self.pairs = list(pairs)

    def get_all(self, name: str, default: None = None) -> list[str] | None:
        found = [value for key, value in self.pairs if key.lower() == name.lower()]
        return found or default

    def get(self, name: str, default: None = None) -> str | None:  # type: ignore[override]
        found = self.get_all(name)
        return found[0] if found else default


TOKEN = "guard-token-0123456789abcdef"


def test_split_host() -> None:
    assert split_host("LocalHost:8765") == ("localhost", 8765)
    assert split_host("[::1]:80") == ("::1", 80)
    assert split_host("example.com") == ("example.com", None)
    for bad in ("a b:1", "host:99999", "host:", "x@y:1", "h/p:1", "[::1", ""):
        assert split_host(bad) is None, bad


def test_a_bridge_on_every_address_takes_ip_literal_hosts_but_no_names() -> None:
    guard = RequestGuard(TOKEN, "0.0.0.0", 8765)
    assert guard.check_read(Headers(("Host", "192.168.1.20:8765"), ("Authorization", f"Bearer {TOKEN}"))) is None
    assert guard.check_read(Headers(("Host", "192.168.1.20:8765"))).kind == "no_token"  # reads need it here
    assert guard.check_read(Headers(("Host", "evil.example:8765"))).kind == "foreign_host"
    assert guard.check_read(Headers(("Host", "192.168.1.20:9999"))).kind == "foreign_host"


def test_a_bridge_on_a_named_address_takes_that_name() -> None:
    guard = RequestGuard(TOKEN, "studio-pc.lan", 8765)
    assert guard.check_host(Headers(("Host", "Studio-PC.lan:8765"))) is None
    assert guard.check_host(Headers(("Host", "localhost:8765"))) is None
    assert guard.check_host(Headers(("Host", "other-pc.lan:8765"))).kind == "foreign_host"


def test_a_write_is_checked_host_origin_token_then_body_type() -> None:
    guard = RequestGuard(TOKEN, "127.0.0.1", 8765)
    host, auth, json_type = ("Host", "127.0.0.1:8765"), ("Authorization", f"Bearer {TOKEN}"), ("Content-Type",
                                                                                              "application/json")
    assert guard.check_write(Headers(host, auth, json_type)) is None
    assert guard.check_write(Headers(("Host", "x:8765"), ("Origin", "https://evil.example"))).kind == "foreign_host"
    assert guard.check_write(Headers(host, ("Origin", "https://evil.example"), auth, json_type)).kind == "foreign_origin"
    assert guard.check_write(Headers(host, ("Origin", f"http://127.0.0.1:8765"), ("Origin", "https://evil.example"),
                                     auth, json_type)).kind == "foreign_origin"
    assert guard.check_write(Headers(host, ("Content-Type", "text/plain"))).kind == "no_token"
    assert guard.check_write(Headers(host, auth, ("Content-Type", "text/plain"))).kind == "not_json"
    assert guard.check_write(Headers(host, auth, auth, json_type)).kind == "wrong_token"
    statuses = {guard.check_write(h).status for h in (Headers(("Host", "x")), Headers(host), Headers(host, auth))}
    assert statuses == {403, 401, 415}


# -- the audit of commands from OBS ------------------------------------------------------------

def test_hotkey_and_scene_commands_are_audited_with_where_they_came_from(caplog: pytest.LogCaptureFixture) -> None:
    queue: list[Command] = []
    full = access.audited(lambda command: False, "obs-websocket 127.0.0.1:4455")
    submit = access.audited(lambda command: queue.append(command) is None, "obs-websocket 127.0.0.1:4455")
    with caplog.at_level(logging.INFO, logger="bridge.access"):
        assert submit(Command("toggle_bypass", source="obs"))
        assert submit(Command("scene_mapping", scene="Interview", source="scene"))
        assert not full(Command("next_target", source="obs"))  # not queued: not accepted, not audited
    assert caplog.messages == ["command toggle_bypass accepted from obs (obs-websocket 127.0.0.1:4455)",
                               "command scene_mapping scene='Interview' accepted from scene (obs-websocket 127.0.0.1:4455)"]
    assert len(queue) == 2


# -- `facebridge token` ------------------------------------------------------------------------

def facebridge(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})})


def test_facebridge_token_prints_the_users_token_last(tmp_path: Path) -> None:
    folder = {access.CONFIG_DIR_ENV: str(tmp_path)}
    shown = facebridge("token", env=folder)
    assert shown.returncode == 0, shown.stderr
    token = shown.stdout.splitlines()[-1]
    assert token == (tmp_path / access.TOKEN_FILE).read_text().strip()
    assert "Authorization: Bearer" in shown.stdout and str(tmp_path) in shown.stdout
    assert facebridge("token", env=folder).stdout.splitlines()[-1] == token  # the same one every time
    renewed = facebridge("token", "--new", env=folder)
    assert renewed.returncode == 0 and renewed.stdout.splitlines()[-1] not in ("", token)


def test_facebridge_token_with_a_profile_prints_its_telemetry_token(tmp_path: Path) -> None:
    profile = tmp_path / "show.yaml"
    profile.write_text("telemetry:\n  token: ${SHOW_TOKEN}\n")
    env = {access.CONFIG_DIR_ENV: str(tmp_path / "config"), "SHOW_TOKEN": "show-token-0123456789"}
    shown = facebridge("token", "--profile", str(profile), env=env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[-1] == "show-token-0123456789"
    assert "telemetry.token" in shown.stdout and not (tmp_path / "config").exists()
    refused = facebridge("token", "--profile", str(profile), "--new", env=env)
    assert refused.returncode == 2 and "change it there" in refused.stderr


# -- a whole run of the bridge -----------------------------------------------------------------

def send(port: int, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/command", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=3) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.slow
@pytest.mark.usefixtures("ndi_runtime")
def test_a_whole_run_never_logs_the_token_and_audits_each_command(tmp_path: Path) -> None:
    port = free_port()
    profile = tmp_path / "pass.yaml"
    profile.write_text(f"input:\n  ndi_source: placeholder\nanalysis:\n  enabled: false\ntelemetry:\n  port: {port}\n")
    process = subprocess.Popen([sys.executable, "-m", "bridge.cli", "--verbose", "run", "--profile", str(profile),
                                "--input", unique_name("fb-in"), "--output", unique_name("fb-out")],
                               cwd=REPO, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)  # --verbose: every request line is logged too
    token = user_token().value.value  # the test run's user token: the bridge's too (same config folder)
    try:
        assert wait_status(port, lambda s: "frames" in s, 20), "the HTTP API never answered"
        body = b'{"action": "set_bypass", "on": true}'
        codes = [send(port, body, {"Content-Type": "text/plain", "Origin": "https://evil.example"}),
                 send(port, body, {"Content-Type": "application/json"}),
                 send(port, body, {"Content-Type": "application/json", "Authorization": f"Bearer {token}x"}),
                 send(port, body, {"Content-Type": "text/plain", "Authorization": f"Bearer {token}"}),
                 send(port, body, {"Content-Type": "application/json", "Authorization": f"Bearer {token}",
                                   "Host": "evil.example"})]
        codes += [send(port, body, {"Content-Type": "application/json", "Authorization": f"Bearer {token}x"})
                  for _ in range(3)]
        assert codes == [403, 401, 401, 415, 403, 401, 401, 401]
        assert post_command(port, b'{"action": "next_target"}')[0] == 202
        assert post_command(port, b'{"action": "select_target", "target": "' + token.encode() + b'"}')[0] == 202
        assert post_command(port, b'{"action": "next_target"}', token=token + "x")[0] == 401
        assert token not in str(get_status(port))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics?token={token}", timeout=3) as reply:
            assert token.encode() not in reply.read()
    finally:
        code, _, output = stop_process(process)
    assert code == 0, output
    assert len(token) >= 43 and token not in output
    assert output.count("wrong token") == 1, "a refusal is logged once per kind"
    assert "command next_target accepted from http (client 127.0.0.1:" in output, output
    assert "command select_target target='***' accepted from http" in output, output
    assert "Traceback" not in output, output


def test_facebridge_check_says_where_the_token_comes_from(tmp_path: Path) -> None:
    profile = tmp_path / "pass.yaml"
    profile.write_text("input:\n  ndi_source: nowhere\nanalysis:\n  enabled: false\n")
    ok = facebridge("check", "--profile", str(profile), "--timeout", "0.3", env={access.CONFIG_DIR_ENV: str(tmp_path)})
    assert f"ok      HTTP API token from {tmp_path / access.TOKEN_FILE}" in ok.stdout, ok.stdout
    (tmp_path / "file").write_text("not a folder")
    broken = facebridge("check", "--profile", str(profile), "--timeout", "0.3",
                        env={access.CONFIG_DIR_ENV: str(tmp_path / "file" / "facebridge")})
    assert broken.returncode == 1 and "MISSING cannot store the API token" in broken.stdout, broken.stdout


@pytest.mark.slow
@pytest.mark.usefixtures("ndi_runtime")
def test_a_token_that_cannot_be_had_costs_the_api_never_the_show(tmp_path: Path) -> None:
    port = free_port()
    profile = tmp_path / "pass.yaml"
    profile.write_text(f"input:\n  ndi_source: placeholder\n  on_loss: slate\nanalysis:\n  enabled: false\n"
                       f"telemetry:\n  port: {port}\n")
    (tmp_path / "file").write_text("not a folder")
    env = {**os.environ, access.CONFIG_DIR_ENV: str(tmp_path / "file" / "facebridge")}
    process = subprocess.Popen([sys.executable, "-m", "bridge.cli", "run", "--profile", str(profile), "--input",
                                unique_name("fb-in"), "--output", unique_name("fb-out")], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(4.0)  # a few seconds of show (the slate goes out) without the API
        assert process.poll() is None, "the bridge stopped for want of a token"
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)  # no API: nothing listens
    finally:
        code, _, output = stop_process(process)
    assert code == 0, output
    lines = [line for line in output.splitlines() if "HTTP API off" in line]
    assert len(lines) == 1 and "cannot store the API token" in lines[0] and "telemetry.token" in lines[0], output
