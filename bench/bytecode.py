"""Cold starts without bytecode in the layers, as `sam build` shipped them before the layers' Makefiles compiled
it (layers/orders/Makefile now compiles the whole package, layers/deps/Makefile the cold-path modules of
hot_modules.txt): Lambda unzips functions and layers onto read-only file systems, so without it every cold
start compiles the domain package, Powertools, pydantic, ... from source. The runtime's own standard library
and boto3/botocore do come with bytecode. The row shows what the layers' bytecode saves.

Emulated with `-B -X pycache_prefix=DIR`: DIR is filled by one run of each function, then emptied of
everything but the standard library and the runtime's boto3, botocore and s3transfer.
"""

from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path

from bench.infra import FUNCTIONS, Infra
from bench.latency import spawn
from bench.scenario import Scenario

RUNTIME_WITH_BYTECODE = ("boto3", "botocore", "s3transfer")


def _mirror(prefix: Path, path: Path) -> Path:
    """Where `-X pycache_prefix` puts the bytecode of sources under `path` (the path as imported)."""
    return prefix / str(path).lstrip("/")


def prepare(
    infra: Infra, scenario: Scenario, prefix: Path, logs: Path, functions: tuple[str, ...] = FUNCTIONS
) -> dict[str, int]:
    if prefix.exists():
        shutil.rmtree(prefix)
    prefix.mkdir(parents=True)
    options = ("-X", f"pycache_prefix={prefix}")
    for function in functions:
        spawn(
            infra.real_spec(function, scenario.table(function), options=options),
            scenario.event(function, "real"),
            logs / "bytecode-prime",
        ).close()
    keep = [_mirror(prefix, Path(sysconfig.get_paths()["stdlib"]))]
    keep += [_mirror(prefix, infra.site["runtime"] / name) for name in RUNTIME_WITH_BYTECODE]
    kept = removed = 0
    for pyc in prefix.rglob("*.pyc"):
        if any(pyc.is_relative_to(root) for root in keep):
            kept += 1
        else:
            pyc.unlink()
            removed += 1
    return {"kept_pyc": kept, "removed_pyc": removed}


def options(prefix: Path) -> tuple[str, ...]:
    return ("-B", "-X", f"pycache_prefix={prefix}")
