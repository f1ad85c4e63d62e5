"""`python -m tests.soak [--seconds 120] [--clients 8]` (what `make soak` runs): a fresh local stack,
mixed traffic from concurrent clients on loopback, the reconciliation, a summary. Exit code 1 when the
reconciliation finds a problem."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=120, help="traffic duration (default 120)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument(
        "--customers", type=int, default=12, help="customers sharing the traffic (default 12)"
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed of the operation mix")
    parser.add_argument("--drain-bound", type=float, default=90, help="longest wait for the stream (s)")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    os.environ["LOCAL_KEYS_DIR"] = str(workdir / "keys")
    from local.aws import auth

    auth.signing_key.cache_clear()

    from tests.soak.driver import soak_on_fresh_stack, summary

    log_path = workdir / "stack.log"
    print(
        f"soak: {args.clients} clients for {args.seconds:g} s against a fresh local stack (log: {log_path})"
    )
    started = time.monotonic()
    traffic, reconciliation = soak_on_fresh_stack(
        args.seconds,
        keys_dir=workdir / "keys",
        log_path=log_path,
        mint=auth.mint,
        clients=args.clients,
        customers=args.customers,
        seed=args.seed,
        drain_bound=args.drain_bound,
    )
    print(summary(traffic, reconciliation))
    print(f"  total wall time {time.monotonic() - started:.1f} s")
    return 1 if reconciliation.problems else 0


if __name__ == "__main__":
    sys.exit(main())
