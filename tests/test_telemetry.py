"""The local HTTP API and the Prometheus metrics, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import logging
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge.access import RequestGuard, is_loopback
from bridge.obs.commands import Command
from bridge.schema import Secret
from bridge.types import Frame
from bridge.types import STEPS
from bridge.telemetry import (
    Metrics,
    TelemetryError,
    TelemetryServer,
    frames_flowing,
    scrub,
)

TOKEN = "s3cret-token-value"


@dataclass
class FakeBridge:
    """What the app hands the server: status, health and a command queue."""

    healthy: tuple[bool, str] = (True, "ok")
    queue_full: bool = False
    commands: list[Command] = field(default_factory=list)
    status_dict: dict[str, Any] = field(default_factory=lambda: {
        "input": {"source": "HOST (Cam)", "size": [1280, 720], "fps": 30.0},
        "active_target": "tom",
        "obs": {"connected": True, "password": "hunter2", "host": "127.0.0.1:4455"},
        "api_token": "abc",
        "tracks": [{"id": 1, "person": "alice", "target": "tom", "secret_note": "x"}],
        "note": Secret("leaked-if-json-writes-it"),
    })

    def status(self) -> dict[str, Any]:
        return self.status_dict

    def health(self) -> tuple[bool, str]:
        return self.healthy

    def command(self, command: Command) -> tuple[bool, str]:
        if self.queue_full:
            return False, "command queue is full"
        self.commands.append(command)
        return True, f"queued {command.action}"


def make_server(bridge: FakeBridge, token: str = TOKEN, host: str = "127.0.0.1",
                metrics: Metrics | None = None) -> TelemetryServer:
    return TelemetryServer(host, 0, token, status=bridge.status, health=bridge.health, command=bridge.command,
                           metrics=metrics or Metrics())


def request(server: TelemetryServer, path: str, body: bytes | None = None, token: str | None = None,
            headers: dict[str, str] | None = None, method: str | None = None) -> tuple[int, bytes, dict[str, str]]:
    req = urllib.request.Request(server.url + path, data=body, method=method or ("POST" if body is not None else "GET"))
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    if body is not None and not req.has_header("Content-type"):
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=5) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


@pytest.fixture
def bridge() -> FakeBridge:
    return FakeBridge()


@pytest.fixture
def server(bridge: FakeBridge) -> Iterator[TelemetryServer]:
    with make_server(bridge) as running:
        yield running


# -- endpoints ---------------------------------------------------------------------------------

def test_port_zero_binds_a_free_port(server: TelemetryServer, bridge: FakeBridge) -> None:
    port = server.port
    assert port > 0 and server.url == f"http://127.0.0.1:{port}"
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass  # something listens there: the bound port, not the 0 asked for
    assert request(server, "/healthz")[0] == 200
    with make_server(bridge) as second:  # a second one gets a port of its own
        assert second.port not in (0, port) and request(second, "/healthz")[0] == 200
    server.stop()
    assert server.port == 0  # stopped: back to what was asked for, and the port is free again
    with socket.socket() as probe:  # nothing listens there any more (connections may linger in TIME_WAIT)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
        probe.listen()


def test_healthz_is_ok_while_frames_flow(server: TelemetryServer) -> None:
    code, body, _ = request(server, "/healthz")
    assert (code, body.strip()) == (200, b"ok")


def test_healthz_is_503_with_the_reason_when_frames_stop(server: TelemetryServer, bridge: FakeBridge) -> None:
    bridge.healthy = (False, "no input frame for 3.0 s (output is holding)")
    code, body, _ = request(server, "/healthz")
    assert code == 503
    assert body.decode().strip() == "no input frame for 3.0 s (output is holding)"


def test_status_is_the_status_dict_as_json(server: TelemetryServer) -> None:
    code, body, headers = request(server, "/status")
    assert code == 200 and headers["Content-Type"] == "application/json"
    status = json.loads(body)
    assert status["input"] == {"source": "HOST (Cam)", "size": [1280, 720], "fps": 30.0}
    assert status["active_target"] == "tom"


def test_status_never_shows_passwords_tokens_or_secrets(server: TelemetryServer) -> None:
    _, body, _ = request(server, "/status")
    text = body.decode()
    for leaked in ("hunter2", "abc", "leaked-if-json-writes-it", '"x"'):
        assert leaked not in text
    status = json.loads(body)
    assert status["obs"] == {"connected": True, "password": "***", "host": "127.0.0.1:4455"}
    assert status["tracks"][0]["secret_note"] == "***"


def test_metrics_parse_as_prometheus_text_with_every_family(server: TelemetryServer) -> None:
    server.metrics.observe_stage("detect", 0.012)
    server.metrics.observe_latency(0.045)
    code, body, headers = request(server, "/metrics")
    assert code == 200 and headers["Content-Type"].startswith("text/plain")
    families = {family.name: family for family in text_string_to_metric_families(body.decode())}
    expected = {"facebridge_frames_in", "facebridge_frames_out", "facebridge_frames_held", "facebridge_frames_dropped",
                "facebridge_frames_skipped", "facebridge_stage_errors", "facebridge_fallbacks", "facebridge_leaks",
                "facebridge_reconnects", "facebridge_swap_errors", "facebridge_faces", "facebridge_tracks",
                "facebridge_input_fps", "facebridge_output_fps", "facebridge_stage_seconds",
                "facebridge_latency_seconds"}
    assert expected <= set(families)
    stages = {s.labels["stage"] for s in families["facebridge_stage_seconds"].samples if s.name.endswith("_count")}
    assert stages == set(STEPS)
    detect_count = [s.value for s in families["facebridge_stage_seconds"].samples
                    if s.name.endswith("_count") and s.labels["stage"] == "detect"]
    assert detect_count == [1.0]


def test_post_command_queues_it_and_answers_202(server: TelemetryServer, bridge: FakeBridge) -> None:
    body = json.dumps({"realm": "facebridge", "action": "select_target", "slot": 2}).encode()
    code, text, _ = request(server, "/command", body, TOKEN)
    assert code == 202, text
    assert bridge.commands == [Command("select_target", slot=2, source="http")]


def test_post_command_may_leave_out_the_realm(server: TelemetryServer, bridge: FakeBridge) -> None:
    code, _, _ = request(server, "/command", b'{"action": "toggle_bypass"}', TOKEN)
    assert code == 202
    assert bridge.commands[0].action == "toggle_bypass"


def test_post_command_with_another_realm_is_refused(server: TelemetryServer, bridge: FakeBridge) -> None:
    code, body, _ = request(server, "/command", b'{"realm": "other", "action": "toggle_bypass"}', TOKEN)
    assert code == 400 and b"realm" in body
    assert bridge.commands == []


def test_malformed_command_is_400_with_a_one_line_reason(server: TelemetryServer, bridge: FakeBridge) -> None:
    code, body, _ = request(server, "/command", b'{"action": "select_target", "slot": 12}', TOKEN)
    assert code == 400
    assert body.decode().strip() == "'slot' 12 is out of range 1..9"
    code, body, _ = request(server, "/command", b"{not json", TOKEN)
    assert code == 400 and body.decode().startswith("command is not valid JSON")
    assert len(body.decode().strip().splitlines()) == 1
    assert bridge.commands == []


def test_full_command_queue_is_503(server: TelemetryServer, bridge: FakeBridge) -> None:
    bridge.queue_full = True
    code, body, _ = request(server, "/command", b'{"action": "next_target"}', TOKEN)
    assert code == 503 and b"full" in body


def test_body_over_the_limit_is_413_and_never_parsed(server: TelemetryServer, bridge: FakeBridge) -> None:
    big = json.dumps({"action": "select_target", "target": "x" * 8000}).encode()
    code, body, _ = request(server, "/command", big, TOKEN)
    assert code == 413 and b"4096" in body
    assert bridge.commands == []


def test_unknown_paths_are_404(server: TelemetryServer) -> None:
    assert request(server, "/nope")[0] == 404
    assert request(server, "/status", b"{}", TOKEN)[0] == 404  # POST only goes to /command


def test_other_methods_are_405(server: TelemetryServer) -> None:
    assert request(server, "/command", b"{}", TOKEN, method="PUT")[0] == 405


def test_a_failing_status_callback_is_a_500_not_a_dead_server(bridge: FakeBridge) -> None:
    def broken() -> dict[str, Any]:
        raise KeyError("tracks")

    with TelemetryServer("127.0.0.1", 0, TOKEN, status=broken, health=bridge.health, command=bridge.command,
                         metrics=Metrics()) as server:
        assert request(server, "/status")[0] == 500
        assert request(server, "/healthz")[0] == 200


# -- security: who may change the show (bridge.access) ------------------------------------------

COMMAND = b'{"action": "set_bypass", "on": true}'


def raw_request(server: TelemetryServer, method: str, path: str, headers: list[tuple[str, str]],
                body: bytes = b"") -> tuple[int, str, dict[str, str]]:
    """One request with exactly these headers (Host included, repeats allowed): what urllib would not send."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        if body:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body or None)
        response = connection.getresponse()
        return response.status, response.read().decode(), {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()


def own_host(server: TelemetryServer) -> tuple[str, str]:
    return ("Host", f"127.0.0.1:{server.port}")


def tokened(*extra: tuple[str, str]) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {TOKEN}"), ("Content-Type", "application/json"), *extra]


def test_reads_are_open_on_loopback(server: TelemetryServer) -> None:
    for path in ("/healthz", "/status", "/metrics"):
        assert request(server, path)[0] == 200, path


def test_token_json_and_no_origin_is_202(server: TelemetryServer, bridge: FakeBridge) -> None:
    code, body, _ = request(server, "/command", COMMAND, TOKEN)
    assert code == 202, body
    assert bridge.commands == [Command("set_bypass", on=True, source="http")]


def test_a_missing_or_wrong_token_is_401_with_distinct_reasons(server: TelemetryServer, bridge: FakeBridge) -> None:
    code, missing, headers = request(server, "/command", COMMAND)
    assert code == 401 and headers["WWW-Authenticate"] == "Bearer"
    assert missing.decode().startswith("no token")
    for header in (f"Bearer {TOKEN}X", f"Bearer {TOKEN[:-1]}", "Bearer ", TOKEN, f"Basic {TOKEN}", "Bearer ***"):
        code, wrong, _ = request(server, "/command", COMMAND, headers={"Authorization": header})
        assert code == 401, header
        assert wrong.decode().startswith("wrong token")
    assert missing != wrong
    assert bridge.commands == []


def test_the_bearer_scheme_is_case_insensitive(server: TelemetryServer) -> None:
    assert request(server, "/command", COMMAND, headers={"Authorization": f"bearer {TOKEN}"})[0] == 202


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1", "127.0.0.1:{other}",
                                  "localhost:{other}", "127.0.0.1.evil.example:{port}", "evil.example:{port}@x",
                                  "user@127.0.0.1:{port}", "", "127.0.0.1:{port}/x", "localhost.:{port}"])
