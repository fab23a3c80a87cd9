"""Untrusted inputs never crash the bridge: malformed commands and profiles get one clear line, nothing else.

A seeded random generator (hypothesis is not a dependency) makes the same few hundred cases
every run, so a failure is reproducible from its seed and index.
"""

from __future__ import annotations

import json
import random
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.obs.commands import ACTIONS, Command, CommandError, parse_command, parse_command_json
from bridge.profile import Profile, ProfileError, parse_profile
from bridge.telemetry import Metrics, TelemetryServer

SEED = 20240611
REPO = Path(__file__).resolve().parents[1]
EXAMPLE = (REPO / "profiles" / "example.yaml").read_text(encoding="utf-8")

JUNK_SCALARS: list[Any] = [
    None, True, False, 0, -1, 1, 9, 10, 10**100, -(10**100), 2**63, 1.5, 1e308, float("inf"), float("-inf"),
    float("nan"), "", " ", "x" * 300, "\u0000", "\u202e", "☃", "1", "true", "null", [], {}, [1, 2], {"a": 1},
]


def junk(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON-ish value: scalars, lists and objects nested a few levels."""
    roll = rng.random()
    if depth > 4 or roll < 0.5:
        return rng.choice(JUNK_SCALARS)
    if roll < 0.75:
        return [junk(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["realm", "action", "slot", "target", "on", "track", "event", rng.choice(["", "x", "☃", "0"])]
    return {rng.choice(keys): junk(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def command_bodies(count: int) -> Iterator[bytes]:
    rng = random.Random(SEED)
    for index in range(count):
        kind = index % 5
        if kind == 0:  # random bytes, sometimes starting like JSON
            prefix = rng.choice([b"", b"{", b"[", b'{"realm": "facebridge", "action": '])
            yield prefix + bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 120)))
        elif kind == 1:  # any JSON value
            yield json.dumps(junk(rng)).encode()
        elif kind == 2:  # a real command with one field wrong
            data: dict[str, Any] = {"realm": "facebridge", "action": rng.choice(ACTIONS)}
            data[rng.choice(["slot", "target", "on", "track", "action", "realm"])] = junk(rng)
            yield json.dumps(data).encode()
        elif kind == 3:  # a real command, cut short or with a byte flipped
            body = bytearray(json.dumps({"realm": "facebridge", "action": "select_target", "slot": 3}).encode())
            if rng.random() < 0.5:
                del body[rng.randrange(len(body)):]
            else:
                body[rng.randrange(len(body))] = rng.getrandbits(8)
            yield bytes(body)
        else:  # numbers JSON allows and Python parses into surprises
            value = rng.choice([b"1" * 4000, b"-0", b"1e999", b"NaN", b"Infinity", b"1.0", b"0x10", b"01"])
            field = rng.choice([b"slot", b"track", b"on"])
            yield b'{"realm":"facebridge","action":"cycle_face_target","' + field + b'":' + value + b"}"


def assert_one_clear_line(error: Exception) -> None:
    message = str(error)
    assert message.strip(), f"{type(error).__name__} with an empty message"
    assert "\n" not in message, f"more than one line: {message!r}"
    assert "Traceback" not in message


def check_command(body: bytes) -> None:
    try:
        command = parse_command_json(body, source="fuzz")
    except CommandError as error:
        assert_one_clear_line(error)
    else:
        assert isinstance(command, Command) and command.action in ACTIONS


# -- commands ----------------------------------------------------------------------------------

def test_malformed_commands_get_a_command_error_and_nothing_else() -> None:
    for index, body in enumerate(command_bodies(400)):
        try:
            check_command(body)
        except AssertionError:
            raise
        except Exception as error:  # the point of the test: name the case that escaped
            pytest.fail(f"case {index} {body[:80]!r}: {type(error).__name__}: {error}")


def test_junk_values_never_escape_parse_command() -> None:
    rng = random.Random(SEED + 1)
    for index in range(300):
        data = junk(rng)
        try:
            command = parse_command(data)
        except CommandError as error:
            assert_one_clear_line(error)
        except Exception as error:
            pytest.fail(f"case {index} {data!r:.80}: {type(error).__name__}: {error}")
        else:
            assert command.action in ACTIONS


@pytest.mark.parametrize("depth", [50, 1000, 2040])
def test_deeply_nested_command_json_is_a_command_error(depth: int) -> None:
    body = b"[" * depth + b"]" * depth  # fits in 4 KiB; deep enough to exhaust Python's recursion
    with pytest.raises(CommandError) as caught:
        parse_command_json(body)
    assert_one_clear_line(caught.value)


def test_http_command_endpoint_survives_the_same_junk() -> None:
    accepted: list[Command] = []

    def queue(command: Command) -> tuple[bool, str]:
        accepted.append(command)
        return True, "queued"

    token = "fuzz-token-0123456789"
    with TelemetryServer("127.0.0.1", 0, token, status=dict, health=lambda: (True, "ok"), command=queue,
                         metrics=Metrics()) as server:
        bodies = list(command_bodies(100)) + [b"[" * 2040 + b"]" * 2040, b"\xff" * 5000]
        for index, body in enumerate(bodies):
            request = urllib.request.Request(server.url + "/command", data=body, method="POST",
                                             headers={"Content-Type": "application/json",
                                                      "Authorization": f"Bearer {token}"})
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    code, text = response.status, response.read()
            except urllib.error.HTTPError as error:
                code, text = error.code, error.read()
            assert code in (202, 400, 413), f"case {index} {body[:60]!r}: HTTP {code} {text[:200]!r}"
            assert text.decode().count("\n") == 1, f"case {index}: {text[:200]!r}"
        with urllib.request.urlopen(server.url + "/healthz", timeout=5) as response:
            assert response.status == 200  # still serving
    assert all(command.action in ACTIONS and command.source == "http" for command in accepted)


# -- profiles ----------------------------------------------------------------------------------

def check_profile(text: str, label: str) -> None:
    try:
        profile = parse_profile(text, "fuzz.yaml", REPO, env={})
    except ProfileError as error:
        assert error.problems, f"{label}: ProfileError without problems"
        for problem in error.problems:
            assert problem.strip() and "\n" not in problem, f"{label}: problem is not one line: {problem!r}"
    except Exception as error:
        pytest.fail(f"{label}: {type(error).__name__}: {error}")
    else:
        assert isinstance(profile, Profile)


VALUE_LINE = re.compile(r"^(\s*)([a-z_]+): (.+)$")
YAML_JUNK = ["[1, 2]", "{a: 1}", "-1", "99999999999999999999999999", "1e999", ".nan", ".inf", "null", "~", "yes",
             "''", "'${NOT_SET}'", "!!binary aGk=", "!!python/object:os.system ls", "&a [*a]", "*undefined",
             "'\\x00'", "\"\\0\"", "2024-01-01", "0o777", "[[[[[[]]]]]]", "\"" + "x" * 5000 + "\"", "|\n  text"]


def profile_mutations(count: int) -> Iterator[tuple[str, str]]:
    rng = random.Random(SEED + 2)
    lines = EXAMPLE.splitlines()
    value_lines = [i for i, line in enumerate(lines) if VALUE_LINE.match(line)]
    for index in range(count):
        kind = index % 6
        mutated = list(lines)
        if kind == 0:  # a value of the wrong type or shape
            for i in rng.sample(value_lines, rng.randint(1, 3)):
                indent, key, _ = VALUE_LINE.match(mutated[i]).groups()  # type: ignore[union-attr]
                mutated[i] = f"{indent}{key}: {rng.choice(YAML_JUNK)}"
        elif kind == 1:  # an unknown key, at the top or inside a section
            i = rng.choice(value_lines)
            indent = VALUE_LINE.match(mutated[i]).group(1)  # type: ignore[union-attr]
            mutated.insert(i, f"{indent}{rng.choice(['ndi_sorce', 'x', 'Port', '__class__', '0', 'input'])}: 1")
        elif kind == 2:  # lines lost, swapped or re-indented
            for _ in range(rng.randint(1, 4)):
                i = rng.randrange(len(mutated))
                choice = rng.random()
                if choice < 0.4:
                    del mutated[i]
                elif choice < 0.7:
                    mutated[i] = " " * rng.randint(0, 5) + mutated[i].lstrip()
                else:
                    j = rng.randrange(len(mutated))
                    mutated[i], mutated[j] = mutated[j], mutated[i]
        elif kind == 3:  # bytes flipped (as text: what a bad editor or copy-paste leaves)
            text = bytearray("\n".join(mutated).encode())
            for _ in range(rng.randint(1, 6)):
                text[rng.randrange(len(text))] = rng.getrandbits(8)
            yield f"case {index} (bytes flipped)", text.decode("utf-8", "replace")
            continue
        elif kind == 4:  # not a mapping at all
            yield f"case {index} (whole file junk)", rng.choice(YAML_JUNK + ["- a\n- b", "42", "", "---\n...\n", "%"])
            continue
        else:  # binary junk
            yield f"case {index} (binary)", bytes(rng.getrandbits(8) for _ in range(200)).decode("latin-1")
            continue
        yield f"case {index} (kind {kind})", "\n".join(mutated)


def test_malformed_profiles_get_a_profile_error_and_nothing_else() -> None:
    for label, text in profile_mutations(240):
        check_profile(text, label)


def test_the_example_profile_itself_parses() -> None:
    assert isinstance(parse_profile(EXAMPLE, "example.yaml", REPO, env={}), Profile)


@pytest.mark.parametrize("text", [
    "[" * 3000 + "]" * 3000,
    "input:\n  extra_ips: " + "[" * 3000 + "]" * 3000,
    "{a: " * 3000 + "1" + "}" * 3000,
], ids=["deep-list", "deep-field", "deep-mapping"])
def test_deeply_nested_yaml_is_a_profile_error(text: str) -> None:
    check_profile(text, "deep nesting")


def test_yaml_alias_bomb_is_a_profile_error_not_a_hang() -> None:
    bomb = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    bomb += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    bomb += ["input:", "  extra_ips: *a8"]
    check_profile("\n".join(bomb), "alias bomb")


def test_nul_byte_in_yaml_is_one_line_per_problem() -> None:
    check_profile("input:\n  ndi_source: \x00\n", "nul byte")


@pytest.mark.parametrize("value", ['"' + "x" * 5000 + '"', '"a\\0b"'], ids=["name-too-long", "nul-in-path"])
def test_impossible_paths_are_a_profile_error(value: str) -> None:
    check_profile(f"models:\n  dir: {value}\n", "path")
