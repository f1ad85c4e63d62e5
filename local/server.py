"""`python -m local [--template PATH]`: the API of template.yaml on http://localhost:$PORT (default
3001), without Docker.

Requests go through an emulation of API Gateway's HTTP API (routes, JWT authorizer, payload format 2.0)
to the functions' real handlers, each function in its own worker processes. moto's server in this process
is DynamoDB (or `DYNAMODB_ENDPOINT`), EventBridge and SQS; the table's stream feeds its consumer function
as Lambda's event source mapping would, and every event put to a bus is printed and listed at
/_local/events. Edits under a function's CodeUri or layers take effect on the next request. Ctrl-C stops
everything.
"""

from __future__ import annotations

import argparse
import decimal
import errno
import json
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from local import apigw, auth
from local.bus import DeadLetterLog, EventCapture, EventLog
from local.embedded import EmbeddedServices, upstream_from_environment
from local.iam import SERVICE_SESSION, record_to_file
from local.model import StackModel, match_route, stack_model
from local.net import bind
from local.openapi import docs_endpoint, merged_document
from local.streams import FailureDestinations, StreamPoller
from local.template import TEMPLATE_PATH, TemplateError, load_template
from local.workers import FunctionPool, InvocationError, InvocationTimeout, WorkerDied

__all__ = ["LocalStack", "bind", "main"]

DEFAULT_PORT = 3001
IAM_OFF_WARNING = (
    "  warning: IAM is OFF (LOCAL_IAM=off): every function may call anything; what works here may be "
    "AccessDenied on AWS"
)
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
_print_lock = threading.Lock()


def say(line: str, stream=None) -> None:
    with _print_lock:
        print(line, file=stream or sys.stdout, flush=True)


def function_log(function: str, line: str) -> None:
    say(f"[{function}] {line}")


