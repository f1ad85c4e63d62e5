"""The local stack's own endpoints, beside the API: `/_local/*` (the console and its order timelines, events,
dead letters, alarms, streams, IAM, operator credentials, services, workers, routes, the OpenAPI document and
its docs page, the upstream stubs' state, faults and reset, faults in the emulated AWS) and the issuer's
`/.well-known/*` (JWKS, OpenID configuration). README lists them."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, urlsplit

import simplejson

from local.aws import apigw, auth
from local.aws.faults import FAULTS
from local.aws.moto_server import stack_credentials
from local.aws.traces import MAX_TRACES
from local.common.log import say
from local.front import console
from local.front.openapi import docs_endpoint
from local.front.timeline import order_timeline
from local.template import Unresolvable, resources_of_type
from local.template.model import REGION

if TYPE_CHECKING:
    from local.aws.access_log import AccessLog
    from local.aws.alarms import Alarms
    from local.aws.bus import EventLog
    from local.aws.streams import StreamPoller, StreamRecordLog
    from local.front.embedded import EmbeddedServices
    from local.runtime.workers import FunctionPool
    from local.template.model import StackModel


class Stack(Protocol):
    """What these endpoints read of the running stack: named here, so that this module needs nothing of the
    server's (server.py's LocalStack passes itself)."""

    @property
    def base_url(self) -> str: ...
    @property
    def model(self) -> StackModel: ...
    @property
    def services(self) -> EmbeddedServices | None: ...
    @property
    def events(self) -> EventLog: ...
    @property
    def alarms(self) -> Alarms: ...
    @property
    def pollers(self) -> list[StreamPoller]: ...
    @property
    def pools(self) -> dict[str, FunctionPool]: ...
    @property
    def access_log(self) -> AccessLog: ...
    @property
    def stream_records(self) -> StreamRecordLog: ...

    def dead_letter_entries(self) -> list[dict[str, Any]]: ...
    def openapi(self) -> dict[str, Any]: ...


def endpoint(
    stack: Stack,
    method: str,
    path: str,
    body: bytes = b"",
    query: str = "",
    *,
    headers: Mapping[str, str] | None = None,
) -> apigw.OutgoingResponse | None:
    """The answer of the stack's own endpoint at `path`, or None when there is none (the API's, then).
    `headers`: the request's (a form post's origin is checked)."""
    if path.startswith("/_local/stubs/"):
        return stubs_endpoint(stack, method, path.removeprefix("/_local/stubs/"), body)
    if path == "/_local/aws-faults" and method == "POST":
        return aws_faults_endpoint(body)
    if path == console.STUB_FAULTS_FORM and method == "POST":
        return stub_faults_form(stack, body, headers or {})
    if method not in ("GET", "HEAD"):
        return None
    if path == "/_local":
        return console.redirect(console.CONSOLE_PATH)
    if path == console.CONSOLE_PATH:
        return console.console_page(console_view(stack))
    if path.startswith(console.ORDERS_PATH):
        return timeline_endpoint(stack, path.removeprefix(console.ORDERS_PATH))
    if path == "/.well-known/jwks.json":
        return apigw.json_response(200, auth.jwks())
    if path == "/.well-known/openid-configuration":
        return apigw.json_response(
            200,
            {
                "issuer": auth.ISSUER,
                "jwks_uri": f"{stack.base_url}/.well-known/jwks.json",
                "id_token_signing_alg_values_supported": [auth.ALGORITHM],
            },
        )
    if path == "/_local/events":
        return apigw.json_response(200, stack.events.entries())
    if path == "/_local/traces":
        return traces_endpoint(stack, parse_qs(query))
    if path == "/_local/dead-letters":
        return apigw.json_response(200, stack.dead_letter_entries())
    if path == "/_local/alarms":
        return apigw.json_response(200, stack.alarms.describe())
    if path == "/_local/aws-faults":
        return apigw.json_response(200, FAULTS.describe())
    if path == "/_local/operator":
        return operator_endpoint(stack, parse_qs(query).get("role", [""])[0])
    if path == "/_local/streams":
        return apigw.json_response(200, [poller.describe() for poller in stack.pollers])
    if path == "/_local/iam":
        iam = stack.services.iam if stack.services is not None else None
        return apigw.json_response(200, iam.describe() if iam is not None else {"enforced": False})
    if path == "/_local/services":
        return apigw.json_response(200, stack.services.describe() if stack.services else {})
    if path == "/_local/workers":
        return apigw.json_response(200, {name: pool.describe() for name, pool in stack.pools.items()})
    if path == "/_local/routes":
        return apigw.json_response(200, [_route_row(route) for route in stack.model.routes])
    if path == "/_local/openapi.json":
        return apigw.json_response(200, stack.openapi())
    if path == "/_local/docs" or path.startswith("/_local/docs/"):
        return docs_endpoint(path)  # the page and its assets (Swagger UI, served locally)
    return None


def traces_endpoint(stack: Stack, query: dict[str, list[str]]) -> apigw.OutgoingResponse:
    """The latest traces the functions sent, newest first, as span trees: `?traceId=`, `?correlationId=`
    (an API response's `apigw-requestid`), `?limit=` (default 50)."""
    if stack.services is None:
        return apigw.json_response(404, {"message": "no embedded services, so no trace collector"})
    try:
        limit = int(query.get("limit", ["50"])[0])
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_TRACES:
        return apigw.json_response(400, {"message": f"limit must be 1..{MAX_TRACES}"})
    return apigw.json_response(
        200,
        stack.services.traces.traces(
            trace_id=query.get("traceId", [None])[0],
            correlation_id=query.get("correlationId", [None])[0],
            limit=limit,
        ),
    )


def aws_faults_endpoint(body: bytes) -> apigw.OutgoingResponse:
    """`POST /_local/aws-faults`: replace the plan (local/aws/faults.py); `{}` clears it."""
    try:
        FAULTS.set(json.loads(body or b"{}"))
    except (ValueError, TypeError) as error:
        return apigw.json_response(400, {"message": str(error)})
    described = FAULTS.describe()
    say(f"[aws-faults] plan: {json.dumps(described['plan']) if described['plan'] else 'none (cleared)'}")
    return apigw.json_response(200, described)


def operator_endpoint(stack: Stack, role: str) -> apigw.OutgoingResponse:
    """`GET /_local/operator?role=<logical id>`: what an operator command (make redrive/replay/backfill)
    needs to act on this stack: endpoints, the template's outputs and parameters as resolved here, and
    fresh credentials of that role (IAM off: the stack's own)."""
    if not role:
        return apigw.json_response(400, {"message": "which role? /_local/operator?role=<role logical id>"})
    services = stack.services
    if services is None:
        return apigw.json_response(404, {"message": "no embedded services in this stack"})
    iam = services.iam
    known = set(iam.roles) if iam is not None else _template_roles(stack)
    if role not in known:
        return apigw.json_response(
            404, {"message": f"no role {role} in the template (roles: {', '.join(sorted(known)) or 'none'})"}
        )
    answer: dict[str, Any] = {
        "stage": "local",
        "role": role,
        "region": REGION,
        "endpoint": services.aws_endpoint,
        "dynamodbEndpoint": services.dynamodb_endpoint,
        "outputs": template_outputs(stack),
        "parameters": {
            **stack.model.resources.parameters,
            "InventoryApiUrl": services.upstream.get("INVENTORY_API_URL"),
            "UsersApiUrl": services.upstream.get("USERS_API_URL"),
        },
        "iamEnforced": iam is not None,
    }
    if iam is not None:
        credentials = iam.credentials(role, OPERATOR_SESSION)
        answer["credentials"] = credentials.environment
        answer["expires"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(credentials.expires_at))
    else:
        answer["credentials"] = stack_credentials()  # the placeholders moto accepts while IAM is off
    return apigw.json_response(200, answer)


OPERATOR_SESSION = "operator"  # the session name of operator credentials (GET /_local/iam shows it)


def _template_roles(stack: Stack) -> set[str]:
    """Without IAM: the template's own roles and its functions (the keys IAM would have)."""
    template = stack.model.resources.template
    return set(resources_of_type(template, "AWS::IAM::Role")) | set(stack.model.functions)


def template_outputs(stack: Stack) -> dict[str, Any]:
    """Every Output of the template whose value resolves locally (one whose Condition is false, or that
    names something with no local value, is left out)."""
    resources = stack.model.resources
    outputs = {}
    for name, output in (resources.template.get("Outputs") or {}).items():
        if not isinstance(output, dict):
            continue
        try:
            if output.get("Condition") and not resources.resolve({"Condition": output["Condition"]}):
                continue
            value = resources.resolve(output.get("Value"))
        except (Unresolvable, KeyError, TypeError, ValueError, IndexError):
            continue
        if isinstance(value, (str, int, float, bool)):
            outputs[name] = value
        elif isinstance(value, list):
            outputs[name] = ",".join(map(str, value))
    return outputs


# ---------------------------------------------------------------------------------------- the console
JSON_ENDPOINTS = (
    ("/_local/events", "every event put on the bus since start"),
    ("/_local/dead-letters", "the failed batches, each with its records"),
    ("/_local/streams", "the table streams' mappings"),
    ("/_local/alarms", "the template's alarms, emulated"),
    ("/_local/traces", "the spans the functions sent"),
    ("/_local/workers", "worker processes"),
    ("/_local/routes", "routes"),
    ("/_local/iam", "execution roles and every authorization moto made"),
    ("/_local/stubs/state", "the upstream stubs: users, stock, reservations, calls"),
    ("/_local/aws-faults", "faults in the emulated AWS"),
)


def console_view(stack: Stack, error: str | None = None) -> console.ConsoleView:
    """What the console shows, read from the stack now (never credentials: a role's name and summary only)."""
    services = stack.services
    iam = services.iam if services is not None else None
    functions = []
    for name, pool in stack.pools.items():
        role = iam.roles.get(name) if iam is not None else None
        functions.append(
            console.FunctionRow(
                name,
                pool.describe(),
                role.name if role is not None else None,
                role.summary() if role is not None else None,
            )
        )
    stubs_server = services.stubs if services is not None else None
    stubs = None
    if stubs_server is not None:
        upstream = stubs_server.stubs
        stubs = console.StubsView(
            upstream.faults.describe(), upstream.faults_injected, upstream.recent_calls()
        )
    return console.ConsoleView(
        title="Local stack console",
        base_url=stack.base_url,
        routes=[_route_row(route) for route in stack.model.routes],
        functions=functions,
        requests=stack.access_log.entries(),
        request_log_limit=stack.access_log.limit,
        events=stack.events.timed_entries(),
        dead_letters=stack.dead_letter_entries(),
        streams=[poller.describe() for poller in stack.pollers],
        stubs=stubs,
        iam_enforced=iam is not None,
        error=error,
        links=list(JSON_ENDPOINTS),
    )


def timeline_endpoint(stack: Stack, order_id: str) -> apigw.OutgoingResponse:
    """`GET /_local/orders/<id>`: the order's timeline page, or a 404 page (an id no log mentions, or no id)."""
    services = stack.services
    stubs_server = services.stubs if services is not None else None
    timeline = order_timeline(
        order_id,
        requests=stack.access_log.entries(),
        records=stack.stream_records.records(),
        events=stack.events.timed_entries(),
        dead_letters=stack.dead_letter_entries(),
        stub_calls=stubs_server.stubs.recent_calls() if stubs_server is not None else [],
    )
    if timeline is None:
        return console.not_found_page(
            f"No order {order_id!r} in what this stack has seen since it started: no request, stream record, "
            "event or inventory call names it."
        )
    return console.timeline_page(timeline)


def stub_faults_form(stack: Stack, body: bytes, headers: Mapping[str, str]) -> apigw.OutgoingResponse:
    """`POST /_local/console/stub-faults` (the console's form): set the stubs' fault plan as
    `POST /_local/stubs/faults` does, then back to the console (303); a plan refused is the console again,
    with the reason (400). A post from another site's page is refused: the form is for this page only."""
    if not _same_origin(headers):
        return console.refused_page(403, "A form posted from another site's page: refused.")
    stubs = stack.services.stubs if stack.services is not None else None
    if stubs is None:
        return console.console_page(console_view(stack, "No upstream stubs here."), 404)
    try:
        set_stub_faults(stubs.stubs, console.fault_plan_from_form(body))
    except (ValueError, TypeError) as error:
        return console.console_page(console_view(stack, f"Fault plan refused: {error}"), 400)
    return console.redirect(f"{console.CONSOLE_PATH}#stub-faults")


def _same_origin(headers: Mapping[str, str]) -> bool:
    """A browser names the page a form was posted from (`Origin`, `Sec-Fetch-Site`); a client that names
    none (curl) is let through, as the JSON endpoints are."""
    lowered = {name.lower(): value for name, value in headers.items()}
    if lowered.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = lowered.get("origin")
    return origin is None or urlsplit(origin).netloc == lowered.get("host", "")


def set_stub_faults(stubs: Any, plan: Any) -> dict[str, Any]:
    """Replace the stubs' fault plan (local/stubs/upstream.py's fields); the plan as it now stands. Raises
    ValueError or TypeError for a plan the stubs refuse."""
    if not isinstance(plan, dict):
        raise TypeError("the fault plan is a JSON object")
    stubs.set_faults(**plan)
    described: dict[str, Any] = stubs.faults.describe()
    say(f"[stubs] fault plan: {json.dumps(described)}")
    return described


def stubs_endpoint(stack: Stack, method: str, action: str, body: bytes) -> apigw.OutgoingResponse | None:
    """`POST /_local/stubs/faults` (the stubs' fault plan), `GET /_local/stubs/state`,
    `POST /_local/stubs/reset` (reload the seed)."""
    stubs = stack.services.stubs if stack.services is not None else None
    known = {("POST", "faults"), ("GET", "state"), ("HEAD", "state"), ("POST", "reset")}
    if (method, action) not in known:
        return None
    if stubs is None:
        return apigw.json_response(
            404, {"message": "no upstream stubs here: USERS_API_URL and INVENTORY_API_URL are external"}
        )
    if action == "faults":
        try:
            described = set_stub_faults(stubs.stubs, json.loads(body or b"{}"))
        except (ValueError, TypeError) as error:
            return apigw.json_response(400, {"message": str(error)})
        return apigw.json_response(200, described)
    if action == "reset":
        stubs.stubs.reset()
        say("[stubs] reset to the seed")
        return apigw.OutgoingResponse(204, [], b"")
    state = {**stubs.stubs.snapshot(), "faults": stubs.stubs.faults.describe()}
    # The stubs keep prices as Decimals: written exactly, as the stubs themselves answer (never as floats).
    body = simplejson.dumps(state, use_decimal=True, separators=(",", ":")).encode()
    return apigw.OutgoingResponse(200, [("Content-Type", "application/json")], body)


def _route_row(route) -> dict[str, Any]:
    return {
        "method": route.method,
        "path": route.path,
        "function": route.function,
        "auth": route.authorizer.name if route.authorizer else None,
        "scopes": list(route.scopes),
    }
