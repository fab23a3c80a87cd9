"""Shared fixtures: registry-shipped models and photos (docs/models.md §8), fetched once and cached."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from bridge.runtime import assets

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def ndi_loopback(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Keep every NDI peer of the test run (this process and its children) on 127.0.0.1."""
    from tests.ndi_tools import LOOPBACK_CONFIG

    folder = tmp_path_factory.mktemp("ndi-config")
    (folder / "ndi-config.v1.json").write_text(LOOPBACK_CONFIG)
    os.environ["NDI_CONFIG_DIR"] = str(folder)
    return folder


@pytest.fixture(scope="session", autouse=True)
def user_config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HTTP API token and the saved OBS audio offsets of this test run (and of the bridges it starts)
    live here, never in the real home."""
    from bridge.access import CONFIG_DIR_ENV

    folder = tmp_path_factory.mktemp("facebridge-config")
    os.environ[CONFIG_DIR_ENV] = str(folder)
    os.environ.setdefault("FACEBRIDGE_STATE_DIR", str(folder / "state"))
    return folder


@pytest.fixture(scope="session")
def ndi_runtime(ndi_loopback: Path) -> Iterator[None]:
    from bridge.io.ndi import NdiRuntime

    with NdiRuntime():
        yield


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


# ── Real OBS Studio, headless (owned by the OBS side; see tests/obs_fixture.py and docs obs.md) ──
from tests.obs_fixture import OBS_TEST_KEY, ObsStudio, obs_missing_reason  # noqa: E402


@pytest.fixture(scope="module")
def obs_studio(tmp_path_factory: pytest.TempPathFactory):
    """Debian's OBS under Xvfb with obs-websocket (random port + password) and facebridge_hotkeys.py loaded.

    Scenes "Main" and "Second"; one instance per test module, stopped cleanly (SIGINT) at the end.
    """
    reason = obs_missing_reason()
    if reason:
        pytest.skip(f"real-OBS test: {reason}")
    studio = ObsStudio(
        tmp_path_factory.mktemp("obs"),
        script_settings={"facebridge.next_target": [{"key": f"OBS_KEY_{OBS_TEST_KEY}"}]},
        scenes=("Main", "Second"),
    )
    try:
        studio.start()
        yield studio
    finally:
        studio.close()
