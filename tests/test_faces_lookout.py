"""Looking again: crops around faces the tracker expects that the whole-frame pass missed."""

import numpy as np
import pytest

from bridge.faces.detect import UlfdDetector
from bridge.faces.lookout import Expected, Lookout
from bridge.types import Face
from tests import clips
from tests.clips import Actor, Key, found


class Counting:
    """A detector double that finds nothing and counts its runs (for choosing crops only)."""

    width, height = 320, 240

    def __init__(self):
        self.runs = []

    def detect(self, image):
        self.runs.append(image.shape[:2])
        return []


def test_only_lost_faces_no_detection_found_are_looked_for_the_latest_lost_first():
    lookout = Lookout(Counting())
    found = [Face(box=np.float32([100, 100, 160, 170]), score=0.9)]
    expected = [Expected(np.float32([102, 101, 161, 171]), 0.2),  # the detection has it
                Expected(np.float32([400, 100, 460, 170]), 0.3),
                Expected(np.float32([800, 100, 860, 170]), 0.0),  # shown: it coasts on flow
                Expected(np.float32([600, 100, 660, 170]), 0.1)]
    missing = lookout.missing(found, expected)
    assert [float(e.box[0]) for e in missing] == [600.0, 400.0]


def test_a_crop_has_the_detector_aspect_and_stays_inside_the_frame():
    lookout = Lookout(Counting(), context=3.0)
    x0, y0, x1, y1 = lookout.crop(np.float32([1240, 690, 1280, 720]), (720, 1280, 3), 4 / 3)
    assert (x1, y1) <= (1280, 720) and x0 >= 0 and y0 >= 0
    assert (x1 - x0) == pytest.approx(120, abs=1) and (x1 - x0) / (y1 - y0) == pytest.approx(4 / 3, abs=0.05)
    assert lookout.crop(np.float32([1300, 100, 1360, 160]), (720, 1280, 3), 4 / 3) is None  # off the picture


def test_crops_per_frame_bounds_the_detector_runs_and_zero_is_off():
    detector = Counting()
    expected = [Expected(np.float32([100 + 200 * k, 100, 160 + 200 * k, 170]), 0.1) for k in range(4)]
    image = np.zeros((720, 1280, 3), np.uint8)
    Lookout(detector, crops_per_frame=2).look(image, [], expected)
    assert len(detector.runs) == 2
    Lookout(detector, crops_per_frame=0).look(image, [], expected)
    assert len(detector.runs) == 2


@pytest.fixture(scope="module")
def ulfd(models_dir):
    return UlfdDetector(models_dir / "fr_detect.onnx")


def test_faces_the_whole_frame_misses_are_found_where_the_tracker_expects_them(ulfd):
    """Four faces 34-40 px tall in a 1280×720 frame: the whole-frame pass misses some; crops
    around where they are expected (a few px off, as a moved-on track box is) find all."""
    actors = [Actor(f, [Key(0, 200 + f * 300, 250 + (f % 2) * 250, 34 + 2 * f)]) for f in range(4)]
    clip = clips.render(actors, (1280, 720), frames=1, seed=11)
    image = clip.frames[0]
    _, truth = clip.truth_boxes(0)

    whole = ulfd.detect(image)
    assert len(found(truth, whole)) < 4
    lookout = Lookout(ulfd, crops_per_frame=4)
    assert found(truth, lookout.look(image, whole, [Expected(b + 6, 0.1) for b in truth])) == set(range(4))
    assert lookout.crops == 4 - len(found(truth, whole))


class Fixed:
    """A detector double that reports the same boxes (crop pixels) on every run."""

    width, height = 320, 240

    def __init__(self, boxes):
        self.boxes = boxes

    def detect(self, image):
        return [Face(box=np.float32(b), score=0.9) for b in self.boxes]


def test_a_crop_keeps_only_the_face_it_looked_for():
    """What a crop finds far from the face it was run for (a fragment between two faces) is
    left out; the face itself comes back in frame pixels."""
    expected = Expected(np.float32([400, 300, 460, 370]), 0.1)
    lookout = Lookout(Fixed([]), context=3.0)
    x0, y0, _, _ = lookout.crop(expected.box, (720, 1280, 3), 4 / 3)
    own = [400 - x0 + 2, 300 - y0 + 1, 460 - x0 + 2, 370 - y0 + 1]
    stray = [400 - x0, 370 - y0 + 10, 460 - x0, 420 - y0 + 10]  # below it, barely touching
    lookout.detector = Fixed([own, stray])
    faces = lookout.look(np.zeros((720, 1280, 3), np.uint8), [], [expected])
    assert len(faces) == 1 and np.allclose(faces[0].box, [402, 301, 462, 371])


class Scoring:
    """A landmarker double: the score each box's left edge was given."""

    def __init__(self, scores):
        self.scores = scores

    def landmark(self, image, faces):
        for f in faces:
            f.landmark_score = self.scores[int(round(float(f.box[0])))]
        return faces


def test_a_stray_find_is_kept_only_when_the_landmarker_takes_it_for_a_face():
    """Beside the face looked for, a crop may find the face half hidden behind it (the landmarker
    sees a face) or a fragment between two faces (it does not)."""
    expected = Expected(np.float32([400, 300, 460, 370]), 0.1)
    lookout = Lookout(Fixed([]), context=3.0)
    x0, y0, _, _ = lookout.crop(expected.box, (720, 1280, 3), 4 / 3)
    hidden = [490 - x0, 300 - y0, 540 - x0, 370 - y0]  # to its right, not overlapping
    lookout.detector = Fixed([hidden])
    image = np.zeros((720, 1280, 3), np.uint8)
    assert lookout.look(image, [], [expected]) == []  # no landmarker: nothing stray is kept
    lookout.landmarker = Scoring({490: 0.9})
    assert [float(f.box[0]) for f in lookout.look(image, [], [expected])] == [490.0]
    lookout.landmarker = Scoring({490: 0.1})
    assert lookout.look(image, [], [expected]) == []
