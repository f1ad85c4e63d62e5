"""The local stack (`python -m local`) under load, over real HTTP, with Locust: `loadtest/locustfile.py`'s
order lifecycle mix (what `make load` runs), N simulated users back to back for a fixed time; requests per
second, p50/p99 per route and errors, from Locust's statistics. A developer figure: the local stack, its
workers, moto and Locust share this machine's CPUs.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

from loadtest import run as locust_run
from loadtest.stack import Stack, StackUnavailable

__all__ = ["StackUnavailable", "run", "run_with_and_without_iam"]

MAX_WARMUP_SECONDS = 90


def run_with_and_without_iam(
    seconds: float, concurrency: int, warmup: float, log_dir: Path, *, warm_rounds: int = 2, pairs: int = 1
) -> dict[str, Any]:
    """The stack as `make dev` runs it (IAM enforced), and beside it, in the same run, with IAM off: what
    enforcement costs the stack, as the median of `pairs` paired runs whose order alternates (so that a
    drift in the machine's load favours neither). The first enforced run's figures are the row's."""
    enforced_runs, unenforced_runs, ratios = [], [], []
    for pair in range(pairs):
        variants = [("on", None), ("off", {"LOCAL_IAM": "off"})]
        if pair % 2:
            variants.reverse()
        results = {}
        for variant, extra_env in variants:
            results[variant] = run(
                seconds,
                concurrency,
                warmup,
                log_dir,
                warm_rounds=warm_rounds,
                extra_env=extra_env,
                log_name=f"local-stack-iam-{variant}-{pair}.log",
            )
        enforced_runs.append(results["on"])
        unenforced_runs.append(results["off"])
        off_rps = results["off"]["requests_per_second"]
        if off_rps:
            ratios.append(results["on"]["requests_per_second"] / off_rps)
    return {
        **enforced_runs[0],
        "iam_off": unenforced_runs[0],
        "iam_pair_ratios": ratios,
        "iam_on_vs_off_rps": statistics.median(ratios) if ratios else None,
    }


def run(
    seconds: float,
    concurrency: int,
    warmup: float,
    log_dir: Path,
    *,
    warm_rounds: int = 2,
    extra_env: dict[str, str] | None = None,
    log_name: str = "local-stack.log",
) -> dict[str, Any]:
    """A fresh stack, `concurrency` Locust users in one Locust run. Not counted: its first part, until every
    route has answered `warm_rounds × concurrency` requests (the stack starts a worker per concurrent
    request, cold), at least `warmup` seconds. Then `seconds` counted. `extra_env`: variables for the
    stack (e.g. LOCAL_IAM=off)."""
    keys_dir = Path(tempfile.mkdtemp(prefix="bench-keys-"))
    stack = Stack(log_dir / log_name, keys_dir, extra_env)
    name = Path(log_name).stem
    locust_env = {"LOCAL_KEYS_DIR": str(keys_dir)}  # the locustfile mints tokens with this stack's keys
    try:
        ready = stack.wait_ready()
        with (log_dir / f"{name}-locust.log").open("w") as output:
            counted = locust_run.locust(
                stack.url,
                concurrency,
                concurrency,
                seconds,
                log_dir / f"{name}-locust",
                warmup=warmup,
                rounds=warm_rounds,
                max_warmup=MAX_WARMUP_SECONDS,
                env=locust_env,
                output=output,
            )
    finally:
        stack.stop()
        shutil.rmtree(keys_dir, ignore_errors=True)
    return {
        "iam": (extra_env or {}).get("LOCAL_IAM", "on"),
        "tool": f"locust {version('locust')}",
        "concurrency": concurrency,
        "seconds": counted["seconds"],
        "warmup_seconds": counted["warmup"]["seconds"],
        "warmup_requests": counted["warmup"]["requests"],
        "warmup_errors": counted["warmup"]["errors"],
        "startup_seconds": ready,
        "requests": counted["requests"],
        "requests_per_second": counted["requests_per_second"],
        "errors": counted["errors"],
        "error_samples": counted["error_samples"],
        "routes": counted["routes"],
    }
