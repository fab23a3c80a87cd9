"""facebridge hotkeys — an OBS Studio script (Tools → Scripts → +).

Registers facebridge hotkeys in Settings → Hotkeys and turns each press into an obs-websocket
`BroadcastCustomEvent` {"realm": "facebridge", "action": ...} that the running bridge applies.
Presses are sent from a worker thread with one persistent obsws-python client, so OBS's own
threads never wait on the network. The bridge answers with its target list, shown in the panel.

This file runs inside OBS's embedded Python; it imports nothing from the facebridge package.
"""

from __future__ import annotations

import configparser
import json
import logging
import os
import queue
import sys
import threading
import time
from pathlib import Path

try:
    import obspython as obs
except ImportError:  # imported outside OBS (unit tests of the helpers below)
    obs = None

try:
    import obsws_python as obsws

    OBSWS_IMPORT_ERROR = ""
    # obsws-python logs the password at INFO and a traceback for each refused connect; this
    # script reports failures itself, in one line
    logging.getLogger("obsws_python").setLevel(logging.CRITICAL)
except Exception as _error:  # ImportError, or a broken install
    obsws = None
    OBSWS_IMPORT_ERROR = f"{type(_error).__name__}: {_error}"

REALM = "facebridge"
CONNECT_TIMEOUT = 2.0  # seconds; OBS's own websocket is local, so this is generous
LISTEN_BACKOFF = (1.0, 30.0)  # reconnect waits of the target-list listener, doubling

# (hotkey name, text in Settings → Hotkeys, the command it sends)
HOTKEYS: list[tuple[str, str, dict]] = (
    [
        ("facebridge.next_target", "facebridge: next target", {"action": "next_target"}),
        ("facebridge.prev_target", "facebridge: previous target", {"action": "prev_target"}),
    ]
    + [
        (f"facebridge.select_target_{slot}", f"facebridge: target slot {slot}", {"action": "select_target", "slot": slot})
        for slot in range(1, 10)
    ]
    + [("facebridge.toggle_bypass", "facebridge: toggle bypass (show the original)", {"action": "toggle_bypass"})]
    + [
        (
            f"facebridge.cycle_face_target_{face}",
            f"facebridge: cycle the target of face {face}",
            {"action": "cycle_face_target", "face": face},
        )
        for face in range(1, 5)
    ]
)

INSTALL_HELP = """
<p><b>obsws-python</b> must be importable by OBS's Python:</p>
<ul>
<li><b>Windows</b>: install Python 3 from python.org (the version OBS names in Tools → Scripts →
Python Settings), point Python Settings at its folder, then run
<code>"C:\\Path\\To\\Python3xx\\python.exe" -m pip install obsws-python</code> and restart OBS.</li>
<li><b>macOS</b>: install Python 3 from python.org, point Tools → Scripts → Python Settings at
<code>/Library/Frameworks/Python.framework/Versions/3.x</code>, then run
<code>/Library/Frameworks/Python.framework/Versions/3.x/bin/python3 -m pip install obsws-python</code>
and restart OBS.</li>
<li><b>Linux</b>: OBS uses the system Python 3: <code>python3 -m pip install --user obsws-python</code>
(Debian/Ubuntu: add <code>--break-system-packages</code>, or start OBS with
<code>PYTHONPATH=/path/to/venv/lib/python3.x/site-packages obs</code>), then restart OBS.</li>
</ul>
"""


# ── OBS's own websocket settings (the panel's defaults) ────────────────────────────────────────
def obs_config_dir() -> Path:
    """OBS's config folder (…/obs-studio) as OBS itself resolves it, or the platform default."""
    if obs is not None:
        try:
            path = obs.os_get_config_path_ptr("obs-studio")
            if path:
                return Path(path)
        except Exception:
            pass
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", Path.home())) / "obs-studio"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "obs-studio"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "obs-studio"


