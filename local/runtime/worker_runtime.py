"""One function's execution environment: run as a script (`python -I worker_runtime.py IN_FD OUT_FD`) in
its own process, with its own environment, imports the function's handler once (init, cold start) and
then serves invocations (warm) until its input pipe closes: what the Lambda runtime does.

Standard library only, and nothing of `local` is importable here: sys.path is the function's CodeUri,
its layers' `python/` folders and the virtual environment's site-packages (plus the standard library).

Protocol, both ways: the framing of `worker_protocol.py` (4-byte big-endian length + a JSON object), loaded
from this folder by file path since the folder is not importable here.
  parent → {"type": "init", "code_uri", "layer_paths", "site_packages", "handler"}   (first message)
  worker → {"type": "ready", "init_ms"} | {"type": "error", "errorType", "errorMessage", "stackTrace"}
  parent → {"type": "invoke", "event", "request_id", "deadline_ms", "function_arn", "trace_header", ...}
  worker → {"type": "result", "payload": "<JSON text>"} | {"type": "error", ...}
  parent → {"type": "openapi"}   worker → {"type": "openapi", "schema": "<JSON text>" | null}
    (the handler module's `app.get_openapi_json_schema()`, else its module-level dict `OPENAPI`)
The function's stdout and stderr are its log (the parent prefixes and prints them).
"""

import decimal
import importlib
import importlib.util
import json
import os
import signal
import sys
import threading
import time
import traceback


def _load_protocol():
    # Isolated (`-I`): this folder is not on sys.path, so the shared framing is loaded by its file path.
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker_protocol.py")
    spec = importlib.util.spec_from_file_location("_worker_protocol", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_protocol = _load_protocol()
read_message, write_message = _protocol.read_message, _protocol.write_message


class LambdaContext:
    """The attributes and method of the Python runtime's context object."""

    def __init__(self, invocation):
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.invoked_function_arn = invocation["function_arn"]
        self.aws_request_id = invocation["request_id"]
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = invocation["deadline_ms"]

    def get_remaining_time_in_millis(self):
        return max(int(self._deadline_ms - time.time() * 1000), 0)

    def __repr__(self):
        return f"LambdaContext([aws_request_id={self.aws_request_id},function_name={self.function_name}])"


def _to_json_value(value):
    # As the Lambda runtime's marshaller does: Decimals become JSON numbers.
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _error(error_type, error):
    # Leave this runtime's own frame out of the trace, as the Lambda runtime does.
    tb = error.__traceback__.tb_next if error.__traceback__ is not None else None
    stack = traceback.format_exception(type(error), error, tb)
    return {"type": "error", "errorType": error_type, "errorMessage": str(error), "stackTrace": stack}


def _report(message):
    # What the Lambda runtime writes to the function's log for an error.
    print(f"[ERROR] {message['errorType']}: {message['errorMessage']}", file=sys.stderr)
    print("".join(message["stackTrace"]).rstrip(), file=sys.stderr, flush=True)


def _exit_with_parent():
    """Leave when the stack goes away, even in the middle of a handler (no orphan workers)."""
    parent = os.getppid()
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(1)


def _init(message):
    code_uri = message["code_uri"]
    sys.path[:] = [code_uri, *message["layer_paths"], *(p for p in sys.path if "site-packages" not in p)]
    sys.path.extend(message["site_packages"])
    module_name, _, function_name = message["handler"].rpartition(".")
    started = time.perf_counter()
    module = importlib.import_module(module_name)
    handler = getattr(module, function_name)
    return module, handler, (time.perf_counter() - started) * 1000


def main():
    in_fd, out_fd = int(sys.argv[1]), int(sys.argv[2])
    sys.argv = [sys.argv[0]]
    # Ctrl-C is the stack's to handle: it stops workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, name="parent-watch", daemon=True).start()
    message = read_message(in_fd)
    if message is None or message.get("type") != "init":
        return 1
    try:
        module, handler, init_ms = _init(message)
    except Exception as error:  # noqa: BLE001 - any init failure is the function's (Runtime.ImportModuleError)
        reply = _error("Runtime.ImportModuleError", error)
        _report(reply)
        write_message(out_fd, reply)
        return 1
    write_message(out_fd, {"type": "ready", "init_ms": init_ms})
    while (message := read_message(in_fd)) is not None:
        if message["type"] == "invoke":
            # As Lambda's runtime does: the invocation's X-Ray trace header, in the environment.
            if message.get("trace_header"):
                os.environ["_X_AMZN_TRACE_ID"] = message["trace_header"]
            else:
                os.environ.pop("_X_AMZN_TRACE_ID", None)
            try:
                result = handler(message["event"], LambdaContext(message))
            except Exception as error:  # noqa: BLE001 - reported like the Lambda runtime reports it
                reply = _error(type(error).__name__, error)
                _report(reply)
            else:
                try:
                    reply = {"type": "result", "payload": json.dumps(result, default=_to_json_value)}
                except (TypeError, ValueError) as error:
                    reply = _error("Runtime.MarshalError", error)
                    _report(reply)
            sys.stdout.flush()
            sys.stderr.flush()
            write_message(out_fd, reply)
        elif message["type"] == "openapi":
            app = getattr(module, "app", None)
            schema = None
            if hasattr(app, "get_openapi_json_schema"):
                try:
                    schema = app.get_openapi_json_schema()
                except Exception as error:  # noqa: BLE001 - documentation is best effort
                    print(f"[WARN] OpenAPI schema: {error!r}", file=sys.stderr, flush=True)
            elif isinstance(getattr(module, "OPENAPI", None), dict):
                # A function without a resolver may describe itself in the same shape (such as /health).
                schema = json.dumps(module.OPENAPI)
            write_message(out_fd, {"type": "openapi", "schema": schema})
    return 0


if __name__ == "__main__":
    sys.exit(main())