def test_a_foreign_host_is_403_on_every_endpoint(server: TelemetryServer, bridge: FakeBridge, host: str) -> None:
    host = host.format(port=server.port, other=server.port + 1)
    for method, path in (("GET", "/status"), ("GET", "/healthz"), ("GET", "/metrics"), ("POST", "/command")):
        code, text, headers = raw_request(server, method, path, [("Host", host), *tokened()],
                                          COMMAND if method == "POST" else b"")
        assert code == 403, (host, path, code, text)
        assert "not this bridge's address" in text and len(text.strip().splitlines()) == 1
        assert not any(name.startswith("access-control") for name in headers)
    assert bridge.commands == []


def test_two_host_headers_are_403(server: TelemetryServer) -> None:
    code, text, _ = raw_request(server, "GET", "/status", [own_host(server), ("Host", "evil.example")])
    assert code == 403 and "more than one Host" in text


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LocalHost:{port}", "127.0.0.2:{port}",
                                  "[::1]:{port}"])
def test_the_bridges_own_names_pass_the_host_check(server: TelemetryServer, bridge: FakeBridge, host: str) -> None:
    host = host.format(port=server.port)
    assert raw_request(server, "GET", "/status", [("Host", host)])[0] == 200
    assert raw_request(server, "POST", "/command", [("Host", host), *tokened()], COMMAND)[0] == 202


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1:{other}", "http://localhost",
                                    "https://127.0.0.1:{port}", "http://evil.example:{port}", "file://"])
