"""HTTP glue shared by every API function: the resolver, claims -> caller, JSON with exact Decimals, and
the one place that maps errors to RFC 9457 problem+json responses."""

from __future__ import annotations

import base64
import json
import os
import re
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import simplejson
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from orders import config
from orders.caller import Caller, caller_from_claims
from orders.cursor import CursorCodec
from orders.errors import BodyNotAnObject, InvalidPrecondition, OrderError, PayloadTooLarge
from orders.jsonio import dumps
from orders.repository import OrderRepository
from orders.service import OrderService

if TYPE_CHECKING:
    from orders.models import Order

logger = Logger(child=True)
# Read-only endpoints publish no business metric; Powertools would warn about that on every request.
warnings.filterwarnings("ignore", message="No application metrics to publish")

MAX_BODY_BYTES = 64 * 1024
JSON = "application/json"
PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:problem-type:orders:"
_VERSION = re.compile(r"[0-9]{1,18}")  # ASCII only: str.isdigit() would let "²" through to int()


# ---------------------------------------------------------------------------------------- JSON


def loads_body(text: str) -> dict[str, Any]:
    """Request bodies: a JSON object, numbers with a fraction parsed as `Decimal`; oversized refused first."""
    if len(text) > MAX_BODY_BYTES or len(text.encode()) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body is over {MAX_BODY_BYTES // 1024} KB.")
    try:
        body = simplejson.loads(text, use_decimal=True)
    except simplejson.JSONDecodeError as error:
        # Powertools' validation turns the standard library's error into a 400 problem.
        raise json.JSONDecodeError(error.msg, error.doc, error.pos) from None
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text[:64], 0) from None
    if not isinstance(body, dict):
        # Powertools would otherwise validate the first element of a top-level array as the body.
        raise BodyNotAnObject("The body must be a JSON object.")
    return body


# ---------------------------------------------------------------------------------------- responses
def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type=JSON, body=dumps(payload), headers=dict(headers or {}))


def order_response(order: Order, status: int = HTTPStatus.OK, extra_headers: Mapping[str, str] | None = None):
    return wire_order_response(order.to_wire(), status, extra_headers)


def wire_order_response(
    order: Mapping[str, Any], status: int = HTTPStatus.OK, extra_headers: Mapping[str, str] | None = None
) -> Response:
    """An order already in its wire form (`OrderService.get_wire`), with its version as ETag."""
    return json_response(status, order, {"ETag": etag(order["version"]), **(extra_headers or {})})


def problem(
    status: int, slug: str, title: str, detail: str, headers: Mapping[str, str] | None = None, **extensions: Any
) -> Response:
    body = {"type": PROBLEM_TYPE_BASE + slug, "title": title, "status": status, "detail": detail, **extensions}
    return Response(status_code=status, content_type=PROBLEM_JSON, body=dumps(body), headers=dict(headers or {}))


