"""HTTP glue shared by every API function: the router (`orders.http.routes`, Powertools' resolver behind it),
claims -> caller, JSON with exact Decimals, and the one place that maps errors to RFC 9457 problem+json
responses."""

from __future__ import annotations

import base64
import json
import os
import re
import time
import warnings
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import simplejson
from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as AwsConnectionError

from orders.domain.caller import Caller, caller_from_claims
from orders.domain.errors import (
    BodyNotAnObject,
    InvalidPrecondition,
    OrderError,
    PayloadTooLarge,
    Unauthenticated,
    UpstreamUnavailable,
)
from orders.domain.jsonio import dumps
from orders.http import docs, problems
from orders.http.routes import Response, Router

if TYPE_CHECKING:
    from orders.domain.models import Order

logger = Logger(child=True)
# Read-only endpoints publish no business metric; Powertools would warn about that on every request.
warnings.filterwarnings("ignore", message="No application metrics to publish")

MAX_BODY_BYTES = 64 * 1024
JSON = "application/json"
PROBLEM_JSON = problems.PROBLEM_JSON
PROBLEM_TYPE_BASE = problems.PROBLEM_TYPE_BASE
# RFC 9110 §8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, etagc = %x21 / %x23-7E / obs-text; obs-text
# (bytes 0x80-0xFF, which senders must not generate) is refused here: a 400.
_ENTITY_TAG = re.compile(r'(W/)?"([\x21\x23-\x7e]*)"')
# `If-Match` as a whole (the OpenAPI document's pattern, so that clients and fuzzers know the syntax):
# `*`, or entity-tags separated by commas with optional spaces; empty list elements are allowed.
_OPAQUE_TAG = r'(W/)?"[\x21\x23-\x7e]*"'
IF_MATCH_PATTERN = rf"^[ \t]*(\*|(,[ \t]*)*{_OPAQUE_TAG}([ \t]*,([ \t]*{_OPAQUE_TAG})?)*)[ \t]*$"
_IF_MATCH = re.compile(IF_MATCH_PATTERN)
# The tags this API issues: a version in canonical decimal, ASCII only (str.isdigit() would let "²" in).
_VERSION = re.compile(r"[1-9][0-9]{0,17}")


# ---------------------------------------------------------------------------------------- JSON


