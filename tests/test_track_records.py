import json

import numpy as np

from bridge.track.records import CoverageLedger, tracks_jsonl_record
from bridge.types import Face, Track


def _track(tid, target="A", person=None):
    kps = np.arange(10, dtype=np.float32).reshape(5, 2)
    return Track(id=tid, face=Face(box=np.array([1, 2, 30, 40], np.float32), score=0.91, kps5=kps),
                 state="coasting", person=person, target=target, slot=2)


def test_record_has_the_tracks_jsonl_fields_and_is_json():
    rec = tracks_jsonl_record(7, [_track(3, person="host")])
    line = json.loads(json.dumps(rec))
    assert line["frame"] == 7
    face = line["faces"][0]
    assert face == {"track": 3, "slot": 2, "box": [1, 2, 30, 40], "kps5": [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]],
                    "score": 0.91, "person": "host", "target": "A", "state": "coasting"}


def test_mapped_face_shown_raw_is_a_leak_and_unmapped_is_not():
    ledger = CoverageLedger()
    ledger.record(_track(1), "swapped")
    ledger.record(_track(1), "fallback")
    ledger.record(_track(1), "raw")
    ledger.record(_track(2, target=None), "raw")
    assert (ledger.leaks, ledger.fallbacks) == (1, 1)
    assert ledger.leak_rate == 1 / 3
    assert ledger.summary()["per_track"][2]["leaks"] == 0


def test_target_switches_are_counted_per_track():
    ledger = CoverageLedger()
    for target in ["A", "A", "B", "A"]:
        ledger.record(_track(1, target=target), "swapped")
    assert ledger.tracks[1].target_switches == 2