def test_a_foreign_origin_is_403_even_with_the_token(server: TelemetryServer, bridge: FakeBridge, origin: str) -> None:
    origin = origin.format(port=server.port, other=server.port + 1)
    code, text, headers = raw_request(server, "POST", "/command", [own_host(server), *tokened(("Origin", origin))],
                                      COMMAND)
    assert code == 403, (origin, text)
    assert text.startswith("requests from web pages are refused") and len(text.strip().splitlines()) == 1
    assert not any(name.startswith("access-control") for name in headers)
    assert raw_request(server, "GET", "/status", [own_host(server), ("Origin", origin)])[0] == 403
    assert bridge.commands == []


def test_the_bridges_own_origin_may_send_commands(server: TelemetryServer, bridge: FakeBridge) -> None:
    for origin in (f"http://127.0.0.1:{server.port}", f"http://localhost:{server.port}"):
        headers = [own_host(server), *tokened(("Origin", origin), ("Sec-Fetch-Site", "same-origin"))]
        assert raw_request(server, "POST", "/command", headers, COMMAND)[0] == 202
    assert len(bridge.commands) == 2


@pytest.mark.parametrize("site", ["same-site", "cross-site"])
def test_a_write_a_browser_marks_as_from_another_site_is_403(server: TelemetryServer, bridge: FakeBridge,
                                                              site: str) -> None:
    code, text, _ = raw_request(server, "POST", "/command", [own_host(server), *tokened(("Sec-Fetch-Site", site))],
                                COMMAND)
    assert code == 403 and site in text
    assert bridge.commands == []


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", None, "application/jsonp"])
def test_a_body_that_is_not_json_is_415(server: TelemetryServer, bridge: FakeBridge, content_type: str | None) -> None:
    headers = [own_host(server), ("Authorization", f"Bearer {TOKEN}")]
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    code, text, _ = raw_request(server, "POST", "/command", headers, COMMAND)
    assert code == 415, text
    assert "application/json" in text
    assert bridge.commands == []


