"""Parent side of bench/worker.py: spawn a Lambda-like process, time it to its first answer, then drive it.

The pipe framing is local/runtime/worker_protocol.py's, shared with the local stack's workers."""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from local.runtime.worker_protocol import PATH as PROTOCOL_PATH
from local.runtime.worker_protocol import read_message, write_message

WORKER_SOURCE = (Path(__file__).with_name("worker.py")).read_text()


class WorkerFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class WorkerSpec:
    """What one execution environment is: where its code is, its handler and its environment."""

    name: str  # e.g. "get_order/real"
    path: tuple[str, ...]  # CodeUri, then layers' python/ folders
    site_packages: tuple[str, ...]
    handler: str
    env: dict[str, str]
    tracing: bool = False
    timeout_ms: int = 10_000
    python_options: tuple[str, ...] = ()  # e.g. ("-X", "importtime") or ("-B", "-X", "pycache_prefix=...")
    preload: tuple[str, ...] = ()  # modules imported before the handler, timed with it


@dataclass
class FirstAnswer:
    cold_ms: float  # spawn -> first answer, measured here
    import_ms: float | None
    invoke_ms: float | None
    status: int | None
    error: str | None


@dataclass
class RunResult:
    ns: list[int] = field(default_factory=list)
    io_ns: list[int] = field(default_factory=list)
    status: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def extend(self, other: dict[str, Any]) -> None:
        self.ns += other["ns"]
        self.io_ns += other["io_ns"]
        self.status += other["status"]
        self.errors += other.get("errors") or []


class Worker:
    def __init__(
        self, spec: WorkerSpec, first_event: dict[str, Any], log_path: Path, timeout: float = 60
    ) -> None:
        self.spec = spec
        self.log_path = log_path
        self._timeout = timeout
        child_in, self._to_child = os.pipe()
        self._from_child, child_out = os.pipe()
        config = {
            "in_fd": child_in,
            "out_fd": child_out,
            "path": list(spec.path),
            "site_packages": list(spec.site_packages),
            "handler": spec.handler,
            "tracing": spec.tracing,
            "timeout_ms": spec.timeout_ms,
            "preload": list(spec.preload),
            "protocol": PROTOCOL_PATH,
        }
        # The first event waits in the pipe before the clock starts (pipes hold 64 KB; events are ~3 KB).
        self._send({"event": first_event})
        self._log = log_path.open("ab")
        command = [sys.executable, "-I", "-S", *spec.python_options, "-c", WORKER_SOURCE, json.dumps(config)]
        started = time.perf_counter_ns()
        self.process = subprocess.Popen(
            command,
            env=spec.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            pass_fds=(child_in, child_out),
            close_fds=True,
        )
        os.close(child_in)
        os.close(child_out)
        try:
            reply = self._receive()
        except WorkerFailed:
            self.close()
            raise
        answered = time.perf_counter_ns()
        self.first = FirstAnswer(
            cold_ms=(answered - started) / 1e6,
            import_ms=reply.get("import_ms"),
            invoke_ms=reply.get("invoke_ms"),
            status=reply.get("status"),
            error=reply.get("error"),
        )

    # ------------------------------------------------------------------ protocol
    def _send(self, message: dict[str, Any]) -> None:
        write_message(self._to_child, message, default=str)

    def _receive(self) -> dict[str, Any]:
        deadline = time.monotonic() + self._timeout

        def wait() -> None:
            if not select.select([self._from_child], [], [], max(deadline - time.monotonic(), 0))[0]:
                raise WorkerFailed(
                    f"{self.spec.name}: no answer in {self._timeout:.0f} s (log: {self.log_path})"
                )

        message = read_message(self._from_child, wait)
        if message is None:
            raise WorkerFailed(f"{self.spec.name}: worker exited (log: {self.log_path})\n{self.log_tail()}")
        return message

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # ------------------------------------------------------------------ use
    def run(self, events: list[dict[str, Any]], sampled: list[bool] | None = None) -> dict[str, Any]:
        self._send({"type": "run", "events": events, "sampled": sampled or [False] * len(events)})
        return self._receive()

    def stats(self) -> dict[str, Any]:
        self._send({"type": "stats"})
        return self._receive()

    def log_bytes(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def close(self) -> None:
        for fd in (self._to_child, self._from_child):
            with contextlib.suppress(OSError):
                os.close(fd)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
