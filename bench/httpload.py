"""The local stack (`python -m local`) over real HTTP: N clients, each repeating one order's round
(create, get, list, cancel) for a fixed time; requests per second and errors. A developer figure: the local
stack, its workers, moto and these clients share this machine's CPUs.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from bench.infra import ROOT
from bench.stats import percentile

ORDER_BODY = json.dumps(
    {
        "userId": "user-123",
        "items": [{"productId": "prod-456", "quantity": 2, "price": 29.99}],
        "shippingAddress": {"street": "123 Main St", "city": "New York", "zipCode": "10001"},
    }
)


class StackUnavailable(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _request(
    port: int, method: str, path: str, token: str | None, body: str | None = None, headers=None, timeout=30
):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class Stack:
    def __init__(self, log_path: Path, keys_dir: Path) -> None:
        self.port = free_port()
        self.env = {
            **{
                k: v
                for k, v in os.environ.items()
                if k not in ("PORT", "HOST", "DYNAMODB_ENDPOINT", "LOCAL_KEYS_DIR")
            },
            "PORT": str(self.port),
            "LOCAL_KEYS_DIR": str(keys_dir),
            "PYTHONUNBUFFERED": "1",
        }
        for name in ("USERS_API_URL", "INVENTORY_API_URL", "TABLE_NAME", "POWERTOOLS_TRACE_DISABLED"):
            self.env.pop(name, None)
        self._log = log_path.open("wb")
        self.log_path = log_path
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local"],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise StackUnavailable(
                    f"`python -m local` exited with {self.process.returncode} (log: {self.log_path})"
                )
            try:
                if _request(self.port, "GET", "/health", None, timeout=2)[0] == 200:
                    return time.monotonic() - started
            except OSError:
                time.sleep(0.1)
        raise StackUnavailable(
            f"`python -m local` did not answer /health in {timeout:.0f} s (log: {self.log_path})"
        )

    def token(self, user: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "local.token", "--user", user],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0 or not done.stdout.strip():
            raise StackUnavailable(f"`python -m local.token` failed: {done.stderr.strip()[:300]}")
        return done.stdout.strip()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def _client(
    port: int, token: str, stop: threading.Event, measuring: threading.Event, results: dict, me: int
) -> None:
    latencies, statuses, failures = results["latency"], results["status"], results["failures"]

    def call(route: str, method: str, path: str, expected: int, body: str | None = None, headers=None):
        started = time.perf_counter()
        try:
            status, raw = _request(port, method, path, token, body, headers)
        except OSError as error:
            status, raw = 0, str(error).encode()
        if measuring.is_set():
            latencies[route].append((time.perf_counter() - started) * 1000)
            statuses[(route, status)] += 1
            if status != expected:
                results["errors"] += 1
                if len(failures) < 10:
                    failures.append(f"{route} -> {status} {raw[:120]!r}")
        return status, raw

    while not stop.is_set():
        status, raw = call(
            "POST /api/orders", "POST", "/api/orders", 201, ORDER_BODY, {"Idempotency-Key": str(uuid.uuid4())}
        )
        order_id = json.loads(raw).get("id") if status == 201 else None
        if order_id:
            call("GET /api/orders/{id}", "GET", f"/api/orders/{order_id}", 200)
        call("GET /api/users/{userId}/orders", "GET", "/api/users/user-123/orders?limit=20", 200)
        if order_id:
            call(
                "PATCH /api/orders/{id}/status",
                "PATCH",
                f"/api/orders/{order_id}/status",
                200,
                json.dumps({"status": "cancelled"}),
            )
        results["rounds"][me] += 1


MAX_WARMUP_SECONDS = 90


def run(
    seconds: float, concurrency: int, warmup: float, log_dir: Path, warm_rounds: int = 2
) -> dict[str, Any]:
    """`warm_rounds`: rounds every client completes before counting starts (its first rounds meet cold
    workers: the stack starts one per concurrent request), and at least `warmup` seconds."""
    keys_dir = Path(tempfile.mkdtemp(prefix="bench-keys-"))
    stack = Stack(log_dir / "local-stack.log", keys_dir)
    try:
        ready = stack.wait_ready()
        token = stack.token("user-123")
        stop, measuring = threading.Event(), threading.Event()
        results: dict[str, Any] = {
            "latency": defaultdict(list),
            "status": Counter(),
            "failures": [],
            "errors": 0,
            "rounds": [0] * concurrency,
        }
        threads = [
            threading.Thread(
                target=_client, args=(stack.port, token, stop, measuring, results, n), daemon=True
            )
            for n in range(concurrency)
        ]
        for thread in threads:
            thread.start()
        # Not counted: the stack starting its workers (cold), until every client has done its first rounds.
        warm_started = time.monotonic()
        while time.monotonic() - warm_started < MAX_WARMUP_SECONDS and (
            time.monotonic() - warm_started < warmup or min(results["rounds"]) < warm_rounds
        ):
            time.sleep(0.1)
        warmed = time.monotonic() - warm_started
        measuring.set()
        started = time.monotonic()
        time.sleep(seconds)
        measuring.clear()
        elapsed = time.monotonic() - started
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        stack.stop()
    requests = sum(results["status"].values())
    return {
        "concurrency": concurrency,
        "seconds": elapsed,
        "warmup_seconds": warmed,
        "startup_seconds": ready,
        "requests": requests,
        "requests_per_second": requests / elapsed if elapsed else 0.0,
        "errors": results["errors"],
        "statuses": {
            f"{route} {status}": count for (route, status), count in sorted(results["status"].items())
        },
        "error_samples": results["failures"][:5],
        "routes": {
            route: {"n": len(values), "p50_ms": percentile(values, 50), "p99_ms": percentile(values, 99)}
            for route, values in results["latency"].items()
        },
    }