def test_json_with_a_charset_is_json(server: TelemetryServer) -> None:
    assert request(server, "/command", COMMAND, TOKEN, headers={"Content-Type": "application/json; charset=utf-8"})[0] == 202


def test_a_cors_preflight_gets_no_permission(server: TelemetryServer) -> None:
    preflight = [own_host(server), ("Access-Control-Request-Method", "POST"),
                 ("Access-Control-Request-Headers", "authorization,content-type")]
    code, _, headers = raw_request(server, "OPTIONS", "/command", [*preflight, ("Origin", "https://evil.example")])
    assert code == 403 and not any(name.startswith("access-control") for name in headers)
    code, text, headers = raw_request(server, "OPTIONS", "/command", preflight)
    assert code == 405 and "CORS" in text and not any(name.startswith("access-control") for name in headers)


def test_no_reply_ever_grants_cors(server: TelemetryServer) -> None:
    origin = ("Origin", f"http://127.0.0.1:{server.port}")
    for method, path, body in (("GET", "/status", b""), ("GET", "/metrics", b""), ("POST", "/command", COMMAND),
                               ("OPTIONS", "/status", b"")):
        _, _, headers = raw_request(server, method, path, [own_host(server), origin, *tokened()], body)
        assert not any(name.startswith("access-control") for name in headers), (method, path, headers)


def test_a_refused_body_is_never_read_as_the_next_request(server: TelemetryServer, bridge: FakeBridge) -> None:
    smuggled = b'POST /command HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\r\n{"action":"toggle_bypass"}'
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        head = (f"POST /command HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(smuggled)}\r\n\r\n").encode()
        sock.sendall(head + smuggled)
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.0 401") or reply.startswith(b"HTTP/1.1 401")
    assert reply.count(b"HTTP/1.") == 1  # one reply, then the connection closed
    assert bridge.commands == []


def test_a_refused_client_always_gets_the_reason(server: TelemetryServer) -> None:
    body = json.dumps({"action": "select_target", "target": "x" * 3900}).encode()  # near the 4 KiB limit
    for _ in range(20):
        code, text, _ = raw_request(server, "POST", "/command", [own_host(server), ("Content-Type", "text/plain")],
                                    body)
        assert (code, text.split(":")[0]) == (401, "no token")


