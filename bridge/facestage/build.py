"""From a profile to ready stages: which model files, which classes, which settings.

The only place that reads the profile's face sections; stages themselves take plain values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bridge.faces.detect import BlazeFaceDetector, ScrfdDetector, UlfdDetector, YoloFaceDetector
from bridge.faces.embed import Recogniser
from bridge.faces.scan import FineScan
from bridge.faces.landmarks import Fan68Landmarker, Landmarker68
from bridge.facestage.mapping import Mapping, SceneOverride
from bridge.profile import Profile
from bridge.runtime.catalog import CatalogError, load_manifest
from bridge.runtime.onnx import SessionConfig, SessionFactory
from bridge.facestage.stage import FaceStage
from bridge.swap.compose import Compose
from bridge.swap.enhance import Enhancer
from bridge.swap.fallback import SwapFallback
from bridge.swap.hyperswap import HyperSwapper
from bridge.swap.inswapper import InSwapper
from bridge.swap.label import Label
from bridge.swap.masks import OcclusionMasker, RegionMasker
from bridge.swap.simswap import SimSwapper
from bridge.facestage.swapping import Swapping
from bridge.swap.warp68 import Warp68Swapper
from bridge.facestage.targets import TargetError, TargetLibrary
from bridge.track.evidence import Evidence
from bridge.track.tracker import Tracker, embed_with
from bridge.types import Face, Target


class AssemblyError(RuntimeError):
    """A profile that names something this machine cannot provide (one readable line)."""


def model_path(profile: Profile, name: str) -> Path:
    manifest = load_manifest()
    if name not in manifest:
        raise AssemblyError(f"model {name!r} is not in models/manifest.yaml")
    return profile.models_dir / manifest[name]["file"]


def sessions_for(profile: Profile) -> SessionFactory:
    m = profile.models
    return SessionFactory(SessionConfig(providers=tuple(m.providers), device_id=m.device_id, fp16=m.fp16,
                                        trt_cache_dir=str(m.tensorrt_cache or profile.models_dir / "trt-cache"),
                                        intra_op_threads=m.threads, io_binding=m.io_binding))


def required_models(profile: Profile) -> list[str]:
    """Manifest names of every model the profile needs (for `models fetch --profile`)."""
    a, c = profile.analysis, profile.compose
    names = [a.detector, a.landmarker, a.recogniser]
    if profile.swap.swapper != "warp68":
        names.append(profile.swap.swapper)
        if a.recogniser != "arcface_w600k_r50":
            names.append("arcface_w600k_r50")
    names += [n for n in (c.occlusion_model, c.region_model, c.enhancer_model) if n]
    return list(dict.fromkeys(names))


class Analysis:
    """The analysis chain: detector → landmarker → recogniser, built once per run."""

    def __init__(self, profile: Profile, sessions: SessionFactory):
        a = profile.analysis
        path = model_path(profile, a.detector)
        tiles = (a.tiles[0], a.tiles[1])
        if a.detector == "ulfd_rfb_320":
            self.detector: Any = UlfdDetector(path, score_threshold=a.score_threshold, tiles=tiles, sessions=sessions)
        elif a.detector.startswith("blazeface"):
            self.detector = BlazeFaceDetector(path, score_threshold=a.score_threshold, tiles=tiles, sessions=sessions)
        elif a.detector == "yoloface_8n":
            self.detector = YoloFaceDetector(path, size=a.detect_size, score_threshold=a.score_threshold, sessions=sessions)
        else:
            self.detector = ScrfdDetector(path, size=a.detect_size, score_threshold=a.score_threshold, sessions=sessions)
        landmarks = model_path(profile, a.landmarker)
        self.landmarker: Any = (Fan68Landmarker(landmarks, sessions=sessions) if a.landmarker == "2dfan4"
                                else Landmarker68(landmarks, sessions=sessions))
        self.recogniser = Recogniser(model_path(profile, a.recogniser), sessions=sessions)
        self.key = "+".join((a.detector, a.landmarker, a.recogniser))

    def find_faces(self, image: Any) -> list[Face]:
        faces = self.landmarker.landmark(image, self.detector.detect(image))
        return self.recogniser.embed(image, faces)


def build_swapper(profile: Profile, sessions: SessionFactory) -> Any:
    s = profile.swap
    if s.swapper == "warp68":  # compose's per-track colour match replaces warp68's own when on
        return Warp68Swapper(colour_match=not profile.compose.colour_correction)
    path = model_path(profile, s.swapper)
    if s.swapper.startswith("inswapper"):
        return InSwapper(path, sessions=sessions, latent_norm=s.inswapper_latent)
    if s.swapper.startswith("simswap"):
        return SimSwapper(path, sessions=sessions)
    return HyperSwapper(path, sessions=sessions, name=s.swapper)


def build_compose(profile: Profile, sessions: SessionFactory) -> Compose:
    c = profile.compose
    top, right, bottom, left = c.mask_padding
    return Compose(
        mask_blur=c.mask_blur, mask_padding=(top, right, bottom, left),
        occlusion=OcclusionMasker(model_path(profile, c.occlusion_model), sessions) if c.occlusion_model else None,
        region=RegionMasker(model_path(profile, c.region_model), sessions=sessions) if c.region_model else None,
        colour_correction=c.colour_correction, colour_smoothing=c.colour_smoothing, seamless=c.seamless,
        skin_only=c.skin_only, keep_mouth=c.keep_mouth,
        enhancer=Enhancer(model_path(profile, c.enhancer_model), c.enhancer_blend, sessions) if c.enhancer_model else None,
        label=Label(c.label.text, c.label.corner, c.label.size) if c.label.text else None)  # type: ignore[arg-type]


def load_targets(profile: Profile, library: TargetLibrary) -> dict[str, Target]:
    """Every target of the profile, prepared (from the cache when nothing changed)."""
    try:
        return {t.name: library.load(t.name, t.images) for t in profile.targets}
    except TargetError as error:
        raise AssemblyError(str(error)) from None


def build_mapping(profile: Profile, analysis: Analysis, targets: dict[str, Target]) -> Mapping:
    m = profile.mapping
    people = TargetLibrary(analysis.find_faces, [], analysis.key, profile.target_cache_dir)
    references = {}
    for person in m.people:
        try:
            embeddings = [people.load(person.name, [photo]).embedding for photo in person.photos]
        except TargetError as error:
            raise AssemblyError(f"mapping.people {person.name!r}: {error}") from None
        if embeddings:
            references[person.name] = np.stack(embeddings)
    scenes = {name: SceneOverride(unknown=s.unknown or None, fixed_target=s.fixed_target or None,  # type: ignore[arg-type]
                                  active_target=s.active_target or None, bypass=s.bypass)
              for name, s in m.scenes.items()}
    return Mapping(list(targets), people={p.name: p.target for p in m.people if p.target}, references=references,
                   unknown=m.unknown, fixed_target=m.fixed_target or None, pool=m.pool or None,
                   match_threshold=m.match_threshold, scene_overrides=scenes)


def build_face_stage(profile: Profile) -> FaceStage:
    """Every model loaded and every target prepared, or one AssemblyError line saying what is missing."""
    try:
        sessions = sessions_for(profile)
        analysis = Analysis(profile, sessions)
        swapper = build_swapper(profile, sessions)
        compose = build_compose(profile, sessions)
    except CatalogError as error:
        raise AssemblyError(f"{error} — `facebridge models fetch --profile PROFILE` gets what this profile needs") from None
    library = TargetLibrary(analysis.find_faces, [swapper], analysis.key, profile.target_cache_dir)
    targets = load_targets(profile, library)
    t = profile.tracking
    tracker = Tracker(embed_with(analysis.recogniser), forget_s=t.forget_s, max_coast_s=t.max_coast_s,
                      recheck_s=t.recheck_s, reid_threshold=t.reid_threshold, min_cutoff=t.smoothing_min_cutoff,
                      beta=t.smoothing_beta, gallery_size=t.gallery_size, embed_budget=t.embed_budget,
                      evidence=Evidence(min_agreement=t.coast_agreement))
    a = profile.analysis
    # tiles set by hand: the detector tiles every pass itself; otherwise the fine scan picks tiles
    scan = FineScan(analysis.detector, a.scan_tiles) if list(a.tiles) == [1, 1] and a.scan_tiles > 0 else None
    fallback = SwapFallback(profile.swap.fallback, profile.swap.hold_frames)
    stage = FaceStage(analysis.detector, analysis.landmarker, tracker, build_mapping(profile, analysis, targets),
                     Swapping(swapper, compose, fallback), targets, detect_every=profile.analysis.detect_every,
                      reload_targets=lambda: load_targets(profile, library), scan=scan,
                      detect_on_change=a.detect_on_change)
    stage.provider = analysis.recogniser.session.provider  # shown in status: where the models really run
    return stage
