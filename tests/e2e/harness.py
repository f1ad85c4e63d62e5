"""Start `python -m local` as a subprocess on a free port and talk to it over real HTTP."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from local.aws.moto_server import aws_client

ROOT = Path(__file__).resolve().parents[2]
# Variables the stack reads; everything else it is given comes from template.yaml.
STACK_VARIABLES = (
    "PORT",
    "HOST",
    "DYNAMODB_ENDPOINT",
    "LOCAL_KEYS_DIR",
    "LOCAL_MAX_WORKERS",
    "USERS_API_URL",
    "INVENTORY_API_URL",
    "LOCAL_SERVICES_PORT",
    "LOCAL_SERVICES_HOST",
    "LOCAL_SERVICES_BIND",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stack_environment(port: int, keys_dir: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in STACK_VARIABLES}
    env.update(PORT=str(port), LOCAL_KEYS_DIR=str(keys_dir), PYTHONUNBUFFERED="1")
    return env


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    raw: bytes

    @property
    def text(self) -> str:
        return self.raw.decode()

    def json(self) -> Any:
        return json.loads(self.raw, parse_float=Decimal)


def http_request(
    port: int,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> Reply:
    connection = http.client.HTTPConnection("localhost", port, timeout=timeout)
    try:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        if body is not None and "Content-Type" not in all_headers:
            all_headers["Content-Type"] = "application/json"
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        connection.close()


def stack_admin_credentials(described: dict[str, Any]) -> dict[str, str] | None:
    """The stack's own credentials in its moto (IAM enforced), from the private file `/_local/services` names;
    None with IAM off."""
    path = described.get("credentialsFile")
    return json.loads(Path(path).read_text()) if path else None


class RunningStack:
    """`python -m local [arguments]` on `port`; its output (stdout and stderr) goes to `log_path`."""

    def __init__(
        self,
        port: int,
        keys_dir: Path,
        log_path: Path,
        arguments: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = port
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local", *arguments],
            cwd=ROOT,
            env={**stack_environment(port, keys_dir), **(env or {})},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 30) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"the stack exited ({self.process.returncode}):\n{self.log}")
            try:
                if self.request("GET", "/_local/routes", timeout=1).status == 200:
                    return time.monotonic() - started
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the stack did not start in {timeout} s:\n{self.log}")

    def request(self, method: str, path: str, **kwargs: Any) -> Reply:
        return http_request(self.port, method, path, **kwargs)

    def services(self) -> dict[str, Any]:
        return self.request("GET", "/_local/services").json()

    def aws(self, service: str) -> Any:
        """A boto3 client for the stack's moto (DynamoDB: the stack's DynamoDB endpoint)."""
        described = self.services()
        # Under IAM enforcement moto knows only the stack's own principal (and the functions' roles).
        return aws_client(
            service,
            described["dynamodb" if service == "dynamodb" else "aws"],
            stack_admin_credentials(described),
        )

    def stop(self, timeout: float = 15) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


@contextlib.contextmanager
def started_stack(
    keys_dir: Path, log_dir: Path, arguments: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> Iterator[RunningStack]:
    """`python -m local [arguments]` on a free port, ready, stopped on the way out (its log in `log_dir`):
    a stack of a test module's own, whose orders, events and faults stay out of the shared one."""
    running = RunningStack(free_port(), keys_dir, log_dir / "stack.log", arguments, env)
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def wait_for(probe: Any, timeout: float = 8.0, interval: float = 0.1) -> Any:
    """`probe()` once it returns something truthy (polled every `interval`), else AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {probe}")
        time.sleep(interval)
