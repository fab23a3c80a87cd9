"""The fine scan: which tiles run, how passes merge, new motion, and small faces really found."""

import numpy as np
import pytest

from bridge.faces.detect import UlfdDetector
from bridge.faces.scan import FineScan, Motion, fine_grid, merge, smallest_seen
from bridge.types import Face
from tests import clips
from tests.clips import Actor, Key, found


class Boxes:
    """A detector double that only reports its input size: for planning, nothing is detected."""

    width, height = 320, 240

    def detect(self, image):
        return []


def test_the_grid_follows_the_frame_and_the_detector_input():
    assert fine_grid((640, 360), (320, 240)) == (2, 1)
    assert fine_grid((1280, 720), (320, 240)) == (3, 2)
    assert fine_grid((1920, 1080), (320, 240)) == (4, 3)
    assert fine_grid((320, 240), (320, 240)) == (1, 1)
    assert smallest_seen((1280, 720), (320, 240)) == pytest.approx(48.0)


def test_merge_keeps_one_face_per_face_and_drops_a_tile_edge_fragment():
    whole = Face(box=np.float32([100, 100, 160, 170]), score=0.8)
    again = Face(box=np.float32([102, 101, 161, 171]), score=0.9)  # the same face from a tile
    cut = Face(box=np.float32([100, 100, 130, 170]), score=0.95)  # half of it, at a tile's edge
    other = Face(box=np.float32([400, 100, 440, 150]), score=0.7)
    kept = merge([whole, again, cut, other])
    assert len(kept) == 2 and any(f is other for f in kept)
    assert not any(f is cut for f in kept)


def test_motion_counts_only_what_no_track_explains_and_edges_apart():
    motion = Motion()
    frame = np.full((360, 640, 3), 100, np.uint8)
    motion.update(frame, np.zeros((0, 4)))
    moved = frame.copy()
    moved[150:210, 300:360] = 200  # inside a tracked face: explained
    moved[150:210, 0:40] = 200  # at the left edge: someone walking in
    moving = motion.update(moved, np.float32([[300, 150, 360, 210]]))
    assert motion.changed(moving, (280, 130, 380, 230)) == 0
    assert motion.at_edges(moving) > 0
    still = motion.update(moved, np.zeros((0, 4)))
    assert motion.at_edges(still) == 0


def test_plan_puts_a_late_small_face_first_then_motion_then_waiting_small_faces_then_the_round():
    scan = FineScan(Boxes(), tiles_per_frame=2, late=4)
    shape = (720, 1280, 3)
    tiles = scan.tiles(shape)
    assert len(tiles) == 6
    small = np.float32([1100, 550, 1130, 585])  # 35 px tall: bottom-right tile
    moving = np.zeros((90, 160), bool)
    moving[5:9, 5:9] = True  # top-left
    late = scan.plan(shape, [(small, 4)], Motion(), moving)  # about to be carried by flow alone too long
    assert late.why == ["small", "motion"] and late.tiles == [5, 0]
    # a face nobody tracks yet shows the real face; a tracked one is still swapped while it coasts
    waiting = FineScan(Boxes(), tiles_per_frame=1, late=4).plan(shape, [(small, 2)], Motion(), moving)
    assert waiting.why == ["motion"] and waiting.tiles == [0]
    calm = FineScan(Boxes(), tiles_per_frame=1, late=4).plan(shape, [(small, 2)], Motion(), None)
    assert calm.why == ["small"] and calm.tiles == [5]
    rounds = [scan.plan(shape, [], Motion(), None).tiles for _ in range(3)]
    assert sorted(sum(rounds, [])) == list(range(6))  # the periodic scan visits every tile


def test_motion_between_detections_waits_for_its_tile():
    """A face that pops in on a frame without detection, or while the tile budget goes elsewhere,
    is still looked for: its motion stays pending until a tile covering it runs."""
    motion = Motion()
    still = np.zeros((720, 1280, 3), np.uint8)
    popped = still.copy()
    popped[560:600, 1000:1040] = 200  # bottom-right, 40 px
    motion.update(still, np.zeros((0, 4)))
    assert motion.changed(motion.update(popped, np.zeros((0, 4)))) > 0
    now = motion.update(popped, np.zeros((0, 4)))  # the next frame: nothing moves any more
    assert motion.changed(now) == 0
    scan = FineScan(Boxes(), tiles_per_frame=1)
    plan = scan.plan(still.shape, [], motion, now)
    assert plan.why == ["motion"] and plan.tiles == [5]
    scan.looked(motion, still.shape, plan)
    assert motion.changed(motion.pending) == 0  # looked at: no longer pending


@pytest.fixture(scope="module")
def ulfd(models_dir):
    return UlfdDetector(models_dir / "fr_detect.onnx")


def test_small_faces_the_whole_frame_misses_are_found_by_the_scan(ulfd):
    """Five faces 38-46 px tall in a 1280×720 frame: the whole-frame pass finds few of them;
    within one round of the scan every one has been found."""
    actors = [Actor(f, [Key(0, 140 + f * 240, 200 + (f % 2) * 300, 34 + 2 * f)]) for f in range(5)]
    clip = clips.render(actors, (1280, 720), frames=1, seed=11)
    image = clip.frames[0]
    _, truth = clip.truth_boxes(0)

    whole = found(truth, ulfd.detect(image))
    scan = FineScan(ulfd, tiles_per_frame=2)
    seen: set = set()
    for _ in range(3):  # 6 tiles, 2 per detection: one round
        seen |= found(truth, scan.detect(image, scan.plan(image.shape, [], Motion(), None)))
    assert len(whole) <= 3
    assert seen == set(range(5))
