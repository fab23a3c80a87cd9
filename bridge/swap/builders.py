"""Swappers, masks and enhancers by name: one table per kind (bridge.runtime.tables). A new swapper is
one file in this folder (the `Swapper` interface of base.py; an ONNX one subclasses NeuralSwapper)
and one line in SWAPPERS, e.g. `"ghost_1_256": Builder(neural("bridge.swap.ghost", "GhostSwapper"),
needs=ARCFACE)`, plus its manifest entry; the profile takes its names from these keys."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge.runtime.tables import Builder

if TYPE_CHECKING:
    from bridge.profile import Profile
    from bridge.runtime.onnx import SessionFactory

ARCFACE = ("arcface_w600k_r50",)  # the neural swappers were trained on its embeddings


def warp68(path: Path | None, profile: Profile, sessions: SessionFactory) -> Any:
    from bridge.swap.warp68 import Warp68Swapper

    # compose's per-track colour match replaces warp68's own when on
    return Warp68Swapper(colour_match=not profile.compose.colour_correction)


def inswapper(path: Path | None, profile: Profile, sessions: SessionFactory) -> Any:
    from bridge.swap.inswapper import InSwapper

    return InSwapper(path, sessions=sessions, latent_norm=profile.swap.inswapper_latent)


def neural(module: str, class_name: str) -> Callable[[Path | None, Profile, SessionFactory], Any]:
    """The builder of an ONNX swapper whose class takes (model file, sessions, name), as NeuralSwapper does."""
    def build(path: Path | None, profile: Profile, sessions: SessionFactory) -> Any:
        swapper = getattr(importlib.import_module(module), class_name)
        return swapper(path, sessions=sessions, name=profile.swap.swapper)
    return build


def occlusion(path: Path | None, profile: Profile, sessions: SessionFactory) -> Any:
    from bridge.swap.masks import OcclusionMasker

    return OcclusionMasker(path, sessions)


def region(path: Path | None, profile: Profile, sessions: SessionFactory) -> Any:
    from bridge.swap.masks import RegionMasker

    return RegionMasker(path, sessions=sessions)


def gfpgan(path: Path | None, profile: Profile, sessions: SessionFactory) -> Any:
    from bridge.swap.enhance import Enhancer

    return Enhancer(path, profile.compose.enhancer_blend, sessions)


SWAPPERS: dict[str, Builder[Any]] = {
    "warp68": Builder(warp68, model=False),
    "inswapper_128": Builder(inswapper, needs=ARCFACE),
    "inswapper_128_fp16": Builder(inswapper, needs=ARCFACE),
    "simswap_256": Builder(neural("bridge.swap.simswap", "SimSwapper"), needs=ARCFACE),
    "hyperswap_1a_256": Builder(neural("bridge.swap.hyperswap", "HyperSwapper"), needs=ARCFACE),
    "hyperswap_1b_256": Builder(neural("bridge.swap.hyperswap", "HyperSwapper"), needs=ARCFACE),
    "hyperswap_1c_256": Builder(neural("bridge.swap.hyperswap", "HyperSwapper"), needs=ARCFACE),
}
OCCLUSION_MASKERS: dict[str, Builder[Any]] = {name: Builder(occlusion) for name in ("xseg_1", "xseg_2", "xseg_3")}
REGION_MASKERS: dict[str, Builder[Any]] = {name: Builder(region) for name in ("bisenet_resnet_18", "bisenet_resnet_34")}
ENHANCERS: dict[str, Builder[Any]] = {"gfpgan_1.4": Builder(gfpgan)}
