"""Fast motion: a face whose flow fails on motion blur is followed on its velocity for a frame
or two (while its face patch agrees), association and re-identification by place look where it
went, and the tracker says where faces are expected so the detector can look again there."""

import cv2
import numpy as np

from bridge.track.evidence import Evidence
from bridge.track.flow import KeypointFlow
from bridge.track.tracker import Tracker
from bridge.types import Face

SPEED = 20.0  # px a frame: 0.3 face sizes, well inside "fast"
DT = 1 / 30


class Blurred(KeypointFlow):
    """Flow that follows the true shift until `fails_from` (a frame number), then fails as it
    does on a motion-blurred face (too few points agree)."""

    def __init__(self, fails_from: int, speed: float = SPEED):
        super().__init__()
        self.frame, self.fails_from, self.speed = 0, fails_from, speed

    def predict_counted(self, prev, cur, point_sets, shifts=None):
        self.frame += 1
        if self.frame >= self.fails_from:
            return [(None, 1) for _ in point_sets]
        return [(np.float32([[1, 0, self.speed], [0, 1, 0]]), 20) for _ in point_sets]


def scene(x: float) -> np.ndarray:
    """A flat grey room with one textured 70×70 'face' whose left edge is at x."""
    image = np.full((240, 480, 3), 110, np.uint8)
    texture = np.random.default_rng(7).integers(0, 255, (14, 14, 3), np.uint8)
    patch = cv2.GaussianBlur(cv2.resize(texture, (70, 70), interpolation=cv2.INTER_NEAREST), (0, 0), 1.5)
    left = int(x)
    inside = max(0, min(70, image.shape[1] - left))
    image[80:150, left:left + inside] = patch[:, :inside]
    return image


def face(x: float) -> Face:
    return Face(box=np.float32([x, 80, x + 70, 150]), score=0.9)


def moving(tracker: Tracker, detected: int) -> float:
    """`detected` frames of a face moving right at SPEED, each one detected; its last x."""
    x = 40.0
    for i in range(detected):
        tracker.update(scene(x), [face(x)], i * DT)
        x += SPEED
    return x - SPEED


def test_a_fast_face_whose_flow_fails_is_drawn_where_its_velocity_says_for_two_frames():
    tracker = Tracker(flow=Blurred(fails_from=6))
    x = moving(tracker, 6)
    shown = []
    for k in range(1, 4):
        x += SPEED
        shown.append(tracker.update(scene(x), None, (5 + k) * DT))
    assert [len(s) for s in shown] == [1, 1, 0]
    for k, tracks in enumerate(shown[:2], start=1):  # on the face, not where it was last seen
        assert tracks[0].state == "coasting"
        assert abs(float(tracks[0].face.box[0]) - (x - (3 - k) * SPEED)) < 0.35 * 70
    assert tracker.stats.hidden["flow"] == 1


def test_a_guess_whose_face_patch_disagrees_is_not_drawn():
    """Flow failed because the face went (a flat wall where the guess lands): no ghost."""
    tracker = Tracker(flow=Blurred(fails_from=6))
    moving(tracker, 6)
    assert tracker.update(np.full((240, 480, 3), 110, np.uint8), None, 6 * DT) == []
    assert tracker.stats.hidden["look"] == 1


def test_a_still_face_whose_flow_fails_is_not_guessed():
    tracker = Tracker(flow=Blurred(fails_from=3))
    for i in range(3):
        tracker.update(scene(100), [face(100)], i * DT)
    assert tracker.update(scene(100), None, 3 * DT) == []
    assert tracker.stats.hidden["flow"] == 1


def test_a_fast_face_keeps_its_id_across_missed_detections():
    """Detected every third frame, flow failing in between: association (and, once it was lost,
    the place it is taken back at) follow the velocity, so one id all along."""
    tracker = Tracker(flow=Blurred(fails_from=4))
    x, ids = 40.0, set()
    for i in range(24):
        tracks = tracker.update(scene(x), [face(x)] if i < 4 or i % 3 == 0 else None, i * DT)
        ids |= {t.id for t in tracks}
        x += SPEED * 0.5
    assert ids == {1}


def test_expected_faces_are_moved_on_by_their_velocity_and_include_the_just_lost():
    tracker = Tracker(flow=Blurred(fails_from=6))
    x = moving(tracker, 6)
    (box, lost_for), = tracker.expected(6 * DT)
    assert lost_for == 0.0 and abs(float(box[0]) - (x + SPEED)) < 5  # one frame on
    tracker.update(np.full((240, 480, 3), 110, np.uint8), None, 6 * DT)  # lost ("look")
    (box, lost_for), = tracker.expected(7 * DT, recent_s=0.5)
    assert lost_for > 0
    assert tracker.expected(2.0, recent_s=0.5) == []  # too long ago


