"""Deployment sizes: each function's package (zipped, as uploaded) and each layer unzipped.

Full runs measure what `sam build` made (`--build-dir` in a temporary folder, telemetry off). Quick and
smoke runs skip the build and measure the same layout from the sources: each function's folder, the
domain layer's `python/` folder, and the deps layer's distributions as installed in the virtual
environment (the build installs the aarch64 wheels of the same versions; sizes differ slightly).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from bench.infra import ROOT, deps_layer_distributions, function_logical_ids, template, top_level_names


def _files(root: Path) -> list[Path]:
    # Bytecode counts: the layers ship it on purpose (Lambda's /opt is read-only), so it is deployed size.
    return sorted(path for path in root.rglob("*") if path.is_file())


def measure_tree(root: Path, files: list[Path] | None = None, prefix: str = "") -> dict[str, int]:
    """Unzipped bytes, zipped bytes (deflate, as `sam deploy` packages), file count."""
    files = _files(root) if files is None else files
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, prefix + str(path.relative_to(root)))
    return {
        "unzipped_bytes": sum(path.stat().st_size for path in files),
        "zipped_bytes": buffer.tell(),
        "files": len(files),
    }


def _layer_ids() -> dict[str, str]:
    from local.template import resources_of_type

    return {
        logical_id: str(resource["Properties"]["ContentUri"])
        for logical_id, resource in resources_of_type(template(), "AWS::Serverless::LayerVersion").items()
    }


def from_sam_build(log_dir: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-sam-") as scratch:
        build_dir, cache_dir = Path(scratch) / "build", Path(scratch) / "cache"
        env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "UV_PYTHON_DOWNLOADS": "never"}
        started = time.monotonic()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "samcli",
                "build",
                "--template-file",
                str(ROOT / "template.yaml"),
                "--build-dir",
                str(build_dir),
                "--cache-dir",
                str(cache_dir),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
        seconds = time.monotonic() - started
        (log_dir / "sam-build.log").write_text(done.stdout + done.stderr)
        if done.returncode != 0:
            raise RuntimeError(f"sam build failed (exit {done.returncode}); see {log_dir / 'sam-build.log'}")
        functions = {
            folder: measure_tree(build_dir / logical_id)
            for folder, logical_id in function_logical_ids().items()
        }
        layers = {logical_id: measure_tree(build_dir / logical_id) for logical_id in _layer_ids()}
    return {"source": "sam build", "build_seconds": seconds, "functions": functions, "layers": layers}


def from_sources() -> dict[str, Any]:
    import sysconfig

    functions = {folder: measure_tree(ROOT / "functions" / folder) for folder in function_logical_ids()}
    layers: dict[str, Any] = {}
    for logical_id, content_uri in _layer_ids().items():
        python = ROOT / content_uri / "python"
        if python.is_dir():
            layers[logical_id] = measure_tree(ROOT / content_uri, _files(python))
            continue
        site = Path(sysconfig.get_paths()["purelib"])
        files: list[Path] = []
        for distribution in deps_layer_distributions():
            for name in top_level_names(distribution):
                path = site / name
                files += _files(path) if path.is_dir() else [path] if path.is_file() else []
        files = [path for path in files if path.name != "RECORD"]
        layers[logical_id] = measure_tree(site, files, prefix="python/")
    return {
        "source": "sources and the virtual environment (approximate; no sam build)",
        "functions": functions,
        "layers": layers,
    }


def run(full: bool, log_dir: Path) -> dict[str, Any]:
    return from_sam_build(log_dir) if full else from_sources()
