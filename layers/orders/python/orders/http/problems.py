"""The one error table: every RFC 9457 problem this API answers, by its problem type (the slug a domain error
names as `slug`, or one of the HTTP glue's own refusals): status, title, extension members, headers, and
what it means. The exception handlers (`orders.http.api`) render every problem from it, and the OpenAPI
document's problem responses are generated from it (`responses()`, declared with each route; `SCHEMAS`)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

PROBLEM_TYPE_BASE = "urn:problem-type:orders:"
JSON = "application/json"
PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_SECONDS = 2


class ProblemType(NamedTuple):
    """One row of the table (a NamedTuple: a frozen dataclass's generated methods cost every cold start)."""

    status: int
    title: str
    about: str  # what it means, for the OpenAPI document
    members: tuple[str, ...] = ()  # extension members (each described in MEMBERS)
    detail: str = ""  # for problems raised without a detail of their own
    headers: Mapping[str, str] = MappingProxyType({})


# One row a line: status, title, what it means, then its extension members, default detail, headers.
# fmt: off
PROBLEMS: dict[str, ProblemType] = {
    "bad-request": ProblemType(400, "Bad request", "the request cannot be served"),
    "validation-error": ProblemType(400, "Invalid request", "where and why the request does not match the schema", ("errors",), "The request does not match the schema."),
    "malformed-json": ProblemType(400, "Malformed JSON", "the body is not JSON", detail="The request body is not valid JSON."),
    "invalid-if-match": ProblemType(400, "Invalid If-Match header", "`If-Match` is neither `*` nor entity-tags"),
    "invalid-cursor": ProblemType(400, "Invalid cursor", "the cursor was edited, or issued for another listing"),
    "invalid-window": ProblemType(400, "Invalid creation window", "`createdFrom`/`createdTo` malformed (ISO 8601 with a time zone), inverted, or over 31 days apart"),
    "unauthenticated": ProblemType(401, "Authentication required", "the token names no usable caller"),
    "forbidden": ProblemType(403, "Forbidden", "a customer acts only on their own orders (and of status changes, may only cancel)"),
    "order-not-found": ProblemType(404, "Order not found", "absent, or not yours"),
    "not-found": ProblemType(404, "Not found", "no such route", detail="No such resource."),
    "status-conflict": ProblemType(409, "Status change not allowed", "the transition is not allowed", ("currentStatus", "requestedStatus")),
    "insufficient-stock": ProblemType(409, "Not enough stock", "the inventory cannot reserve every line", ("insufficient",)),
    "request-in-progress": ProblemType(409, "Request in progress", "the same `Idempotency-Key` is still being processed", detail="A request with this Idempotency-Key is still being processed; retry shortly."),
    "precondition-failed": ProblemType(412, "Order has changed", "the order has changed since that `If-Match`", ("currentVersion",)),
    "payload-too-large": ProblemType(413, "Request body too large", "the body is over 64 KB"),
    "unsupported-media-type": ProblemType(415, "Unsupported media type", "send the body as application/json", detail="Send the body as application/json."),
    "price-mismatch": ProblemType(422, "Prices have changed", "a `price` sent differs from the current price", ("mismatches",)),
    "unknown-products": ProblemType(422, "Unknown products", "no such product", ("unknownProducts",)),
    "buyer-not-eligible": ProblemType(422, "The buyer cannot order", "the user service does not know the buyer as active", ("reason",)),
    "idempotency-key-reused": ProblemType(422, "Idempotency-Key reused with another body", "the key was used with another body", detail="This Idempotency-Key was already used with a different request body; use a new key."),
    "internal-error": ProblemType(500, "Internal error", "a bug on our side; never a stack trace", ("correlationId",), "Something went wrong on our side; quote the correlation id when reporting it."),
    "sam-local-auth-missing": ProblemType(500, "Token verification is not installed", "under `sam local` only: the SamLocalAuth layer is missing"),
    "upstream-unavailable": ProblemType(503, "A service we depend on is unavailable", "the user or inventory service did not answer in time; nothing was ordered, retry after `Retry-After` seconds", ("service",), headers={"Retry-After": str(RETRY_AFTER_SECONDS)}),
    "service-unavailable": ProblemType(503, "Temporarily unavailable", "DynamoDB (or SSM) throttled or did not answer, after the SDK's retries; nothing was half-written, retry after `Retry-After` seconds", detail="The order store is busy or unreachable; retry shortly.", headers={"Retry-After": str(RETRY_AFTER_SECONDS)}),
}
# fmt: on


def idempotency_refusals() -> dict[type[Exception], str]:
    """A keyed create's refusals (`orders.storage.idempotency`), by problem type (imported when asked: only
    create needs them)."""
    from orders.storage.idempotency import IdempotencyKeyReused, RequestInProgress

    return {
        IdempotencyKeyReused: "idempotency-key-reused",
        RequestInProgress: "request-in-progress",
    }


def problem_body(slug: str, detail: str | None = None, **extensions: Any) -> tuple[int, dict[str, Any]]:
    """(status, body) of one problem of the table; `detail` defaults to the problem type's own."""
    problem = PROBLEMS[slug]
    body = {
        "type": PROBLEM_TYPE_BASE + slug,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail if detail is None else detail,
        **extensions,
    }
    return problem.status, body


# ---------------------------------------------------------------------------------------- OpenAPI
def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


MONEY_SCHEMA = {"type": "number", "minimum": 0, "description": "An exact amount with two decimals."}

# Each extension member's JSON Schema, in the order the Problem schema lists them.
MEMBERS: dict[str, dict[str, Any]] = {
    "errors": {
        "type": "array",
        "description": "For `validation-error`: each invalid part of the request.",
        "items": _ref("ProblemField"),
    },
    "correlationId": {"type": "string", "description": "For `internal-error`: quote it when reporting."},
    "currentStatus": _ref("OrderStatus"),
    "requestedStatus": _ref("OrderStatus"),
    "currentVersion": {"type": "integer"},
    "mismatches": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["productId", "sent", "current"],
            "properties": {"productId": {"type": "string"}, "sent": MONEY_SCHEMA, "current": MONEY_SCHEMA},
        },
    },
    "unknownProducts": {"type": "array", "items": {"type": "string"}},
    "insufficient": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["productId", "requested", "available"],
            "properties": {
                "productId": {"type": "string"},
                "requested": {"type": "integer"},
                "available": {"type": "integer"},
            },
        },
    },
    "reason": {"type": "string"},
    "service": {"type": "string"},
}
HEADERS: dict[str, dict[str, Any]] = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 0},
    },
}
# Statuses API Gateway itself may answer, with its own `{"message": ...}`: why.
GATEWAY: dict[int, str] = {
    401: "a missing or invalid bearer token (`WWW-Authenticate`)",
    404: "no route",
    413: "a body over 10 MB",
    500: "an error of its own",
    503: "a function that did not answer in time",
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Problem": {
        "type": "object",
        "title": "Problem",
        "description": "RFC 9457 problem details. Besides the members below, a problem type may add its own "
        "(listed under each response).",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {
                "type": "string",
                "pattern": "^urn:problem-type:orders:[a-z0-9-]+$",
                "description": "The problem type, e.g. `urn:problem-type:orders:validation-error`.",
            },
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            **MEMBERS,
        },
    },
    "ProblemField": {
        "type": "object",
        "title": "ProblemField",
        "required": ["in", "pointer", "detail"],
        "additionalProperties": False,
        "properties": {
            "in": {"type": "string", "description": "body, query, path or header"},
            "pointer": {"type": "string", "description": 'RFC 6901 JSON pointer into it ("" is the whole).'},
            "detail": {"type": "string"},
        },
    },
    "GatewayMessage": {
        "type": "object",
        "title": "GatewayMessage",
        "description": 'API Gateway\'s own answer, e.g. `{"message": "Unauthorized"}`.',
        "required": ["message"],
        "additionalProperties": False,
        "properties": {"message": {"type": "string"}},
    },
}


