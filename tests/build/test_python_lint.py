"""`make lint`'s Python checks, as CI and pre-commit run them: ruff with the project's rule set, `ruff format
--check`, and `mypy --strict` over what ships (the layers and the functions) are clean on the tree. Each is
also run on a broken copy, so a check that stopped looking (a rule set dropped, strictness lost, a folder
left out of mypy's `files`) fails here too."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.build.conftest import ROOT
from tests.build.test_github import make

pytestmark = [pytest.mark.build, pytest.mark.xdist_group("python-lint")]


@pytest.mark.parametrize("target", ["lint-python", "lint-format", "lint-types"])
def test_the_tree_passes_the_python_check(target: str) -> None:
    result = make(target)
    assert result.returncode == 0, result.stdout + result.stderr


def _copy(tmp_path: Path, *paths: str) -> Path:
    """The project's configuration and `paths` in a scratch folder, to break without touching the tree."""
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy2(ROOT / "pyproject.toml", copy / "pyproject.toml")
    for path in paths:
        shutil.copytree(ROOT / path, copy / path, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path}: {old!r} not found: update this test"
    path.write_text(text.replace(old, new, 1))


def _run(copy: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=copy, capture_output=True, text=True, timeout=600, check=False
    )


def test_mypy_strict_fails_a_copy_with_a_wrong_return_and_a_bare_generic(tmp_path: Path) -> None:
    copy = _copy(tmp_path, "layers", "functions")
    # A route that says it returns a dict but returns a Response (a real type error)...
    _edit(copy / "functions/get_order/app.py", "-> Response[str]:", "-> dict[str, Any]:")
    # ...and a bare `dict`, which only --strict (disallow_any_generics) refuses.
    _edit(
        copy / "layers/orders/python/orders/domain/models.py",
        "def to_wire(self) -> dict[str, Any]:",
        "def to_wire(self) -> dict:",
    )

    result = _run(copy, "mypy", "--cache-dir", str(tmp_path / "cache"))

    assert result.returncode == 1, result.stdout + result.stderr
    assert "functions/get_order/app.py" in result.stdout and "[return-value]" in result.stdout
    assert "orders/domain/models.py" in result.stdout and "[type-arg]" in result.stdout


def test_ruff_fails_a_copy_with_unsorted_imports_a_loose_zip_and_bad_formatting(tmp_path: Path) -> None:
    copy = _copy(tmp_path, "local")
    _edit(
        copy / "local/aws/streams.py", "import contextlib\nimport json\n", "import json\nimport contextlib\n"
    )
    (copy / "local/loose.py").write_text("def pairs(a, b):\n    return list(zip(a,  b))\n")

    checked = _run(copy, "ruff", "check", "--no-cache", "--output-format", "concise", ".")
    formatted = _run(copy, "ruff", "format", "--check", "--no-cache", ".")

    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "local/aws/streams.py" in checked.stdout and "I001" in checked.stdout
    assert "local/loose.py" in checked.stdout and "B905" in checked.stdout
    assert formatted.returncode == 1 and "local/loose.py" in formatted.stdout
