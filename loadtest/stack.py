"""A local stack (`python -m local`, what `make dev` runs) started for a load run, and stopped after it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from http import HTTPStatus
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class StackUnavailable(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str, timeout: float = 2) -> bool:
    """Whether `<url>/health` answers 200."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=timeout) as response:
            return response.status == HTTPStatus.OK
    except (OSError, urllib.error.URLError):
        return False


class Stack:
    """`python -m local` on `port` (a free one by default), its output in `log_path`. `keys_dir`: the issuer's
    keys (LOCAL_KEYS_DIR; default: the stack's own, local/.keys/). `extra_env`: e.g. LOCAL_IAM=off."""

    def __init__(
        self,
        log_path: Path,
        keys_dir: Path | None = None,
        extra_env: dict[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{
                k: v
                for k, v in os.environ.items()
                if k not in ("PORT", "HOST", "DYNAMODB_ENDPOINT", "LOCAL_KEYS_DIR")
            },
            "PORT": str(self.port),
            "PYTHONUNBUFFERED": "1",
            **({"LOCAL_KEYS_DIR": str(keys_dir)} if keys_dir else {}),
            **(extra_env or {}),
        }
        for name in ("USERS_API_URL", "INVENTORY_API_URL", "TABLE_NAME", "OTEL_SDK_DISABLED"):
            self.env.pop(name, None)
        log_path.parent.mkdir(parents=True, exist_ok=True)
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
        """Seconds until /health answered; raises StackUnavailable if it exits or never answers."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise StackUnavailable(
                    f"`python -m local` exited with {self.process.returncode} (log: {self.log_path})"
                )
            if answers(self.url):
                return time.monotonic() - started
            time.sleep(0.1)
        raise StackUnavailable(
            f"`python -m local` did not answer /health in {timeout:.0f} s (log: {self.log_path})"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