def _mention(slug: str) -> str:
    problem = PROBLEMS[slug]
    members = f" (with {', '.join(f'`{member}`' for member in problem.members)})" if problem.members else ""
    return f"`{slug}`{members}: {problem.about}"


def response(status: int, slugs: tuple[str, ...], lead: str = "") -> dict[str, Any]:
    """The OpenAPI response for `status` made of these problem types (and API Gateway's own answer, where
    it may give one)."""
    content: dict[str, Any] = {PROBLEM_JSON: {"schema": _ref("Problem")}}
    description = lead + "; ".join(_mention(slug) for slug in slugs) + "."
    if status in GATEWAY:
        content[JSON] = {"schema": _ref("GatewayMessage")}
        description += f' API Gateway answers `{{"message": ...}}` itself for {GATEWAY[status]}.'
    result: dict[str, Any] = {"description": description, "content": content}
    headers = {name: HEADERS[name] for slug in slugs for name in PROBLEMS[slug].headers}
    if headers:
        result["headers"] = headers
    return result


def responses(*slugs: str) -> dict[int, dict[str, Any]]:
    """A route's problem responses (Powertools' `responses=`), by status, from the problem types it may
    answer (every route may also answer `unauthenticated` and `internal-error`: see `SHARED_RESPONSES`)."""
    statuses = sorted({PROBLEMS[slug].status for slug in slugs})
    return {
        status: response(status, tuple(slug for slug in slugs if PROBLEMS[slug].status == status))
        for status in statuses
    }


# The responses every route behind the authorizer (401) and every function with a resolver (500) may give.
SHARED_RESPONSES: dict[str, dict[str, Any]] = {
    "Unauthorized": response(401, ("unauthenticated",)),
    "InternalError": response(500, ("internal-error",)),
}
