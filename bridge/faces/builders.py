"""The analysis models by name: one table per kind (bridge.runtime.tables). A new detector, landmarker
or recogniser is its class in this folder and one line here; the profile takes its names from these keys."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge.runtime.tables import Builder

if TYPE_CHECKING:
    from bridge.profile import Profile
    from bridge.runtime.onnx import SessionFactory


def _tiles(profile: Profile) -> tuple[int, int]:
    return profile.analysis.tiles[0], profile.analysis.tiles[1]


def ulfd(path: Path | None, profile: Profile, sessions: SessionFactory) -> Any:
    from bridge.faces.detect import UlfdDetector

    return UlfdDetector(path, score_threshold=profile.analysis.score_threshold, tiles=_tiles(profile), sessions=sessions,
                        edge_threshold=profile.analysis.edge_threshold)


def blazeface(path: Path | None, profile: Profile, sessions: SessionFactory) -> Any:
    from bridge.faces.detect import BlazeFaceDetector

    return BlazeFaceDetector(path, score_threshold=profile.analysis.score_threshold, tiles=_tiles(profile),
                             sessions=sessions)


def scrfd(path: Path | None, profile: Profile, sessions: SessionFactory) -> Any:
    from bridge.faces.detect import ScrfdDetector

    a = profile.analysis
    return ScrfdDetector(path, size=a.detect_size, score_threshold=a.score_threshold, sessions=sessions)


def yoloface(path: Path | None, profile: Profile, sessions: SessionFactory) -> Any:
    from bridge.faces.detect import YoloFaceDetector

    a = profile.analysis
    return YoloFaceDetector(path, size=a.detect_size, score_threshold=a.score_threshold, sessions=sessions)


def landmarker68(path: Path | None, profile: Profile, sessions: SessionFactory) -> Any:
    from bridge.faces.landmarks import Landmarker68

    return Landmarker68(path, sessions=sessions)


def fan68(path: Path | None, profile: Profile, sessions: SessionFactory) -> Any:
    from bridge.faces.landmarks import Fan68Landmarker

    return Fan68Landmarker(path, sessions=sessions)


def recogniser(path: Path | None, profile: Profile, sessions: SessionFactory) -> Any:
    from bridge.faces.embed import Recogniser

    return Recogniser(path, sessions=sessions)


DETECTORS: dict[str, Builder[Any]] = {
    "ulfd_rfb_320": Builder(ulfd),
    "blazeface_back_256": Builder(blazeface),
    "blazeface_front_128": Builder(blazeface),
    "scrfd_2.5g": Builder(scrfd),
    "retinaface_10g": Builder(scrfd),  # SCRFD-10G with keypoints under another name
    "yoloface_8n": Builder(yoloface),
}
LANDMARKERS: dict[str, Builder[Any]] = {
    "fr_landmark_68": Builder(landmarker68),
    "2dfan4": Builder(fan68),
}
RECOGNISERS: dict[str, Builder[Any]] = {
    "fr_feature": Builder(recogniser),
    "arcface_w600k_r50": Builder(recogniser),
}
