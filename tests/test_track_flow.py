import cv2
import numpy as np

from bridge.track.flow import KeypointFlow, fit_similarity, warp_face
from bridge.types import Face


def _textured(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (60, 80), dtype=np.uint8)
    return cv2.GaussianBlur(cv2.resize(small, (320, 240), interpolation=cv2.INTER_NEAREST), (0, 0), 1.5)


def _face() -> Face:
    kps = np.array([[140, 110], [180, 110], [160, 130], [145, 150], [175, 150]], np.float32)
    return Face(box=np.array([120, 80, 200, 170], np.float32), score=0.9, kps5=kps)


def test_shift_moves_box_and_keypoints_with_the_image():
    prev = _textured()
    m = np.float32([[1, 0, 6], [0, 1, -4]])
    cur = cv2.warpAffine(prev, m, (320, 240), borderMode=cv2.BORDER_REFLECT)
    flow = KeypointFlow()
    face = _face()
    (matrix,) = flow.predict(prev, cur, [flow.seed(prev, face)])
    moved = warp_face(matrix, face)
    assert np.abs(moved.kps5 - (face.kps5 + [6, -4])).max() < 0.5
    assert np.abs(moved.box - (face.box + [6, -4, 6, -4])).max() < 0.5


def test_rotation_and_scale_are_followed():
    prev = _textured(1)
    m = cv2.getRotationMatrix2D((160, 125), 8, 1.1).astype(np.float32)
    cur = cv2.warpAffine(prev, m, (320, 240), borderMode=cv2.BORDER_REFLECT)
    flow = KeypointFlow()
    face = _face()
    (matrix,) = flow.predict(prev, cur, [flow.seed(prev, face)])
    expected = face.kps5 @ m[:, :2].T + m[:, 2]
    assert np.abs(warp_face(matrix, face).kps5 - expected).max() < 1.0


def test_flow_fails_when_the_face_vanishes():
    prev = _textured(2)
    cur = np.full_like(prev, 128)  # the scene is gone (cut to a flat slate)
    flow = KeypointFlow()
    assert flow.predict(prev, cur, [flow.seed(prev, _face())]) == [None]


# faces of t1.jpg (x0, y0, x1, y1), as bridge.io.demo_source measured them
GROUP_FACE_BOXES = [(55, 266, 169, 392), (269, 150, 366, 278), (464, 266, 576, 412), (742, 341, 846, 475)]


def test_per_face_regions_follow_the_points_as_full_frame_lk_does(group_photo):
    """Coarse-to-fine LK on each face's region gives OpenCV's whole-frame result on a real photo."""
    prev = cv2.cvtColor(group_photo, cv2.COLOR_BGR2GRAY)
    h, w = prev.shape
    flow = KeypointFlow()
    faces = [Face(box=np.array(box, np.float32), score=1.0) for box in GROUP_FACE_BOXES]
    for dx, dy in [(5, -3), (-24, 17)]:
        cur = cv2.warpAffine(prev, np.float32([[1, 0, dx], [0, 1, dy]]), (w, h), borderMode=cv2.BORDER_REFLECT)
        point_sets = [flow.seed(prev, face) for face in faces]
        points = np.concatenate(point_sets)
        whole, whole_status, _ = cv2.calcOpticalFlowPyrLK(prev, cur, points.reshape(-1, 1, 2), None, **flow.lk)
        bounds = np.cumsum([0] + [len(p) for p in point_sets])
        groups = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
        moved, status = flow._track(flow.pyramid(prev), flow.pyramid(cur), points, groups)
        assert np.array_equal(status, whole_status.ravel() == 1)
        assert np.abs(moved[status] - whole.reshape(-1, 2)[status]).max() < 0.01
        for matrix in flow.predict(flow.pyramid(prev), flow.pyramid(cur), point_sets):
            assert matrix is not None and np.abs(matrix[:, 2] - [dx, dy]).max() < 0.1


def test_pyramid_has_the_levels_opencv_would_build():
    flow = KeypointFlow(win_size=21, max_level=3)
    assert [lv.shape for lv in flow.pyramid(np.zeros((240, 320), np.uint8))] == [(240, 320), (120, 160), (60, 80), (30, 40)]
    # halving stops before a level would be no larger than the window
    assert len(flow.pyramid(np.zeros((100, 100), np.uint8))) == 3


