"""A small typed-schema engine: dataclasses with documented fields → validated values.

Profiles declare their shape once as dataclasses (see profile.py); this module checks a
parsed YAML tree against them, reports *every* problem at once with its key path, and
resolves `${ENV}` references. The commented example profile is rendered from the same
dataclasses, so defaults, validation messages and documentation cannot drift.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import os
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Secret(str):
    """A string resolved from `${ENV}` that never shows itself in logs or reprs."""

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:  # str() is how values end up in messages
        return "***"

    @property
    def value(self) -> str:
        return str.__str__(self)


def doc(text: str, **extra: Any) -> dict[str, Any]:
    """Field metadata: `doc` is the comment in example.yaml; extras: secret, path ("file"/"dir"), minimum, maximum."""
    return {"doc": text, **extra}


def field(default: Any, text: str, **extra: Any) -> Any:
    if isinstance(default, (list, dict)) or dataclasses.is_dataclass(default):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=doc(text, **extra))
    return dataclasses.field(default=default, metadata=doc(text, **extra))


@dataclass
class Problem:
    path: str
    message: str


class Checker:
    """Walks one YAML tree against one dataclass type, collecting problems."""

    def __init__(self, base_dir: Path, env: typing.Mapping[str, str]):
        self.base_dir = base_dir
        self.env = env
        self.problems: list[Problem] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def build(self, cls: type, data: Any, path: str) -> Any:
        if not isinstance(data, dict):
            self.fail(path or "(top level)", f"expected a mapping of keys, got {_describe(data)}")
            return cls()
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in data.items():
            key_path = f"{path}.{key}" if path else str(key)
            if key not in fields:
                close = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.6)
                hint = f", did you mean {close[0]!r}?" if close else f" (known keys: {', '.join(fields)})"
                self.fail(key_path, f"unknown key{hint}")
                continue
            values[key] = self.value(hints[key], raw, key_path, fields[key].metadata)
        for name, f in fields.items():
            if name not in data and f.metadata.get("required"):
                self.fail(f"{path}.{name}" if path else name, "is required: " + f.metadata["doc"])
        try:
            return cls(**values)
        except (TypeError, ValueError):
            return cls()

    def value(self, hint: Any, raw: Any, path: str, meta: typing.Mapping[str, Any]) -> Any:
        origin = get_origin(hint)
        if origin in (Union, types.UnionType):
            options = [a for a in get_args(hint) if a is not type(None)]
            if raw is None:
                return None
            if len(options) == 1:
                return self.value(options[0], raw, path, meta)
            # e.g. int | Literal["auto"]: try each without recording their problems
            for option in options:
                trial = Checker(self.base_dir, self.env)
                result = trial.value(option, raw, path, meta)
                if not trial.problems:
                    return result
            self.fail(path, f"expected {_expect(hint)}, got {_describe(raw)}")
            return None
        if isinstance(raw, str) and ENV_REF.search(raw):
            raw = self.resolve_env(raw, path, meta)
            if raw is None:
                return None
        if origin is Literal:
            choices = get_args(hint)
            if raw not in choices:
                close = difflib.get_close_matches(str(raw), [str(c) for c in choices], n=1, cutoff=0.5)
                hint_text = f", did you mean {close[0]!r}?" if close else ""
                self.fail(path, f"expected one of {', '.join(map(str, choices))}, got {_describe(raw)}{hint_text}")
                return choices[0]
            return raw
        if origin is list:
            (item,) = get_args(hint)
            if not isinstance(raw, list):
                self.fail(path, f"expected a list, got {_describe(raw)}")
                return []
            return [self.value(item, v, f"{path}[{i}]", meta) for i, v in enumerate(raw)]
        if origin is dict:
            _, item = get_args(hint)
            if not isinstance(raw, dict):
                self.fail(path, f"expected a mapping, got {_describe(raw)}")
                return {}
            return {str(k): self.value(item, v, f"{path}.{k}", meta) for k, v in raw.items()}
        if dataclasses.is_dataclass(hint):
            return self.build(typing.cast(type, hint), raw, path)
        if hint is bool:
            if not isinstance(raw, bool):
                self.fail(path, f"expected true or false, got {_describe(raw)}")
                return False
            return raw
        if hint is int:
            if isinstance(raw, bool) or not isinstance(raw, int):
                self.fail(path, f"expected an integer, got {_describe(raw)}")
                return 0
            return self.bounded(raw, path, meta)
        if hint is float:
            if isinstance(raw, bool) or not isinstance(raw, (int, float)):
                self.fail(path, f"expected a number, got {_describe(raw)}")
                return 0.0
            return self.bounded(float(raw), path, meta)
        if hint is str or hint is Secret:
            if not isinstance(raw, str):
                self.fail(path, f"expected a string, got {_describe(raw)}")
                return ""
            return raw
        if hint is Path:
            if not isinstance(raw, str) or not raw:
                self.fail(path, f"expected a path, got {_describe(raw)}")
                return Path()
            try:
                resolved = Path(raw).expanduser()
                if not resolved.is_absolute():
                    resolved = (self.base_dir / resolved).resolve()
                kind = meta.get("path")
                if kind == "file" and not resolved.is_file():
                    self.fail(path, f"file not found: {resolved}")
                elif kind == "dir" and resolved.exists() and not resolved.is_dir():
                    self.fail(path, f"not a folder: {resolved}")
            except (OSError, ValueError) as error:  # name too long, NUL byte, ...
                self.fail(path, f"not a usable path: {error!s:.120}")
                return Path()
            return resolved
        raise TypeError(f"schema type {hint!r} at {path} is not supported")

    def bounded(self, number: float, path: str, meta: typing.Mapping[str, Any]) -> Any:
        low, high = meta.get("minimum"), meta.get("maximum")
        if low is not None and number < low or high is not None and number > high:
            self.fail(path, f"expected a value in [{low if low is not None else '-inf'}, "
                            f"{high if high is not None else 'inf'}], got {number}")
        return number

    def resolve_env(self, raw: str, path: str, meta: typing.Mapping[str, Any]) -> str | None:
        missing = [name for name in ENV_REF.findall(raw) if name not in self.env]
        if missing:
            self.fail(path, f"environment variable {missing[0]} is not set (referenced as ${{{missing[0]}}})")
            return None
        text = ENV_REF.sub(lambda m: self.env[m.group(1)], raw)
        return Secret(text) if meta.get("secret") else text


def _describe(raw: Any) -> str:
    if raw is None:
        return "nothing"
    if isinstance(raw, Secret):
        return "a secret"
    if isinstance(raw, str):
        return f'"{raw}"' if len(raw) <= 60 else f'"{raw[:57]}..."'
    if isinstance(raw, bool):
        return str(raw).lower()
    if isinstance(raw, (int, float)):
        return str(raw)
    if isinstance(raw, list):
        return "a list"
    if isinstance(raw, dict):
        return "a mapping"
    return type(raw).__name__


def _expect(hint: Any) -> str:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_expect(a) for a in get_args(hint) if a is not type(None))
    if origin is Literal:
        return " or ".join(repr(c) for c in get_args(hint))
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(hint, str(hint))


def check(cls: type, data: Any, base_dir: Path, env: typing.Mapping[str, str] | None = None) -> tuple[Any, list[Problem]]:
    checker = Checker(base_dir, os.environ if env is None else env)
    value = checker.build(cls, data if data is not None else {}, "")
    return value, checker.problems


def render_example(cls: type, indent: int = 0) -> list[str]:
    """YAML lines for every field of `cls` with its default and doc comment."""
    lines: list[str] = []
    hints = typing.get_type_hints(cls)
    pad = "  " * indent
    instance = cls()
    for f in dataclasses.fields(cls):
        comment = f.metadata.get("doc", "")
        choices = _choices(hints[f.name])
        if choices:
            comment += f" [{' | '.join(choices)}]"
        value = getattr(instance, f.name)
        if dataclasses.is_dataclass(value):
            lines.append(f"{pad}# {comment}")
            lines.append(f"{pad}{f.name}:")
            lines.extend(render_example(type(value), indent + 1))
        else:
            lines.append(f"{pad}# {comment}")
            lines.append(f"{pad}{f.name}: {_yaml_scalar(value)}")
            item = _item_class(hints[f.name])
            if item is not None:
                lines.extend(_commented_item(item, pad, keyed=get_origin(hints[f.name]) is dict))
    return lines


def _item_class(hint: Any) -> type | None:
    """The dataclass held by a list[...] or dict[str, ...] field, if any."""
    if get_origin(hint) in (list, dict):
        item = get_args(hint)[-1]
        return item if dataclasses.is_dataclass(item) else None
    return None


def _commented_item(cls: type, pad: str, keyed: bool) -> list[str]:
    """A commented-out example entry, one documented line per key."""
    lines = [f"{pad}# for example:"]
    inner = pad + ("#   NAME:" if keyed else "#   -")
    indent = "    "
    hints = typing.get_type_hints(cls)
    instance = cls()
    for i, f in enumerate(dataclasses.fields(cls)):
        choices = _choices(hints[f.name])
        note = f.metadata.get("doc", "") + (f" [{' | '.join(choices)}]" if choices else "")
        lead = inner if (i == 0 and not keyed) else f"{pad}#{indent}"
        if keyed and i == 0:
            lines.append(inner)
        lines.append(f"{lead} {f.name}: {_yaml_scalar(getattr(instance, f.name))}  # {note}")
    return lines


def _choices(hint: Any) -> list[str]:
    origin = get_origin(hint)
    if origin is Literal:
        return [str(c) for c in get_args(hint)]
    if origin in (Union, types.UnionType):
        return [c for a in get_args(hint) for c in _choices(a)]
    return []


def _yaml_scalar(value: Any) -> str:
    import yaml

    if isinstance(value, Path):
        value = str(value)
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    if isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
        value = [dataclasses.asdict(v) for v in value]
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1000).strip()
    return text.removesuffix("\n...").removesuffix("...").strip() or "null"
