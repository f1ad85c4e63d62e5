"""Loopback servers the integration tests run in a child process:

* `--stub`: the user and inventory services, implementing DESIGN.md's upstream contract (every user is
  active unless named `suspended-*`; products are priced from `tests.support.catalog.CATALOG` or by a
  `-c<cents>` suffix; unknown products 404; reservations are idempotent on `reservationId`).
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
import re
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------------------- upstream stub
class UpstreamState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reservations: dict[str, dict[str, Any]] = {}
        self.released: set[str] = set()
        self.committed: set[str] = set()


def _price(product_id: str) -> Decimal | None:
    from tests.support.catalog import catalog_price

    return catalog_price(product_id)


class UpstreamHandler(BaseHTTPRequestHandler):
    state: UpstreamState  # set on the subclass the server uses
    protocol_version = "HTTP/1.1"

    def log_message(self, *_: Any) -> None:  # quiet
        pass

    def _answer(self, status: int, body: Any = None) -> None:
        payload = b"" if body is None else json.dumps(body, default=str).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"null", parse_float=Decimal) if length else None

    def do_GET(self) -> None:
        if match := re.fullmatch(r"/api/users/([^/]+)", self.path):
            user_id = match.group(1)
            if user_id.startswith("missing-"):
                return self._answer(404, {"message": "unknown user"})
            status = "suspended" if user_id.startswith("suspended-") else "active"
            return self._answer(200, {"id": user_id, "status": status})
        self._answer(404, {"message": "no route"})

    def do_POST(self) -> None:
        if self.path == "/api/inventory/reservations":
            body = self._body() or {}
            reservation_id = str(body.get("reservationId"))
            items = body.get("items") or []
            with self.state.lock:
                if reservation_id in self.state.reservations:
                    return self._answer(201, self.state.reservations[reservation_id])
                unknown = [item["productId"] for item in items if _price(item["productId"]) is None]
                if unknown:
                    return self._answer(404, {"unknownProducts": unknown})
                reservation = {
                    "reservationId": reservation_id,
                    "items": [
                        {
                            "productId": item["productId"],
                            "quantity": item["quantity"],
                            "unitPrice": str(_price(item["productId"])),
                        }
                        for item in items
                    ],
                    "expiresAt": (datetime.now(UTC) + timedelta(hours=24)).isoformat(),
                }
                self.state.reservations[reservation_id] = reservation
            return self._answer(201, reservation)
        if match := re.fullmatch(r"/api/inventory/reservations/([^/]+)/commit", self.path):
            with self.state.lock:
                self.state.committed.add(match.group(1))
            return self._answer(204)
        self._answer(404, {"message": "no route"})

    def do_DELETE(self) -> None:
        if match := re.fullmatch(r"/api/inventory/reservations/([^/]+)", self.path):
            with self.state.lock:
                self.state.released.add(match.group(1))
                self.state.reservations.pop(match.group(1), None)
            return self._answer(204)
        self._answer(404, {"message": "no route"})


def start_upstream_stub() -> str:
    handler = type("Handler", (UpstreamHandler,), {"state": UpstreamState()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


# ---------------------------------------------------------------------------------------- moto server
def make_dynamodb_atomic() -> None:
    """One lock around each DynamoDB request moto serves: per-item atomicity, as DynamoDB gives."""
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.Lock()
    unlocked = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with lock:
            return unlocked(self)

    DynamoHandler.call_action = call_action


def start_moto_server() -> str:
    import logging

    from moto.server import ThreadedMotoServer

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
