"""The local stack's rooms and the one way their dependencies point (local/__init__.py lists the rooms).

Every module under local/ is parsed (ast, so function-local and TYPE_CHECKING imports count too:
tests/support/imports.py); each import of `local...` must be one its room may make, no module of local/ may
reach itself through its imports, and nothing that ships (layers/, functions/) imports the local stack.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.imports import imported_modules, module_name

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "local"

# room -> the rooms of local/ it may import (besides itself). "package" is local/ itself: __init__.py (the
# layers on sys.path) and __main__.py (`python -m local`, which hands over to the front's commands).
ALLOWED: dict[str, frozenset[str]] = {
    "common": frozenset(),
    "template": frozenset({"common"}),
    "runtime": frozenset({"template", "common"}),
    "stubs": frozenset({"common"}),
    "aws": frozenset({"runtime", "template", "common"}),
    "front": frozenset({"aws", "stubs", "runtime", "template", "common"}),
    "package": frozenset({"front"}),
}
ROOMS = frozenset(ALLOWED) - {"package"}


def room_of_module(name: str) -> str | None:
    """`local.aws.streams` -> "aws"; `local` and `local.__main__` -> "package"; not ours -> None."""
    parts = name.split(".")
    if parts[0] != "local":
        return None
    if len(parts) == 1 or parts[1] == "__main__":
        return "package"
    return parts[1]


def sources() -> list[tuple[str, str, Path]]:
    """(room, module name, path) for every module of local/."""
    modules = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        name = module_name(path, ROOT)
        modules.append((room_of_module(name) or "", name, path))
    return modules


def wrong_way_imports(room: str, module: str, path: Path) -> list[str]:
    problems = []
    for line, target in imported_modules(path, module, packages=("local",)):
        target_room = room_of_module(target)
        if target_room is None:
            continue
        if target_room not in ALLOWED:
            problems.append(f"{path.name}:{line}: {target} is in no room")
        elif target_room != room and target_room not in ALLOWED[room]:
            problems.append(f"{path.name}:{line}: {room} must not import {target}")
    return problems


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every group of nodes that reach each other (strongly connected, more than one node), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def import_graph(modules: list[tuple[str, str, Path]]) -> dict[str, set[str]]:
    """module -> the modules of local/ it imports. `from local.template import load_template` is an import
    of the module `local.template` (the longest name that is a module)."""
    known = {name for _, name, _ in modules}
    packages = [name for _, name, path in modules if path.name == "__init__.py"]
    graph: dict[str, set[str]] = {}
    for _, name, path in modules:
        edges = graph.setdefault(name, set())
        for _, imported in imported_modules(path, name, packages=packages):
            target = imported
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                edges.add(target)
    return graph


def imports_of_local(path: Path, module: str) -> list[str]:
    label = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    return [
        f"{label}:{line}: imports {target}"
        for line, target in imported_modules(path, module)
        if target == "local" or target.startswith("local.")
    ]


def shipped_sources() -> list[tuple[str, Path]]:
    """(module name, path) of every Python file under layers/ and functions/."""
    files = []
    for folder in ("layers", "functions"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "__pycache__" not in path.parts:
                files.append((module_name(path, ROOT), path))
    return files


def test_every_module_of_local_is_in_a_room():
    top_level = {path.stem for path in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    folders = {
        path.name for path in PACKAGE.iterdir() if path.is_dir() and path.name not in ("__pycache__", ".keys")
    }
    assert top_level == set()
    assert folders == ROOMS
    assert all((PACKAGE / room / "__init__.py").is_file() for room in ROOMS)


def test_the_rooms_themselves_point_one_way():
    assert circles({room: set(allowed) for room, allowed in ALLOWED.items()}) == []


@pytest.mark.parametrize(("room", "module", "path"), sources(), ids=str)
def test_imports_point_one_way(room, module, path):
    assert wrong_way_imports(room, module, path) == []


def test_no_module_of_local_reaches_itself_through_its_imports():
    """Within a room too (the server and its control endpoints once imported each other)."""
    assert circles(import_graph(sources())) == []


def test_nothing_that_ships_imports_the_local_stack():
    assert shipped_sources(), "no files under layers/ and functions/?"
    assert [problem for name, path in shipped_sources() for problem in imports_of_local(path, name)] == []


@pytest.mark.parametrize(
    ("room", "source", "expected"),
    [
        ("template", "from local.aws import auth\n", "template must not import local.aws"),
        (
            "runtime",
            "def f():\n    from local.aws.moto_server import aws_client\n",
            "runtime must not import local.aws.moto_server",
        ),
        (
            "aws",
            "if TYPE_CHECKING:\n    from local.front.server import LocalStack\n",
            "aws must not import local.front.server",
        ),
        ("aws", "from ..stubs import upstream\n", "aws must not import local.stubs"),
        ("common", "import local.template.model\n", "common must not import local.template.model"),
        ("stubs", "from local import runtime\n", "stubs must not import local.runtime"),
        ("front", "from local import console\n", "local.console is in no room"),
    ],
)
def test_a_wrong_way_import_is_caught(tmp_path, room, source, expected):
    """The rule itself, on sources that break it (function-local, TYPE_CHECKING and relative imports)."""
    bad = tmp_path / "bad.py"
    bad.write_text(source)
    problems = wrong_way_imports(room, f"local.{room}.bad", bad)
    assert len(problems) == 1 and expected in problems[0], problems


def test_a_circle_is_caught(tmp_path):
    """The circle the rooms once had: the server imports its control endpoints, which import the server back
    (for a type only)."""
    package = tmp_path / "local"
    (package / "front").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "front" / "__init__.py").write_text("")
    (package / "front" / "server.py").write_text("from local.front import control\n")
    (package / "front" / "control.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from local.front.server import LocalStack\n"
    )
    (package / "front" / "cli.py").write_text("from local.front.server import LocalStack\n")
    modules = [("front", module_name(path, tmp_path), path) for path in sorted(package.rglob("*.py"))]
    assert circles(import_graph(modules)) == [["local.front.control", "local.front.server"]]


def test_an_import_of_local_from_what_ships_is_caught(tmp_path):
    handler = tmp_path / "app.py"
    handler.write_text("def handler(event, context):\n    from local.aws import auth\n")
    assert imports_of_local(handler, "functions.bad.app") == ["app.py:2: imports local.aws"]
