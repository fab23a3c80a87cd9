import numpy as np

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
