"""Debian's real OBS Studio, headless under Xvfb, with obs-websocket and the facebridge script loaded.

Facts this relies on are in shared docs obs.md: throwaway XDG_CONFIG_HOME/HOME, global.ini with the
websocket settings (OBS 29 reads them there), PYTHONHOME=/usr so OBS's embedded Python finds its
own standard library, PYTHONPATH=<this venv's site-packages> so `obsws_python` imports inside OBS,
proxies pointing nowhere (OBS fetches a services list at start) with no_proxy for loopback,
SIGINT for a clean stop.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "obs_scripts" / "facebridge_hotkeys.py"
# `obs_studio` (conftest.py) binds this key to "facebridge.next_target" through the script's saved
# settings, so a test can press it for real with xdotool on the Xvfb display.
OBS_TEST_KEY = "F9"
LAST_VERSION = 486539266  # 29.0.2 as OBS stores it; stops the "what's new" dialog


def obs_missing_reason() -> str | None:
    """Why real-OBS tests cannot run here, or None when they can."""
    missing = [tool for tool in ("obs", "Xvfb") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (apt-get install obs-studio xvfb)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Xvfb:
    """A virtual X display; `-displayfd` lets the server pick a free display number itself."""

    def __init__(self) -> None:
        read_fd, write_fd = os.pipe()
        self.process = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
            pass_fds=(write_fd,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(write_fd)
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        if not number:
            self.process.kill()
            self.process.wait()
            raise RuntimeError("Xvfb did not start")
        self.display = f":{number}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class ObsStudio:
    """One OBS process with its own config, websocket port and password.

    `script_settings` become the script's saved settings in the scene collection (that is how a
    test binds a key: hotkey data under the hotkey's name, restored by the script's
    `obs_hotkey_load`). The collection is saved by OBS on a clean stop, so `restart()` keeps
    whatever a test created. Disconnect your own clients before a stop/restart: OBS waits 5 s
    for the closing handshake of a client that is not reading.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        workdir: Path,
        script: Path | None = SCRIPT,
        script_settings: Mapping[str, Any] | None = None,
        scenes: Sequence[str] = ("Main",),
        canvas: tuple[int, int] = (640, 360),
    ) -> None:
        self.workdir = Path(workdir)
        self.config = self.workdir / "cfg"
        self.home = self.workdir / "home"
        self.port = free_port()
        self.password = secrets.token_urlsafe(12)
        self.script = script
        self.script_settings = dict(script_settings or {})
        self.scenes = list(scenes)
        self.canvas = canvas
        self.xvfb: Xvfb | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        logging.getLogger("obsws_python").setLevel(logging.CRITICAL)  # it logs the password at INFO

    @property
    def display(self) -> str:
        assert self.xvfb is not None
        return self.xvfb.display

    @property
    def auth(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "password": self.password}

    # ── config ──────────────────────────────────────────────────────────────────────────────
    def _write_config(self) -> None:
        studio = self.config / "obs-studio"
        profile = studio / "basic" / "profiles" / "t"
        scenes_dir = studio / "basic" / "scenes"
        for directory in (profile, scenes_dir, self.home):
            directory.mkdir(parents=True, exist_ok=True)
        (studio / "global.ini").write_text(
            "[General]\nFirstRun=true\n"
            f"LastVersion={LAST_VERSION}\n"
            "Pre19Defaults=false\nPre21Defaults=false\nPre23Defaults=false\nPre24.1Defaults=false\n"
            "[Basic]\nProfile=t\nProfileDir=t\nSceneCollection=t\nSceneCollectionFile=t\n"
            "[BasicWindow]\nPreviewEnabled=false\n"
            "[OBSWebSocket]\nFirstLoad=false\nServerEnabled=true\n"
            f"ServerPort={self.port}\nAlertsEnabled=false\nAuthRequired=true\nServerPassword={self.password}\n"
        )
        websocket = studio / "plugin_config" / "obs-websocket"
        websocket.mkdir(parents=True, exist_ok=True)
        (websocket / "config.json").write_text(
            json.dumps(
                {
                    "first_load": False,
                    "server_enabled": True,
                    "server_port": self.port,
                    "alerts_enabled": False,
                    "auth_required": True,
                    "server_password": self.password,
                }
            )
        )
        width, height = self.canvas
        (profile / "basic.ini").write_text(
            f"[General]\nName=t\n[Video]\nBaseCX={width}\nBaseCY={height}\nOutputCX={width}\nOutputCY={height}\n"
            "FPSType=1\nFPSInt=10\n"
        )
        (profile / "service.json").write_text(
            json.dumps({"type": "rtmp_custom", "settings": {"server": "rtmp://127.0.0.1/live"}})
        )
        collection = scenes_dir / "t.json"
        if collection.exists():
            return  # a restart: OBS saved its own collection on the clean stop
        scripts = [{"path": str(self.script), "settings": self.script_settings}] if self.script else []
        collection.write_text(
            json.dumps(
                {
                    "name": "t",
                    "current_scene": self.scenes[0],
                    "current_program_scene": self.scenes[0],
                    "scene_order": [{"name": name} for name in self.scenes],
                    "sources": [
                        {
                            "id": "scene",
                            "versioned_id": "scene",
                            "name": name,
                            "settings": {"custom_size": False, "id_counter": 0, "items": []},
                        }
                        for name in self.scenes
                    ],
                    "groups": [],
                    "transitions": [],
                    "current_transition": "Fade",
                    "transition_duration": 300,
                    "modules": {"scripts-tool": scripts},
                }
            )
        )

    def _environment(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PYTHON", "VIRTUAL_ENV", "QT_", "XDG_"))
        }
        nowhere = "http://127.0.0.1:9"
        env.update(
            DISPLAY=self.display,
            XDG_CONFIG_HOME=str(self.config),
            HOME=str(self.home),
            LIBGL_ALWAYS_SOFTWARE="1",
            PYTHONHOME="/usr",  # OBS embeds Debian's libpython 3.11; its stdlib, not the venv's python
            PYTHONPATH=sysconfig.get_paths()["purelib"],  # obsws_python for the script
            http_proxy=nowhere,
            https_proxy=nowhere,
            HTTP_PROXY=nowhere,
            HTTPS_PROXY=nowhere,
            no_proxy="127.0.0.1,localhost,::1",
            NO_PROXY="127.0.0.1,localhost,::1",
        )
        return env

    # ── process ─────────────────────────────────────────────────────────────────────────────
    def start(self, timeout: float = 30.0) -> ObsStudio:
        if self.xvfb is None:
            self.xvfb = Xvfb()
        self._write_config()
        self.starts += 1
        self._log = open(self.workdir / f"obs-{self.starts}.log", "wb")
        self.process = subprocess.Popen(
            [
                "obs", "--multi", "--minimize-to-tray", "--disable-missing-files-check",
                "--collection", "t", "--profile", "t", "--scene", self.scenes[0],
            ],
            env=self._environment(),
            cwd=self.workdir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Ready = the websocket answers GetVersion (it starts after scenes and scripts loaded)."""
        import obsws_python as obsws

        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"OBS exited with {self.process.returncode} while starting:\n{self.log_tail()}")
            try:
                client = obsws.ReqClient(**self.auth, timeout=0.5)
                client.get_version()
                client.disconnect()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"OBS did not answer on port {self.port} in {timeout} s:\n{self.log_tail()}")
                time.sleep(0.1)

    def stop(self) -> int | None:
        """SIGINT is OBS's clean shutdown (scripts unloaded, collection saved); then wait for it."""
        code = None
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                code = self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                code = self.process.wait()
        elif self.process is not None:
            code = self.process.returncode
        self.process = None
        if getattr(self, "_log", None):
            self._log.close()
        return code

    def restart(self) -> ObsStudio:
        self.stop()
        return self.start()

    def close(self) -> None:
        self.stop()
        if self.xvfb is not None:
            self.xvfb.stop()
            self.xvfb = None

    def log_tail(self, lines: int = 40) -> str:
        logs = sorted(self.workdir.glob("obs-*.log")) + sorted((self.config / "obs-studio" / "logs").glob("*.txt"))
        text = ""
        for path in logs[-2:]:
            text += f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
        return text

    def script_log(self) -> str:
        """Lines the script wrote (OBS's own log file prefixes them with [facebridge_hotkeys.py])."""
        logs = sorted((self.config / "obs-studio" / "logs").glob("*.txt"))
        return "\n".join(
            line for path in logs for line in path.read_text(errors="replace").splitlines() if "facebridge_hotkeys" in line
        )

    def press_key(self, key: str = OBS_TEST_KEY, hold: float = 0.15) -> None:
        """A real key press on this Xvfb display (xdotool); held briefly because OBS polls the keyboard."""
        env = {"DISPLAY": self.display, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        subprocess.run(["xdotool", "keydown", key], env=env, check=True)
        time.sleep(hold)
        subprocess.run(["xdotool", "keyup", key], env=env, check=True)

    # ── clients ─────────────────────────────────────────────────────────────────────────────
    def request_client(self) -> Any:
        import obsws_python as obsws

        return obsws.ReqClient(**self.auth, timeout=5)

    def event_client(self) -> Any:
        import obsws_python as obsws

        return obsws.EventClient(**self.auth, subs=obsws.Subs.GENERAL | obsws.Subs.SCENES)

    def __enter__(self) -> ObsStudio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
