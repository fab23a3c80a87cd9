"""A fast track that motion held on one box over two faces can slide onto the other face (a blurred
pair on the suite's fast clips: the box over both, then the other face's own box, all by motion).
The clear crops after such a box re-check whose face it holds, up to the first good one: unlike the
track and like one lost person only, it is that person's face, and the track that slid is not hidden
on it (scripted recogniser, as tests/test_track_switch_rules.py)."""

import cv2
import numpy as np

from bridge.track.gallery import crop_quality
from bridge.track.tracker import Tracker
from bridge.types import Face
from tests.test_track_switch_rules import A, C, IMAGE, NOISE, face, ids_by_x, scripted, two_then_gone

C_WEAK = (0.36 * C + np.sqrt(1 - 0.36 ** 2) * NOISE).astype(np.float32)  # C's face, blurred: 0.36 like C's gallery


def merged(x: float) -> Face:
    """One box over two faces: the landmarker hardly takes it for a face."""
    f = face(x)
    f.landmark_score = 0.1
    return f


def _slide(tracker: Tracker, over_two: bool) -> tuple[dict[int, int], list]:
    seen = two_then_gone(tracker)  # A at 100 and C at 220, both lost
    assert ids_by_x(tracker.update(IMAGE, [face(100.0)], 0.4)) == {100: seen[100]}  # A back; C still lost
    tracker.update(IMAGE, [face(125.0)], 0.45)  # moving fast: 25 px in 0.05 s and more
    tracker.update(IMAGE, [merged(155.0) if over_two else face(155.0)], 0.5)
    return seen, tracker.update(IMAGE, [face(195.0)], 0.55)  # motion gives A's track C's face


def test_a_track_that_slid_over_a_box_of_two_faces_hands_the_face_to_its_person() -> None:
    tracker = Tracker(scripted({100: A, 220: C, 125: A, 155: NOISE, 195: C_WEAK}), recheck_s=2.0)
    seen, tracks = _slide(tracker, over_two=True)
    assert [t.id for t in tracks] == [seen[220]], "the face is C's: C's id takes it"
    assert tracker.lost_ids == [seen[100]], "A's track waits for A"


def test_a_slow_track_over_a_box_of_two_faces_is_not_re_checked_early() -> None:
    """Slow faces overlapping (a lighting change, a crossing) make weak crops of their own: the
    early re-check is for a fast pair only (it handed a face to the wrong lost person there)."""
    tracker = Tracker(scripted({100: A, 220: C, 110: A, 120: NOISE, 140: C_WEAK}), recheck_s=2.0)
    seen = two_then_gone(tracker)
    tracker.update(IMAGE, [face(100.0)], 0.4)
    tracker.update(IMAGE, [face(110.0)], 0.5)  # 10 px in 0.1 s: slow
    tracker.update(IMAGE, [merged(120.0)], 0.6)
    assert [t.id for t in tracker.update(IMAGE, [face(140.0)], 0.7)] == [seen[100]]


def test_without_a_box_over_two_faces_a_weak_likeness_moves_no_id() -> None:
    """The same weak crop on a track that only ever matched sure boxes: not re-checked early, and
    a likeness of 0.36 is under the re-check's threshold anyway."""
    tracker = Tracker(scripted({100: A, 220: C, 125: A, 155: A, 195: C_WEAK}), recheck_s=2.0)
    seen, tracks = _slide(tracker, over_two=False)
    assert [t.id for t in tracks] == [seen[100]]


B_NOISE = np.eye(16, dtype=np.float32)[7]
A_WEAK = (0.35 * A + np.sqrt(1 - 0.35 ** 2) * NOISE).astype(np.float32)  # A's face, a weak embedding
A_WEAK_GOOD = (0.35 * A + np.sqrt(1 - 0.35 ** 2) * B_NOISE).astype(np.float32)  # another, on a crop the gate passes


def _weak_return(step: float) -> tuple[dict[int, int], list, Tracker]:
    """A and C lost; A comes back on a weak embedding (taken back tentatively), and its next
    crop, `step` px on, passes the quality gate yet still embeds weakly like A."""
    tracker = Tracker(scripted({100: A, 220: C, 130: A_WEAK, int(130 + step): A_WEAK_GOOD}), recheck_s=2.0)
    seen = two_then_gone(tracker)
    assert [t.id for t in tracker.update(IMAGE, [face(130.0)], 1.3)] == [seen[100]]
    return seen, tracker.update(IMAGE, [face(130.0 + step)], 1.3 + 1 / 30), tracker


def test_a_fast_face_taken_back_on_a_weak_embedding_keeps_its_id_on_a_weak_good_crop() -> None:
    """Moving 15 px a frame (a fifth of its width): the crop the gate passes still embeds only
    0.35 like A, and like no one else: the id stands (it was undone into a new id, and the
    person relabelled a few frames later: two ID switches)."""
    seen, tracks, tracker = _weak_return(15.0)
    assert [t.id for t in tracks] == [seen[100]]
    assert tracker.lost_ids == [seen[220]]


def test_a_still_face_taken_back_on_a_weak_embedding_is_undone_on_a_weak_good_crop() -> None:
    """Still, a good crop has no blur to excuse it: 0.35 is someone new."""
    seen, tracks, tracker = _weak_return(1.0)
    assert len(tracks) == 1 and tracks[0].id not in seen.values()
    assert sorted(tracker.lost_ids) == sorted(seen.values())


C_FAINT = (0.28 * C + np.sqrt(1 - 0.28 ** 2) * NOISE).astype(np.float32)  # C's face smeared: 0.28 like C (too weak)


def _smeared_at(x0: int, x1: int) -> np.ndarray:
    """IMAGE with the columns x0..x1 smeared sideways (a face there is blurred, not sharp)."""
    out = IMAGE.copy()
    out[:, x0:x1] = cv2.blur(IMAGE, (31, 1))[:, x0:x1]
    return out


def test_a_track_that_slid_is_re_checked_until_its_first_good_crop() -> None:
    """The first crop after the box over two faces is still smeared (0.28 like C: too weak to
    move the id); the re-check waits for the first crop the gate passes, which is C's (0.36):
    fast-3, a face coming out from behind a fast one kept the other person's id for 60 frames."""
    tracker = Tracker(scripted({100: A, 220: C, 125: A, 155: NOISE, 195: C_FAINT, 200: C_WEAK}), recheck_s=2.0)
    smeared = _smeared_at(180, 280)
    assert crop_quality(cv2.cvtColor(smeared, cv2.COLOR_BGR2GRAY), face(195.0)) == "blurred"
    seen = two_then_gone(tracker)
    tracker.update(IMAGE, [face(100.0)], 0.4)
    tracker.update(IMAGE, [face(125.0)], 0.45)
    tracker.update(IMAGE, [merged(155.0)], 0.5)
    assert [t.id for t in tracker.update(smeared, [face(195.0)], 0.55)] == [seen[100]], "too weak to tell yet"
    assert [t.id for t in tracker.update(IMAGE, [face(200.0)], 0.6)] == [seen[220]], "the good crop: C's face"
    assert tracker.lost_ids == [seen[100]]
    assert tracker.hidden(0.6) == [], "A's own face went on: not hidden on C's"
