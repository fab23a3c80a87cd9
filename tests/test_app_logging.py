"""telemetry.log_json in a profile does what --log-json does."""

from __future__ import annotations

import json
import logging
import threading

import pytest

from bridge import app, live
from bridge.profile import Profile


def test_a_profile_asking_for_json_logs_gets_them(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    ran: list[Profile] = []
    monkeypatch.setattr(live, "serve", lambda profile, *args, **kwargs: ran.append(profile))
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        app.configure_logging(json_lines=False)
        profile = Profile()
        assert app.serve(profile, "show.yaml", threading.Event()) == app.EXIT_OK
        assert not isinstance(root.handlers[0].formatter, app.JsonFormatter)
        profile.telemetry.log_json = True
        assert app.serve(profile, "show.yaml", threading.Event()) == app.EXIT_OK and len(ran) == 2
        assert isinstance(root.handlers[0].formatter, app.JsonFormatter)
        record = logging.LogRecord("facebridge", logging.INFO, __file__, 1, "on air", None, None)
        assert json.loads(root.handlers[0].format(record))["message"] == "on air"
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
