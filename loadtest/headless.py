"""`python -m loadtest.headless`: one Locust run (Locust as a library) of loadtest/locustfile.py's users,
in two windows: a warm-up that is not counted, then `--seconds` counted. Writes the counted figures as JSON
(`<prefix>.json`), Locust's statistics as CSV (`<prefix>_stats.csv`, `<prefix>_failures.csv`) and, with
`--html`, Locust's HTML report (`<prefix>.html`). `loadtest.run.locust()` runs it in a process of its own
(importing Locust monkey-patches the standard library with gevent's).

The warm-up lasts at least `--warmup` seconds and until every route has answered `--rounds × --users`
requests, at most `--max-warmup` seconds: the first requests of a fresh stack meet cold workers (the local
stack starts one per concurrent request of a function; Lambda starts execution environments alike).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import gevent
from locust.env import Environment
from locust.html import get_html_report
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV
from locust.util.load_locustfile import load_locustfile

LOCUSTFILE = Path(__file__).resolve().with_name("locustfile.py")
ROUTES = (
    "POST /api/orders",
    "GET /api/orders/{id}",
    "GET /api/users/{userId}/orders",
    "PATCH /api/orders/{id}/status",
)


def say(text: str) -> None:
    print(f"[load] {text}", file=sys.stderr, flush=True)


def answered(environment: Environment) -> dict[str, int]:
    """Successful requests so far, per route (`METHOD /path`)."""
    return {
        f"{entry.method} {entry.name}": entry.num_requests - entry.num_failures
        for entry in environment.stats.entries.values()
    }


def figures(environment: Environment, seconds: float) -> dict:
    """Requests, requests/s (over the counted window), p50/p99 (Locust's, bucketed to two significant digits
    above 100 ms) and errors, per route and for all routes; a few failure messages."""

    def row(entry) -> dict:
        return {
            "n": entry.num_requests,
            "requests_per_second": entry.num_requests / seconds if seconds else 0.0,
            "p50_ms": entry.get_response_time_percentile(0.5) if entry.num_requests else None,
            "p99_ms": entry.get_response_time_percentile(0.99) if entry.num_requests else None,
            "errors": entry.num_failures,
        }

    stats = environment.stats
    routes = {f"{entry.method} {entry.name}": row(entry) for entry in stats.entries.values()}
    order = {route: index for index, route in enumerate(ROUTES)}
    total = row(stats.total)
    return {
        "requests": total["n"],
        "requests_per_second": total["requests_per_second"],
        "seconds": seconds,
        "errors": total["errors"],
        "p50_ms": total["p50_ms"],
        "p99_ms": total["p99_ms"],
        "routes": {route: routes[route] for route in sorted(routes, key=lambda r: (order.get(r, 99), r))},
        "error_samples": [
            f"{error.method} {error.name}: {error.occurrences} × {error.error}"[:300]
            for error in list(stats.errors.values())[:5]
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.headless", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--spawn-rate", type=float, required=True)
    parser.add_argument("--seconds", type=float, required=True, help="the counted window")
    parser.add_argument("--warmup", type=float, default=0, help="the warm-up lasts at least this long")
    parser.add_argument(
        "--rounds", type=int, default=0, help="... and until every route answered rounds × users"
    )
    parser.add_argument("--max-warmup", type=float, default=90)
    parser.add_argument(
        "--prefix", type=Path, required=True, help="output files: <prefix>.json, <prefix>_*.csv"
    )
    parser.add_argument("--html", action="store_true", help="also Locust's HTML report, <prefix>.html")
    args = parser.parse_args(argv)

    user_classes, _shapes = load_locustfile(str(LOCUSTFILE))
    environment = Environment(user_classes=list(user_classes.values()), host=args.host)
    runner = environment.create_local_runner()
    runner.start(args.users, spawn_rate=args.spawn_rate)

    started = time.monotonic()
    need = args.rounds * args.users
    if args.warmup > 0 or need:
        while time.monotonic() - started < args.max_warmup:
            done = answered(environment)
            if time.monotonic() - started >= args.warmup and all(done.get(r, 0) >= need for r in ROUTES):
                break
            gevent.sleep(0.1)
        warm = {
            "seconds": time.monotonic() - started,
            "requests": environment.stats.total.num_requests,
            "errors": environment.stats.total.num_failures,
        }
        say(
            f"warm-up (not counted): {warm['seconds']:.0f} s, {warm['requests']:,} requests, {warm['errors']} errors"
        )
    else:
        runner.spawning_greenlet.join()  # count from the moment every user runs
        warm = {"seconds": time.monotonic() - started, "requests": 0, "errors": 0}
    environment.stats.reset_all()
    counting = time.monotonic()
    say(f"counting {args.users} users for {args.seconds:.0f} s against {args.host}")
    gevent.sleep(args.seconds)
    window = time.monotonic() - counting
    runner.stop()  # users stop here: a request cut short is not recorded
    result = {**figures(environment, window), "warmup": warm, "users": args.users}
    runner.quit()

    args.prefix.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.prefix}.json").write_text(json.dumps(result, indent=2) + "\n")
    writer = StatsCSV(environment, PERCENTILES_TO_REPORT)
    for suffix, write in (("_stats.csv", writer.requests_csv), ("_failures.csv", writer.failures_csv)):
        with Path(f"{args.prefix}{suffix}").open("w", newline="") as handle:
            write(csv.writer(handle))
    if args.html:
        Path(f"{args.prefix}.html").write_text(get_html_report(environment, show_download_link=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
