"""Where files live: in a clone everything stays in the checkout; installed elsewhere, the package's own
files come from the package and downloads go to the user's folders."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import platformdirs

from bridge.runtime import catalog, places
from bridge.profile import Profile
from tests.conftest import REPO


def test_in_a_clone_every_folder_is_the_checkouts_own() -> None:
    here = places.places_for(places.find_checkout())
    assert here.checkout == REPO
    assert (here.models, here.cache, here.assets) == (REPO / "models", REPO / ".cache", REPO / ".assets")
    assert here.target_cache == REPO / ".cache" / "targets" and here.demo_profile == REPO / "profiles" / "demo.yaml"
    profile = Profile()
    assert profile.models_dir == REPO / "models" and profile.target_cache_dir == REPO / ".cache" / "targets"


def test_installed_elsewhere_downloads_go_to_the_users_folders(tmp_path: Path) -> None:
    assert places.find_checkout(tmp_path / "site-packages" / "bridge") is None
    there = places.places_for(None)
    assert there.models.is_relative_to(Path(platformdirs.user_data_dir("facebridge", appauthor=False)))
    assert there.assets.is_relative_to(Path(platformdirs.user_cache_dir("facebridge", appauthor=False)))
    assert there.demo_profile is None


def test_the_model_manifest_ships_inside_the_package() -> None:
    assert places.MANIFEST.is_relative_to(REPO / "bridge")
    assert "ulfd_rfb_320" in catalog.load_manifest()


def test_a_copy_of_the_package_outside_a_clone_lists_its_models_and_says_where_they_go(tmp_path: Path) -> None:
    """What a `pip install` outside a clone has: the package folder alone, no pyproject.toml or profiles/ beside it."""
    site = tmp_path / "site-packages"
    shutil.copytree(REPO / "bridge", site / "bridge", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(site)}
    probe = subprocess.run([sys.executable, "-c", "from bridge.runtime.places import HERE, MANIFEST; "
                            "print(HERE.checkout, HERE.models, MANIFEST, sep='\\n')"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    checkout, models, manifest = probe.stdout.split()
    assert checkout == "None" and Path(models) == places.places_for(None).models
    assert Path(manifest) == site / "bridge" / "runtime" / "manifest.yaml"
    listing = subprocess.run([sys.executable, "-m", "bridge.cli", "models", "list"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    assert "ulfd_rfb_320" in listing.stdout
    demo = subprocess.run([sys.executable, "-m", "bridge.cli", "demo"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert demo.returncode == 2 and "pass --profile" in demo.stderr