def read_websocket_settings(config_dir: Path) -> dict:
    """Port and password of OBS's websocket server: OBS 30+ keeps them in
    plugin_config/obs-websocket/config.json, OBS 28-29 in global.ini [OBSWebSocket]."""
    found: dict = {}
    try:
        data = json.loads((config_dir / "plugin_config" / "obs-websocket" / "config.json").read_text("utf-8-sig"))
        if "server_port" in data:
            found["port"] = int(data["server_port"])
        if data.get("auth_required", True) and data.get("server_password"):
            found["password"] = str(data["server_password"])
    except (OSError, ValueError, TypeError):
        pass
    for name in ("user.ini", "global.ini"):
        ini = configparser.ConfigParser(interpolation=None, strict=False)
        ini.optionxform = str  # OBS's keys are CamelCase
        try:
            ini.read_string((config_dir / name).read_text("utf-8-sig"))
        except (OSError, configparser.Error):
            continue
        if ini.has_section("OBSWebSocket"):
            section = ini["OBSWebSocket"]
            try:
                found.setdefault("port", int(section.get("ServerPort", "")))
            except ValueError:
                pass
            if section.get("AuthRequired", "true").lower() == "true" and section.get("ServerPassword"):
                found.setdefault("password", section["ServerPassword"])
    return found


