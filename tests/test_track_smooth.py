import numpy as np
import pytest

from bridge.track.smooth import OneEuroFilter


def test_still_point_jitter_is_reduced_more_than_three_times():
    rng = np.random.default_rng(0)
    f = OneEuroFilter(min_cutoff=0.5, beta=2.0)
    raw = 100 + rng.normal(0, 1.0, (120, 5, 2))
    out = np.array([f(x, i / 30, scale=80) for i, x in enumerate(raw)])[30:]
    assert raw[30:].std(axis=0).mean() > 3 * out.std(axis=0).mean()


def test_fast_move_is_followed_with_little_lag():
    f = OneEuroFilter(min_cutoff=0.5, beta=2.0)
    # a face 80 px wide moving 300 px/s for one second
    xs = [np.array([[300.0 * i / 30, 0.0]]) for i in range(31)]
    out = [f(x, i / 30, scale=80) for i, x in enumerate(xs)]
    lag = xs[-1][0, 0] - out[-1][0, 0]
    slow = OneEuroFilter(min_cutoff=0.5, beta=0.0)
    out_slow = [slow(x, i / 30, scale=80) for i, x in enumerate(xs)]
    assert lag < 20  # a quarter of the face width
    assert lag < (xs[-1][0, 0] - out_slow[-1][0, 0]) / 3


def test_reset_forgets_the_old_position():
    f = OneEuroFilter()
    f(np.zeros((5, 2)), 0.0)
    f(np.zeros((5, 2)), 0.1)
    f.reset()
    out = f(np.full((5, 2), 200.0), 0.2)
    assert np.allclose(out, 200.0)


@pytest.mark.parametrize("jump", [0.1, 0.0])
def test_filters_smoothed_together_give_the_numbers_each_gives_alone(jump):
    """A face's box corners, keypoints and landmarks filtered in one pass (smooth_together, its
    compiled step) come out exactly as three filters apart (numpy's array expressions), through
    restarts, a part missing for a while, a repeated timestamp and a change of shape; with and
    without the jump rule."""
    import numpy as np

    from bridge.track.smooth import OneEuroFilter, smooth_together

    rng = np.random.default_rng(4)
    apart = [OneEuroFilter(0.5, 2.0, jump=jump) for _ in range(3)]
    joined = [OneEuroFilter(0.5, 2.0, jump=jump) for _ in range(3)]
    walk = [rng.normal(0, 2, (120, n, 2)).cumsum(axis=0).astype(np.float32) + 300 for n in (2, 5, 68)]
    t, passes = 0.0, 0
    for i in range(120):
        t += 0.0 if i == 40 else 1 / 30
        if i in (25, 90):
            for f in apart + joined:
                f.reset()
        if i == 60:
            joined[1].reset()
            apart[1].reset()
        present = [0, 1] + ([2] if not 70 <= i < 75 else [])
        values = [walk[k][i] if not (k == 1 and i >= 100) else walk[k][i][:4] for k in present]
        scale = 100.0 + i
        expected = [apart[k](v, t, scale) for k, v in zip(present, values)]
        got = smooth_together([joined[k] for k in present], values, t, scale)
        passes += joined[0]._joint is not None
        for a, b in zip(expected, got):
            assert a.dtype == b.dtype == np.float32 and np.array_equal(a, b), i
    assert passes > 80  # mostly joined, not each alone


def test_a_sudden_move_is_followed_at_once():
    """A face walking into the picture moves at once at most of a face a frame; the smoothed
    speed lags such a start by several frames, and so did the drawn face (a third of a face
    behind it). A step far beyond jitter counts as speed at once: within a tenth of a face."""
    f = OneEuroFilter(min_cutoff=0.5, beta=2.0)
    size, step = 80.0, 60.0
    xs = [0.0] * 10 + [step * k for k in range(1, 9)]
    lags = [x - float(f(np.array([[x, 0.0]]), i / 30, scale=size)[0, 0]) for i, x in enumerate(xs)]
    assert max(lags[11:]) < 0.1 * size
    # jitter of a landmarker (1-2 px on an 80 px face) is no such step: a still face stays steady
    rng = np.random.default_rng(1)
    still = OneEuroFilter(min_cutoff=0.5, beta=2.0)
    raw = 100 + rng.normal(0, 2.0, (150, 68, 2))
    out = np.array([still(x, i / 30, scale=size) for i, x in enumerate(raw)])[30:]
    assert raw[30:].std(axis=0).mean() > 2.5 * out.std(axis=0).mean()
