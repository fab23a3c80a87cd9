"""The demo scene's comings and goings (what the soak run leans on)."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.io.demo_source import DemoScene


def test_with_churn_every_face_leaves_and_returns(group_photo: np.ndarray) -> None:
    scene = DemoScene(320, 180, 3, group_photo, churn_s=3.0)
    present = np.array([scene.present(i, 30.0) for i in range(90)])  # one whole cycle
    assert present.any(axis=0).all() and (~present).any(axis=0).all(), "a face never came or never went"
    assert 0.6 < present.mean() < 0.8  # away 30 % of the time
    assert present.sum(axis=1).min() >= 2, "staggered cycles: never more than one face away at once"


def test_a_face_that_left_is_gone_from_the_picture(group_photo: np.ndarray) -> None:
    churning, steady = DemoScene(320, 180, 3, group_photo, churn_s=3.0), DemoScene(320, 180, 3, group_photo)
    away = next(i for i in range(90) if not all(churning.present(i, 30.0)))
    k = churning.present(away, 30.0).index(False)
    x, y = churning.positions(away, 30.0)[k]
    h, w = churning.sprites[k].picture.shape[:2]
    box = (slice(max(0, y + h // 4), y + 3 * h // 4), slice(max(0, x + w // 4), x + 3 * w // 4))
    assert np.abs(churning.render(away, 30.0)[box].astype(int) - steady.render(away, 30.0)[box]).mean() > 10


def test_without_churn_everyone_stays(group_photo: np.ndarray) -> None:
    scene = DemoScene(320, 180, 2, group_photo)
    assert all(all(scene.present(i, 30.0)) for i in range(0, 3000, 7))


def test_a_negative_churn_is_refused_with_the_flag_name(group_photo: np.ndarray) -> None:
    with pytest.raises(ValueError, match="--churn"):
        DemoScene(320, 180, 2, group_photo, churn_s=-1)
