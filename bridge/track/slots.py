"""On-screen face slots: the "face 1…4" the hotkeys address.

Track ids only grow (each new person, each false start takes the next one), so "face 1" can't
be a track id. A slot is the lowest number free when a face first shows, and stays with it:
- first come, not left to right: people cross, lean and swap places mid-show, and a hotkey
  pressed while they move must not land on the other person;
- a freed slot is reused (lowest first), so with four people on screen the slots are 1…4;
- a person who steps out keeps their slot, so someone who returns (same id, ReID) gets it
  back; only when a newcomer would otherwise get a slot beyond the hotkeys' (`hotkeys`) does
  it take the slot of the person away longest;
- a person whose slot was taken while they were away (a returning face first seen as a
  newcomer, whose re-identification came a few frames later) takes it back from a holder that
  is not on screen now (that holder gets a free slot if it shows again).
"""

from __future__ import annotations


class FaceSlots:
    """Slot numbers (1, 2, …) for track ids."""

    def __init__(self, hotkeys: int = 4) -> None:
        self.hotkeys = hotkeys
        self._slot_of: dict[int, int] = {}  # track id → slot, visible or away
        self._away_since: dict[int, int] = {}  # track id → assign() call it went away on
        self._home: dict[int, int] = {}  # track id → the slot it was first given (kept while it is lost)
        self._calls = 0

    def assign(self, visible: list[int], forgotten: set[int] | None = None) -> dict[int, int]:
        """Slots for this frame's visible ids (in the order given: first seen first); ids in
        `forgotten` will never come back and free their slots."""
        for tid in forgotten or ():
            self._slot_of.pop(tid, None)
            self._away_since.pop(tid, None)
            self._home.pop(tid, None)
        self._calls += 1
        shown = set(visible)
        for tid in self._slot_of:
            if tid not in shown:
                self._away_since.setdefault(tid, self._calls)
        for tid in visible:
            self._away_since.pop(tid, None)
        for tid in visible:
            if tid in self._slot_of:
                continue
            home = self._home.get(tid)
            holder = self.track_in(home) if home is not None else None
            if home is not None and (holder is None or holder not in shown):
                if holder is not None:  # away now: it gets a free slot if it comes back
                    del self._slot_of[holder]
                    self._away_since.pop(holder, None)
                self._slot_of[tid] = home
                continue
            taken = set(self._slot_of.values())
            slot = 1
            while slot in taken:
                slot += 1
            away = [t for t in self._away_since if self._slot_of[t] <= self.hotkeys]
            if slot > self.hotkeys and away:  # out of hotkeys: the slot of whoever is away longest
                oldest = min(away, key=lambda t: (self._away_since[t], self._slot_of[t]))
                slot = self._slot_of.pop(oldest)
                del self._away_since[oldest]
            self._slot_of[tid] = slot
            self._home.setdefault(tid, slot)
        return {tid: self._slot_of[tid] for tid in visible}

    def track_in(self, slot: int) -> int | None:
        """The track id that holds `slot` (on screen or away), None if free."""
        for tid, s in self._slot_of.items():
            if s == slot:
                return tid
        return None
