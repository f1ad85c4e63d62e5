"""Execution environments: one worker process per concurrent invocation of a function, as Lambda does.

A worker is `worker_runtime.py` started with the function's own environment and cwd (its CodeUri); it
imports the handler once (cold start) and then keeps its module state between invocations (warm). A
function's pool reuses its most recently used idle worker and starts another only when all are busy.
A worker that times out or dies is killed (with anything it started) and replaced on the next call; one
whose handler raised is kept, as Lambda keeps the environment after a function error.

Hot reload: before each invocation the pool compares the files under the function's CodeUri and its
layers' `python/` folders with what its workers started from; after an edit, idle workers are stopped,
busy ones finish their invocation and leave, and the invocation starts a fresh (cold) worker.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.runtime.worker_protocol import read_message, write_message
from local.template.model import ACCOUNT, REGION, FunctionSpec, site_packages

WORKER_SCRIPT = Path(__file__).resolve().parent / "worker_runtime.py"
SHOWN_CHANGES = 3  # changed files named in the reload line
INIT_TIMEOUT = 10.0  # Lambda's limit for the init phase
# A worker whose role credentials expire sooner than this is replaced before its next invocation.
CREDENTIALS_REFRESH_MARGIN = float(os.environ.get("LOCAL_IAM_REFRESH_MARGIN") or 300)


def new_trace_header() -> str:
    """An X-Ray trace header as Lambda's active tracing sets `_X_AMZN_TRACE_ID`: a new trace (epoch seconds
    then 96 random bits), the id of Lambda's own segment as parent, sampled."""
    return f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()};Parent={os.urandom(8).hex()};Sampled=1"


