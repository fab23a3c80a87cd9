"""Target library: load a target's images, find its face, prepare it for each swapper, cache on disk.

A target is a name plus one or more images (more images → averaged embedding). Loading
finds the largest face in each image, embeds it, and runs each swapper's `prepare` once.
Both steps are cached in `cache_dir` as `.npz` files keyed by the image bytes and the model
(analysis key / swapper cache key), so a show with 20 targets starts without running any model
on them again. (Which face gets which target is bridge.facestage.mapping's.)
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from bridge.faces.embed import l2_normalise
from bridge.swap.base import Swapper, TargetFace
from bridge.types import Face, Target

log = logging.getLogger("bridge.facestage.targets")

FindFaces = Callable[[np.ndarray], list[Face]]  # detect + landmarks + embedding on one image
CACHE_VERSION = "1"


class TargetError(ValueError):
    """A target image that cannot be used (one readable line naming the file)."""


def image_digest(path: Path) -> str:
    """sha256 of the file's bytes (the cache key: renaming or touching a file does not invalidate it)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _key(*parts: str) -> str:
    return hashlib.sha256("|".join((CACHE_VERSION, *parts)).encode()).hexdigest()[:32]


def largest_face(faces: Sequence[Face], path: Path, similar: float = 0.8) -> Face:
    """The largest face; an error when there is none or when two are about the same size.

    similar: a second face with at least this share of the largest one's area makes the
    choice ambiguous (lower: accept group photos more readily, at the risk of the wrong person).
    """
    if not faces:
        raise TargetError(f"{path}: no face found in this target image")
    areas = [float((f.box[2] - f.box[0]) * (f.box[3] - f.box[1])) for f in faces]
    order = np.argsort(areas)[::-1]
    if len(faces) > 1 and areas[order[1]] >= similar * areas[order[0]]:
        raise TargetError(f"{path}: {len(faces)} faces of similar size; crop the image to the one face to use")
    return faces[int(order[0])]


class TargetLibrary:
    """Loads targets for a set of swappers.

    find_faces: the analysis stages chained (detector → landmarker → recogniser) on one image.
    analysis_key: names those models (e.g. "fr_detect+fr_landmark+fr_feature"); part of the cache key.
    cache_dir: where prepared targets are kept; None: no disk cache.
    """

    def __init__(self, find_faces: FindFaces, swappers: Sequence[Swapper], analysis_key: str,
                 cache_dir: str | Path | None = None) -> None:
        self.find_faces = find_faces
        self.swappers = list(swappers)
        self.analysis_key = analysis_key
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)

    def load(self, name: str, images: Sequence[str | Path]) -> Target:
        """A target with its averaged embedding and every swapper's prepared data."""
        if not images:
            raise TargetError(f"target {name!r} has no images")
        paths = [Path(p) for p in images]
        digests = [self._digest(path) for path in paths]
        target_faces: list[TargetFace] | None = None
        prepared: dict[str, dict[str, np.ndarray]] = {}
        for swapper in self.swappers:
            key = _key("prepared", swapper.name, swapper.cache_key(), self.analysis_key, *digests)
            cached = self._read(key)
            if cached is None:
                if target_faces is None:
                    target_faces = [self._analyse(path, digest) for path, digest in zip(paths, digests)]
                cached = swapper.prepare(target_faces)
                self._write(key, cached)
            prepared[swapper.name] = cached
        faces = [tf.face for tf in target_faces] if target_faces is not None else \
            [self._analysed_face(path, digest) for path, digest in zip(paths, digests)]
        return Target(name=name, images=[str(p) for p in paths], embedding=_mean_embedding(faces), prepared=prepared)

    def faces_in(self, path: Path) -> tuple[list[Face], Face]:
        """Every face the analysis finds in one target image and the one `load` uses (`largest_face`);
        TargetError when it is not an image, shows no face, or two faces of about the same size."""
        faces = self.find_faces(self._read_image(path))
        return faces, largest_face(faces, path)

    # -- one image -----------------------------------------------------------------------
    def _digest(self, path: Path) -> str:
        try:
            return image_digest(path)
        except OSError as error:
            raise TargetError(f"{path}: cannot read target image ({error.strerror or error})") from None

    def _read_image(self, path: Path) -> np.ndarray:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise TargetError(f"{path}: not an image OpenCV can decode")
        return image

    def _analyse(self, path: Path, digest: str) -> TargetFace:
        image = self._read_image(path)
        face = self._analysed_face(path, digest, image)
        return TargetFace(image, face)

    def _analysed_face(self, path: Path, digest: str, image: np.ndarray | None = None) -> Face:
        key = _key("face", self.analysis_key, digest)
        cached = self._read(key)
        if cached is not None:
            return Face(box=cached["box"], score=float(cached["score"]),
                        kps5=cached.get("kps5"), landmarks68=cached.get("landmarks68"),
                        embedding=cached.get("embedding"))
        face = largest_face(self.find_faces(self._read_image(path) if image is None else image), path)
        arrays = {"box": np.asarray(face.box, np.float32), "score": np.float32(face.score)}
        for field in ("kps5", "landmarks68", "embedding"):
            if getattr(face, field) is not None:
                arrays[field] = np.asarray(getattr(face, field), np.float32)
        self._write(key, arrays)
        return face

    # -- disk cache ----------------------------------------------------------------------
    def _read(self, key: str) -> dict[str, np.ndarray] | None:
        if self.cache_dir is None:
            return None
        path = self.cache_dir / f"{key}.npz"
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError) as error:  # a truncated file from a crash: rebuild it
            log.warning("target cache %s unreadable (%s); rebuilding", path.name, error)
            return None

    def _write(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        if self.cache_dir is None:
            return
        temporary = self.cache_dir / f"{key}.tmp.npz"
        np.savez(temporary, **arrays)
        temporary.replace(self.cache_dir / f"{key}.npz")  # atomic: a reader never sees half a file


def _mean_embedding(faces: Sequence[Face]) -> np.ndarray | None:
    embeddings = [np.asarray(f.embedding, np.float32) for f in faces if f.embedding is not None]
    if not embeddings:
        return None
    return l2_normalise(np.mean([l2_normalise(e) for e in embeddings], axis=0))