# ── the worker: one thread owns the obs-websocket clients ───────────────────────────────────────
class Sender:
    """Sends hotkey commands and listens for the bridge's target list, off OBS's threads.

    Log lines are queued and written by `flush_logs` from an OBS timer, because OBS's
    `script_log` must be called from a thread OBS runs the script on.
    """

    def __init__(self) -> None:
        self.host, self.port, self.password = "localhost", 4455, ""
        self.jobs: queue.Queue = queue.Queue()
        self.logs: queue.Queue = queue.Queue()
        self.client = None  # ReqClient
        self.listener = None  # EventClient for the bridge's broadcasts
        self.listen_at = 0.0
        self.listen_wait = LISTEN_BACKOFF[0]
        self.connection = "not tested yet"
        self.targets: list = []
        self.active = None
        self.heard_at = 0.0
        self.sent = 0
        self.thread = threading.Thread(target=self._run, name="facebridge-hotkeys", daemon=True)
        self.thread.start()

    # called on OBS's threads: only queue work
    def configure(self, host: str, port: int, password: str) -> None:
        self.jobs.put(("configure", (host, port, password)))

    def send(self, data: dict) -> None:
        self.jobs.put(("send", dict(data, realm=REALM)))

    def test(self) -> threading.Event:
        done = threading.Event()
        self.jobs.put(("test", done))
        return done

    def stop(self) -> None:
        self.jobs.put(None)
        self.thread.join(5)

    def log(self, message: str, warning: bool = False) -> None:
        self.logs.put((warning, message))

    def targets_text(self) -> str:
        if not self.heard_at:
            return "nothing heard from the bridge yet"
        names = ", ".join(f"[{name}]" if name == self.active else str(name) for name in self.targets) or "(none)"
        return f"{names}   (heard {time.strftime('%H:%M:%S', time.localtime(self.heard_at))}; [active])"

    # the worker thread
    def _run(self) -> None:
        while True:
            try:
                job = self.jobs.get(timeout=0.5)
            except queue.Empty:
                job = ("idle", None)
            if job is None:
                break
            kind, value = job
            try:
                if kind == "configure":
                    if value != (self.host, self.port, self.password):
                        self.host, self.port, self.password = value
                        self._drop()
                        self.listen_at, self.listen_wait = 0.0, LISTEN_BACKOFF[0]
                elif kind == "send":
                    self._send(value)
                elif kind == "test":
                    self._test(value)
                self._keep_listening()
            except Exception as error:  # the worker must outlive any surprise
                self.log(f"facebridge: {type(error).__name__}: {error}", warning=True)
        self._drop()

    def _auth(self) -> dict:
        return {"host": self.host, "port": self.port, "password": self.password, "timeout": CONNECT_TIMEOUT}

    def _send(self, data: dict) -> None:
        if obsws is None:
            self.log(f"facebridge: cannot send {data.get('action')}: obsws-python is not importable", warning=True)
            return
        for attempt in (1, 2):  # a stale connection (OBS websocket restarted) gets one fresh try
            try:
                if self.client is None:
                    self.client = obsws.ReqClient(**self._auth())
                self.client.broadcast_custom_event({"eventData": data})
                self.sent += 1
                return
            except Exception as error:
                self._close(self.client)
                self.client = None
                if attempt == 2:
                    self.connection = f"failed: {_one_line(error)}"
                    self.log(f"facebridge: could not send {data.get('action') or data.get('event')} to {self.host}:{self.port}: {_one_line(error)}", True)

    def _test(self, done: threading.Event) -> None:
        if obsws is None:
            self.connection = "obsws-python is not importable (see the description above)"
        else:
            try:
                client = obsws.ReqClient(**self._auth())
                version = client.send("GetVersion", raw=True) or {}
                self._close(client)
                self.connection = f"OK: obs-websocket {version.get('obsWebSocketVersion', '?')} at {self.host}:{self.port}"
            except Exception as error:
                self.connection = f"failed ({self.host}:{self.port}): {_one_line(error)}"
        self.log(f"facebridge: connection test {self.connection}", warning=not self.connection.startswith("OK"))
        done.set()

    def _keep_listening(self) -> None:
        """(Re)connect the listener for the bridge's target list, with backoff."""
        if obsws is None or time.monotonic() < self.listen_at:
            return
        if self.listener is not None and self.listener.worker.is_alive():
            return
        self._close(self.listener)
        self.listener = None
        try:
            listener = obsws.EventClient(**self._auth(), subs=obsws.Subs.GENERAL)
            listener.callback.register(self.on_custom_event)
            self.listener = listener
            self.listen_wait = LISTEN_BACKOFF[0]
            # ask a running bridge for its target list (it also broadcasts it on every change)
            self._send({"realm": REALM, "event": "hello"})
        except Exception:
            self.listen_at = time.monotonic() + self.listen_wait
            self.listen_wait = min(self.listen_wait * 2, LISTEN_BACKOFF[1])

    def on_custom_event(self, data) -> None:  # obsws-python's event thread; name picks the event
        try:
            if getattr(data, "realm", None) == REALM and getattr(data, "event", None) == "targets":
                targets = getattr(data, "targets", [])
                names = [str(name) for name in targets] if isinstance(targets, list) else []
                active = getattr(data, "active", None)
                if (names, active) != (self.targets, self.active) or not self.heard_at:
                    self.log(f"facebridge: targets from the bridge: {', '.join(names) or '(none)'}; active: {active}")
                self.targets, self.active = names, active
                self.heard_at = time.time()
        except Exception:
            pass  # an exception here would end the listener thread

    def _drop(self) -> None:
        for client in (self.client, self.listener):
            self._close(client)
        self.client = self.listener = None

    @staticmethod
    def _close(client) -> None:
        if client is None:
            return
        # never wait the websocket library's 3 s for a close frame: at OBS shutdown the server
        # is already gone and OBS waits for this script to unload
        ws = client.base_client.ws
        try:
            if hasattr(client, "worker"):  # EventClient: wake its reader thread, then let it end
                ws.abort()
                client.worker.join(1.0)
            else:
                ws.close(timeout=0.3)
        except Exception:
            pass
        try:
            ws.shutdown()
        except Exception:
            pass

    def flush_logs(self) -> None:
        while True:
            try:
                warning, message = self.logs.get_nowait()
            except queue.Empty:
                return
            obs.script_log(obs.LOG_WARNING if warning else obs.LOG_INFO, message)


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