class InvocationError(Exception):
    """The function failed: its handler raised, its init failed or its response could not be marshalled."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('errorType')}: {error.get('errorMessage')}")
        self.error = error


class InvocationTimeout(Exception):
    """The function ran past its Timeout; its worker has been killed."""


class WorkerDied(Exception):
    """The worker process exited in the middle of an invocation."""


@dataclass
class Outcome:
    payload: str  # the handler's return value as JSON text
    cold: bool
    duration_ms: float
    init_ms: float | None
    pid: int


class CodeWatcher:
    """The state of a function's code (its CodeUri and layer folders): path → (mtime, size) of every file
    but bytecode caches and hidden folders."""

    def __init__(self, roots: tuple[Path, ...]) -> None:
        self.roots = roots
        self._lock = threading.Lock()
        self._files = self._scan()

    def _scan(self) -> dict[str, tuple[int, int]]:
        files: dict[str, tuple[int, int]] = {}
        pending = [str(root) for root in self.roots]
        while pending:
            try:
                entries = list(os.scandir(pending.pop()))
            except OSError:
                continue
            for entry in entries:
                if entry.name.startswith(".") or entry.name == "__pycache__":
                    continue
                try:
                    if entry.is_dir(follow_symlinks=True):
                        pending.append(entry.path)
                    elif not entry.name.endswith((".pyc", ".pyo")):
                        stat = entry.stat()
                        files[entry.path] = (stat.st_mtime_ns, stat.st_size)
                except OSError:
                    continue
        return files

    def changes(self) -> list[str]:
        """The files added, changed or removed since the last call (or since the watcher was made)."""
        with self._lock:
            files = self._scan()
            changed = sorted(
                path for path in files.keys() | self._files.keys() if files.get(path) != self._files.get(path)
            )
            self._files = files
        for path in changed:
            if path.endswith(".py"):
                # An edit within the same second that keeps the size leaves the cached bytecode looking
                # valid (it records whole seconds and the size): drop it so the new worker compiles anew.
                with contextlib.suppress(OSError, ValueError, NotImplementedError):
                    Path(importlib.util.cache_from_source(path)).unlink(missing_ok=True)
        return changed


class Worker:
    def __init__(
        self,
        spec: FunctionSpec,
        log: Callable[[str, str], None],
        generation: int = 0,
        credentials: Any = None,
    ) -> None:
        """`credentials`: the function's role credentials (`local.aws.iam.RoleCredentials`), in its environment
        as Lambda puts them; None keeps the template environment's placeholder ones."""
        self.spec = spec
        self.generation = generation  # the version of the code it was started with
        self.invocations = 0
        self.busy = False
        self.started_at = time.time()
        self.init_ms: float | None = None
        self.credentials_expire_at = credentials.expires_at if credentials is not None else float("inf")
        self._closed = False
        self._close_lock = threading.Lock()
        parent_to_child, self._to_child = os.pipe()
        self._from_child, child_to_parent = os.pipe()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-u", str(WORKER_SCRIPT), str(parent_to_child), str(child_to_parent)],
                env={**spec.environment, **credentials.environment} if credentials else spec.environment,
                cwd=spec.code_uri,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(parent_to_child, child_to_parent),
                # Its own process group: the terminal's Ctrl-C reaches the stack only, which then stops
                # every worker (and anything a worker started) itself.
                start_new_session=True,
            )
        finally:
            os.close(parent_to_child)
            os.close(child_to_parent)
        self.pid = self.process.pid
        threading.Thread(
            target=self._pump_log, args=(log,), name=f"log-{spec.logical_id}", daemon=True
        ).start()

    def _pump_log(self, log: Callable[[str, str], None]) -> None:
        assert self.process.stdout is not None
        for line in iter(self.process.stdout.readline, b""):
            log(self.spec.logical_id, line.decode(errors="replace").rstrip("\n"))
        self.process.stdout.close()

    # -------------------------------------------------------------------------------- protocol
    def _send(self, message: dict[str, Any]) -> None:
        try:
            write_message(self._to_child, message)
        except (BrokenPipeError, OSError) as error:
            raise WorkerDied(str(error)) from None

    def _receive(self, deadline: float) -> dict[str, Any]:
        def wait() -> None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._from_child], [], [], remaining)[0]:
                raise InvocationTimeout()

        try:
            message = read_message(self._from_child, wait)
        except (OSError, ValueError) as error:  # its pipe was closed: the stack is stopping
            raise WorkerDied(str(error)) from None
        if message is None:
            raise WorkerDied(f"exit code {self.process.wait()}")
        return message

    # -------------------------------------------------------------------------------- lifecycle
    def init(self) -> None:
        spec = self.spec
        self._send(
            {
                "type": "init",
                "code_uri": str(spec.code_uri),
                "layer_paths": [str(path) for path in spec.layer_paths],
                "site_packages": site_packages(),
                "handler": spec.handler,
            }
        )
        reply = self._receive(time.monotonic() + INIT_TIMEOUT)
        if reply["type"] != "ready":
            raise InvocationError(reply)
        self.init_ms = reply["init_ms"]

    def invoke(self, event: dict[str, Any]) -> str:
        """The handler's return value as JSON text; raises InvocationError / InvocationTimeout / WorkerDied."""
        request_id = str(uuid.uuid4())
        deadline_ms = time.time() * 1000 + self.spec.timeout * 1000
        self._send(
            {
                "type": "invoke",
                "event": event,
                "request_id": request_id,
                "deadline_ms": deadline_ms,
                # What Lambda's active tracing gives each invocation; locally every one is sampled.
                "trace_header": new_trace_header(),
                "function_arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.spec.logical_id}",
            }
        )
        reply = self._receive(time.monotonic() + self.spec.timeout)
        self.invocations += 1
        if reply["type"] == "error":
            raise InvocationError(reply)
        return reply["payload"]

    def openapi(self) -> str | None:
        self._send({"type": "openapi"})
        return self._receive(time.monotonic() + 30)["schema"]

    def stop(self, grace: float = 1.0) -> None:
        """Close its input (it exits when idle), then SIGTERM, then SIGKILL its whole process group."""
        with self._close_lock:  # stop() may run from two threads (retired, then the stack stopping)
            if not self._closed:
                self._closed = True
                for fd in (self._to_child, self._from_child):
                    with contextlib.suppress(OSError):
                        os.close(fd)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait()
        # Whatever the handler started in the worker's group goes with it.
        self._signal_group(signal.SIGKILL)

    def kill(self) -> None:
        self._signal_group(signal.SIGKILL)
        self.stop(grace=1.0)

    def kill_group_and_wait(self) -> None:
        self._signal_group(signal.SIGKILL)
        self.process.wait()

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    def describe(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "state": "busy" if self.busy else "idle",
            "invocations": self.invocations,
            "initMs": None if self.init_ms is None else round(self.init_ms, 1),
            "startedAt": round(self.started_at, 3),
        }


