"""Loopback servers the integration tests run in a child process:

* `--stub`: the user and inventory services of local/stubs/upstream.py (DESIGN.md's contract), with
  their open seed: any user is active unless named `unknown-*` or `suspended-*`; products are the
  seeded ones or priced by a `-c<cents>` suffix.
* `--moto`: moto's DynamoDB server, with every DynamoDB operation made atomic (see below).

Why a child process: the concurrency tests fork one process per simulated Lambda execution
environment, and forking a process that runs server threads is unsafe (Python warns, and a lock held
by a server thread at fork time stays held forever in the child). The test process therefore runs no
server thread; `ServerProcess` starts this module with `python -m tests.support.servers` and reads the
URLs from its first output line. It stops when its stdin closes.

Why a lock around moto's DynamoDB: moto's backend evaluates a ConditionExpression and then writes,
without any lock. Measured here (20 threads racing one conditional UpdateItem, 30-40 rounds), both
in-process moto and its threaded server let two or three writers pass the same condition in some
rounds (1/30 rounds at Python's default thread switch interval, about a third of the rounds at a
10 microsecond interval), and even lose updates (two successes, version +1). DynamoDB guarantees that a
single-item write with its condition is atomic. Holding one lock for the whole of each request
(`DynamoHandler.call_action`) restores that guarantee; with it, no round showed a double success.
The lock is held per request only, so a read-then-write done by the code under test as two requests
still races exactly as it would against DynamoDB: the lock cannot hide such a bug.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------------------- upstream stub
def start_upstream_stub() -> str:
    """The same stubs `make dev` runs (local/stubs/upstream.py), seeded from local/stubs/seed.json."""
    from local.stubs.upstream import StubServer

    return StubServer().start().url


# ---------------------------------------------------------------------------------------- moto server
def start_moto_server() -> str:
    import logging

    from moto.server import ThreadedMotoServer

    from local.aws.moto_server import make_dynamodb_atomic

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    make_dynamodb_atomic()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return f"http://{host}:{port}"


# ---------------------------------------------------------------------------------------- parent side
class ServerProcess:
    """`python -m tests.support.servers --stub [--moto]` as a child; `.urls` holds what it serves."""

    def __init__(self, *kinds: str) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers/orders/python"), str(ROOT)])}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.servers", *(f"--{kind}" for kind in kinds)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self._process.stdout.readline()
        if not line:
            self._process.kill()
            raise RuntimeError("the test servers did not start")
        self.urls: dict[str, str] = json.loads(line)

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


def main(argv: list[str]) -> None:
    urls: dict[str, str] = {}
    if "--stub" in argv:
        urls["upstream"] = start_upstream_stub()
    if "--moto" in argv:
        urls["dynamodb"] = start_moto_server()
    print(json.dumps(urls), flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin (or exits)


if __name__ == "__main__":
    main(sys.argv[1:])