class LocalStack:
    def __init__(
        self,
        model: StackModel,
        base_url: str,
        port: int,
        max_workers: int = 10,
        *,
        services: EmbeddedServices | None = None,
        reload: bool = True,
        serve_api: bool = True,
    ) -> None:
        self.model = model
        self.serve_api = serve_api
        self.base_url = base_url
        self.port = port
        self.services = services
        self.events = EventLog()
        self.dead_letters = DeadLetterLog()
        iam = services.iam if services is not None else None
        self.pools = {
            name: FunctionPool(
                spec,
                function_log,
                max_workers,
                reload=reload,
                credentials=iam.provider(name) if iam is not None else None,
            )
            for name, spec in model.functions.items()
        }
        self.pollers: list[StreamPoller] = []
        self.capture: EventCapture | None = None
        self._public_keys = auth.public_keys()
        self._openapi: dict[str, Any] | None = None
        self._openapi_lock = threading.Lock()
        self.template_path: Path = TEMPLATE_PATH

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        """One invocation of a function (an Outcome); the event capture then looks for what it put."""
        try:
            return self.pools[function].invoke(event)
        finally:
            if self.capture is not None:
                self.capture.nudge()

    def start_background(self) -> None:
        """Capture the buses' events and poll the table streams (needs `services`, started)."""
        services = self.services
        if services is None:
            return
        self.capture = EventCapture(services.aws_endpoint, services.buses, self.events, say)
        self.capture.setup()
        self.capture.start()
        iam = services.iam

        def service_role(function: str) -> Any:
            """What the Lambda service uses for the function's event source mapping: the function's role."""
            return iam.provider(function, SERVICE_SESSION) if iam is not None else None

        destinations = FailureDestinations(
            services.aws_endpoint, services.queues, self.dead_letters, say, credentials_for=service_role
        )
        embedded_streams = services.dynamodb_endpoint == services.aws_endpoint
        for subscription in self.model.streams:
            poller = StreamPoller(
                subscription,
                services.dynamodb_endpoint,
                lambda event, function=subscription.function: self.invoke(function, event),
                destinations,
                say,
                forget_iterator=services.aws.forget_shard_iterator if embedded_streams else None,
                stream_credentials=service_role(subscription.function),
            )
            self.pollers.append(poller.start())

    # -------------------------------------------------------------------------------- WSGI
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        started = time.perf_counter()
        note = ""
        try:
            response, note = self.dispatch(request)
        except Exception as error:  # noqa: BLE001 - the stack itself failed: say so, keep serving
            say(f"local stack error: {error!r}", sys.stderr)
            response = apigw.internal_error()
        try:
            wsgi_response = _wsgi_response(response)
        except ValueError as error:
            # A response HTTP/1.1 cannot carry (a header that does not encode) would fail halfway through
            # sending and leave the client hanging: answer API Gateway's 500 instead.
            say(f"local stack error: unsendable response: {error}", sys.stderr)
            response, note = apigw.internal_error(), f"{note}unsendable response "
            wsgi_response = _wsgi_response(response)
        elapsed = (time.perf_counter() - started) * 1000
        say(f"{request.method} {request.full_path.rstrip('?')} -> {response.status} {note}({elapsed:.0f} ms)")
        return wsgi_response(environ, start_response)

    def dispatch(self, request: Request) -> tuple[apigw.OutgoingResponse, str]:
        path = request.path
        if path.startswith(("/_local/", "/.well-known/")):
            body = request.get_data(cache=False) if request.method == "POST" else b""
            local = self.local_endpoint(request.method, path, body)
            if local is not None:
                return local, ""
        if not self.serve_api:
            return apigw.not_found(), ""
        raw_uri = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.full_path
        raw_path = raw_uri.split("?", 1)[0]
        if "://" in raw_path:  # absolute-form request target
            raw_path = "/" + raw_path.split("://", 1)[1].partition("/")[2]
        # Matched on the path as sent, so that an encoded slash stays inside its segment (`{id}`);
        # path parameter values are decoded when the event is built.
        matched = match_route(self.model.routes, request.method, raw_path)
        if matched is None:
            return apigw.not_found(), ""
        route, path_parameters = matched
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return apigw.json_response(413, {"message": "Request Entity Too Large"}), ""
        body = request.get_data(cache=False)
        if len(body) > MAX_BODY_BYTES:
            return apigw.json_response(413, {"message": "Request Entity Too Large"}), ""
        incoming = apigw.IncomingRequest(
            method=request.method,
            raw_path=raw_path,
            raw_query=request.environ.get("QUERY_STRING", ""),
            headers=list(request.headers.items()),
            body=body,
            source_ip=request.remote_addr or "127.0.0.1",
            protocol=request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
        )
        authorizer_context = None
        if route.authorizer is not None:
            try:
                token = route.authorizer.token_from({k.lower(): v for k, v in incoming.headers})
                claims = route.authorizer.verify(token, self._public_keys, route.scopes)
            except auth.Unauthorized as error:
                detail = str(error)  # one of the verifier's fixed reasons, never request data
                return apigw.unauthorized(
                    None if detail == auth.jwt_verifier.NO_TOKEN else detail
                ), f"unauthorized: {detail} "
            except auth.Forbidden as error:
                return apigw.forbidden(), f"forbidden: {error} "
            authorizer_context = {
                "jwt": {"claims": auth.api_gateway_claims(claims), "scopes": auth.token_scopes(claims)}
            }
        request_id = apigw.new_request_id()
        event = apigw.build_event(
            incoming, route, path_parameters, request_id, authorizer_context, request.host, self.port
        )
        pool = self.pools[route.function]
        try:
            outcome = self.invoke(route.function, event)
            response = apigw.map_response(outcome.payload)
        except InvocationTimeout:
            say(f"[{route.function}] Task timed out after {pool.spec.timeout:.2f} seconds", sys.stderr)
            return self._with_request_id(
                apigw.service_unavailable(), request_id
            ), f"{route.function} timeout "
        except (InvocationError, WorkerDied, apigw.MalformedResponse) as error:
            if isinstance(error, apigw.MalformedResponse):
                say(f"[{route.function}] malformed Lambda proxy response: {error}", sys.stderr)
            return self._with_request_id(apigw.internal_error(), request_id), f"{route.function} failed "
        state = f"cold, init {outcome.init_ms:.0f} ms" if outcome.cold and outcome.init_ms else "warm"
        return self._with_request_id(
            response, request_id
        ), f"{route.function} {outcome.duration_ms:.0f} ms {state} "

    @staticmethod
    def _with_request_id(response: apigw.OutgoingResponse, request_id: str) -> apigw.OutgoingResponse:
        response.headers.append(("Apigw-Requestid", request_id))
        return response

    # -------------------------------------------------------------------------------- the stack's own
    def local_endpoint(self, method: str, path: str, body: bytes = b"") -> apigw.OutgoingResponse | None:
        if path.startswith("/_local/stubs/"):
            return self.stubs_endpoint(method, path.removeprefix("/_local/stubs/"), body)
        if method not in ("GET", "HEAD"):
            return None
        if path == "/.well-known/jwks.json":
            return apigw.json_response(200, auth.jwks())
        if path == "/.well-known/openid-configuration":
            return apigw.json_response(
                200,
                {
                    "issuer": auth.ISSUER,
                    "jwks_uri": f"{self.base_url}/.well-known/jwks.json",
                    "id_token_signing_alg_values_supported": [auth.ALGORITHM],
                },
            )
        if path == "/_local/events":
            return apigw.json_response(200, self.events.entries())
        if path == "/_local/dead-letters":
            return apigw.json_response(200, self.dead_letters.entries())
        if path == "/_local/streams":
            return apigw.json_response(200, [poller.describe() for poller in self.pollers])
        if path == "/_local/iam":
            iam = self.services.iam if self.services is not None else None
            return apigw.json_response(200, iam.describe() if iam is not None else {"enforced": False})
        if path == "/_local/services":
            return apigw.json_response(200, self.services.describe() if self.services else {})
        if path == "/_local/workers":
            return apigw.json_response(200, {name: pool.describe() for name, pool in self.pools.items()})
        if path == "/_local/routes":
            return apigw.json_response(200, [self._route_row(route) for route in self.model.routes])
        if path == "/_local/openapi.json":
            return apigw.json_response(200, self.openapi())
        if path == "/_local/docs" or path.startswith("/_local/docs/"):
            return docs_endpoint(path)  # the page and its assets (Swagger UI, served locally)
        return None

    def stubs_endpoint(self, method: str, action: str, body: bytes) -> apigw.OutgoingResponse | None:
        """`POST /_local/stubs/faults` (the stubs' fault plan), `GET /_local/stubs/state`,
        `POST /_local/stubs/reset` (reload the seed)."""
        stubs = self.services.stubs if self.services is not None else None
        known = {("POST", "faults"), ("GET", "state"), ("HEAD", "state"), ("POST", "reset")}
        if (method, action) not in known:
            return None
        if stubs is None:
            return apigw.json_response(
                404, {"message": "no upstream stubs here: USERS_API_URL and INVENTORY_API_URL are external"}
            )
        if action == "faults":
            try:
                plan = json.loads(body or b"{}")
                if not isinstance(plan, dict):
                    raise TypeError("the fault plan is a JSON object")
                stubs.stubs.set_faults(**plan)
            except (ValueError, TypeError) as error:
                return apigw.json_response(400, {"message": str(error)})
            say(f"[stubs] fault plan: {json.dumps(stubs.stubs.faults.describe())}")
            return apigw.json_response(200, stubs.stubs.faults.describe())
        if action == "reset":
            stubs.stubs.reset()
            say("[stubs] reset to the seed")
            return apigw.OutgoingResponse(204, [], b"")
        state = {**stubs.stubs.snapshot(), "faults": stubs.stubs.faults.describe()}
        body = json.dumps(state, default=_decimal, separators=(",", ":")).encode()
        return apigw.OutgoingResponse(200, [("Content-Type", "application/json")], body)

    @staticmethod
    def _route_row(route) -> dict[str, Any]:
        return {
            "method": route.method,
            "path": route.path,
            "function": route.function,
            "auth": route.authorizer.name if route.authorizer else None,
            "scopes": list(route.scopes),
        }

    def openapi(self) -> dict[str, Any]:
        with self._openapi_lock:
            if self._openapi is None:
                pools = {name: self.pools[name] for name in self.model.api_functions}
                with ThreadPoolExecutor(max_workers=len(pools) or 1) as executor:
                    futures = {name: executor.submit(pool.openapi) for name, pool in pools.items()}
                schemas = {}
                for name, future in futures.items():
                    try:
                        schemas[name] = future.result()
                    except Exception as error:  # noqa: BLE001 - one function's failure leaves a stub
                        say(f"[{name}] no OpenAPI schema: {error}", sys.stderr)
                        schemas[name] = None
                self._openapi = merged_document(self.model, schemas, self.base_url)
            return self._openapi

    def close(self) -> None:
        """Stop polling, then every worker (an invocation in progress ends with its worker), then the
        event capture."""
        for poller in self.pollers:
            poller.stop(wait=False)
        threads = [threading.Thread(target=pool.close) for pool in self.pools.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for poller in self.pollers:
            poller.join()
        if self.capture is not None:
            self.capture.stop()
        record_dir = os.environ.get("LOCAL_IAM_RECORD_DIR")
        if record_dir and self.services is not None and self.services.iam is not None:
            record_to_file(record_dir, str(self.template_path), self.services.iam.roles)

    def kill_now(self) -> None:
        for pool in self.pools.values():
            pool.kill_now()

    def banner(self, title: str = "Local stack", template_name: str = "template.yaml") -> str:
        url = self.base_url
        lines = [f"{title} ({template_name})"]
        if self.model.routes and self.serve_api:
            rows = [("METHOD", "PATH", "FUNCTION", "AUTH")]
            for route in self.model.routes:
                auth_name = f"JWT ({route.authorizer.name})" if route.authorizer else "none"
                if route.scopes:
                    auth_name += f" scopes: {' '.join(route.scopes)}"
                rows.append((route.method, route.path, route.function, auth_name))
            widths = [max(len(row[column]) for row in rows) for column in range(3)]
            lines += [
                "  " + "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths)) + "  " + row[3]
                for row in rows
            ]
            lines += [
                "",
                f"  API       {url}",
                f"  Docs      {url}/_local/docs   (OpenAPI: {url}/_local/openapi.json)",
            ]
        else:
            lines.append("")
        lines += [
            f"  Events    {url}/_local/events   (dead letters: {url}/_local/dead-letters)",
            f"  Workers   {url}/_local/workers",
            f"  JWKS      {url}/.well-known/jwks.json   (issuer {auth.ISSUER}, audience {auth.AUDIENCE})",
        ]
        services = self.services
        if services is not None:
            embedded = services.dynamodb_endpoint == services.aws_endpoint
            lines.append(
                f"  DynamoDB  {services.dynamodb_endpoint}{'   (moto, in process)' if embedded else ''}"
                f"   (tables: {', '.join(services.tables) or 'none'})"
            )
            buses = [bus for bus in services.buses if bus != "default"]
            queues = ", ".join(url.rsplit("/", 1)[-1] for url in services.queues.values()) or "none"
            lines.append(
                f"  AWS       {services.aws_endpoint}   (moto: EventBridge buses {', '.join(buses) or 'default'}; "
                f"SQS {queues})"
            )
            for subscription in self.model.streams:
                destination = (subscription.destination or "none").rsplit(":", 1)[-1]
                lines.append(
                    f"  Stream    {subscription.table_name} -> {subscription.function}   "
                    f"(batch {subscription.config.batch_size}, window {subscription.config.maximum_batching_window:g} s, "
                    f"on failure: {destination}; {url}/_local/streams)"
                )
            stubbed = services.stubs is not None
            upstream = services.upstream
            lines.append(
                f"  Users     {upstream.get('USERS_API_URL')}"
                f"{'   (stub, seeded from local/seed.json)' if stubbed else ''}"
            )
            lines.append(f"  Inventory {upstream.get('INVENTORY_API_URL')}{'   (stub)' if stubbed else ''}")
            if stubbed:
                lines.append(
                    f"  Stubs     {url}/_local/stubs/state   (faults: POST {url}/_local/stubs/faults)"
                )
        lines.append("  Reload    edits under functions/ and layers/ apply on the next invocation")
        if self.model.routes:
            lines.append("  Token     make -s token USER=user-123 [ADMIN=1]")
        lines += self._iam_lines(url)
        for warning in self.model.warnings:
            lines.append(f"  warning: {warning}")
        lines.append("Ready. Ctrl-C to stop.")
        return "\n".join(lines)

    def _iam_lines(self, url: str) -> list[str]:
        """One line per function: what its execution role allows (enforced by moto), or the warning."""
        services = self.services
        if services is None:
            return []
        if services.iam is None:
            if not self.serve_api:  # `make services`: the functions run under sam local, as you
                return [
                    "  IAM       not enforced: under sam local the functions run with your own credentials"
                ]
            return [IAM_OFF_WARNING]
        roles = services.iam.roles
        width = max((len(name) for name in roles), default=0)
        lines = [
            f"  IAM       each function runs as its own role from the template, enforced ({url}/_local/iam)"
        ]
        lines += [f"    {name.ljust(width)}  {role.summary()}" for name, role in roles.items()]
        return lines


def _wsgi_response(response: apigw.OutgoingResponse) -> Response:
    """The WSGI response; raises ValueError (before anything is sent) for a header HTTP/1.1 cannot carry."""
    wsgi_response = Response(response.body, status=response.status)
    wsgi_response.headers.clear()
    for name, value in response.headers:
        if problem := apigw.header_problem(name, value):
            raise ValueError(problem)
        wsgi_response.headers.add(name, value)
    return wsgi_response


class _RequestHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"  # (werkzeug still closes each connection after its response)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # the stack logs each request itself, with its function and timing


def _decimal(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def argument_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "-t",
        "--template",
        type=Path,
        default=TEMPLATE_PATH,
        help="the SAM template (default: template.yaml); paths in it are relative to its folder",
    )
    return parser


def template_error(path: Path, error: TemplateError) -> int:
    """One line on stderr: which resource of which template, and why."""
    say(f"error: {_shown(path)}: {error}", sys.stderr)
    return 2


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def stack_title(path: Path) -> str:
    return "Order Service local stack" if path.resolve() == TEMPLATE_PATH else "Local stack"


def load(path: Path) -> dict[str, Any]:
    return load_template(path.resolve())


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser("python -m local", "Serve a SAM template's HTTP API locally, without Docker.")
    args = parser.parse_args(argv)
    try:
        port = int(os.environ.get("PORT") or DEFAULT_PORT)
    except ValueError:
        say(f"error: PORT={os.environ.get('PORT')!r} is not a port number", sys.stderr)
        return 2
    host = os.environ.get("HOST") or "127.0.0.1"
    try:
        template = load(args.template)
    except TemplateError as error:
        return template_error(args.template, error)
    try:
        listener = bind(host, port)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            say(
                f"error: port {port} is already in use (another `make dev`?); "
                f"pick another with PORT={port + 1} make dev",
                sys.stderr,
            )
        else:
            say(f"error: cannot listen on {host}:{port}: {error.strerror}", sys.stderr)
        return 1

    enforce_iam = (os.environ.get("LOCAL_IAM") or "on").lower() not in ("off", "0", "false", "no")
    if not enforce_iam:
        say(IAM_OFF_WARNING.strip(), sys.stderr)
    services = EmbeddedServices(
        template,
        args.template.resolve().parent,
        dynamodb_endpoint=os.environ.get("DYNAMODB_ENDPOINT") or None,
        upstream=upstream_from_environment(),
        say=lambda line: say(line, sys.stderr),
        enforce_iam=enforce_iam,
    )
    return serve(args.template, template, listener, host, port, services, title=stack_title(args.template))


def serve(
    template_path: Path,
    template: dict[str, Any],
    listener: Any,
    host: str,
    port: int,
    services: EmbeddedServices,
    *,
    title: str,
    serve_api: bool = True,
    ready: Any = None,
) -> int:
    """Start `services`, build the stack for the template, serve it on `listener` until Ctrl-C, stop it
    all. `ready(stack)` returns extra banner text (or raises to abort). A template the stack cannot run
    is one line on stderr (exit code 2)."""
    stack = None
    server = None
    try:
        try:
            # What the template asks that cannot run locally fails here, before anything starts.
            stack_model({}, template, None, template_path.resolve().parent)
            variables = services.start()
            model = stack_model(variables, template, services.secret_values, template_path.resolve().parent)
        except TemplateError as error:
            return template_error(template_path, error)
        except (OSError, BotoCoreError, ClientError) as error:
            say(f"error: cannot start the embedded services: {error}", sys.stderr)
            return 1
        shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0", "localhost", "::1", "::") else host
        base_url = f"http://{shown_host}:{port}"
        max_workers = int(os.environ.get("LOCAL_MAX_WORKERS") or 10)
        stack = LocalStack(model, base_url, port, max_workers, services=services, serve_api=serve_api)
        stack.template_path = template_path
        server = make_server(
            host, port, stack, threaded=True, request_handler=_RequestHandler, fd=listener.fileno()
        )
        listener.close()  # the server holds its own duplicate
        _stop_on_signals(server, stack)
        stack.start_background()
        extra = ready(stack) if ready is not None else ""
        banner = stack.banner(title, _shown(template_path))
        say(banner.replace("\nReady.", f"\n{extra}\nReady.") if extra else banner)
        server.serve_forever(poll_interval=0.2)
    finally:
        if server is not None:
            server.server_close()
        listener.close()
        if stack is not None:
            stack.close()
        services.stop()
    say("Stopped.")
    return 0


def _stop_on_signals(server, stack: LocalStack) -> None:
    stopping = threading.Event()

    def handle(signum: int, frame: Any) -> None:
        if stopping.is_set():  # a second Ctrl-C: no more waiting
            stack.kill_now()
            os._exit(130)
        stopping.set()
        say("Stopping: stream polling, workers, moto, HTTP server ...")
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGHUP, handle)


if __name__ == "__main__":
    raise SystemExit(main())
