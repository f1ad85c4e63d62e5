"""layers/deps/requirements.txt is what `make requirements` exports from uv.lock right now, so the layer
that `sam build` makes and the environment the tests run in never drift apart."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.build.conftest import ROOT

pytestmark = pytest.mark.build

COMMITTED = ROOT / "layers/deps/requirements.txt"


def test_deps_requirements_match_a_fresh_export_of_the_lock(tmp_path: Path) -> None:
    # Run the real Makefile target in a copy, so the committed file is never touched and the flags
    # (and uv's header, which repeats them) come from the one place they are defined.
    # (tools/uv/requirements.txt: the hashes the Makefile installs uv with, when none is on the PATH.)
    for name in ("Makefile", "pyproject.toml", "uv.lock", ".python-version", "tools/uv/requirements.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tmp_path / name)
    (tmp_path / "layers/deps").mkdir(parents=True)
    env = {
        **{
            key: value for key, value in os.environ.items() if key not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}
        },
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_OFFLINE": "1",
    }
    result = subprocess.run(
        ["make", "-s", "--no-print-directory", "requirements"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    fresh = (tmp_path / "layers/deps/requirements.txt").read_text()
    assert "==" in fresh
    assert COMMITTED.read_text() == fresh, (
        "layers/deps/requirements.txt is stale: run `make requirements` and commit the result"
    )


def test_the_venvs_own_python3_can_run_pip_as_sam_build_does() -> None:
    """`sam build` runs `python3 -m pip` (layers/lambda-wheels.mk) and pip (the functions' python3.13 builder) from
    the PATH; with the project's venv activated that is the venv's interpreter, which uv creates without pip."""
    python3 = Path(sys.executable).with_name("python3")
    result = subprocess.run(
        [str(python3), "-m", "pip", "--version"], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
