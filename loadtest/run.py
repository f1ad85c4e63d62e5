"""Runs Locust headless over loadtest/locustfile.py (`python -m loadtest.headless`, in a process of its own)
and reads its figures back; `table()` prints them.

`make load` and the bench's "local stack under load" row both run Locust through `locust()` here, so the
traffic and the way it is counted are the same in both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent


def locust(
    host: str,
    users: int,
    spawn_rate: float,
    seconds: float,
    prefix: Path,
    *,
    warmup: float = 0,
    rounds: int = 0,
    max_warmup: float = 90,
    env: dict[str, str] | None = None,
    output: IO[Any] | None = None,
    html: bool = False,
) -> dict[str, Any]:
    """One Locust run: a warm-up, not counted (at least `warmup` s and until every route answered
    `rounds × users` requests, at most `max_warmup` s), then `seconds` counted. Returns the counted figures:
    requests, requests_per_second, seconds, errors, p50_ms, p99_ms, error_samples, routes (per
    `METHOD /path`: n, requests_per_second, p50_ms, p99_ms, errors), warmup (seconds, requests, errors).
    Files: `<prefix>.json`, `<prefix>_stats.csv`, `<prefix>_failures.csv` (and `<prefix>.html`)."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{prefix}.json").unlink(missing_ok=True)
    command = [
        *(sys.executable, "-m", "loadtest.headless", "--host", host, "--users", str(users)),
        *("--spawn-rate", str(spawn_rate), "--seconds", str(seconds), "--prefix", str(prefix)),
        *("--warmup", str(warmup), "--rounds", str(rounds), "--max-warmup", str(max_warmup)),
        *(("--html",) if html else ()),
    ]
    done = subprocess.run(
        command,
        cwd=ROOT,  # the locustfile imports `local` (the repository's) to mint tokens for the local stack
        env={**os.environ, **(env or {})},
        stdout=output,
        stderr=subprocess.STDOUT if output else None,
        timeout=max_warmup + seconds + 120,
        check=False,
    )
    results = Path(f"{prefix}.json")
    if done.returncode != 0 or not results.is_file():
        raise RuntimeError(
            f"Locust run failed (exit {done.returncode}){f'; log: {output.name}' if output else ''}"
        )
    return json.loads(results.read_text())


def table(result: dict[str, Any]) -> str:
    """The figures as a small table: requests, requests/s, p50, p99 and errors per route, then all routes."""
    header = f"{'route':<34} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
    lines = [header, "-" * len(header)]
    for route, row in [*result["routes"].items(), ("all routes", {**result, "n": result["requests"]})]:
        lines.append(
            f"{route:<34} {row['n']:>9,} {row['requests_per_second']:>8.1f} {row['p50_ms'] or 0:>8.0f} "
            f"{row['p99_ms'] or 0:>8.0f} {row['errors']:>7,}"
        )
    lines.append(
        f"counted over {result['seconds']:.1f} s, after {result['warmup']['seconds']:.0f} s of warm-up"
    )
    lines += [f"  {sample}" for sample in result["error_samples"]]
    return "\n".join(lines)
