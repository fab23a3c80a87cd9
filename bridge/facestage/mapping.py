"""Which target each face becomes: recognition of known people, the unknown-face policy,
live switching (hotkeys), bypass and per-scene overrides. Pure logic: no I/O, no clock.

Commands are applied between frames (the pipeline's command queue); `assign` recomputes every
track's target from the current state, so a switch shows on the very next frame for every
track it concerns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args

import numpy as np
from scipy.optimize import linear_sum_assignment

from bridge.faces.embed import l2_normalise
from bridge.obs.commands import Command
from bridge.profile import UnknownPolicy
from bridge.types import Track

UNKNOWN_POLICIES: tuple[str, ...] = get_args(UnknownPolicy)

BLUR = "@blur"
"""Target name meaning 'blur this face' (target names may not start with '@')."""
KEEP = "@keep"  # a face's choice: left as it is (no swap)
AUTO = "@auto"  # a face's choice: back to the profile's rule


class MappingError(ValueError):
    """The mapping settings contradict each other (one readable line)."""


@dataclass(frozen=True)
class SceneOverride:
    """What changes while an OBS scene is on air; None keeps the base setting."""

    unknown: UnknownPolicy | None = None
    fixed_target: str | None = None
    active_target: str | None = None  # selected when the scene starts
    bypass: bool | None = None


@dataclass(frozen=True)
class CommandResult:
    applied: bool
    message: str
    reload: bool = False  # the pipeline must reload the target library, then call reload_targets()


def _unit_rows(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v)
    return l2_normalise(v.reshape(-1, v.shape[-1]))


class Mapping:
    """Face → target rules and live switching state.

    targets: the active-target list that hotkeys step through (slot 1 is the first).
    people: known person → target name.
    references: known person → reference embeddings (D,) or (K, D), L2-normalised or not.
    unknown: what faces that match no known person get: keep (no swap), blur, fixed
        (`fixed_target`), active (the hotkey-selected target), pool (distinct targets from
        `pool`, in order of appearance; once all are held by faces on screen, the active target).
    match_threshold: least cosine similarity to a person's references to be recognised.
        Higher: fewer strangers taken for the host, more hosts left unrecognised.
    person_margin: hysteresis; a track keeps its person unless another fits better by this much.
    scene_overrides: scene name → SceneOverride.
    """

    def __init__(self, targets: list[str], *, people: dict[str, str] | None = None,
                 references: dict[str, np.ndarray] | None = None, unknown: UnknownPolicy = "active",
                 fixed_target: str | None = None, pool: list[str] | None = None, match_threshold: float = 0.45,
                 person_margin: float = 0.05, scene_overrides: dict[str, SceneOverride] | None = None,
                 bypass: bool = False) -> None:
        self.targets = list(targets)
        self.people = dict(people or {})
        self.references = {p: _unit_rows(r) for p, r in (references or {}).items()}
        self.base = SceneOverride(unknown=unknown, fixed_target=fixed_target, bypass=bypass)
        self.pool = list(pool or [])
        self.match_threshold = match_threshold
        self.person_margin = person_margin
        self.scene_overrides = dict(scene_overrides or {})
        self.scene: str | None = None
        self._active = 0
        self._bypass = bypass
        self._panic = False  # every face blurred, bypass or not (the dock's "cover every face")
        self._person_of: dict[int, str] = {}  # track id → recognised person (kept while the id lives)
        self._face_target: dict[int, str] = {}  # track id → target chosen by cycle_face_target
        self._pool_of: dict[int, str] = {}  # track id → pool target
        self._last_seen: dict[int, int] = {}  # track id → assign() call it was last seen in
        self._slot_track: dict[int, int] = {}  # face slot → track id that last held it on screen
        self._slots_now: dict[int, int] = {}  # face slot → track id on screen in the latest frame
        self._calls = 0
        self._check()

    # -- state ------------------------------------------------------------------
    def _setting(self, name: str) -> Any:
        over = self.scene_overrides.get(self.scene) if self.scene else None
        value = getattr(over, name) if over is not None else None
        return getattr(self.base, name) if value is None else value

    @property
    def unknown(self) -> str:
        return str(self._setting("unknown"))

    @property
    def bypass(self) -> bool:
        return self._bypass

    @property
    def panic(self) -> bool:
        return self._panic

    @property
    def active_target(self) -> str | None:
        return self.targets[self._active] if self.targets else None

    def target_of_person(self, person: str) -> str | None:
        return self.people.get(person)

    def _check(self) -> None:
        names = self.targets + self.pool + list(self.people.values())
        names += [o.fixed_target for o in self.scene_overrides.values() if o.fixed_target]
        if self.base.fixed_target:
            names.append(self.base.fixed_target)
        bad = [n for n in names if not n or n.startswith("@")]
        if bad:
            raise MappingError(f"mapping: target names may not be empty or start with '@': {bad}")
        for where, over in [("mapping", self.base)] + [(f"scene '{s}'", o) for s, o in self.scene_overrides.items()]:
            if over.unknown is not None and over.unknown not in UNKNOWN_POLICIES:
                raise MappingError(f"{where}: unknown-face policy '{over.unknown}' is not one of {UNKNOWN_POLICIES}")
        if self.unknown == "fixed" and not self._setting("fixed_target"):
            raise MappingError("mapping: unknown policy 'fixed' needs a fixed_target")
        if self.unknown == "pool" and not self.pool:
            raise MappingError("mapping: unknown policy 'pool' needs a non-empty pool of targets")
        missing = [p for p in self.people if p not in self.references]
        if missing:
            raise MappingError(f"mapping: no reference embeddings for known people {missing}")

    # -- per frame ----------------------------------------------------------------
    def assign(self, tracks: list[Track]) -> list[Track]:
        """Set `person` and `target` on the tracks of this frame (the same objects, returned)."""
        self._calls += 1
        self._slots_now = {t.slot: t.id for t in tracks if t.slot is not None}
        for t in tracks:
            self._last_seen[t.id] = self._calls
            if t.slot is not None:
                self._slot_track[t.slot] = t.id
        self._recognise(tracks)
        for t in tracks:
            t.person = self._person_of.get(t.id)
            t.target = BLUR if self._panic else None if self._bypass else self._target_for(t.id)
        return tracks

    def _recognise(self, tracks: list[Track]) -> None:
        people = list(self.references)
        scored = [t for t in tracks if t.embedding is not None]
        if not people or not scored:
            return
        emb = _unit_rows(np.stack([np.asarray(t.embedding, np.float32).ravel() for t in scored]))
        sims = np.stack([(emb @ self.references[p].T).max(axis=1) for p in people], axis=1)  # tracks × people
        score = sims.copy()
        for i, t in enumerate(scored):  # hysteresis: the person a track holds gets a head start
            held = self._person_of.get(t.id)
            if held in people:
                score[i, people.index(held)] += self.person_margin
        rows, cols = linear_sum_assignment(-score)
        chosen = {scored[r].id: people[c] for r, c in zip(rows, cols) if sims[r, c] >= self.match_threshold}
        for t in scored:
            person = chosen.get(t.id)
            if person is None:
                self._person_of.pop(t.id, None)
                continue
            # a person is held by one track at a time: anyone else (e.g. an old lost id) lets go
            for other, p in list(self._person_of.items()):
                if p == person and other != t.id:
                    del self._person_of[other]
            self._person_of[t.id] = person
        for t in tracks:  # a track with no embedding this frame keeps what it had, unless taken
            if t.embedding is None and t.id in self._person_of and self._person_of[t.id] in chosen.values():
                del self._person_of[t.id]

    def _target_for(self, track_id: int) -> str | None:
        if track_id in self._face_target:
            chosen = self._face_target[track_id]
            return None if chosen == KEEP else chosen
        person = self._person_of.get(track_id)
        if person is not None:
            target = self.target_of_person(person)
            if target is not None:
                return target
        policy = self.unknown
        if policy == "keep":
            return None
        if policy == "blur":
            return BLUR
        if policy == "fixed":
            return self._setting("fixed_target")
        if policy == "pool":
            return self._pool_target(track_id)
        return self.active_target

    def _pool_target(self, track_id: int) -> str | None:
        if track_id in self._pool_of:
            return self._pool_of[track_id]
        held = set(self._pool_of.values())
        free = [p for p in self.pool if p not in held]
        if not free:
            # reclaim from the id gone longest; never from a face on screen now
            gone = [i for i in self._pool_of if self._last_seen.get(i, 0) < self._calls]
            if not gone:
                return self.active_target
            oldest = min(gone, key=lambda i: self._last_seen.get(i, 0))
            free = [self._pool_of.pop(oldest)]
        self._pool_of[track_id] = free[0]
        return free[0]

    # -- commands -----------------------------------------------------------------
    def apply(self, command: Command) -> CommandResult:
        """Apply one control command (already checked by `parse_command`) between frames."""
        action = command.action
        if action == "next_target":
            return self.step_target(+1)
        if action == "prev_target":
            return self.step_target(-1)
        if action == "select_target":
            return self.select_target(command.target if command.target is not None else command.slot)
        if action == "toggle_bypass":
            return self.set_bypass(not self._bypass)
        if action == "set_bypass":
            return self.set_bypass(True if command.on is None else command.on)
        if action == "cycle_face_target":
            if command.face is not None:
                return self.cycle_face_slot(command.face)
            return self.cycle_face_target(command.track) if command.track is not None else \
                CommandResult(False, "cycle_face_target: name a face or a track")
        if action == "set_face_target":
            track_id = command.track if command.track is not None else self._slots_now.get(command.face or 0)
            if track_id is None:
                return CommandResult(False, f"no face in slot {command.face}")
            return self.set_face_target(track_id, command.target or "")
        if action == "set_panic":
            return self.set_panic(True if command.on is None else command.on)
        if action == "scene_mapping":
            return self.set_scene(command.scene)
        if action == "reload_targets":
            return CommandResult(False, "reload_targets: reload the target library first", reload=True)
        return CommandResult(False, f"{action}: not a mapping command")

    def step_target(self, step: int) -> CommandResult:
        if not self.targets:
            return CommandResult(False, "no active targets to switch between")
        self._active = (self._active + step) % len(self.targets)
        return CommandResult(True, f"active target: {self.active_target}")

    def select_target(self, which: int | str | None) -> CommandResult:
        if isinstance(which, str) and not which.isdigit():
            if which not in self.targets:
                return CommandResult(False, f"select_target: no target named {which!r}")
            self._active = self.targets.index(which)
        else:
            if which is None or not 1 <= int(which) <= len(self.targets):
                return CommandResult(False, f"select_target: slot {which} is not 1..{len(self.targets)}")
            self._active = int(which) - 1
        return CommandResult(True, f"active target: {self.active_target}")

    def set_bypass(self, on: bool) -> CommandResult:
        self._bypass = on
        return CommandResult(True, f"bypass {'on' if on else 'off'}")

    def cycle_face_target(self, track_id: int) -> CommandResult:
        """Give one face the next target of the list after the one it shows now."""
        if not self.targets:
            return CommandResult(False, "cycle_face_target: no targets")
        # what the face is mapped to now (bypass aside: it may have just been switched off)
        current = self._target_for(track_id) if track_id in self._last_seen else None
        i = self.targets.index(current) + 1 if current in self.targets else 0
        self._face_target[track_id] = self.targets[i % len(self.targets)]
        return CommandResult(True, f"track {track_id}: target {self._face_target[track_id]}")

    def cycle_face_slot(self, slot: int) -> CommandResult:
        """`cycle_face_target` for the face in an on-screen slot (the "face N" hotkeys)."""
        track_id = self._slot_track.get(slot)
        if track_id is None:
            return CommandResult(False, f"cycle_face_target: no face in slot {slot}")
        result = self.cycle_face_target(track_id)
        return CommandResult(result.applied, f"face {slot}: {result.message}")

    def set_face_target(self, track_id: int, choice: str) -> CommandResult:
        """Give one face a target of its own, leave it as it is (KEEP), blur it (BLUR) or hand it back
        to the profile's rule (AUTO)."""
        if choice == AUTO:
            self._face_target.pop(track_id, None)
        elif choice in (KEEP, BLUR) or choice in self.targets:
            self._face_target[track_id] = choice
        else:
            return CommandResult(False, f"set_face_target: no target named {choice!r}")
        return CommandResult(True, f"track {track_id}: {choice}")

    def set_panic(self, on: bool) -> CommandResult:
        self._panic = on
        return CommandResult(True, f"panic {'on: every face covered' if on else 'off'}")

    def set_scene(self, scene: str | None) -> CommandResult:
        """The programme scene changed: its override (if any) applies from the next frame."""
        self.scene = scene
        over = self.scene_overrides.get(scene) if scene else None
        self._bypass = self.base.bypass if over is None or over.bypass is None else over.bypass
        if over is not None and over.active_target is not None:
            if over.active_target in self.targets:
                self._active = self.targets.index(over.active_target)
        return CommandResult(True, f"scene {scene}" + (" (override)" if over else ""))

    def continue_from(self, running: Mapping) -> None:
        """Take over what is on air from the mapping this one replaces (a reloaded profile):
        the scene, bypass and the active target, by name where it still exists."""
        self.set_scene(running.scene)
        self._bypass = running.bypass
        self._panic = running.panic
        if running.active_target in self.targets:
            self._active = self.targets.index(running.active_target)

    def reload_targets(self, targets: list[str], *, people: dict[str, str] | None = None,
                       references: dict[str, np.ndarray] | None = None) -> CommandResult:
        """New target library: keep the active target by name where it still exists."""
        active = self.active_target
        old = (self.targets, self.people, self.references)
        self.targets = list(targets)
        if people is not None:
            self.people = dict(people)
        if references is not None:
            self.references = {p: _unit_rows(r) for p, r in references.items()}
        try:
            self._check()
        except MappingError as exc:
            self.targets, self.people, self.references = old
            return CommandResult(False, str(exc))
        self._active = self.targets.index(active) if active in self.targets else 0
        self._face_target = {k: v for k, v in self._face_target.items() if v in self.targets or v in (KEEP, BLUR)}
        return CommandResult(True, f"{len(self.targets)} targets")