def test_a_large_face_seeded_on_the_half_size_level_is_followed_as_well():
    prev = _textured(4)
    m = cv2.getRotationMatrix2D((160, 120), 5, 1.05).astype(np.float32)
    cur = cv2.warpAffine(prev, m, (320, 240), borderMode=cv2.BORDER_REFLECT)
    flow = KeypointFlow()
    face = Face(box=np.array([40, 20, 280, 220], np.float32), score=0.9)  # inner box 168 x 140 px
    pyramid = flow.pyramid(prev)
    full, half = flow.seed(prev, face), flow.seed(pyramid, face)
    assert len(half) == flow.features and not np.array_equal(full, half)  # corners sought on level 1
    assert (half >= [76, 50]).all() and (half <= [244, 190]).all()  # inside the inner box
    (matrix,) = flow.predict(pyramid, flow.pyramid(cur), [half])
    corners = np.array([[76, 50], [244, 190]], np.float32)
    assert np.abs(corners @ matrix[:, :2].T + matrix[:, 2] - (corners @ m[:, :2].T + m[:, 2])).max() < 0.5


def test_fit_similarity_recovers_a_known_motion_and_matches_opencvs_fit():
    rng = np.random.default_rng(5)
    source = rng.uniform(0, 200, (20, 2)).astype(np.float32)
    truth = cv2.getRotationMatrix2D((90, 110), 7, 0.93)
    exact = source @ truth[:, :2].T + truth[:, 2]
    np.testing.assert_allclose(fit_similarity(source, exact), truth, atol=1e-4)
    noisy = (exact + rng.normal(0, 0.5, exact.shape)).astype(np.float32)
    # OpenCV's own least-squares refinement (every point an inlier) lands on the same model
    opencv, _ = cv2.estimateAffinePartial2D(source, noisy, method=cv2.LMEDS)
    ours = fit_similarity(source, noisy)
    assert np.abs(ours[:, :2] - truth[:, :2]).max() < 0.01 and np.abs(ours[:, 2] - truth[:, 2]).max() < 1.0
    residual = lambda m: np.linalg.norm(source @ m[:, :2].T + m[:, 2] - noisy, axis=1).mean()  # noqa: E731
    assert residual(ours) <= residual(opencv) + 1e-3  # least squares: no similarity fits better


def test_a_move_beyond_lk_reach_is_followed_from_the_expected_shift():
    """A face moving ~110 px a frame: LK from zero loses it; started at the track's velocity it holds."""
    rng = np.random.default_rng(3)
    small = rng.integers(0, 255, (60, 120), dtype=np.uint8)
    prev = cv2.GaussianBlur(cv2.resize(small, (640, 240), interpolation=cv2.INTER_NEAREST), (0, 0), 1.5)
    m = np.float32([[1, 0, 110], [0, 1, 3]])
    cur = cv2.warpAffine(prev, m, (640, 240), borderMode=cv2.BORDER_REFLECT)
    flow = KeypointFlow()
    face = _face()
    points = flow.seed(prev, face)
    ((blind, _),) = flow.predict_counted(prev, cur, [points])
    ((hinted, agreed),) = flow.predict_counted(prev, cur, [points], [np.float32([100, 0])])
    assert blind is None or np.abs(warp_face(blind, face).kps5 - (face.kps5 + [110, 3])).max() > 5
    assert hinted is not None and agreed >= 4
    assert np.abs(warp_face(hinted, face).kps5 - (face.kps5 + [110, 3])).max() < 1.0


def test_large_faces_stop_at_a_coarser_level_and_move_as_full_size_flow_says(group_photo):
    """Faces of 1080p size (the group photo at 2.4×) are refined on a coarser level, with a few
    guide points above it, and their motion is the one all-points full-size LK finds."""
    prev = cv2.resize(cv2.cvtColor(group_photo, cv2.COLOR_BGR2GRAY), None, fx=2.4, fy=2.4)
    h, w = prev.shape
    guided, full = KeypointFlow(), KeypointFlow(detail=0)
    faces = [Face(box=np.array(box, np.float32) * 2.4, score=1.0) for box in GROUP_FACE_BOXES]
    point_sets = [guided.seed(guided.pyramid(prev), face) for face in faces]
    points = np.concatenate(point_sets)
    bounds = np.cumsum([0] + [len(p) for p in point_sets])
    groups = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
    assert (guided.finest_levels(points, groups, 3) >= 1).sum() >= 3  # most stop above full size
    for motion in [np.float32([[1, 0, 7], [0, 1, -5]]), cv2.getRotationMatrix2D((w / 2, h / 2), 3, 1.03).astype(np.float32),
                   np.float32([[1, 0, -40], [0, 1, 26]])]:
        cur = cv2.warpAffine(prev, motion, (w, h), borderMode=cv2.BORDER_REFLECT)
        ours = guided.predict_counted(guided.pyramid(prev), guided.pyramid(cur), point_sets)
        theirs = full.predict_counted(full.pyramid(prev), full.pyramid(cur), point_sets)
        for face, (m, agreed), (m_full, agreed_full) in zip(faces, ours, theirs):
            assert m is not None and m_full is not None
            corners = face.box.reshape(2, 2)
            truth = corners @ motion[:, :2].T + motion[:, 2]
            assert np.abs(corners @ m[:, :2].T + m[:, 2] - truth).max() < 1.5
            assert np.abs(corners @ m_full[:, :2].T + m_full[:, 2] - truth).max() < 1.5
            assert agreed >= agreed_full - 2  # as many points agree as at full size


