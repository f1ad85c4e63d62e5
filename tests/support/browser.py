"""Which Chromium the Playwright tests drive: Playwright's own when it is installed (`playwright install
chromium`, as on a laptop), else the system's (Debian's `chromium` package, installed on first use when
running as root, as CI's clean machine does)."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserType
from playwright.sync_api import Error as PlaywrightError

SYSTEM_CHROMIUM = "/usr/bin/chromium"
# Nothing but the page talks to the network: Chromium's own background requests (updates, sync, field
# trials) are refused on a closed network, and would leave the machine on an open one.
CHROMIUM_ARGS = (
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
    "--disable-dev-shm-usage",
)
INSTALL_HINT = ".venv/bin/playwright install chromium"


def chromium_args() -> list[str]:
    """Chromium refuses to run as root with its sandbox on."""
    return [*CHROMIUM_ARGS, *(["--no-sandbox"] if os.geteuid() == 0 else [])]


def system_chromium() -> str:
    """Debian's chromium; as root, apt-get installs it when it is missing (apt-get update first)."""
    path = shutil.which("chromium") or (SYSTEM_CHROMIUM if os.access(SYSTEM_CHROMIUM, os.X_OK) else None)
    if path is not None:
        return path
    if os.geteuid() != 0:
        pytest.fail(
            f"no Chromium for Playwright: run `{INSTALL_HINT}` (or, as root, `apt-get install -y chromium`)",
            pytrace=False,
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    path = shutil.which("chromium")
    assert path, "apt-get installed chromium, but it is not on PATH"
    return path


def launch_chromium(browser_type: BrowserType, options: dict[str, Any]) -> Browser:
    """Launch Playwright's own Chromium (or the channel / executable the options name); when Playwright has
    none installed, the system's Chromium instead."""
    options = {**options, "args": [*chromium_args(), *options.get("args", [])]}
    if options.get("executable_path") or options.get("channel"):
        return browser_type.launch(**options)
    try:
        return browser_type.launch(**options)
    except PlaywrightError as error:
        if "Executable doesn't exist" not in error.message:
            raise
    return browser_type.launch(**options, executable_path=system_chromium())
