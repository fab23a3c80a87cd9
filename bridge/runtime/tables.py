"""Extension points as tables: each kind of model (detector, swapper, ...) is one `{name: Builder}` table.

The profile's allowed names are the table's keys, so adding a model is its class plus one line
in its table (and its manifest entry); an unknown name is an error that lists the choices.
Builders import their class when called, so reading a profile never loads a model library.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from bridge.profile import Profile
    from bridge.runtime.onnx import SessionFactory

T = TypeVar("T")


@dataclass(frozen=True)
class Builder(Generic[T]):
    """How to build one named model: `build(model file, profile, sessions)`.

    model: the name is also a manifest entry whose file `build` gets (False: no file, e.g. warp68).
    needs: other manifest models it needs besides its own (fetched with it).
    """

    build: Callable[[Path | None, Profile, SessionFactory], T]
    model: bool = True
    needs: tuple[str, ...] = ()


class UnknownName(ValueError):
    """A name that is not in its table (one line listing the choices)."""


def pick(table: Mapping[str, Builder[Any]], name: str, kind: str) -> Builder[Any]:
    try:
        return table[name]
    except KeyError:
        raise UnknownName(f"unknown {kind} {name!r}; choose from {', '.join(table)}") from None
