"""Helpers for end-to-end and fault tests: a face profile with absolute target paths, a free port, HTTP calls."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bridge import access
from bridge.runtime import assets

REPO = Path(__file__).resolve().parents[1]
TARGET_NAMES = ("portrait", "guest5", "guest6")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def face_profile(folder: Path, *, port: int = 0, targets: Mapping[str, Path] | None = None,
                 detect_every: str | int = "auto", obs: str = "") -> Path:
    """The CPU demo face profile (profiles/demo.yaml) with absolute target paths; `obs` is an extra YAML block."""
    targets = targets or assets.demo_targets()
    lines = [
        "input:", "  ndi_source: placeholder", "  on_loss: hold",
        "output:", "  ndi_name: placeholder",
        "models:", f"  dir: {REPO / 'models'}", "  providers: [cpu]",
        "analysis:", "  detector: ulfd_rfb_320", "  landmarker: fr_landmark_68", "  recogniser: fr_feature",
        f"  detect_every: {detect_every}",
        "targets:",
    ]
    for name in TARGET_NAMES:
        lines += [f"  - name: {name}", f"    images: [{Path(targets[name]).resolve()}]"]
    lines += ["mapping:", "  unknown: active", "swap:", "  swapper: warp68", "  fallback: hold",
              "compose:", "  label:", "    text: AI-generated", "telemetry:", f"  port: {port}"]
    path = folder / f"face-profile-{port}.yaml"
    path.write_text("\n".join(lines) + "\n" + obs)
    return path


def get_status(port: int, timeout_s: float = 2.0) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=timeout_s) as reply:
        return json.loads(reply.read())


def post_command(port: int, body: bytes, timeout_s: float = 2.0, token: str | None = None) -> tuple[int, str]:
    """POST /command as Stream Deck / Companion would: JSON with the token (by default the test run's user token)."""
    token = token if token is not None else access.user_token().value.value
    request = urllib.request.Request(f"http://127.0.0.1:{port}/command", data=body, method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_status(port: int, predicate: Callable[[dict[str, Any]], bool], timeout_s: float = 5.0) -> dict[str, Any]:
    """Poll /status until `predicate` holds; the last status either way (an empty dict if none came)."""
    deadline = time.monotonic() + timeout_s
    last: dict[str, Any] = {}
    while True:
        try:
            last = get_status(port)
            if predicate(last):
                return last
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            return last
        time.sleep(0.1)