def test_a_face_that_left_the_frame_is_not_expected():
    tracker = Tracker(flow=Blurred(fails_from=99, speed=2 * SPEED))
    x = 340.0
    for i in range(5):  # out through the right edge, the last two frames on flow alone
        tracker.update(scene(x), [face(x)] if i < 3 else None, i * DT)
        x += 2 * SPEED
    assert tracker.stats.hidden["left"] == 1
    assert tracker.expected(5 * DT) == []


def test_evidence_for_a_guess_is_the_face_patch_alone():
    ev = Evidence()
    box, shape = np.float32([100, 80, 170, 150]), (240, 480)
    assert ev.why_not(None, 0.9, box, shape) is None
    assert ev.why_not(None, 0.2, box, shape) == "look"
    assert ev.why_not(None, None, box, shape) == "look"  # nothing to compare: no guessing


def smeared(x: float) -> np.ndarray:
    """scene(x) with a 30 px horizontal smear over the face (motion blur)."""
    image = scene(x)
    kernel = np.full((1, 31), 1 / 31, np.float32)
    left = max(0, int(x) - 40)
    image[60:170, left:left + 160] = cv2.filter2D(image[60:170, left:left + 160], -1, kernel)
    return image


def coasted(speed: float) -> tuple[Tracker, int, float]:
    """A face detected twice moving right at `speed` px a frame, then missed once (it coasts, so
    appearance has a say on its next detection); each embedding after the first is someone else's.
    The tracker, the face's id and its x on the next frame."""
    vectors = iter([np.eye(8, dtype=np.float32)[0]] + [np.eye(8, dtype=np.float32)[1]] * 8)
    tracker = Tracker(lambda image, faces: [next(vectors) for _ in faces], flow=Blurred(fails_from=99, speed=speed))
    first = tracker.update(scene(100), [face(100)], 0.0)
    tracker.update(scene(100 + speed), [face(100 + speed)], DT)
    tracker.update(scene(100 + 2 * speed), [], 2 * DT)
    return tracker, first[0].id, 100 + 3 * speed


def test_a_motion_blurred_crop_of_a_fast_face_cannot_veto_the_match_motion_makes():
    """A fast face's motion-blurred detection embeds like nobody: motion pairs it (one id)."""
    tracker, id_, x = coasted(SPEED)
    sure = Face(box=np.float32([x, 80, x + 70, 150]), score=0.9, landmark_score=1.0)  # blurred, yet the landmarker is sure
    assert [t.id for t in tracker.update(smeared(x), [sure], 3 * DT)] == [id_]


def test_a_detection_the_landmarker_hardly_takes_for_a_face_cannot_veto_on_a_fast_face_either():
    """One box over a blurred fast face (landmark score near 0) embeds like nobody: motion pairs it."""
    tracker, id_, x = coasted(SPEED)
    unsure = Face(box=np.float32([x, 80, x + 70, 150]), score=0.9, landmark_score=0.1)
    assert [t.id for t in tracker.update(scene(x), [unsure], 3 * DT)] == [id_]


def test_a_blurred_looking_crop_on_a_still_face_still_lets_appearance_tell_someone_else():
    """Motion does not explain a blurred-looking crop on a face that hardly moves (a lighting
    change dims its detail): appearance still vetoes, so someone else gets an id of their own."""
    tracker, id_, x = coasted(0.0)
    sure = Face(box=np.float32([x + 4, 80, x + 74, 150]), score=0.9, landmark_score=1.0)  # the landmarker is sure
    assert [t.id for t in tracker.update(smeared(x), [sure], 3 * DT)] != [id_]


def test_one_box_over_two_faces_cannot_veto_even_on_a_still_face():
    """One box over two overlapping faces (landmark score near 0) embeds like nobody, whatever the
    speed: motion pairs it with the nearer track rather than starting a new one."""
    tracker, id_, x = coasted(0.0)
    unsure = Face(box=np.float32([x + 4, 80, x + 74, 150]), score=0.9, landmark_score=0.1)
    assert [t.id for t in tracker.update(scene(x), [unsure], 3 * DT)] == [id_]


def _landmarked(x: float, score: float) -> Face:
    f = face(x)
    f.landmarks68, f.landmark_score = np.zeros((68, 2), np.float32), score
    return f


