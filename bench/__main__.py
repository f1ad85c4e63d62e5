"""`python -m bench [--quick | --smoke] [--out DIR] [--only ROW,...]` (`make bench` runs the full set)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.run import MODES, main

ROWS = (
    "calls",
    "latency",
    "cold_variants",
    "scaling",
    "import_profile",
    "keyed_latency",
    "sizes",
    "http_load",
    "recovery",
    "tracing",
    "cost",
)


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    speed = parser.add_mutually_exclusive_group()
    speed.add_argument(
        "--quick", action="store_true", help="shorter runs, no sam build (a dev iteration, ~2 min)"
    )
    speed.add_argument(
        "--smoke", action="store_true", help="every row at tiny size (~30 s; timings mean nothing)"
    )
    parser.add_argument("--out", type=Path, help="results folder (default bench/results)")
    parser.add_argument("--only", help=f"comma-separated rows to run: {', '.join(ROWS)} (calls always runs)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines and no table on stdout")
    args = parser.parse_args(argv)
    only = None
    if args.only:
        only = {row.strip() for row in args.only.split(",") if row.strip()} | {"calls"}
        unknown = only - set(ROWS)
        if unknown:
            parser.error(f"unknown rows: {', '.join(sorted(unknown))}")
        if "cost" in only:
            only |= {"latency"}
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    assert mode in MODES
    return main(mode, args.out, only, quiet=args.quiet)


if __name__ == "__main__":
    raise SystemExit(cli())