def loads_body(text: str) -> dict[str, Any]:
    """Request bodies: a JSON object, numbers with a fraction parsed as `Decimal`; oversized refused first."""
    if len(text) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body is over {MAX_BODY_BYTES // 1024} KB.")
    try:
        size = len(text.encode())
    except UnicodeEncodeError:
        # A lone surrogate (an event's JSON may carry one as an escape): not text any request could have sent.
        raise json.JSONDecodeError("the body is not Unicode text", "", 0) from None
    if size > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body is over {MAX_BODY_BYTES // 1024} KB.")
    try:
        body = simplejson.loads(text, use_decimal=True)
    except simplejson.JSONDecodeError as error:
        # Powertools' validation turns the standard library's error into a 400 problem.
        raise json.JSONDecodeError(error.msg, error.doc, error.pos) from None
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text[:64], 0) from None
    except (ValueError, ArithmeticError):
        # Any other failure to read the text is malformed input too: e.g. an integer past Python's
        # 4,300-digit conversion limit (ValueError). Never a 500.
        raise json.JSONDecodeError("a value cannot be read (e.g. a number too long)", text[:64], 0) from None
    if not isinstance(body, dict):
        # Powertools would otherwise validate the first element of a top-level array as the body.
        whole_body = {"in": "body", "pointer": "", "detail": "Input should be a JSON object"}
        raise BodyNotAnObject("The body must be a JSON object.", errors=[whole_body])
    return body


# ---------------------------------------------------------------------------------------- responses
def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response[str]:
    return Response(status_code=status, content_type=JSON, body=dumps(payload), headers=dict(headers or {}))


def order_response(
    order: Order, status: int = HTTPStatus.OK, extra_headers: Mapping[str, str] | None = None
) -> Response[str]:
    return wire_order_response(order.to_wire(), status, extra_headers)


def wire_order_response(
    order: Mapping[str, Any], status: int = HTTPStatus.OK, extra_headers: Mapping[str, str] | None = None
) -> Response[str]:
    """An order already in its wire form (`OrderService.get_wire`), with its version as ETag."""
    return json_response(status, order, {"ETag": etag(order["version"]), **(extra_headers or {})})


def problem(slug: str, detail: str | None = None, **extensions: Any) -> Response[str]:
    """One problem of the table (`orders.http.problems`): its status, title and headers, this detail."""
    status, body = problems.problem_body(slug, detail, **extensions)
    headers = dict(problems.PROBLEMS[slug].headers)
    return Response(status_code=status, content_type=PROBLEM_JSON, body=dumps(body), headers=headers)


def error_problem(error: OrderError) -> Response[str]:
    return problem(error.slug, error.detail, **error.extensions)


def _pointer(location: Iterable[Any]) -> str:
    """RFC 6901: "" is the whole document, "/items/0/quantity" a member of it."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in location)


def validation_problem(errors: list[dict[str, Any]]) -> Response[str]:
    if any(error.get("type") == "unsupported_content_type" for error in errors):
        return problem("unsupported-media-type")
    if any(error.get("type") == "json_invalid" for error in errors):
        return problem("malformed-json")
    # Only where and why: the rejected input is never echoed (it may hold an address).
    fields = [
        {"in": str(error["loc"][0]), "pointer": _pointer(error["loc"][1:]), "detail": error["msg"]}
        for error in errors
    ]
    return problem("validation-error", errors=fields)


# ---------------------------------------------------------------------------------------- caller, headers
def _authorizer_claims(event: Mapping[str, Any]) -> Any:
    context = event.get("requestContext") or {}
    return ((context.get("authorizer") or {}).get("jwt") or {}).get("claims")


def current_caller(app: Router) -> Caller:
    """The caller `resolve` decided before routing (a request without a usable caller never reaches a
    route), read back from the resolver's per-request context rather than decided a second time."""
    caller: Caller = app.context["caller"]
    return caller


class SamLocalAuthMissing(OrderError):
    slug = "sam-local-auth-missing"


def _sam_local_claims(event: dict[str, Any]) -> dict[str, str]:
    """Under `sam local` (`AWS_SAM_LOCAL=true`, set by SAM CLI, never by Lambda) no authorizer runs: the
    bearer token is verified here, with the authorizer's rules, by the sam-local layer (`SamLocalAuth=true`
    adds it; a deployment never has it) and its claims are put where API Gateway puts them."""
    try:
        import sam_local_auth  # the SamLocalAuthLayer (layers/sam_local): PyJWT + cryptography
    except ImportError:
        logger.error(
            "AWS_SAM_LOCAL=true but the sam-local layer is missing: sam build and sam local "
            "start-api need --parameter-overrides SamLocalAuth=true (see make services)"
        )
        raise SamLocalAuthMissing(
            "Under sam local the functions verify tokens with the SamLocalAuth layer: build and start with "
            "--parameter-overrides SamLocalAuth=true."
        ) from None
    try:
        claims = sam_local_auth.verified_claims(event.get("headers") or {})
    except sam_local_auth.TokenRefused:
        raise Unauthenticated("The bearer token is missing or not valid.") from None
    except sam_local_auth.IssuerUnavailable:
        raise UpstreamUnavailable("token issuer") from None
    context = event.setdefault("requestContext", {})
    context.setdefault("authorizer", {})["jwt"] = {"claims": claims, "scopes": None}
    return claims


def correlation_id(app: Router) -> str | None:
    request_id: str | None = (app.current_event.get("requestContext") or {}).get("requestId")
    return request_id


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(value: str | None) -> frozenset[int] | None:
    """`If-Match` as RFC 9110 §13.1.1 reads it: None when absent or `*` (no version condition); else the
    versions whose ETag the list names by strong comparison (`"3", "4"` -> {3, 4}). A weak tag (`W/"3"`) or
    one this API never issues (`"abc"`, `"03"`) is well-formed but matches nothing, so it adds nothing
    (an empty set: 412 for an order you may see). Anything that is not a list of entity-tags is a 400."""
    if value is None:
        return None
    if _IF_MATCH.fullmatch(value) is None:
        raise InvalidPrecondition('If-Match must be "*" or a list of entity-tags, such as "3".')
    if value.strip(" \t") == "*":
        return None
    # The syntax holds, and an opaque tag cannot hold a quote: each match is one entity-tag, in order.
    return frozenset(
        int(tag.group(2))
        for tag in _ENTITY_TAG.finditer(value)
        if tag.group(1) is None and _VERSION.fullmatch(tag.group(2))
    )


DEADLINE_MARGIN_SECONDS = 1.0


def deadline(app: Router) -> float:
    """When upstream calls must be over: the function's remaining time less a margin to answer in."""
    remaining_seconds: float = app.lambda_context.get_remaining_time_in_millis() / 1000
    return time.monotonic() + remaining_seconds - DEADLINE_MARGIN_SECONDS


def _unreadable_body_problem(event: Mapping[str, Any]) -> Response[str] | None:
    """A body the resolver must not try to parse: not JSON (415), or bytes that are not UTF-8 (400).
    Powertools would parse multipart and form bodies itself, and fails on undecodable bytes."""
    if not event.get("body"):
        return None
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    media_type = (headers.get("content-type") or JSON).split(";")[0].strip().lower()
    if media_type != JSON and not media_type.endswith("+json"):
        return problem("unsupported-media-type")
    if event.get("isBase64Encoded"):
        try:
            base64.b64decode(event["body"], validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return problem("malformed-json")
    return None


def _authenticate(event: dict[str, Any]) -> Caller | Response[str]:
    """Who is calling, decided before anything else, as API Gateway's authorizer runs before the function:
    no usable caller is a 401 even when the body is also invalid. Under `sam local` the token is verified
    here first."""
    try:
        claims = _authorizer_claims(event)
        if claims is None and os.environ.get("AWS_SAM_LOCAL") == "true":
            claims = _sam_local_claims(event)
        return caller_from_claims(claims)
    except OrderError as error:
        return error_problem(error)


def _as_result(refusal: Response[str]) -> dict[str, Any]:
    return {
        "statusCode": refusal.status_code,
        "headers": {"Content-Type": PROBLEM_JSON, **refusal.headers},
        "body": refusal.body,
        "isBase64Encoded": False,
    }


def resolve(app: Router, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """`app.resolve`, after authentication (401 first, as behind API Gateway) and after refusing bodies the
    resolver cannot read (as problems, never 500s)."""
    caller = _authenticate(event)
    if isinstance(caller, Response):
        return _as_result(caller)
    if refusal := _unreadable_body_problem(event):
        return _as_result(refusal)
    # For `current_caller`; cleared after every request.
    return app.resolve(_with_lowercase_content_type(event), context, caller=caller)


def _with_lowercase_content_type(event: dict[str, Any]) -> dict[str, Any]:
    """Media types are case-insensitive (RFC 9110 8.3.1), and `_unreadable_body_problem` reads them so; the
    router and Powertools compare `application/json` as written, and would refuse `Application/JSON`."""
    headers: dict[str, Any] = event.get("headers") or {}
    written = {name: value for name, value in headers.items() if name.lower() == "content-type"}
    if all(not isinstance(value, str) or value == value.lower() for value in written.values()):
        return event
    return {**event, "headers": {**headers, **{name: value.lower() for name, value in written.items()}}}


# Throttling, as DynamoDB and SSM answer it (botocore's standard retry mode retries these codes, and 5xx, before
# the error reaches us).
THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "Throttling",
        "TooManyRequestsException",
    }
)


def aws_unavailable(error: ClientError | BotoCoreError) -> bool:
    """Whether an AWS call failed because the service was busy or unreachable (after botocore's retries), not
    because of what was asked: throttling, a 5xx, a timeout or a broken connection."""
    if isinstance(error, ClientError):
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return (
            status >= HTTPStatus.INTERNAL_SERVER_ERROR
            or error.response.get("Error", {}).get("Code") in THROTTLING_CODES
        )
    return isinstance(error, (AwsConnectionError, HTTPClientError))


def build_resolver(
    foreign_errors: Mapping[type[Exception], str] = {},
    *,
    validation: bool = True,
) -> Router:
    """`foreign_errors`: exceptions not ours, by the problem type they answer (e.g.
    `problems.idempotency_refusals()`). `validation=False` for routes with nothing to validate but their
    path: Powertools' resolver, when a request needs it, is then built without its validation (pydantic)."""
    app = Router(validation=validation, serializer=dumps, json_body_deserializer=loads_body)
    app.configure_openapi(title=docs.API_TITLE, description=docs.API_DESCRIPTION)

    app.exception_handler(OrderError)(error_problem)
    app.invalid_request(validation_problem)

    for exception_type, slug in foreign_errors.items():

        def _refused(_: Exception, slug: str = slug) -> Response[str]:
            return problem(slug)

        app.exception_handler(exception_type)(_refused)

    @app.not_found
    def _no_route(_: Exception) -> Response[str]:
        return problem("not-found")

    def _unexpected(error: Exception) -> Response[str]:
        request_id = correlation_id(app)
        logger.exception("unhandled error", extra={"correlation_id": request_id})
        return problem("internal-error", correlationId=request_id)

    def _aws_error(error: ClientError | BotoCoreError) -> Response[str]:
        if not aws_unavailable(error):
            return _unexpected(error)  # a refusal no code path expects, or a bad request of ours: a bug
        code = error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None
        logger.warning("AWS unavailable", extra={"error": type(error).__name__, "code": code})
        return problem("service-unavailable")

    app.exception_handler([ClientError, BotoCoreError])(_aws_error)
    app.exception_handler(Exception)(_unexpected)

    return app
