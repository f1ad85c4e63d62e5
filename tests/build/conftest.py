"""One real `sam build` per test session, into a temporary build dir, with no network and no AWS."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


def sam(*args: str, cwd: Path = ROOT, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """SAM CLI from this interpreter's environment (the project's .venv), telemetry off."""
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "UV_PYTHON_DOWNLOADS": "never"}
    return subprocess.run(
        [sys.executable, "-m", "samcli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass(frozen=True)
class Build:
    dir: Path
    template: dict[str, Any]  # the built template: CodeUri/ContentUri point at the built artifacts
    seconds: float
    log: str

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.template["Resources"].items()
            if resource["Type"] == resource_type
        }

    def artifact(self, logical_id: str) -> Path:
        properties = self.template["Resources"][logical_id]["Properties"]
        uri = properties.get("CodeUri") or properties.get("ContentUri")
        return (self.dir / uri).resolve()


@pytest.fixture(scope="session")
def sam_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    from samcli.yamlhelper import yaml_parse

    build_dir = tmp_path_factory.mktemp("sam-build")
    cache_dir = tmp_path_factory.mktemp("sam-cache")
    started = time.monotonic()
    result = sam(
        "build",
        "--template-file", str(TEMPLATE),
        "--build-dir", str(build_dir),
        "--cache-dir", str(cache_dir),
        "--no-cached",
    )  # fmt: skip
    seconds = time.monotonic() - started
    log = f"$ sam build (exit {result.returncode}, {seconds:.1f} s)\n{result.stdout}\n{result.stderr}"
    if result.returncode != 0:
        pytest.fail(f"sam build failed\n{log}", pytrace=False)
    built_template = build_dir / "template.yaml"
    if not built_template.is_file():
        pytest.fail(f"sam build wrote no template.yaml\n{log}", pytrace=False)
    return Build(build_dir, yaml_parse(built_template.read_text()), seconds, log)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the build figures that the tests recorded (`record_property("build-report", ...)`)."""
    lines = [
        value
        for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", [])
        if report.when == "call"
        for name, value in report.user_properties
        if name == "build-report"
    ]
    if lines:
        terminalreporter.write_sep("-", "sam build")
        for line in lines:
            terminalreporter.write_line(line)
