"""`facebridge run --watch`: a profile edited during the show takes effect at a frame boundary.

An edit that does not validate, or whose models or targets cannot be loaded, is reported and
the running profile stays on air. Sections bound to sockets and threads (input, output,
telemetry, obs, pipeline) are read at start only: a change there is reported and waits for
a restart.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

from bridge.profile import Profile, ProfileError, load_profile

log = logging.getLogger("facebridge")

RESTART_SECTIONS = ("input", "output", "telemetry", "obs", "pipeline")


class ProfileFile:
    """Says when the profile file's content changed (editors that save by rename included)."""

    def __init__(self, path: Path):
        self.path = path
        self._stamp = self._stat()
        self._digest = self._read_digest()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            s = self.path.stat()
        except OSError:
            return None
        return s.st_mtime_ns, s.st_size, s.st_ino

    def _read_digest(self) -> str | None:
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return None

    def changed(self) -> bool:
        stamp = self._stat()
        if stamp is None or stamp == self._stamp:  # gone for a moment mid-save: wait for it
            return False
        self._stamp = stamp
        digest = self._read_digest()
        if digest is None or digest == self._digest:
            return False
        self._digest = digest
        return True


def restart_only_changes(running: Profile, edited: Profile) -> list[str]:
    """Keys (section.key) the edit changed that only a restart applies."""
    changed = []
    for section in RESTART_SECTIONS:
        old, new = getattr(running, section), getattr(edited, section)
        for f in dataclasses.fields(old):
            if getattr(old, f.name) != getattr(new, f.name):
                changed.append(f"{section}.{f.name}")
    return changed


def load_edit(path: Path, running: Profile, overrides: Callable[[Profile], None]) -> Profile | None:
    """The edited profile to go live with (restart-only sections kept as running), or None to keep
    the running one; every reason is logged, one line each."""
    try:
        edited = load_profile(str(path))
    except ProfileError as error:
        for line in str(error).splitlines():
            log.error("%s", line)
        log.error("%s: kept the running profile; fix the errors above and save again", path)
        return None
    overrides(edited)
    for key in restart_only_changes(running, edited):
        log.warning("%s: %s changed; restart the bridge to apply it (running on with the old value)", path, key)
    for section in RESTART_SECTIONS:
        setattr(edited, section, getattr(running, section))
    if edited == running:
        log.info("%s: saved, nothing that applies live changed", path)
        return None
    return edited
