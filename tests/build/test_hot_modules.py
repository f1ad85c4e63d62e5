"""layers/deps/hot_modules.txt (which modules get bytecode in the deps layer) follows the code and the lock:
regenerated here, it must equal the committed file (`.venv/bin/python layers/deps/hot_modules.py`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_hot_module_list_is_current():
    fresh = subprocess.run(
        [sys.executable, "layers/deps/hot_modules.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    committed = (ROOT / "layers/deps/hot_modules.txt").read_text()
    assert fresh.split() == committed.split(), (
        "run: .venv/bin/python layers/deps/hot_modules.py > layers/deps/hot_modules.txt"
    )