def test_each_kind_of_refusal_is_logged_once_and_counted(server: TelemetryServer,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="bridge.access")
    for _ in range(5):
        raw_request(server, "POST", "/command", [own_host(server), *tokened(("Origin", "https://evil.example"))], COMMAND)
        raw_request(server, "GET", "/status", [("Host", "evil.example")])
        request(server, "/command", COMMAND)
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 3, refused
    assert any("Origin 'https://evil.example'" in line for line in refused)
    assert any("Host 'evil.example'" in line and "127.0.0.1:" in line for line in refused)
    for reason in ("foreign_origin", "foreign_host", "no_token"):
        assert server.metrics.registry.get_sample_value("facebridge_api_refused_total", {"reason": reason}) == 5


def test_an_accepted_command_is_audited_with_its_source_and_client(server: TelemetryServer,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bridge.access")
    assert request(server, "/command", b'{"action": "select_target", "target": "guest5"}', TOKEN)[0] == 202
    audit = [r.getMessage() for r in caplog.records if "accepted" in r.getMessage()]
    assert len(audit) == 1
    assert re.fullmatch(r"command select_target target='guest5' accepted from http \(client 127\.0\.0\.1:\d+\)",
                        audit[0]), audit


def test_the_token_is_never_in_a_reply_or_a_log(bridge: FakeBridge, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bridge.status_dict["telemetry"] = {"token": TOKEN}
    bridge.status_dict["active_target"] = TOKEN  # a client once sent its token as a target name
    replies: list[bytes] = []
    with make_server(bridge, token=Secret(TOKEN)) as server:
        for path in ("/status", "/metrics", "/healthz", f"/status?token={TOKEN}"):
            replies.append(request(server, path)[1])
        for token in (TOKEN, TOKEN + "x", None):
            replies.append(request(server, "/command", COMMAND, token)[1])
            replies.append(request(server, f"/command?token={TOKEN}", COMMAND, token)[1])
        replies.append(request(server, "/command", b'{"action": "select_target", "target": "' + TOKEN.encode() + b'"}',
                               TOKEN)[1])
        replies.append(raw_request(server, "GET", "/status", [("Host", TOKEN)])[1].encode())
    assert caplog.records and all(TOKEN.encode() not in reply for reply in replies)
    assert TOKEN not in caplog.text


def test_an_empty_token_is_refused(bridge: FakeBridge) -> None:
    with pytest.raises(TelemetryError, match="needs a token"):
        make_server(bridge, token="")


def test_beyond_loopback_the_reads_need_the_token_too(bridge: FakeBridge) -> None:
    server = make_server(bridge, host="0.0.0.0")
    assert server.host == "0.0.0.0"  # constructed; not started, so no port opens on the test machine
    guard = RequestGuard(TOKEN, "0.0.0.0", 8765)
    assert guard.reads_need_token


def test_a_port_in_use_is_a_clear_error(server: TelemetryServer, bridge: FakeBridge) -> None:
    second = TelemetryServer("127.0.0.1", server.port, TOKEN, status=bridge.status, health=bridge.health,
                             command=bridge.command, metrics=Metrics())
    with pytest.raises(TelemetryError, match=f"cannot listen on 127.0.0.1:{server.port}"):
        second.start()


def test_loopback_names() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "localhost", "[::1]"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "", "::", "10.0.0.1", "example.com"))


def test_scrub_masks_nested_secret_keys_and_leaves_the_rest() -> None:
    data = {"obs": {"Password": "p", "connected": True}, "TOKEN": 1, "list": [{"client_secret": "s", "n": 2}]}
    assert scrub(data) == {"obs": {"Password": "***", "connected": True}, "TOKEN": "***",
                           "list": [{"client_secret": "***", "n": 2}]}


# -- metrics and health helpers ----------------------------------------------------------------

def _value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels or None)


def test_counter_totals_follow_the_pipeline_counts() -> None:
    metrics = Metrics()
    metrics.set_counter_total("frames_in", 10)
    metrics.set_counter_total("frames_in", 25)
    metrics.set_counter_total("reconnects", 2, what="obs")
    assert _value(metrics, "facebridge_frames_in_total") == 25
    assert _value(metrics, "facebridge_reconnects_total", what="obs") == 2
    assert _value(metrics, "facebridge_reconnects_total", what="ndi") == 0


def test_a_counter_that_restarts_keeps_counting_up() -> None:
    metrics = Metrics()
    metrics.set_counter_total("fallbacks", 5)
    metrics.set_counter_total("fallbacks", 2)  # the source restarted from zero and has seen 2 since
    assert _value(metrics, "facebridge_fallbacks_total") == 7


