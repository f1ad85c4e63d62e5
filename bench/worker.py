"""One benchmark execution environment, run as `python -I -S -c <this file's text> <config JSON>`.

Standard library only; nothing of the repository is importable here. sys.path becomes what Lambda gives a
function: its CodeUri, its layers' `python/` folders, then site-packages (standing in for the runtime's
boto3 and the deps layer) and the standard library. The parent times the process from spawn to the first
answer (the cold start); after that the process is a warm worker that runs batches of invocations and
reports per-invocation durations, time spent in HTTP I/O, and its memory.

Protocol, both ways on dedicated pipes: the framing of local/runtime/worker_protocol.py (4-byte big-endian length +
a JSON object), loaded by file path from `protocol` (config) since nothing of the repository is importable.
  `preload` (config): modules imported before the handler, inside the timed import (a baseline variant
  that pays for libraries it does not use: the floor those libraries set).
  parent -> {"event": {...}}                                    (first message: the cold invocation)
  worker -> {"type": "first", "import_ms", "invoke_ms", "status", "error"?}
  parent -> {"type": "run", "events": [...], "sampled": [...]}   worker -> {"type": "ran", "ns", "io_ns", "status"}
  parent -> {"type": "stats"}   worker -> {"type": "stats", "ru_maxrss_kb", "vm_rss_kb", "vm_hwm_kb"}
  parent closes the pipe -> the worker exits.
The function's own stdout/stderr (its log) go to a file the parent chose.
"""

import json
import os
import sys
import time

KEPT_ERRORS = 3  # per run: enough to tell what failed


def _load_protocol(path):
    # Isolated (`-I -S -c`): no file of its own and nothing of the repository importable, so the shared
    # framing (local/runtime/worker_protocol.py) is loaded by the path the parent put in the configuration.
    import importlib.util

    spec = importlib.util.spec_from_file_location("_worker_protocol", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class LambdaContext:
    def __init__(self, request_id, timeout_ms):
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "bench")
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = "bench"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self.aws_request_id = request_id
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = time.time() * 1000 + timeout_ms

    def get_remaining_time_in_millis(self):
        return max(int(self._deadline_ms - time.time() * 1000), 0)


_counter = [0]


def _prepare(sampled, config):
    """What the runtime does before calling the handler (not part of the handler's duration)."""
    _counter[0] += 1
    n = _counter[0]
    if config.get("tracing"):
        # Set by the Lambda runtime before each invocation (Active tracing).
        os.environ["_X_AMZN_TRACE_ID"] = (
            f"Root=1-{int(time.time()):08x}-{os.getpid():012x}{n:012x};Parent={n:016x};Sampled={1 if sampled else 0}"
        )
    return LambdaContext(f"{os.getpid():08x}-bench-{n:012d}", config.get("timeout_ms", 10000))


def _status(result):
    if isinstance(result, dict) and "statusCode" in result:
        return int(result["statusCode"])
    if isinstance(result, dict) and "batchItemFailures" in result:
        return 200 if not result["batchItemFailures"] else 207
    return 200


class IoMeter:
    """Time during which at least one HTTP request is in flight, from any thread: the union of the requests'
    intervals. A keyed create asks the user service on its main thread while its claim goes to DynamoDB on
    another; time waiting on both at once counts once, and waiting on the claim alone counts too."""

    def __init__(self, clock=time.perf_counter_ns):
        import threading

        self._clock = clock
        self._lock = threading.Lock()
        self._in_flight = 0
        self._since = 0
        self._total = 0

    def total_ns(self):
        """Time counted so far, including the running part of requests still in flight."""
        with self._lock:
            return self._total + (self._clock() - self._since if self._in_flight else 0)

    def _enter(self):
        with self._lock:
            if not self._in_flight:
                self._since = self._clock()
            self._in_flight += 1

    def _exit(self):
        with self._lock:
            self._in_flight -= 1
            if not self._in_flight:
                self._total += self._clock() - self._since

    def metered(self, urlopen):
        meter = self

        def metered_urlopen(pool, *args, **kwargs):
            meter._enter()
            try:
                return urlopen(pool, *args, **kwargs)
            finally:
                meter._exit()

        return metered_urlopen


_IO = IoMeter()


def _install_io_meter():
    """Time spent inside HTTP requests (botocore and any upstream client both go through urllib3)."""
    pool_module = sys.modules.get("urllib3.connectionpool")
    if pool_module is None or getattr(pool_module, "_bench_metered", False):
        return
    pool_module.HTTPConnectionPool.urlopen = _IO.metered(pool_module.HTTPConnectionPool.urlopen)
    pool_module._bench_metered = True


def _memory():
    import resource

    fields = {}
    try:
        with open("/proc/self/status") as status:
            for line in status:
                name, _, value = line.partition(":")
                if name in ("VmRSS", "VmHWM"):
                    fields[name] = int(value.split()[0])
    except OSError:
        pass
    return {
        "type": "stats",
        "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "vm_rss_kb": fields.get("VmRSS"),
        "vm_hwm_kb": fields.get("VmHWM"),
    }


def main():
    config = json.loads(sys.argv[1])
    protocol = _load_protocol(config["protocol"])
    read = protocol.read_message

    def write(fd, message):
        protocol.write_message(fd, message, default=str)

    in_fd, out_fd = config["in_fd"], config["out_fd"]
    stdlib = [path for path in sys.path if "site-packages" not in path]
    sys.path[:] = [*config["path"], *config["site_packages"], *stdlib]
    module_name, _, function_name = config["handler"].rpartition(".")

    started = time.perf_counter()
    try:
        # __import__ rather than importlib.import_module: only the former shows up in `-X importtime`.
        for preloaded in config.get("preload", ()):
            __import__(preloaded)
        __import__(module_name)
        handler = getattr(sys.modules[module_name], function_name)
    except Exception as error:  # noqa: BLE001 - reported to the parent as the cold start's failure
        write(out_fd, {"type": "first", "error": f"import: {type(error).__name__}: {error}"})
        return 1
    import_ms = (time.perf_counter() - started) * 1000
    first = read(in_fd)
    context = _prepare(True, config)
    started = time.perf_counter()
    try:
        status = _status(handler(first["event"], context))
        error = None
    except Exception as exc:  # noqa: BLE001
        status, error = 599, f"{type(exc).__name__}: {exc}"
    invoke_ms = (time.perf_counter() - started) * 1000
    sys.stdout.flush()
    write(
        out_fd,
        {"type": "first", "import_ms": import_ms, "invoke_ms": invoke_ms, "status": status, "error": error},
    )

    while (message := read(in_fd)) is not None:
        if message["type"] == "run":
            _install_io_meter()
            durations, io, statuses, errors = [], [], [], []
            for event, sampled in zip(message["events"], message["sampled"], strict=True):
                context = _prepare(sampled, config)
                io_before = _IO.total_ns()
                started_ns = time.perf_counter_ns()
                try:
                    status = _status(handler(event, context))
                except Exception as exc:  # noqa: BLE001
                    status = 599
                    if len(errors) < KEPT_ERRORS:
                        errors.append(f"{type(exc).__name__}: {exc}")
                durations.append(time.perf_counter_ns() - started_ns)
                io.append(_IO.total_ns() - io_before)
                statuses.append(status)
            sys.stdout.flush()
            write(out_fd, {"type": "ran", "ns": durations, "io_ns": io, "status": statuses, "errors": errors})
        elif message["type"] == "stats":
            write(out_fd, _memory())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
