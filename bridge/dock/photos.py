"""A photo dropped on the dock becomes a target: checked, saved beside the profile, added to the
profile file with its comments kept (ruamel.yaml), then put on air the way `--watch` reloads.

Anything wrong (not an image, too large, no face, an unreadable profile) is one line and
changes nothing: the photo is not kept and the profile file is left as it was.
"""

from __future__ import annotations

import base64
import io
import os
import re
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bridge.types import Face

MAX_PHOTO_BYTES = 8 * 1024 * 1024
MAX_PHOTO_PIXELS = 40_000_000  # a 40 MP picture; decoding a bigger one would stall the dock's thread
SAVED_SIDE = 1600  # a saved target is at most this many pixels on its longer side (plenty for any swapper)
MIN_FACE_SHARE = 0.1  # faces smaller than this share of the largest one's area are background, not a choice
PHOTO_FOLDER = "targets"  # beside the profile
_NAME_TEXT = re.compile(r"[^a-z0-9_-]+")

FindFaces = Callable[[np.ndarray], list[Face]]


class PhotoError(ValueError):
    """A photo that cannot become a target; the message is one line for the dock."""


@dataclass
class SeveralFaces(Exception):
    """More than one face: the dock shows these (box and a small JPEG each, as data URLs) to pick from."""

    choices: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Added:
    name: str
    image: Path
    live: bool  # on air from the next frame (False: saved, but the reload kept the running profile)


def decode_photo(data: bytes) -> np.ndarray:
    """The picture in `data`, BGR; PhotoError when it is too large or not an image."""
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoError(f"the photo is {len(data) / 2**20:.1f} MB; {MAX_PHOTO_BYTES // 2**20} MB at most")
    if not data:
        raise PhotoError("the file is empty")
    buffer = np.frombuffer(data, np.uint8)
    header = cv2.imdecode(buffer, cv2.IMREAD_REDUCED_GRAYSCALE_8)  # cheap look at the size before a full decode
    if header is None:
        raise PhotoError("not an image (use a JPEG, PNG or WebP photo)")
    if header.shape[0] * header.shape[1] * 64 > MAX_PHOTO_PIXELS:
        raise PhotoError(f"the photo has more than {MAX_PHOTO_PIXELS // 1_000_000} megapixels; scale it down")
    image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if image is None:
        raise PhotoError("not an image (use a JPEG, PNG or WebP photo)")
    return image


def data_from_url(text: object) -> bytes:
    """The bytes of a `data:...;base64,...` URL or of plain base64 (how the dock sends a file in JSON)."""
    if not isinstance(text, str) or not text:
        raise PhotoError("no photo in the request ('image': the file as a base64 data URL)")
    if text.startswith("data:"):
        text = text.partition(",")[2]
    if len(text) > MAX_PHOTO_BYTES * 4 // 3 + 8:
        raise PhotoError(f"the photo is larger than {MAX_PHOTO_BYTES // 2**20} MB")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise PhotoError("the photo did not arrive whole (bad base64); drop it again") from None


def candidate_faces(faces: Sequence[Face]) -> list[Face]:
    """The faces a person could mean, largest first (background faces left out)."""
    if not faces:
        return []
    areas = [float((f.box[2] - f.box[0]) * (f.box[3] - f.box[1])) for f in faces]
    largest = max(areas)
    order = np.argsort(areas)[::-1]
    return [faces[int(i)] for i in order if areas[int(i)] >= MIN_FACE_SHARE * largest]