def test_a_point_whose_patch_moves_otherwise_does_not_agree():
    """On a large face refined above full size, one point whose neighbourhood moves 12 px more
    than the face is followed there and left out of the face's agreeing points."""
    prev = cv2.resize(_textured(6), None, fx=3, fy=3)  # 960 × 720, a large face's texture
    face = Face(box=np.array([300, 200, 640, 560], np.float32), score=0.9)
    flow = KeypointFlow()
    points = flow.seed(flow.pyramid(prev), face)
    cur = cv2.warpAffine(prev, np.float32([[1, 0, 4], [0, 1, 3]]), (960, 720), borderMode=cv2.BORDER_REFLECT)
    x, y = points[0].astype(int)
    cur[y - 60 + 3:y + 60 + 3, x - 60 + 16:x + 60 + 16] = prev[y - 60:y + 60, x - 60:x + 60]
    ((matrix, agreed),) = flow.predict_counted(flow.pyramid(prev), flow.pyramid(cur), [points])
    assert matrix is not None and np.abs(matrix[:, 2] - [4, 3]).max() < 0.5
    assert agreed < len(points)


def _spy_on_lk(flow_module, monkeypatch, record) -> None:
    """Route the flow module's cv2.calcOpticalFlowPyrLK calls through `record(src)` first."""
    real = cv2.calcOpticalFlowPyrLK

    def spy(src, dst, *args, **kwargs):
        record(src)
        return real(src, dst, *args, **kwargs)

    class Spy:
        calcOpticalFlowPyrLK = staticmethod(spy)

        def __getattr__(self, name):
            return getattr(cv2, name)

    monkeypatch.setattr(flow_module, "cv2", Spy())


def _lk_directions(flow_module, monkeypatch, prev_pyr, cur_pyr) -> list[str]:
    """Spy on the flow's LK calls: which way each went (prev→cur "forward", cur→prev "back")."""
    calls = []
    ways = {id(lv): "forward" for lv in prev_pyr} | {id(lv): "back" for lv in cur_pyr}
    _spy_on_lk(flow_module, monkeypatch, lambda src: calls.append(
        next((ways[id(lv)] for lv in prev_pyr + cur_pyr if np.shares_memory(src, lv)), "?")))
    return calls


def test_a_face_whose_points_agree_goes_one_way_and_a_stray_point_is_left_out(monkeypatch):
    """Where a face's points agree on one motion there is no way back: a point whose own
    neighbourhood moved 8 px more than the face is left out by the fit's consensus."""
    from bridge.track import flow as flow_module
    prev = _textured(8)
    face = _face()
    flow = KeypointFlow()
    points = flow.seed(prev, face)
    cur = cv2.warpAffine(prev, np.float32([[1, 0, 3], [0, 1, -2]]), (320, 240), borderMode=cv2.BORDER_REFLECT)
    x, y = points[0].astype(int)
    cur[y - 16 - 2:y + 16 - 2, x - 16 + 11:x + 16 + 11] = prev[y - 16:y + 16, x - 16:x + 16]  # 8 px further
    prev_pyr, cur_pyr = flow.pyramid(prev), flow.pyramid(cur)
    calls = _lk_directions(flow_module, monkeypatch, prev_pyr, cur_pyr)
    ((matrix, agreed),) = flow.predict_counted(prev_pyr, cur_pyr, [points])
    assert matrix is not None
    assert np.abs(warp_face(matrix, face).kps5 - (face.kps5 + [3, -2])).max() < 0.5
    assert flow.SURE * len(points) <= agreed < len(points)  # the stray point is not among them
    assert calls and set(calls) == {"forward"}