def test_a_new_track_no_landmark_score_takes_for_a_face_is_followed_but_not_drawn():
    """A brow above an occluding face, a blurred box half on the wall: found with landmark score
    near 0. It is followed (so its id is stable) but drawn only once a sure detection confirms it."""
    tracker = Tracker(flow=Blurred(fails_from=99, speed=0))
    assert tracker.update(scene(100), [_landmarked(100, 0.0)], 0.0) == []
    assert tracker.update(scene(100), None, DT) == []  # coasting on flow: still not drawn
    sure = tracker.update(scene(100), [_landmarked(100, 0.9)], 2 * DT)
    assert len(sure) == 1 and sure[0].id == 1  # the same track, now drawn


def test_a_face_detected_often_is_drawn_even_if_no_landmark_score_is_sure():
    """A real face blurred on every frame: drawn at its CONFIRM_HITS-th detection, not never."""
    tracker = Tracker(flow=Blurred(fails_from=99, speed=0))
    shown = [len(tracker.update(scene(100), [_landmarked(100, 0.2)], i * DT)) for i in range(Tracker.CONFIRM_HITS)]
    assert shown == [0] * (Tracker.CONFIRM_HITS - 1) + [1]


def test_a_sure_newcomer_is_drawn_on_its_first_frame():
    tracker = Tracker(flow=Blurred(fails_from=99, speed=0))
    assert len(tracker.update(scene(100), [_landmarked(100, 0.8)], 0.0)) == 1


def test_a_motion_blurred_newcomer_the_landmarker_doubts_is_drawn_at_once():
    """Blur explains the landmarker's doubt: a fast face is swapped on its first detection."""
    tracker = Tracker(flow=Blurred(fails_from=99, speed=0))
    assert len(tracker.update(smeared(100), [_landmarked(100, 0.0)], 0.0)) == 1


def test_a_doubted_blurred_detection_against_another_face_waits_for_confirmation():
    """The same crop touching another detected face may be a fragment of it: held back."""
    tracker = Tracker(flow=Blurred(fails_from=99, speed=0))
    neighbour = Face(box=np.float32([150, 60, 240, 160]), score=0.9)
    shown = tracker.update(smeared(100), [_landmarked(100, 0.0), neighbour], 0.0)
    assert [t.face.box[0] for t in shown] == [150]


def test_a_fast_face_that_coasted_keeps_its_id_on_its_one_sharp_detection_whatever_its_gallery_says():
    """Blur hides a fast face now and then; its gallery, learnt from crops blur spoils, may not
    know its own sharp crop. One detection in its gates that no other track could take: motion
    has settled it (one id, not a new track beside a lost one)."""
    tracker, id_, x = coasted(SPEED)
    sharp = Face(box=np.float32([x, 80, x + 70, 150]), score=0.9, landmark_score=1.0)
    assert [t.id for t in tracker.update(scene(x), [sharp], 3 * DT)] == [id_]


def test_a_still_face_that_coasted_still_lets_appearance_tell_someone_else_on_a_sharp_crop():
    """No speed to excuse a miss (someone stepped in where it was): appearance still vetoes."""
    tracker, id_, x = coasted(0.0)
    sharp = Face(box=np.float32([x + 4, 80, x + 74, 150]), score=0.9, landmark_score=1.0)
    assert [t.id for t in tracker.update(scene(x), [sharp], 3 * DT)] != [id_]



def _brow(y0: float = 50.0) -> Face:
    """An unsure 40×35 box touching the top of the 70×70 face at x 100 (its brow, or a far face)."""
    f = Face(box=np.float32([115, y0, 155, y0 + 35]), score=0.8, kps5=np.zeros((5, 2), np.float32))
    f.landmarks68, f.landmark_score = np.zeros((68, 2), np.float32), 0.0
    return f


def test_a_box_small_against_a_face_it_touches_needs_one_detection_more_to_be_drawn():
    """The brow of a face half behind another is boxed small against the faces' boxes and found
    once or twice: at CONFIRM_HITS it was drawn, a swap on a forehead (occlude_face-0: 5 ghost
    frames, 0 with the rule); a real face there is drawn a detection later."""
    tracker = Tracker(flow=Blurred(fails_from=99, speed=0))
    drawn = [len(tracker.update(scene(100), [_landmarked(100, 0.9), _brow()], i * DT))
             for i in range(Tracker.CONFIRM_HITS + 1)]
    assert drawn == [1] * Tracker.CONFIRM_HITS + [2]


def test_a_small_unsure_box_clear_of_other_faces_is_drawn_at_confirm_hits():
    tracker = Tracker(flow=Blurred(fails_from=99, speed=0))
    drawn = [len(tracker.update(scene(100), [_landmarked(100, 0.9), _brow(y0=5.0)], i * DT))
             for i in range(Tracker.CONFIRM_HITS)]
    assert drawn == [1] * (Tracker.CONFIRM_HITS - 1) + [2]
