"""The house: every import in bridge/ points down the route (docs/architecture.md, "The rooms").

A room is a folder of bridge/ or a module at its root. A module may import its own room and any
room listed before it, never one after it: so the values flow one way, the face stage never
reaches for the show around it, and a newcomer can read the tree from the bottom up. Names
imported under `if TYPE_CHECKING:` only (type hints, e.g. the builder tables' `Profile`) do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

ROOMS = [
    "__init__", "types", "schema",  # the values and the schema machinery
    "runtime",  # sessions, the manifest, files, the builder tables' type
    "io",  # sources and sinks
    "faces",  # analyse
    "track",  # track
    "swap",  # swap and paste back
    "obs",  # the command vocabulary, OBS control
    "access",  # who may send commands
    "profile",  # the show's profile (its choices come from the rooms above)
    "facestage",  # map, and the face stage itself
    "pipeline",  # threads and queues
    "dock", "telemetry", "status_view", "reload", "progress",  # what watches and steers the show
    "live",  # the show
    "devtools",  # bench, soak
    "app", "cli",  # the sub-commands and their parser
]


def room_of(module: str) -> str:
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def imports(path: Path) -> set[str]:
    """The bridge modules `path` imports when it runs (names imported for type hints only are left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hints_only = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If)
                  and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
                  for inner in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in hints_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.split(".")[0] == "bridge":
            found.add(node.module)
            if node.module == "bridge":  # `from bridge import app`: the module named
                found.update(f"bridge.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "bridge")
    return found


def test_every_module_is_in_a_room() -> None:
    rooms = {room_of(".".join(p.relative_to(REPO).with_suffix("").parts)) for p in (REPO / "bridge").rglob("*.py")}
    assert rooms <= set(ROOMS), f"not in ROOMS: {sorted(rooms - set(ROOMS))}"


def test_imports_point_down_the_route() -> None:
    rank = {room: i for i, room in enumerate(ROOMS)}
    upward = []
    for path in sorted((REPO / "bridge").rglob("*.py")):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts)
        for imported in sorted(imports(path)):
            if imported == "bridge" or room_of(imported) == "__version__":
                continue
            if rank[room_of(imported)] > rank[room_of(module)]:
                upward.append(f"{module} imports {imported}")
    assert not upward, "imports pointing up the route:\n" + "\n".join(upward)


def test_the_package_root_holds_only_the_show_and_its_frame() -> None:
    root = sorted(p.stem for p in (REPO / "bridge").glob("*.py"))
    assert root == ["__init__", "access", "app", "cli", "live", "pipeline", "profile", "progress", "reload",
                    "schema", "status_view", "telemetry", "types"]
