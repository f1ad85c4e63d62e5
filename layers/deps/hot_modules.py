"""Lists the third-party modules the functions import before their first answer, for the deps layer's
bytecode (see Makefile): `python layers/deps/hot_modules.py > layers/deps/hot_modules.txt`.

Lambda's /opt is read-only, so Python cannot cache bytecode there: without .pyc files in the layer,
every cold start compiles every module it imports (measured by `make bench`: about twice the import
time). Compiling the whole layer would add ~7 MB; compiling what the functions actually import at
init adds a fraction of that for the same gain. Each function is imported in a fresh interpreter of
the project's environment (same versions as the lock), with tracing on as deployed, and what a traced
function's first sampled invocation loads for its spans (`orders.tracing`) is imported too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import importlib, json, sys
module = importlib.import_module(sys.argv[1])
if hasattr(module, "tracer"):
    # What the first sampled invocation loads to trace (orders.tracing): the cold one usually is sampled.
    from orders import tracing
    tracing._pipeline()
print(json.dumps(sorted({m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)})))
"""
ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "orders",
    "POWERTOOLS_METRICS_NAMESPACE": "OrderService",
    "TABLE_NAME": "orders",
    "EVENT_BUS_NAME": "orders",
}


def hot_modules() -> list[str]:
    site_packages = Path(sysconfig.get_paths()["purelib"]).resolve()
    found: set[str] = set()
    for app in sorted((ROOT / "functions").glob("*/app.py")):
        env = {
            **os.environ,
            **ENV,
            "PYTHONPATH": os.pathsep.join([str(ROOT / "layers/orders/python"), str(ROOT)]),
        }
        result = subprocess.run(
            [sys.executable, "-c", PROBE, f"functions.{app.parent.name}.app"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        for name in json.loads(result.stdout.strip().splitlines()[-1]):
            path = Path(name).resolve()
            if path.suffix == ".py" and path.is_relative_to(site_packages):
                found.add(path.relative_to(site_packages).as_posix())
    return sorted(found)


if __name__ == "__main__":
    print("\n".join(hot_modules()))
