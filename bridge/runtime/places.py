"""Where facebridge's files are: what ships inside the package, and where downloads and caches go.

Run from a clone (what `make` sets up), everything stays in the checkout as before: model
files in models/, prepared targets in .cache/, registry downloads in .assets/, the demo
profile in profiles/. Installed elsewhere (`pip install facebridge`), the files the package
ships are read through importlib.resources and what the bridge downloads or caches goes to the
user's own folders (platformdirs), so no path assumes a source checkout.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import platformdirs

APP = "facebridge"


def packaged(name: str) -> Path:
    """A file that ships inside the `bridge.runtime` package (e.g. the model manifest)."""
    return Path(str(resources.files("bridge.runtime").joinpath(name)))


def find_checkout(package_dir: Path | None = None) -> Path | None:
    """The source checkout the `bridge` package runs from, or None when it is installed elsewhere."""
    root = (package_dir or Path(__file__).resolve().parents[1]).parent
    return root if (root / "pyproject.toml").is_file() and (root / "profiles").is_dir() else None


@dataclass(frozen=True)
class Places:
    """The folders one installation uses."""

    checkout: Path | None
    models: Path  # model files (`facebridge models fetch` writes here)
    cache: Path  # prepared targets, TensorRT engines, stand-in models
    assets: Path  # registry packages and the demo photos
    results: Path  # benchmark output

    @property
    def target_cache(self) -> Path:
        return self.cache / "targets"

    @property
    def demo_profile(self) -> Path | None:
        """profiles/demo.yaml of a checkout; its target photos are relative to the checkout."""
        return self.checkout / "profiles" / "demo.yaml" if self.checkout else None


def places_for(checkout: Path | None) -> Places:
    if checkout is not None:
        return Places(checkout, checkout / "models", checkout / ".cache", checkout / ".assets",
                      checkout / "benchmarks" / "results")
    data = Path(platformdirs.user_data_dir(APP, appauthor=False))
    cache = Path(platformdirs.user_cache_dir(APP, appauthor=False))
    return Places(None, data / "models", cache, cache / "assets", data / "results")


MANIFEST = packaged("manifest.yaml")
HERE = places_for(find_checkout())
