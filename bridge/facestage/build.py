"""From a profile to ready stages: which model files, which classes, which settings.

The only place that reads the profile's face sections; stages themselves take plain values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bridge.faces.builders import DETECTORS, LANDMARKERS, RECOGNISERS
from bridge.faces.lookout import Lookout
from bridge.faces.scan import FineScan
from bridge.facestage.chase import SmearChase
from bridge.facestage.mapping import Mapping, SceneOverride
from bridge.facestage.stage import FaceStage
from bridge.facestage.swapping import Swapping
from bridge.facestage.targets import TargetError, TargetLibrary
from bridge.profile import Profile
from bridge.runtime.catalog import CatalogError, load_manifest
from bridge.runtime.onnx import SessionConfig, SessionFactory
from bridge.runtime.tables import Builder, UnknownName, pick
from bridge.swap.builders import ENHANCERS, OCCLUSION_MASKERS, REGION_MASKERS, SWAPPERS
from bridge.swap.compose import Compose
from bridge.swap.fallback import SwapFallback
from bridge.swap.label import Label
from bridge.track.evidence import Evidence
from bridge.track.sharpen import embed_sharpened
from bridge.track.tracker import Tracker
from bridge.types import Face, Target


class AssemblyError(RuntimeError):
    """A profile that names something this machine cannot provide (one readable line)."""


def model_path(profile: Profile, name: str) -> Path:
    manifest = load_manifest()
    if name not in manifest:
        raise AssemblyError(f"model {name!r} is not in the model manifest (bridge/runtime/manifest.yaml)")
    return profile.models_dir / manifest[name]["file"]


def chosen(profile: Profile) -> list[tuple[str, dict[str, Builder[Any]], str]]:
    """(profile key, table, name) of every model the profile picks; empty names (none) left out."""
    a, s, c = profile.analysis, profile.swap, profile.compose
    picks = [("analysis.detector", DETECTORS, a.detector), ("analysis.landmarker", LANDMARKERS, a.landmarker),
             ("analysis.recogniser", RECOGNISERS, a.recogniser), ("swap.swapper", SWAPPERS, s.swapper),
             ("compose.occlusion_model", OCCLUSION_MASKERS, c.occlusion_model),
             ("compose.region_model", REGION_MASKERS, c.region_model),
             ("compose.enhancer_model", ENHANCERS, c.enhancer_model)]
    return [(key, table, name) for key, table, name in picks if name]


def builder_for(key: str, table: dict[str, Builder[Any]], name: str) -> Builder[Any]:
    """The builder the profile key `key` names; unknown = one line with the choices."""
    try:
        return pick(table, name, key.split(".")[-1].removesuffix("_model"))
    except UnknownName as error:
        raise AssemblyError(f"{key}: {error}") from None


def build(profile: Profile, key: str, table: dict[str, Builder[Any]], name: str, sessions: SessionFactory) -> Any:
    """The model `name` of one table, built from its manifest file."""
    builder = builder_for(key, table, name)
    return builder.build(model_path(profile, name) if builder.model else None, profile, sessions)


def sessions_for(profile: Profile) -> SessionFactory:
    m = profile.models
    return SessionFactory(SessionConfig(providers=tuple(m.providers), device_id=m.device_id, fp16=m.fp16,
                                        trt_cache_dir=str(m.tensorrt_cache or profile.models_dir / "trt-cache"),
                                        intra_op_threads=m.threads, io_binding=m.io_binding))


def required_models(profile: Profile) -> list[str]:
    """Manifest names of every model the profile needs (for `models fetch --profile`)."""
    names: list[str] = []
    for key, table, name in chosen(profile):
        builder = builder_for(key, table, name)
        names += ([name] if builder.model else []) + list(builder.needs)
    return list(dict.fromkeys(names))


class Analysis:
    """The analysis chain: detector → landmarker → recogniser, built once per run."""

    def __init__(self, profile: Profile, sessions: SessionFactory):
        a = profile.analysis
        self.detector: Any = build(profile, "analysis.detector", DETECTORS, a.detector, sessions)
        self.landmarker: Any = build(profile, "analysis.landmarker", LANDMARKERS, a.landmarker, sessions)
        self.recogniser: Any = build(profile, "analysis.recogniser", RECOGNISERS, a.recogniser, sessions)
        self.key = "+".join((a.detector, a.landmarker, a.recogniser))

    def find_faces(self, image: Any) -> list[Face]:
        faces = self.landmarker.landmark(image, self.detector.detect(image))
        return self.recogniser.embed(image, faces)


def build_swapper(profile: Profile, sessions: SessionFactory) -> Any:
    return build(profile, "swap.swapper", SWAPPERS, profile.swap.swapper, sessions)


def build_compose(profile: Profile, sessions: SessionFactory) -> Compose:
    c = profile.compose
    top, right, bottom, left = c.mask_padding

    def optional(key: str, table: dict[str, Builder[Any]], name: str) -> Any:
        return build(profile, key, table, name, sessions) if name else None

    return Compose(
        mask_blur=c.mask_blur, mask_padding=(top, right, bottom, left),
        occlusion=optional("compose.occlusion_model", OCCLUSION_MASKERS, c.occlusion_model),
        region=optional("compose.region_model", REGION_MASKERS, c.region_model),
        colour_correction=c.colour_correction, colour_smoothing=c.colour_smoothing, seamless=c.seamless,
        skin_only=c.skin_only, keep_mouth=c.keep_mouth, keep_eyes=c.keep_eyes,
        enhancer=optional("compose.enhancer_model", ENHANCERS, c.enhancer_model),
        label=Label(c.label.text, c.label.corner, c.label.size) if c.label.text else None)


def target_library(profile: Profile, analysis: Analysis, swappers: list[Any]) -> TargetLibrary:
    """Targets prepared for `swappers` from this analysis, cached in the profile's target cache."""
    return TargetLibrary(analysis.find_faces, swappers, analysis.key, profile.target_cache_dir)


def load_targets(profile: Profile, library: TargetLibrary) -> dict[str, Target]:
    """Every target of the profile, prepared (from the cache when nothing changed)."""
    try:
        return {t.name: library.load(t.name, t.images) for t in profile.targets}
    except TargetError as error:
        raise AssemblyError(str(error)) from None


def build_mapping(profile: Profile, analysis: Analysis, targets: dict[str, Target]) -> Mapping:
    m = profile.mapping
    people = target_library(profile, analysis, [])
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
    library = target_library(profile, analysis, [swapper])
    targets = load_targets(profile, library)
    t = profile.tracking
    tracker = Tracker(embed_sharpened(analysis.recogniser), forget_s=t.forget_s, max_coast_s=t.max_coast_s,
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
                      detect_on_change=a.detect_on_change,
                      lookout=Lookout(analysis.detector, a.look_again, landmarker=analysis.landmarker) if a.look_again else None,
                      chase=SmearChase(analysis.detector, analysis.landmarker) if a.look_again else None)
    stage.provider = analysis.recogniser.session.provider  # shown in status: where the models really run
    return stage
