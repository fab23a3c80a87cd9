"""Extension points: one table of named builders per kind; the profile's choices are the tables' keys."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from bridge.faces.builders import DETECTORS, LANDMARKERS, RECOGNISERS
from bridge.facestage.build import AssemblyError, Analysis, build_swapper, required_models, sessions_for
from bridge.profile import AnalysisSection, ComposeSection, Profile, ProfileError, SwapSection, parse_profile
from bridge.runtime.catalog import load_manifest
from bridge.runtime.tables import UnknownName, pick
from bridge.swap.builders import ENHANCERS, OCCLUSION_MASKERS, REGION_MASKERS, SWAPPERS
from bridge.swap.warp68 import Warp68Swapper
from tests.conftest import REPO

TABLES = {
    (AnalysisSection, "detector"): DETECTORS, (AnalysisSection, "landmarker"): LANDMARKERS,
    (AnalysisSection, "recogniser"): RECOGNISERS, (SwapSection, "swapper"): SWAPPERS,
    (ComposeSection, "occlusion_model"): OCCLUSION_MASKERS, (ComposeSection, "region_model"): REGION_MASKERS,
    (ComposeSection, "enhancer_model"): ENHANCERS,
}


@pytest.mark.parametrize(("section", "key"), list(TABLES))
def test_the_profile_allows_exactly_the_tables_names(section: type, key: str) -> None:
    allowed = set(typing.get_args(typing.get_type_hints(section)[key])) - {""}
    assert allowed == set(TABLES[(section, key)])


def test_every_name_a_table_builds_from_a_file_is_in_the_manifest() -> None:
    manifest = load_manifest()
    for table in TABLES.values():
        for name, builder in table.items():
            assert not builder.model or name in manifest, name
            assert all(need in manifest for need in builder.needs), name


def test_an_unknown_name_in_a_profile_is_one_line_listing_the_choices() -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile("analysis:\n  detector: mtcnn\nswap:\n  swapper: roop\n", "show.yaml", REPO, env={})
    lines = str(caught.value).splitlines()
    assert any("analysis.detector" in line and "ulfd_rfb_320" in line and "yoloface_8n" in line for line in lines)
    assert any("swap.swapper" in line and "warp68" in line and "hyperswap_1c_256" in line for line in lines)


def test_an_unknown_name_that_bypasses_the_profile_is_refused_not_swapped_for_a_default() -> None:
    """Before, any unknown detector became SCRFD and any unknown swapper HyperSwap."""
    profile = Profile()
    profile.analysis.detector = "mtcnn"
    with pytest.raises(AssemblyError, match=r"analysis.detector: unknown detector 'mtcnn'; choose from ulfd_rfb_320, "):
        Analysis(profile, sessions_for(profile))
    profile = Profile()
    profile.swap.swapper = "roop"
    with pytest.raises(AssemblyError, match=r"swap.swapper: unknown swapper 'roop'; choose from warp68, inswapper_128"):
        build_swapper(profile, sessions_for(profile))
    with pytest.raises(UnknownName, match="choose from a, b"):
        pick({"a": None, "b": None}, "c", "thing")  # type: ignore[dict-item]


def test_required_models_follow_the_tables() -> None:
    profile = Profile()
    assert required_models(profile) == ["ulfd_rfb_320", "fr_landmark_68", "fr_feature"]  # warp68 has no file
    profile.swap.swapper = "inswapper_128_fp16"
    profile.compose.occlusion_model = "xseg_1"
    assert required_models(profile) == ["ulfd_rfb_320", "fr_landmark_68", "fr_feature", "inswapper_128_fp16",
                                        "arcface_w600k_r50", "xseg_1"]
    profile.analysis.recogniser = "arcface_w600k_r50"
    assert required_models(profile).count("arcface_w600k_r50") == 1


def test_the_cpu_tables_build_real_models(models_dir: Path) -> None:
    profile = Profile()
    profile.models.dir, profile.models.providers = models_dir, ["cpu"]
    sessions = sessions_for(profile)
    for detector in ("ulfd_rfb_320", "blazeface_back_256", "blazeface_front_128"):
        profile.analysis.detector = detector
        analysis = Analysis(profile, sessions)
        assert type(analysis.detector).__name__ in ("UlfdDetector", "BlazeFaceDetector")
        assert analysis.key == f"{detector}+fr_landmark_68+fr_feature"
    profile.compose.colour_correction = True
    swapper = build_swapper(profile, sessions)
    assert isinstance(swapper, Warp68Swapper) and not swapper.colour_match  # compose's colour match takes over


def test_a_neural_swapper_is_built_by_its_table_line(tmp_path: Path) -> None:
    """hyperswap and simswap come from the generic `neural` builder: module, class, and the profile's name."""
    from bridge.swap.hyperswap import HyperSwapper
    from bridge.swap.simswap import SimSwapper
    from tests.swap_graphs import identity_swapper

    profile = Profile()
    profile.models.providers = ["cpu"]
    profile.swap.swapper = "hyperswap_1b_256"
    model = identity_swapper(tmp_path / "swapper.onnx", size=256, with_mask=True)
    swapper = SWAPPERS["hyperswap_1b_256"].build(model, profile, sessions_for(profile))
    assert isinstance(swapper, HyperSwapper) and swapper.name == "hyperswap_1b_256" and swapper.mask_index == 1
    profile.swap.swapper = "simswap_256"
    swapper = SWAPPERS["simswap_256"].build(model, profile, sessions_for(profile))
    assert isinstance(swapper, SimSwapper) and swapper.name == "simswap_256" and swapper.template == "arcface_112_v1"