def crop_around(image: np.ndarray, box: np.ndarray, margin: float = 0.6) -> np.ndarray:
    """The photo cropped to one face and some of its surroundings (so only that face is found in it)."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in box)
    dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
    left, top = max(0, int(x0 - dx)), max(0, int(y0 - dy))
    right, bottom = min(w, int(x1 + dx)), min(h, int(y1 + dy))
    return image[top:bottom, left:right].copy()


def _thumb(image: np.ndarray, box: np.ndarray) -> str:
    crop = crop_around(image, box, 0.25)
    side = 96
    scale = side / max(crop.shape[:2])
    crop = cv2.resize(crop, (max(1, int(crop.shape[1] * scale)), max(1, int(crop.shape[0] * scale))),
                      interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode() if ok else ""


def choose_face(image: np.ndarray, faces: Sequence[Face], pick: int | None) -> np.ndarray:
    """The picture to keep as the target: the whole photo for one face, a crop for the face picked
    among several; PhotoError for none, SeveralFaces when there are several and none is picked."""
    candidates = candidate_faces(faces)
    if not candidates:
        raise PhotoError("no face found in this photo; use one where the face is clear and frontal")
    if len(candidates) == 1 and pick in (None, 0):
        return image
    if pick is None:
        raise SeveralFaces([{"face": i, "box": [round(float(v)) for v in f.box], "thumb": _thumb(image, f.box)}
                            for i, f in enumerate(candidates)])
    if not 0 <= pick < len(candidates):
        raise PhotoError(f"face {pick} is not one of the {len(candidates)} found; drop the photo again")
    return crop_around(image, candidates[pick].box)


def target_name(filename: str, taken: Sequence[str]) -> str:
    """A target name from the file's name: lower case, letters, digits, - and _; unique among `taken`."""
    stem = Path(filename or "photo").stem.lower()
    base = _NAME_TEXT.sub("-", stem).strip("-_")[:40] or "photo"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def add_to_profile(text: str, name: str, image: str) -> str:
    """The profile's YAML with one more target; comments, order and style kept."""
    from ruamel.yaml import YAML, YAMLError
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.preserve_quotes = True
    yaml.width = 4096
    try:
        data = yaml.load(text)
    except YAMLError as error:
        raise PhotoError(f"the profile is not valid YAML ({' '.join(str(error).split())[:120]}); fix it first") from None
    if not isinstance(data, dict):
        raise PhotoError("the profile is not a YAML mapping; fix it first")
    targets = data.get("targets")
    if targets is None:
        targets = data["targets"] = CommentedSeq()
    if not isinstance(targets, list):
        raise PhotoError("the profile's 'targets' is not a list; fix it first")
    images = CommentedSeq([image])
    images.fa.set_flow_style()
    entry = CommentedMap()
    entry["name"], entry["images"] = name, images
    targets.append(entry)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _write_atomic(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


class PhotoTargets:
    """Adds dropped photos as targets of the running profile, one at a time.

    find_faces: made on first use (its own model sessions: the live pipeline's are never shared);
    the same detector → landmarker → recogniser chain that loads targets. reload: puts the edited
    profile on air (the bridge's --watch reload); False when it kept the running one.
    """

    def __init__(self, profile_path: Path, make_find_faces: Callable[[], FindFaces],
                 reload: Callable[[Path], bool], target_names: Callable[[], Sequence[str]]):
        self.profile_path = profile_path
        self._make_find_faces = make_find_faces
        self._find_faces: FindFaces | None = None
        self.reload, self.target_names = reload, target_names
        self._busy = threading.Lock()

    def add(self, data: bytes, filename: str, pick: int | None = None) -> Added:
        if not self._busy.acquire(blocking=False):
            raise PhotoError("another photo is being added; try again in a moment")
        try:
            return self._add(data, filename, pick)
        finally:
            self._busy.release()

    def _add(self, data: bytes, filename: str, pick: int | None) -> Added:
        image = decode_photo(data)
        if self._find_faces is None:
            self._find_faces = self._make_find_faces()
        kept = choose_face(image, self._find_faces(image), pick)
        scale = SAVED_SIDE / max(kept.shape[:2])
        if scale < 1:
            kept = cv2.resize(kept, (int(kept.shape[1] * scale), int(kept.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        try:
            old_text = self.profile_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise PhotoError(f"cannot read the profile {self.profile_path}: {error}") from None
        name = target_name(filename, list(self.target_names()))
        folder = self.profile_path.parent / PHOTO_FOLDER
        path = folder / f"{name}.png"
        n = 2
        while path.exists():
            path, n = folder / f"{name}-{n}.png", n + 1
        new_text = add_to_profile(old_text, name, f"{PHOTO_FOLDER}/{path.name}")
        ok, png = cv2.imencode(".png", kept)
        if not ok:
            raise PhotoError("could not encode the photo as PNG")
        try:
            folder.mkdir(exist_ok=True)
            _write_atomic(path, png.tobytes())
            _write_atomic(self.profile_path, new_text.encode("utf-8"))
        except OSError as error:
            path.unlink(missing_ok=True)
            raise PhotoError(f"cannot save beside the profile ({folder}): {error.strerror or error}") from None
        if self.reload(self.profile_path):
            return Added(name, path, True)
        # the bridge kept the running profile: put the file back as it was, keep nothing
        _write_atomic(self.profile_path, old_text.encode("utf-8"))
        path.unlink(missing_ok=True)
        raise PhotoError(f"{path.name} could not be put on air (see the bridge's log); nothing changed")
