"""The facebridge control protocol (docs/architecture.md): custom events over obs-websocket and `POST /command`.

Commands flow in (OBS hotkeys, Stream Deck, the HTTP API → the pipeline's command queue):
    {"realm": "facebridge", "action": A, ...}
Events flow out (bridge → the OBS script), so the script can show what the bridge knows:
    {"realm": "facebridge", "event": "targets", "targets": [...], "active": name}
and the script says hello when it (re)connects, so a running bridge re-sends that list:
    {"realm": "facebridge", "event": "hello"}

`parse_command` is the one gate for both inputs: whatever reaches the pipeline is a `Command`
that is already valid, so no stage ever sees a malformed request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

REALM = "facebridge"
SCRIPT_HELLO = "hello"  # event the OBS script broadcasts when it connects
MAX_COMMAND_BYTES = 4096  # a command is a handful of small fields; anything bigger is not one of ours
MAX_NAME_CHARS = 256
SLOTS = range(1, 10)  # the nine target slots bound to hotkeys

Action = Literal[
    "next_target",
    "prev_target",
    "select_target",
    "toggle_bypass",
    "set_bypass",
    "cycle_face_target",
    "reload_targets",
    "start_recording",
    "stop_recording",
    "set_face_target",
    "set_panic",
]
RECORDING_ACTIONS = ("start_recording", "stop_recording")  # the bridge handles these, not the face stage
# Produced by the bridge itself (program-scene changes), never accepted from outside.
SceneAction = Literal["scene_mapping"]

ACTIONS: tuple[str, ...] = get_args(Action)


class CommandError(ValueError):
    """A request that is not a valid facebridge command; the message is one line saying why."""


@dataclass(frozen=True)
class Command:
    """One request to the pipeline, applied between frames.

    Only the fields of its action are set: `slot` or `target` (select_target), `on` (set_bypass),
    `face` (cycle_face_target: the on-screen face slot, as in /status and tracks.jsonl) or
    `track` (cycle_face_target by track id), `face` or `track` with `target` (set_face_target: a target name,
    "@blur", "@keep" = left as is, "@auto" = the profile's rule again), `on` (set_panic: every
    face blurred, bypass or not), `scene` (scene_mapping: the program scene now on air; the
    mapping applies the profile's override for it, if any). `source` says where it came from
    ("obs", "http", "scene") for logs and status.
    """

    action: Action | SceneAction
    slot: int | None = None
    target: str | None = None
    on: bool | None = None
    track: int | None = None
    face: int | None = None
    scene: str | None = None
    source: str = ""

    def to_event(self) -> dict[str, Any]:
        """The event data that `parse_command` turns back into this command (public actions only)."""
        data: dict[str, Any] = {"realm": REALM, "action": self.action}
        for key in ("slot", "target", "on", "track", "face"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data


def _is_int(value: object) -> bool:
    # bool is an int in Python; JSON `true` must not pass as slot 1
    return isinstance(value, int) and not isinstance(value, bool)


def _name(value: object, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CommandError(f"'{key}' must be a non-empty string, got {value!r:.60}")
    if len(value) > MAX_NAME_CHARS:
        raise CommandError(f"'{key}' is longer than {MAX_NAME_CHARS} characters")
    return value


def parse_command(data: object, source: str = "") -> Command:
    """Validate one request (the event data of a custom event, or an HTTP body) into a `Command`.

    Raises `CommandError` with a one-line reason: not an object, oversized, missing/other realm,
    unknown action, missing or wrongly typed argument, slot outside 1..9.
    """
    if not isinstance(data, Mapping):
        raise CommandError(f"a command is a JSON object, got {type(data).__name__}")
    try:
        size = len(json.dumps(data, default=str))
    except (TypeError, ValueError) as error:
        raise CommandError(f"command is not JSON-serialisable: {error}") from None
    if size > MAX_COMMAND_BYTES:
        raise CommandError(f"command is {size} bytes, more than the {MAX_COMMAND_BYTES} allowed")
    realm = data.get("realm")
    if realm is None:
        raise CommandError(f"missing 'realm' (expected \"{REALM}\")")
    if realm != REALM:
        raise CommandError(f"realm is {realm!r:.60}, expected \"{REALM}\"")
    action = data.get("action")
    if action is None:
        raise CommandError("missing 'action'")
    if action not in ACTIONS:
        raise CommandError(f"unknown action {action!r:.60} (known: {', '.join(ACTIONS)})")

    if action == "select_target":
        slot, target = data.get("slot"), data.get("target")
        if (slot is None) == (target is None):
            raise CommandError("select_target needs exactly one of 'slot' (1..9) or 'target' (a name)")
        if slot is not None:
            if not _is_int(slot):
                raise CommandError(f"'slot' must be an integer 1..9, got {slot!r:.60}")
            if slot not in SLOTS:
                raise CommandError(f"'slot' {slot} is out of range 1..9")
            return Command("select_target", slot=slot, source=source)
        return Command("select_target", target=_name(target, "target"), source=source)
    if action == "set_bypass":
        on = data.get("on")
        if not isinstance(on, bool):
            raise CommandError(f"set_bypass needs 'on': true or false, got {on!r:.60}")
        return Command("set_bypass", on=on, source=source)
    if action == "cycle_face_target":
        face, track = data.get("face"), data.get("track")
        if face is not None and track is not None:
            raise CommandError("cycle_face_target needs one of 'face' (slot 1..9) or 'track' (an id), not both")
        if face is not None:
            if not _is_int(face) or face not in SLOTS:
                raise CommandError(f"cycle_face_target: 'face' must be a face slot 1..9, got {face!r:.60}")
            return Command("cycle_face_target", face=face, source=source)
        if not _is_int(track) or track < 0:
            raise CommandError("cycle_face_target needs 'face' (slot 1..9, as /status shows) or 'track' "
                               f"(a non-negative integer id), got {track!r:.60}")
        return Command("cycle_face_target", track=track, source=source)
    if action == "set_panic":
        on = data.get("on")
        if not isinstance(on, bool):
            raise CommandError(f"set_panic needs 'on': true or false, got {on!r:.60}")
        return Command("set_panic", on=on, source=source)
    if action == "set_face_target":
        return _face_target(data, source)
    return Command(action, source=source)


FACE_CHOICES = ("@auto", "@keep", "@blur")  # besides a target name: the profile's rule, left as is, blurred


def _face_target(data: Mapping[str, Any], source: str) -> Command:
    face, track = data.get("face"), data.get("track")
    if (face is None) == (track is None):
        raise CommandError("set_face_target needs one of 'face' (slot 1..9) or 'track' (an id)")
    if face is not None and (not _is_int(face) or face not in SLOTS):
        raise CommandError(f"set_face_target: 'face' must be a face slot 1..9, got {face!r:.60}")
    if track is not None and (not _is_int(track) or track < 0):
        raise CommandError(f"set_face_target: 'track' must be a non-negative integer, got {track!r:.60}")
    target = _name(data.get("target"), "target")
    if target.startswith("@") and target not in FACE_CHOICES:
        raise CommandError(f"set_face_target: 'target' is a target name or one of {', '.join(FACE_CHOICES)}")
    return Command("set_face_target", face=face, track=track, target=target, source=source)


def parse_command_json(body: str | bytes, source: str = "", *, realm_optional: bool = False) -> Command:
    """`parse_command` for a raw JSON body: the size is checked before decoding.

    realm_optional: the body may leave `"realm"` out (`POST /command`: the URL already names the
    protocol); a realm that is there must still be "facebridge".
    """
    if len(body) > MAX_COMMAND_BYTES:
        raise CommandError(f"command is {len(body)} bytes, more than the {MAX_COMMAND_BYTES} allowed")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise CommandError(f"command is not valid JSON: {error}") from None
    except RecursionError:
        raise CommandError("command is not valid JSON: nested too deeply") from None
    if realm_optional and isinstance(data, dict) and "realm" not in data:
        data["realm"] = REALM
    try:
        return parse_command(data, source=source)
    except RecursionError:
        raise CommandError("command is nested too deeply") from None


def is_bridge_event(data: object) -> bool:
    """True for events between bridge and script (`"event"` instead of `"action"`): not commands, not errors."""
    return isinstance(data, Mapping) and data.get("realm") == REALM and "event" in data and "action" not in data


def targets_event(targets: list[str], active: str | None) -> dict[str, Any]:
    """The bridge → script broadcast that tells the OBS script the target list and the active one."""
    return {"realm": REALM, "event": "targets", "targets": list(targets), "active": active}


def scene_command(scene: str) -> Command:
    """The command for a program-scene change: the mapping applies that scene's override, if it has one."""
    return Command("scene_mapping", scene=scene, source="scene")