def _pointer(location: Iterable[Any]) -> str:
    """RFC 6901: "" is the whole document, "/items/0/quantity" a member of it."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in location)


def validation_problem(errors: list[dict[str, Any]]) -> Response:
    if any(error.get("type") == "unsupported_content_type" for error in errors):
        return problem(415, "unsupported-media-type", "Unsupported media type", "Send the body as application/json.")
    if any(error.get("type") == "json_invalid" for error in errors):
        return problem(400, "malformed-json", "Malformed JSON", "The request body is not valid JSON.")
    # Only where and why: the rejected input is never echoed (it may hold an address).
    fields = [
        {"in": str(error["loc"][0]), "pointer": _pointer(error["loc"][1:]), "detail": error["msg"]}
        for error in errors
    ]
    return problem(400, "validation-error", "Invalid request", "The request does not match the schema.", errors=fields)


# ---------------------------------------------------------------------------------------- caller, headers
def current_caller(app: APIGatewayHttpResolver) -> Caller:
    context = app.current_event.raw_event.get("requestContext") or {}
    claims = ((context.get("authorizer") or {}).get("jwt") or {}).get("claims")
    if claims is None and os.environ.get("AWS_SAM_LOCAL") == "true":
        from orders import sam_local  # never imported on Lambda

        claims = sam_local.verified_claims(app.current_event.headers)
    return caller_from_claims(claims)


def correlation_id(app: APIGatewayHttpResolver) -> str | None:
    return app.current_event.request_context.request_id


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(value: str | None) -> int | None:
    """`If-Match: "3"` (or W/"3", or 3) -> 3; absent or `*` -> None (no version condition)."""
    if value is None or value.strip() == "*":
        return None
    text = value.strip().removeprefix("W/").strip('"')
    if not _VERSION.fullmatch(text):
        raise InvalidPrecondition('If-Match must be an ETag this API returned, such as "3".')
    return int(text)


# ---------------------------------------------------------------------------------------- wiring
@cache
def order_service() -> OrderService:
    """One per process: the client and its connection pool are reused across warm invocations."""
    return OrderService(
        OrderRepository(config.dynamodb_client(), config.table_name()),
        users=config.Lazy(config.users_client),
        inventory=config.Lazy(config.inventory_client),
        currency=config.currency(),
        cursors=CursorCodec(config.cursor_secret),
    )


DEADLINE_MARGIN_SECONDS = 1.0


def deadline(app: APIGatewayHttpResolver) -> float:
    """When upstream calls must be over: the function's remaining time less a margin to answer in."""
    remaining_seconds = app.lambda_context.get_remaining_time_in_millis() / 1000
    return time.monotonic() + remaining_seconds - DEADLINE_MARGIN_SECONDS


def _unreadable_body_problem(event: Mapping[str, Any]) -> Response | None:
    """A body the resolver must not try to parse: not JSON (415), or bytes that are not UTF-8 (400).
    Powertools would parse multipart and form bodies itself, and fails on undecodable bytes."""
    if not event.get("body"):
        return None
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    media_type = (headers.get("content-type") or JSON).split(";")[0].strip().lower()
    if media_type != JSON and not media_type.endswith("+json"):
        return problem(415, "unsupported-media-type", "Unsupported media type", "Send the body as application/json.")
    if event.get("isBase64Encoded"):
        try:
            base64.b64decode(event["body"], validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return problem(400, "malformed-json", "Malformed JSON", "The request body is not valid JSON.")
    return None


def resolve(app: APIGatewayHttpResolver, event: dict, context: Any) -> dict:
    """`app.resolve`, after refusing bodies the resolver cannot read (as problems, never 500s)."""
    if refusal := _unreadable_body_problem(event):
        return {
            "statusCode": refusal.status_code,
            "headers": {"Content-Type": PROBLEM_JSON},
            "body": refusal.body,
            "isBase64Encoded": False,
        }
    return app.resolve(event, context)


def build_resolver(
    extra_error_handlers: Mapping[type[Exception], Callable[[Exception], Response]] = {}, *, validation: bool = True
):
    """`validation=False` for routes with nothing to validate but their path: Powertools' validation
    middleware imports pydantic, which such a function otherwise never needs."""
    app = APIGatewayHttpResolver(
        enable_validation=validation, serializer=dumps, json_body_deserializer=loads_body
    )

    @app.exception_handler(OrderError)
    def _domain_error(error: OrderError) -> Response:
        return problem(error.status, error.slug, error.title, error.detail, error.headers(), **error.extensions)

    @app.exception_handler([RequestValidationError, RequestUnsupportedContentType])
    def _invalid_request(error: RequestValidationError | RequestUnsupportedContentType) -> Response:
        return validation_problem(list(error.errors()))

    for exception_type, handler in extra_error_handlers.items():
        app.exception_handler(exception_type)(handler)

    @app.not_found
    def _no_route(_: Exception) -> Response:
        return problem(404, "not-found", "Not found", "No such resource.")

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        request_id = correlation_id(app)
        logger.exception("unhandled error", extra={"correlation_id": request_id})
        return problem(
            500,
            "internal-error",
            "Internal error",
            "Something went wrong on our side; quote the correlation id when reporting it.",
            correlationId=request_id,
        )

    return app