class FunctionPool:
    """The execution environments of one function."""

    def __init__(
        self,
        spec: FunctionSpec,
        log: Callable[[str, str], None],
        max_workers: int = 10,
        reload: bool = True,
        credentials: Callable[[], Any] | None = None,
    ) -> None:
        """`credentials`: fetches new credentials of the function's role for each new worker."""
        self.spec = spec
        self._credentials = credentials
        self._log = log
        self._max = max_workers
        self._idle: list[Worker] = []
        self._all: list[Worker] = []
        self._retiring: list[Worker] = []  # stale workers on their way out
        self._starting = 0
        self._closed = False
        self._generation = 0
        self._condition = threading.Condition()
        self._watcher = CodeWatcher((spec.code_uri, *spec.layer_paths)) if reload else None

    def _check_code(self) -> None:
        """Retire every worker started from older code if the function's files changed."""
        if self._watcher is None:
            return
        changed = self._watcher.changes()
        if not changed:
            return
        with self._condition:
            self._generation += 1
            stale = list(self._idle)
            self._idle.clear()
            for worker in stale:
                self._all.remove(worker)
            busy = sum(1 for worker in self._all if worker.generation != self._generation)
        shown = ", ".join(_relative(path) for path in changed[:SHOWN_CHANGES]) + (
            " ..." if len(changed) > SHOWN_CHANGES else ""
        )
        self._log(
            self.spec.logical_id,
            f"[reload] {shown} changed: {len(stale) + busy} worker(s) retired, the next invocation starts cold",
        )
        for worker in stale:
            self._retire(worker)

    def _retire(self, worker: Worker) -> None:
        """Stop a stale worker in the background (close() still waits for it)."""
        with self._condition:
            self._retiring.append(worker)

        def stop() -> None:
            try:
                worker.stop()
            finally:
                with self._condition:
                    if worker in self._retiring:
                        self._retiring.remove(worker)

        threading.Thread(target=stop, name=f"retire-{worker.pid}", daemon=True).start()

    def _acquire(self) -> tuple[Worker, bool]:
        self._check_code()
        with self._condition:
            while True:
                if self._closed:
                    raise WorkerDied("the stack is stopping")
                if self._idle:
                    worker = self._idle.pop()  # the most recently used: warm
                    if worker.credentials_expire_at - time.time() < CREDENTIALS_REFRESH_MARGIN:
                        # Its role credentials are about to expire: a new environment gets new ones.
                        self._all.remove(worker)
                        self._retire(worker)
                        continue
                    worker.busy = True
                    return worker, False
                if len(self._all) + self._starting < self._max:
                    self._starting += 1
                    generation = self._generation
                    break
                self._condition.wait()
        worker = None
        try:
            credentials = self._credentials() if self._credentials is not None else None
            worker = Worker(self.spec, self._log, generation, credentials)
            with self._condition:
                if self._closed:
                    raise WorkerDied("the stack is stopping")
                self._all.append(worker)
                worker.busy = True
            worker.init()
            return worker, True
        except BaseException:
            if worker is not None:
                self._discard(worker)
            raise
        finally:
            with self._condition:
                self._starting -= 1
                self._condition.notify_all()

    def _release(self, worker: Worker) -> None:
        with self._condition:
            worker.busy = False
            stale = worker.generation != self._generation
            if self._closed:
                stop = True
            elif stale:
                stop = False
                if worker in self._all:
                    self._all.remove(worker)
            else:
                stop = False
                self._idle.append(worker)
            self._condition.notify_all()
        if stop:
            worker.stop()
        elif stale:
            self._retire(worker)

    def _discard(self, worker: Worker) -> None:
        with self._condition:
            if worker in self._all:
                self._all.remove(worker)
            if worker in self._idle:
                self._idle.remove(worker)
            self._condition.notify_all()
        worker.kill()

    def invoke(self, event: dict[str, Any]) -> Outcome:
        worker, cold = self._acquire()
        started = time.perf_counter()
        try:
            payload = worker.invoke(event)
        except InvocationError:
            self._release(worker)  # the handler raised: the environment stays, as on Lambda
            raise
        except (InvocationTimeout, WorkerDied):
            self._discard(worker)  # replaced on the next invocation
            raise
        except BaseException:
            self._discard(worker)
            raise
        duration = (time.perf_counter() - started) * 1000
        self._release(worker)
        return Outcome(payload, cold, duration, worker.init_ms if cold else None, worker.pid)

    def openapi(self) -> str | None:
        worker, _ = self._acquire()
        try:
            schema = worker.openapi()
        except BaseException:
            self._discard(worker)
            raise
        self._release(worker)
        return schema

    def describe(self) -> list[dict[str, Any]]:
        with self._condition:
            return [worker.describe() for worker in self._all]

    def pids(self) -> list[int]:
        with self._condition:
            return [worker.pid for worker in self._all]

    def close(self) -> None:
        with self._condition:
            self._closed = True
            workers = list(self._all) + [worker for worker in self._retiring if worker not in self._all]
            self._all.clear()
            self._idle.clear()
            self._condition.notify_all()
        # Idle workers are asked to leave; busy ones are killed (their invocation then fails and its
        # thread closes the pipes).
        threads = [
            threading.Thread(
                target=worker.stop if not worker.busy else worker.kill_group_and_wait, daemon=True
            )
            for worker in workers
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def kill_now(self) -> None:
        """Last resort (a second Ctrl-C): SIGKILL every worker's process group."""
        with self._condition:
            workers = list(self._all) + list(self._retiring)
        for worker in workers:
            worker._signal_group(signal.SIGKILL)


def _relative(path: str) -> str:
    from local.template import ROOT

    try:
        return str(Path(path).relative_to(ROOT))
    except ValueError:
        return path
