"""The domain layer's rooms and the one way their dependencies point (DESIGN.md, "Layering").

Every module of the `orders` package and every function's `app.py` is parsed (ast, so function-local
and TYPE_CHECKING imports count too: tests/support/imports.py); each import of `orders...` must be one its
room may make.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.imports import imported_modules, module_name

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers/orders/python/orders"

# room -> the rooms of ours it may import (besides itself). `functions` are the Lambda handlers.
# `tracing` is cross-cutting (spans, the trace id of the request): any room but the pure domain may use it,
# and it uses none.
ALLOWED: dict[str, frozenset[str]] = {
    "domain": frozenset(),
    "tracing": frozenset(),
    "storage": frozenset({"domain", "tracing"}),
    "upstream": frozenset({"domain", "tracing"}),
    "http": frozenset({"domain", "storage", "upstream", "tracing"}),
    "events": frozenset({"domain", "storage", "upstream", "tracing"}),
    "service": frozenset({"domain", "storage", "upstream", "tracing"}),
    "wiring": frozenset({"domain", "storage", "upstream", "http", "events", "service", "tracing"}),
    "functions": frozenset({"domain", "http", "events", "wiring", "service", "tracing"}),
}
ROOMS = frozenset(ALLOWED) - {"functions"}


def room_of_module(name: str) -> str | None:
    """`orders.storage.repository` -> "storage"; `orders.service` -> "service"; `orders` -> None."""
    parts = name.split(".")
    if parts[0] != "orders" or len(parts) < 2:
        return None
    return parts[1]


def sources() -> list[tuple[str, str, Path]]:
    """(room, module name, path) for every module of ours whose imports are ruled."""
    modules = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path, PACKAGE.parent)
        room = room_of_module(name)
        if room is not None:
            modules.append((room, name, path))
    for path in sorted((ROOT / "functions").glob("*/app.py")):
        modules.append(("functions", f"functions.{path.parent.name}.app", path))
    return modules


def wrong_way_imports(room: str, module: str, path: Path) -> list[str]:
    problems = []
    for line, target in imported_modules(path, module, packages=("orders",)):
        target_room = room_of_module(target)
        if target == "orders" or (target.startswith("orders.") and target_room not in ROOMS):
            problems.append(f"{path.name}:{line}: {target} is in no room")
        elif target_room is not None and target_room != room and target_room not in ALLOWED[room]:
            problems.append(f"{path.name}:{line}: {room} must not import {target}")
    return problems


def test_every_module_of_the_package_is_in_a_room():
    top_level = {path.stem for path in PACKAGE.glob("*.py")} - {"__init__"}
    folders = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()}
    assert top_level | folders == ROOMS


@pytest.mark.parametrize(("room", "module", "path"), sources(), ids=str)
def test_imports_point_one_way(room, module, path):
    assert wrong_way_imports(room, module, path) == []


@pytest.mark.parametrize(
    ("room", "source", "expected"),
    [
        (
            "domain",
            "def f():\n    from orders.storage.repository import OrderRepository\n",
            "domain must not",
        ),
        ("storage", "if True:\n    from orders.http.api import problem\n", "storage must not"),
        ("events", "from orders import wiring\n", "events must not import orders.wiring"),
        ("storage", "from ..http import api\n", "storage must not import orders.http"),
        ("functions", "import orders.storage.repository\n", "functions must not"),
        ("domain", "from orders import config\n", "orders.config is in no room"),
    ],
)
def test_a_wrong_way_import_is_caught(tmp_path, room, source, expected):
    """The rule itself, on sources that break it (function-local and relative imports included)."""
    bad = tmp_path / "bad.py"
    bad.write_text(source)
    module = "functions.bad.app" if room == "functions" else f"orders.{room}.bad"
    problems = wrong_way_imports(room, module, bad)
    assert len(problems) == 1 and expected in problems[0], problems
