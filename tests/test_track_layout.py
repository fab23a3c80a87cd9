"""The tracker's parts (tracker.py and its rule mixins pairing.py, occlusion.py, identity.py) share
one namespace through Tracker's MRO: a name defined in two of them silently takes the first one's
value for all (a constant `EDGE` of one rule once overrode the re-entry rule's). None may clash."""

from __future__ import annotations

from collections import Counter

from bridge.track.tracker import Tracker


def test_no_name_is_defined_in_two_parts_of_the_tracker() -> None:
    parts = [c for c in Tracker.__mro__ if c is not object]
    assert len(parts) >= 4, "the tracker's rules live in mixins (see bridge/track/tracker.py)"
    names = Counter(n for c in parts for n in vars(c) if not (n.startswith("__") and n.endswith("__")))
    clashes = {n: [c.__name__ for c in parts if n in vars(c)] for n, k in names.items() if k > 1}
    assert not clashes, f"defined in more than one part of the tracker: {clashes}"