def test_a_face_whose_points_disagree_is_followed_both_ways_on_every_level(monkeypatch):
    """Half a face moves one way and half another (a hand over half of it): too few points agree
    for the one-way shortcut, so the face is followed the full way, forwards and back, and gets
    the answer every-point full-size flow gives."""
    from bridge.track import flow as flow_module
    prev = _textured(9)
    face = _face()
    flow = KeypointFlow()
    points = flow.seed(prev, face)
    cur = cv2.warpAffine(prev, np.float32([[1, 0, 4], [0, 1, 1]]), (320, 240), borderMode=cv2.BORDER_REFLECT)
    right = cv2.warpAffine(prev, np.float32([[1, 0, -5], [0, 1, 3]]), (320, 240), borderMode=cv2.BORDER_REFLECT)
    cur[:, 160:] = right[:, 160:]
    prev_pyr, cur_pyr = flow.pyramid(prev), flow.pyramid(cur)
    calls = _lk_directions(flow_module, monkeypatch, prev_pyr, cur_pyr)
    ((matrix, agreed),) = flow.predict_counted(prev_pyr, cur_pyr, [points])
    assert "back" in calls
    monkeypatch.undo()
    ((full, full_agreed),) = KeypointFlow(detail=0).predict_counted(prev_pyr, cur_pyr, [points])
    assert agreed == full_agreed and agreed < flow.SURE * len(points)
    assert (matrix is None and full is None) or np.array_equal(matrix, full)


def test_a_faces_guides_skip_the_level_just_above_its_finest(monkeypatch):
    """A small face (finest level: full size) is guided on levels 3 and 2 and refined on 0; the
    half-size level adds nothing its start two levels up does not give. The move is the one
    every-point full-size flow finds."""
    from bridge.track import flow as flow_module
    prev = cv2.resize(_textured(10), (640, 480))
    cur = cv2.warpAffine(prev, np.float32([[1, 0, 13], [0, 1, -9]]), (640, 480), borderMode=cv2.BORDER_REFLECT)
    flow = KeypointFlow()
    face = Face(box=np.array([250, 170, 340, 280], np.float32), score=0.9)
    points = flow.seed(prev, face)
    prev_pyr, cur_pyr = flow.pyramid(prev), flow.pyramid(cur)
    assert len(prev_pyr) == 4
    levels = []
    _spy_on_lk(flow_module, monkeypatch, lambda src: levels.append(
        next(n for n, lv in enumerate(prev_pyr + cur_pyr) if np.shares_memory(src, lv)) % 4))
    ((matrix, agreed),) = flow.predict_counted(prev_pyr, cur_pyr, [points])
    assert levels == [3, 2, 0]
    monkeypatch.undo()
    ((full, _),) = KeypointFlow(detail=0).predict_counted(prev_pyr, cur_pyr, [points])
    corners = face.box.reshape(2, 2)
    assert np.abs(corners @ matrix[:, :2].T + matrix[:, 2] - (corners @ full[:, :2].T + full[:, 2])).max() < 0.1
    assert np.abs(warp_face(matrix, face).box - (face.box + [13, -9, 13, -9])).max() < 0.5


def test_faces_whose_points_overlap_are_checked_the_way_back(monkeypatch):
    """Two faces whose points share ground (one passing in front of the other): points of one
    may follow the other together and agree, so those faces go the way back too; a face alone
    does not."""
    from bridge.track import flow as flow_module
    prev = cv2.resize(_textured(11), (640, 480))
    cur = cv2.warpAffine(prev, np.float32([[1, 0, 3], [0, 1, 2]]), (640, 480), borderMode=cv2.BORDER_REFLECT)
    flow = KeypointFlow()
    boxes = [(100, 100, 200, 220), (150, 110, 250, 230), (420, 200, 520, 320)]
    sets = [flow.seed(prev, Face(box=np.array(b, np.float32), score=0.9)) for b in boxes]
    assert flow._overlapping(np.concatenate(sets), np.concatenate(sets),
                             [slice(0, len(sets[0])), slice(len(sets[0]), len(sets[0]) + len(sets[1])),
                              slice(len(sets[0]) + len(sets[1]), sum(map(len, sets)))]) == [0, 1]
    prev_pyr, cur_pyr = flow.pyramid(prev), flow.pyramid(cur)
    calls = _lk_directions(flow_module, monkeypatch, prev_pyr, cur_pyr)
    together = flow.predict_counted(prev_pyr, cur_pyr, sets)
    assert "back" in calls
    calls.clear()
    alone = flow.predict_counted(prev_pyr, cur_pyr, sets[2:])
    assert set(calls) == {"forward"}
    for (m, agreed), n in zip(together, map(len, sets)):
        assert m is not None and agreed >= flow.SURE * n and np.abs(m[:, 2] - [3, 2]).max() < 0.6
    assert alone[0][1] == together[2][1]