# ── the OBS script API ──────────────────────────────────────────────────────────────────────────
class Script:
    """Everything the script holds between script_load and script_unload."""

    def __init__(self, settings) -> None:
        self.settings = settings  # borrowed from OBS; valid until script_unload
        self.sender = Sender()
        self.hotkeys: dict = {}  # name → (id, callback)
        for name, description, data in HOTKEYS:
            callback = self._press_callback(data)
            hotkey_id = obs.obs_hotkey_register_frontend(name, description, callback)
            self.hotkeys[name] = (hotkey_id, callback)
            bindings = obs.obs_data_get_array(settings, name)
            obs.obs_hotkey_load(hotkey_id, bindings)
            obs.obs_data_array_release(bindings)
        self.flush_logs = self.sender.flush_logs  # one object: timer_remove matches the callback by identity
        obs.timer_add(self.flush_logs, 250)

    def _press_callback(self, data: dict):
        def pressed_callback(pressed: bool) -> None:
            if pressed:  # act on key down only
                self.sender.send(data)

        return pressed_callback

    def update(self, settings) -> None:
        self.sender.configure(
            obs.obs_data_get_string(settings, "host").strip() or "localhost",
            int(obs.obs_data_get_int(settings, "port")),
            obs.obs_data_get_string(settings, "password"),
        )

    def save(self, settings) -> None:
        for name, (hotkey_id, _callback) in self.hotkeys.items():
            bindings = obs.obs_hotkey_save(hotkey_id)
            obs.obs_data_set_array(settings, name, bindings)
            obs.obs_data_array_release(bindings)

    def unload(self) -> None:
        obs.timer_remove(self.flush_logs)
        for _hotkey_id, callback in self.hotkeys.values():
            obs.obs_hotkey_unregister(callback)  # obspython unregisters by callback, not by id
        self.sender.stop()


_script: Script | None = None  # OBS's script API is module functions; this is the one instance


def script_description() -> str:
    text = (
        "<h3>facebridge hotkeys</h3>"
        "<p>Adds facebridge hotkeys to Settings → Hotkeys (next/previous target, target slots 1–9, "
        "toggle bypass, cycle the target of faces 1–4). Each press is sent to the running bridge "
        "over obs-websocket (Tools → WebSocket Server Settings must be enabled).</p>"
    )
    if obsws is None:
        text = (
            "<p style='color:#ff5555'><b>obsws-python is not importable by OBS's Python "
            f"({OBSWS_IMPORT_ERROR}). Hotkeys do nothing until it is installed:</b></p>" + text
        )
    return text + INSTALL_HELP


def script_defaults(settings) -> None:
    found = read_websocket_settings(obs_config_dir())
    obs.obs_data_set_default_string(settings, "host", "localhost")
    obs.obs_data_set_default_int(settings, "port", int(found.get("port", 4455)))
    obs.obs_data_set_default_string(settings, "password", found.get("password", ""))


def script_properties():
    props = obs.obs_properties_create()
    obs.obs_properties_add_text(props, "host", "obs-websocket host", obs.OBS_TEXT_DEFAULT)
    obs.obs_properties_add_int(props, "port", "obs-websocket port", 1, 65535, 1)
    obs.obs_properties_add_text(props, "password", "obs-websocket password", obs.OBS_TEXT_PASSWORD)
    obs.obs_properties_add_button(props, "test_connection", "Test connection", _on_test_connection)
    obs.obs_properties_add_text(props, "connection_info", "Connection", obs.OBS_TEXT_INFO)
    obs.obs_properties_add_text(props, "targets_info", "Targets (last heard from the bridge)", obs.OBS_TEXT_INFO)
    _show_state()
    return props


def _show_state() -> None:
    if _script is None:
        return
    sender = _script.sender
    connection = sender.connection if obsws is not None else f"obsws-python is not importable: {OBSWS_IMPORT_ERROR}"
    obs.obs_data_set_string(_script.settings, "connection_info", connection)
    obs.obs_data_set_string(_script.settings, "targets_info", sender.targets_text())


def _on_test_connection(props, prop) -> bool:
    if _script is None:
        return False
    _script.sender.connection = "testing…"
    # a local websocket answers in milliseconds; never hold OBS's UI thread longer than this
    _script.sender.test().wait(0.3)
    _show_state()
    return True


def script_load(settings) -> None:
    global _script
    _script = Script(settings)
    _script.update(settings)
    if obsws is None:
        obs.script_log(obs.LOG_WARNING, f"facebridge: obsws-python is not importable ({OBSWS_IMPORT_ERROR}); "
                       "hotkeys will not reach the bridge — see the script's description")
    obs.script_log(obs.LOG_INFO, f"facebridge: {len(HOTKEYS)} hotkeys registered")


def script_update(settings) -> None:
    if _script is not None:
        _script.update(settings)


def script_save(settings) -> None:
    if _script is not None:
        _script.save(settings)


def script_unload() -> None:
    global _script
    if _script is not None:
        _script.unload()
        _script = None
