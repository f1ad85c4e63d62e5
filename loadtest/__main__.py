"""`python -m loadtest` (what `make load` runs): Locust, headless, over loadtest/locustfile.py; then
requests/s, p50 and p99 per route and the errors. Exits 1 if any request failed.

Against the local stack (default, http://localhost:$PORT): uses the stack `make dev` serves there, or, when
nothing answers on that port, starts one itself (`python -m local`, its log in the results folder) and stops
it after the run. Tokens are minted by the local issuer. Against a deployed stage: `--host` (or LOAD_HOST)
and ORDERS_TOKEN [ORDERS_USER_ID] [ORDERS_ADMIN_TOKEN] (see the locustfile).

A warm-up comes first and is not counted: at least --warmup seconds and until every route has answered
--users requests (the first requests meet cold workers, locally as on Lambda). Results (the figures as JSON,
Locust's CSV statistics and its HTML report) go to loadtest/results/.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

from loadtest import run
from loadtest.stack import Stack, StackUnavailable, answers

RESULTS = Path(__file__).resolve().parent / "results"


def seconds(text: str) -> float:
    """`90`, `90s`, `2m`, `1m30s`, `1h` (Locust's run-time notation) in seconds."""
    match = re.fullmatch(r"\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*", text)
    if not text.strip() or not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 30s, 2m, 1m30s)")
    hours, minutes, secs = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(secs or 0)


def loopback(url: str) -> bool:
    return urlsplit(url).hostname in ("localhost", "127.0.0.1", "::1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--host", default=os.environ.get("LOAD_HOST") or None, help="default: LOAD_HOST, else the local stack"
    )
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("PORT") or 3001), help="the local stack's port"
    )
    parser.add_argument("--users", type=int, default=8, help="simulated users (default 8)")
    parser.add_argument("--spawn-rate", type=float, default=8, help="users started per second (default 8)")
    parser.add_argument("--run-time", type=seconds, default=60.0, help="counted run (default 60s)")
    parser.add_argument(
        "--warmup",
        type=seconds,
        default=10.0,
        help="warm-up, not counted: at least this long and until every route answered --users requests (default 10s; 0: none)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder (default loadtest/results)")
    args = parser.parse_args(argv)

    host = (args.host or f"http://localhost:{args.port}").rstrip("/")
    if not loopback(host) and not os.environ.get("ORDERS_TOKEN"):
        parser.error(
            f"{host} is not the local stack: set ORDERS_TOKEN (a bearer token the API accepts), and "
            "ORDERS_ADMIN_TOKEN for the admin's share of the traffic"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    stack = None
    if not args.host and not answers(host):
        print(
            f"[load] nothing answers on {host}: starting a local stack there (log: {args.out / 'local-stack.log'})"
        )
        stack = Stack(args.out / "local-stack.log", port=args.port)
        try:
            print(f"[load] stack ready in {stack.wait_ready():.1f} s; it stops after the run")
        except StackUnavailable as error:
            stack.stop()
            print(f"[load] {error}", file=sys.stderr)
            return 2
    try:
        result = run.locust(
            host,
            args.users,
            args.spawn_rate,
            args.run_time,
            args.out / "load",
            warmup=args.warmup,
            rounds=1 if args.warmup > 0 else 0,
            max_warmup=max(90, args.warmup),
            html=True,
        )
    finally:
        if stack:
            stack.stop()
    print(run.table(result))
    print(
        f"[load] in {args.out}/: load.json (these figures), load_stats.csv and load_failures.csv "
        "(Locust's statistics), load.html (Locust's report)"
    )
    if any("× 401 " in sample for sample in result["error_samples"]):
        print(
            "[load] 401s: the stack checks tokens against its issuer's keys; a stack started with another "
            "LOCAL_KEYS_DIR rejects the ones minted here",
            file=sys.stderr,
        )
    if result["errors"] or not result["requests"]:
        print(f"[load] FAILED: {result['errors']} errors, {result['requests']} requests", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
