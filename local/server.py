"""`python -m local`: the API of template.yaml on http://localhost:$PORT (default 3001), without Docker.

Requests go through an emulation of API Gateway's HTTP API (routes, JWT authorizer, payload format 2.0)
to the functions' real handlers, each function in its own worker processes; DynamoDB is moto's server
in this process (or `DYNAMODB_ENDPOINT`). Ctrl-C stops everything.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from local import apigw, auth
from local.bus import EventLog
from local.dynamodb import EmbeddedDynamoDB, ensure_tables
from local.model import StackModel, local_resources, match_route, stack_model
from local.openapi import SWAGGER_UI, merged_document
from local.template import load_template, resources_of_type
from local.workers import FunctionPool, InvocationError, InvocationTimeout, WorkerDied

DEFAULT_PORT = 3001
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
_print_lock = threading.Lock()


def say(line: str, stream=None) -> None:
    with _print_lock:
        print(line, file=stream or sys.stdout, flush=True)


def function_log(function: str, line: str) -> None:
    say(f"[{function}] {line}")


class LocalStack:
    def __init__(self, model: StackModel, base_url: str, port: int, max_workers: int = 10) -> None:
        self.model = model
        self.base_url = base_url
        self.port = port
        self.events = EventLog()
        self.pools = {
            name: FunctionPool(spec, function_log, max_workers) for name, spec in model.functions.items()
        }
        self._public_keys = auth.public_keys()
        self._openapi: dict[str, Any] | None = None
        self._openapi_lock = threading.Lock()

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
        elapsed = (time.perf_counter() - started) * 1000
        say(f"{request.method} {request.full_path.rstrip('?')} -> {response.status} {note}({elapsed:.0f} ms)")
        wsgi_response = Response(response.body, status=response.status)
        wsgi_response.headers.clear()
        for name, value in response.headers:
            wsgi_response.headers.add(name, value)
        return wsgi_response(environ, start_response)

    def dispatch(self, request: Request) -> tuple[apigw.OutgoingResponse, str]:
        path = request.path
        if path.startswith(("/_local/", "/.well-known/")):
            local = self.local_endpoint(request.method, path)
            if local is not None:
                return local, ""
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
                detail = str(error)
                return apigw.unauthorized(
                    None if detail == "no token" else detail
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
            outcome = pool.invoke(event)
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
    def local_endpoint(self, method: str, path: str) -> apigw.OutgoingResponse | None:
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
        if path == "/_local/workers":
            return apigw.json_response(200, {name: pool.describe() for name, pool in self.pools.items()})
        if path == "/_local/routes":
            return apigw.json_response(200, [self._route_row(route) for route in self.model.routes])
        if path == "/_local/openapi.json":
            return apigw.json_response(200, self.openapi())
        if path == "/_local/docs":
            page = SWAGGER_UI.format(title="Order Service").encode()
            return apigw.OutgoingResponse(200, [("Content-Type", "text/html; charset=utf-8")], page)
        return None

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
                with ThreadPoolExecutor(max_workers=len(self.pools) or 1) as executor:
                    futures = {name: executor.submit(pool.openapi) for name, pool in self.pools.items()}
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
        threads = [threading.Thread(target=pool.close) for pool in self.pools.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def kill_now(self) -> None:
        for pool in self.pools.values():
            pool.kill_now()

    def banner(self, dynamodb: str, tables: list[str], upstream: dict[str, str], stubbed: bool) -> str:
        rows = [("METHOD", "PATH", "FUNCTION", "AUTH")]
        for route in self.model.routes:
            auth_name = f"JWT ({route.authorizer.name})" if route.authorizer else "none"
            if route.scopes:
                auth_name += f" scopes: {' '.join(route.scopes)}"
            rows.append((route.method, route.path, route.function, auth_name))
        widths = [max(len(row[column]) for row in rows) for column in range(3)]
        table = "\n".join(
            "  " + "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths)) + "  " + row[3]
            for row in rows
        )
        url = self.base_url
        return (
            f"Order Service local stack (template.yaml)\n{table}\n\n"
            f"  API       {url}\n"
            f"  Docs      {url}/_local/docs   (OpenAPI: {url}/_local/openapi.json)\n"
            f"  Events    {url}/_local/events\n"
            f"  Workers   {url}/_local/workers\n"
            f"  JWKS      {url}/.well-known/jwks.json   (issuer {auth.ISSUER}, audience {auth.AUDIENCE})\n"
            f"  DynamoDB  {dynamodb}   (tables: {', '.join(tables)})\n"
            f"  Users     {upstream['USERS_API_URL']}{'   (stub, seeded from local/seed.json)' if stubbed else ''}\n"
            f"  Inventory {upstream['INVENTORY_API_URL']}{'   (stub)' if stubbed else ''}\n"
            f"  Token     make -s token USER=user-123 [ADMIN=1]\n"
            f"Ready. Ctrl-C to stop."
        )


class _RequestHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"  # (werkzeug still closes each connection after its response)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # the stack logs each request itself, with its function and timing


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart right after Ctrl-C
    try:
        sock.bind((host, port))
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(False)
    return sock


def main(argv: list[str] | None = None) -> int:
    try:
        port = int(os.environ.get("PORT") or DEFAULT_PORT)
    except ValueError:
        say(f"error: PORT={os.environ.get('PORT')!r} is not a port number", sys.stderr)
        return 2
    host = os.environ.get("HOST") or "127.0.0.1"
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

    template = load_template()
    external = os.environ.get("DYNAMODB_ENDPOINT")
    embedded = None if external else EmbeddedDynamoDB()
    stubs = None
    stack = None
    server = None
    try:
        endpoint = external or embedded.start()
        services = {"DYNAMODB_ENDPOINT": endpoint, "EVENTS_ENDPOINT": endpoint}
        stubs, upstream = _start_upstream_stubs()
        services.update(upstream)
        secret_values = {
            logical_id: auth.local_secret(logical_id)
            for logical_id in resources_of_type(template, "AWS::SecretsManager::Secret")
        }
        model = stack_model(services, template, secret_values)
        tables = ensure_tables(endpoint, template, local_resources(template).physical_ids)
        shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0", "localhost", "::1", "::") else host
        base_url = f"http://{shown_host}:{port}"
        max_workers = int(os.environ.get("LOCAL_MAX_WORKERS") or 10)
        stack = LocalStack(model, base_url, port, max_workers)
        server = make_server(
            host, port, stack, threaded=True, request_handler=_RequestHandler, fd=listener.fileno()
        )
        listener.close()  # the server holds its own duplicate
        _stop_on_signals(server, stack)
        say(
            stack.banner(
                endpoint + ("" if external else " (moto, in process)"), tables, upstream, stubs is not None
            )
        )
        server.serve_forever(poll_interval=0.2)
    finally:
        if server is not None:
            server.server_close()
        listener.close()
        if stack is not None:
            stack.close()
        if stubs is not None:
            stubs.stop()
        if embedded is not None and embedded.endpoint:
            embedded.stop()
    say("Stopped.")
    return 0


def _start_upstream_stubs() -> tuple[Any, dict[str, str]]:
    """The user and inventory services: `USERS_API_URL` / `INVENTORY_API_URL` if set, else the seeded
    stubs (local/upstream_stubs.py) on a free loopback port."""
    upstream = {
        name: os.environ[name] for name in ("USERS_API_URL", "INVENTORY_API_URL") if os.environ.get(name)
    }
    if len(upstream) == 2:
        return None, upstream
    try:
        from local.upstream_stubs import StubServer
    except ImportError:  # no stubs in this checkout: the functions will fail to reach upstream
        say(
            "warning: no upstream stubs (local/upstream_stubs.py); set USERS_API_URL and INVENTORY_API_URL",
            sys.stderr,
        )
        return None, {
            "USERS_API_URL": "http://127.0.0.1:9",
            "INVENTORY_API_URL": "http://127.0.0.1:9",
            **upstream,
        }
    stubs = StubServer().start()
    return stubs, {"USERS_API_URL": stubs.url, "INVENTORY_API_URL": stubs.url, **upstream}


def _stop_on_signals(server, stack: LocalStack) -> None:
    stopping = threading.Event()

    def handle(signum: int, frame: Any) -> None:
        if stopping.is_set():  # a second Ctrl-C: no more waiting
            stack.kill_now()
            os._exit(130)
        stopping.set()
        say("Stopping: workers, DynamoDB, HTTP server ...")
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGHUP, handle)


if __name__ == "__main__":
    raise SystemExit(main())
