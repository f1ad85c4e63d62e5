"""The local stack as a WSGI app: the API of a SAM template without Docker (cli.py serves it: `python -m
local`, default http://localhost:3001).

Requests go through an emulation of API Gateway's HTTP API (routes, JWT authorizer, payload format 2.0)
to the functions' real handlers, each function in its own worker processes. moto's server in this process
is DynamoDB (or `DYNAMODB_ENDPOINT`), EventBridge (buses and archives), SQS and S3; the table's stream feeds
its consumer function as Lambda's event source mapping would (failed batches to its on-failure queue or
bucket, alarms emulated), and every event put to a bus is printed and listed at /_local/events (the
stack's own endpoints are control.py's). Edits under a function's CodeUri or layers
take effect on the next request.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from werkzeug.serving import WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from local.aws import apigw, auth
from local.aws.access_log import AccessLog, AccessLogEntry, resource_id
from local.aws.alarms import Alarms
from local.aws.bus import DeadLetterLog, EventCapture, EventLog
from local.aws.iam import OPERATOR, SERVICE_SESSION, record_to_file
from local.aws.streams import FailureDestinations, StreamPoller, StreamRecordLog
from local.common.log import function_log, say
from local.front import control
from local.front.embedded import EmbeddedServices
from local.front.openapi import merged_document
from local.runtime.workers import FunctionPool, InvocationError, InvocationTimeout, WorkerDied
from local.template import TEMPLATE_PATH
from local.template.model import StackModel, match_route

__all__ = ["IAM_OFF_WARNING", "LocalStack", "RequestHandler"]

IAM_OFF_WARNING = (
    "  warning: IAM is OFF (LOCAL_IAM=off): every function may call anything; what works here may be "
    "AccessDenied on AWS"
)
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit


@dataclass
class ApiCall:
    """What the API path learnt of a request on its way (for its access log entry): filled in as far as the
    request got (a refused token has no caller, a request no route matched has nothing)."""

    route_key: str | None = None
    function: str | None = None
    caller: str | None = None
    correlation_id: str | None = None
    path_parameters: dict[str, str] = field(default_factory=dict)


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
        self.access_log = AccessLog()
        self.stream_records = StreamRecordLog()
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
        self.alarms = Alarms(model.resources)
        self.destinations: FailureDestinations | None = None
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
            services.aws_endpoint,
            services.queues,
            self.dead_letters,
            say,
            credentials_for=service_role,
            alarms=self.alarms,
        )
        self.destinations = destinations
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
                record_log=self.stream_records,
            )
            self.pollers.append(poller.start())

    def dead_letter_entries(self) -> list[dict[str, Any]]:
        """Every batch given up on since start, oldest first; an S3 one says whether its object is still
        in the bucket (`present`)."""
        entries = self.dead_letters.entries()
        return self.destinations.present(entries) if self.destinations is not None else entries

    # -------------------------------------------------------------------------------- WSGI
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        received_at = time.time()
        started = time.perf_counter()
        note = ""
        api_call: ApiCall | None = None
        try:
            response, note, api_call = self.dispatch(request)
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
        if api_call is not None:
            self._log_access(request, received_at, elapsed, response, api_call)
        return wsgi_response(environ, start_response)

    def _log_access(
        self,
        request: Request,
        received_at: float,
        elapsed_ms: float,
        response: apigw.OutgoingResponse,
        api_call: ApiCall,
    ) -> None:
        location = next((value for name, value in response.headers if name.lower() == "location"), None)
        self.access_log.append(
            AccessLogEntry(
                received_at=received_at,
                method=request.method,
                path=request.path,
                status=response.status,
                latency_ms=elapsed_ms,
                route_key=api_call.route_key,
                function=api_call.function,
                caller=api_call.caller,
                correlation_id=api_call.correlation_id,
                resource_id=resource_id(api_call.path_parameters, location),
            )
        )

    def dispatch(self, request: Request) -> tuple[apigw.OutgoingResponse, str, ApiCall | None]:
        """The response, a note for the log line, and what the API learnt of the request (None: one of the
        stack's own endpoints, which the access log leaves out)."""
        path = request.path
        if path.startswith(("/_local", "/.well-known/")):
            body = request.get_data(cache=False) if request.method == "POST" else b""
            local = control.endpoint(
                self,
                request.method,
                path,
                body,
                request.environ.get("QUERY_STRING", ""),
                headers=request.headers,
            )
            if local is not None:
                return local, "", None
        api_call = ApiCall()
        response, note = self._api(request, api_call)
        return response, note, api_call

    def _api(self, request: Request, api_call: ApiCall) -> tuple[apigw.OutgoingResponse, str]:
        """A request to the API, through API Gateway's emulation to its function."""
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
        api_call.route_key, api_call.function = route.route_key, route.function
        api_call.path_parameters = {name: unquote(value) for name, value in path_parameters.items()}
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
            authorizer = auth.local_authorizer(route.authorizer)
            try:
                token = authorizer.token_from({k.lower(): v for k, v in incoming.headers})
                claims = authorizer.verify(token, self._public_keys, route.scopes)
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
            subject = claims.get("sub")
            api_call.caller = subject if isinstance(subject, str) else None
        request_id = apigw.new_request_id()
        api_call.correlation_id = request_id
        event = apigw.build_event(
            incoming,
            route,
            path_parameters,
            request_id=request_id,
            authorizer=authorizer_context,
            host=request.host,
            port=self.port,
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
        # The console first: one page with all of what follows (and each order's timeline).
        lines = [
            f"{title} ({template_name})",
            f"  Console   {url}/_local/   (an order's timeline: {url}/_local/orders/<id>)",
        ]
        if self.model.routes and self.serve_api:
            rows = [("METHOD", "PATH", "FUNCTION", "AUTH")]
            for route in self.model.routes:
                auth_name = f"JWT ({route.authorizer.name})" if route.authorizer else "none"
                if route.scopes:
                    auth_name += f" scopes: {' '.join(route.scopes)}"
                rows.append((route.method, route.path, route.function, auth_name))
            widths = [max(len(row[column]) for row in rows) for column in range(3)]
            lines += [
                "  "
                + "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
                + "  "
                + row[3]
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
            f"  Alarms    {url}/_local/alarms   (faults in AWS: POST {url}/_local/aws-faults)",
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
            archives = f" (archives {', '.join(services.archives.values())})" if services.archives else ""
            buckets = ", ".join(services.buckets.values()) or "none"
            lines.append(
                f"  AWS       {services.aws_endpoint}   (moto: EventBridge buses {', '.join(buses) or 'default'}"
                f"{archives}; SQS {queues}; S3 {buckets})"
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
                f"{'   (stub, seeded from local/stubs/seed.json)' if stubbed else ''}"
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
        functions = {name: role for name, role in roles.items() if role.kind != OPERATOR}
        operators = {name: role for name, role in roles.items() if role.kind == OPERATOR}
        lines = [
            f"  IAM       each function runs as its own role from the template, enforced ({url}/_local/iam)"
        ]
        lines += [f"    {name.ljust(width)}  {role.summary()}" for name, role in functions.items()]
        if operators:
            lines.append(
                f"  Operators the template's other roles, enforced; credentials and outputs: "
                f"{url}/_local/operator?role=<role>"
            )
            lines += [f"    {name.ljust(width)}  {role.summary()}" for name, role in operators.items()]
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


class RequestHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"  # (werkzeug still closes each connection after its response)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # the stack logs each request itself, with its function and timing