def test_unknown_counter_or_stage_is_an_error() -> None:
    metrics = Metrics()
    with pytest.raises(ValueError, match="unknown counter"):
        metrics.set_counter_total("frames", 1)
    with pytest.raises(ValueError, match="unknown stage"):
        metrics.observe_stage("paint", 0.1)


def test_two_metrics_never_share_numbers() -> None:
    first, second = Metrics(), Metrics()
    first.set_counter_total("leaks", 3)
    assert _value(second, "facebridge_leaks_total") == 0


def test_update_mirrors_a_status_dict() -> None:
    metrics = Metrics()
    metrics.update({"frames": {"in": 100, "out": 97, "dropped": 3}, "faces": 2, "tracks": [{"id": 1}, {"id": 2}],
                    "input": {"fps": 29.97}, "output": {"fps": 30.0}, "fallbacks": 1, "reconnects": {"ndi": 1},
                    "bypass": True, "obs": {"connected": False}})
    assert _value(metrics, "facebridge_frames_out_total") == 97
    assert _value(metrics, "facebridge_frames_dropped_total") == 3
    assert _value(metrics, "facebridge_faces") == 2
    assert _value(metrics, "facebridge_tracks") == 2
    assert _value(metrics, "facebridge_input_fps") == pytest.approx(29.97)
    assert _value(metrics, "facebridge_reconnects_total", what="ndi") == 1
    assert _value(metrics, "facebridge_bypass") == 1
    assert _value(metrics, "facebridge_obs_connected") == 0


def test_metrics_scrape_runs_the_update_hook_first(bridge: FakeBridge) -> None:
    metrics = Metrics()
    with TelemetryServer("127.0.0.1", 0, TOKEN, status=bridge.status, health=bridge.health, command=bridge.command,
                         metrics=metrics, on_scrape=lambda: metrics.update({"faces": 4})) as server:
        _, body, _ = request(server, "/metrics")
    assert "facebridge_faces 4.0" in body.decode()


def test_frames_flowing_says_why_not() -> None:
    assert frames_flowing(0.0, 0.0, now=10.0) == (False, "no frame sent yet")
    assert frames_flowing(9.9, 9.9, now=10.0) == (True, "ok")
    assert frames_flowing(5.0, 9.9, now=10.0) == (False, "no input frame for 5.0 s (output is holding)")
    assert frames_flowing(9.9, 6.0, now=10.0) == (False, "no frame sent for 4.0 s")


def test_each_sent_frame_feeds_the_stage_and_latency_histograms() -> None:
    metrics = Metrics()
    frame = Frame(image=np.zeros((2, 2, 3), np.uint8), sequence=1,
                  timings={"queue": 0.002, "detect": 0.011, "swap": 0.004, "not-a-stage": 1.0})
    metrics.observe_frame(frame, 0.03)
    metrics.observe_frame(Frame(image=frame.image, sequence=2, timings={"queue": 0.001}), 0.02)
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    counts = {s.labels["stage"]: s.value for s in families["facebridge_stage_seconds"].samples
              if s.name.endswith("_count")}
    assert counts["queue"] == 2 and counts["detect"] == 1 and counts["swap"] == 1 and counts["track"] == 0
    assert "not-a-stage" not in counts
    latency = {s.name: s.value for s in families["facebridge_latency_seconds"].samples}
    assert latency["facebridge_latency_seconds_count"] == 2
    assert latency["facebridge_latency_seconds_sum"] == pytest.approx(0.05)


def test_the_face_stage_times_only_steps_that_metrics_know() -> None:
    """The stage's step names and /metrics' series are one list (types.Step), not two kept in step by hand."""
    from dataclasses import fields

    from bridge.facestage.stage import StageTimes

    assert {f.name for f in fields(StageTimes)} <= set(STEPS)
    metrics = Metrics()
    frame = Frame(image=np.zeros((4, 4, 3), np.uint8), sequence=0,
                  timings={step: 0.001 for step in STEPS})  # type: ignore[misc]
    metrics.observe_frame(frame, 0.01)
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    counted = {s.labels["stage"] for s in families["facebridge_stage_seconds"].samples
               if s.name.endswith("_count") and s.value == 1}
    assert counted == set(STEPS)
