"""Shared fixtures: registry-shipped models and photos (models.md §8), fetched once and cached."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from bridge.runtime import assets

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """models/ holding the CPU set (fr_detect, fr_landmark, fr_feature, BlazeFace)."""
    directory = REPO / "models"
    assets.fetch_cpu_models(directory)
    return directory


@pytest.fixture(scope="session")
def photo_paths() -> dict[str, Path]:
    return assets.fetch_photos()


@pytest.fixture(scope="session")
def group_photo(photo_paths: dict[str, Path]) -> np.ndarray:
    """insightface's t1.jpg: six people, BGR."""
    return cv2.imread(str(photo_paths["t1.jpg"]))


@pytest.fixture(scope="session")
def portrait_photo(photo_paths: dict[str, Path]) -> np.ndarray:
    """Tom_Hanks_54745.png: one face, BGR."""
    return cv2.imread(str(photo_paths["Tom_Hanks_54745.png"]))
