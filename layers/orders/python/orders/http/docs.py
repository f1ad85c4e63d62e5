"""What the routes declare for the OpenAPI document beside their problem responses (`orders.http.problems`):
the API's description, success responses, their headers and links, and the JSON Schemas of the bodies
they answer (`SCHEMAS`: what `orders.storage.wire` and the models' `to_wire()` write, which no pydantic
model describes as it is sent). Plain dicts (Powertools' `responses=`): no pydantic."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from typing import Any

from orders.http import problems
from orders.http.problems import JSON, MONEY_SCHEMA
from orders.storage.wire import CHANGE_FIELDS, LINE_FIELDS, OPTIONAL_ORDER_FIELDS, ORDER_FIELDS

API_TITLE = "Order Service"
API_DESCRIPTION = (
    "Create orders, track and change their status, list a user's orders.\n\n"
    "Every route but `/health` needs a bearer JWT (API Gateway's JWT authorizer): the caller is its `sub`; "
    "admins are callers whose `cognito:groups` contains `admin` or whose `scope` contains `orders/admin`. "
    "Customers act only on their own orders.\n\n"
    "Every error the service answers is `application/problem+json` (RFC 9457): `type`, `title`, `status`, "
    "`detail`, plus `errors` for invalid requests and the extension members each problem type names. API "
    "Gateway's own refusals (no route, missing or invalid token, body over 10 MB) are `application/json` "
    '`{"message": ...}`.\n\n'
    "Money is exact: numbers with two decimals (2 × 29.99 = 59.98)."
)

PARAMETER_DOCS = "x-parameter-docs"
ORDER_ID_DESCRIPTION = "The order's id (a UUIDv7)."
ETAG_HEADER = {
    "description": 'The order\'s version as a strong entity tag, e.g. `"3"`: send it as `If-Match` to change '
    "only the version you read.",
    "required": True,
    "schema": {"type": "string", "pattern": '^"[0-9]{1,18}"$'},
}
LOCATION_HEADER = {
    "description": "The new order: `/api/orders/<id>`.",
    "required": True,
    "schema": {"type": "string", "pattern": "^/api/orders/[0-9a-f-]{36}$"},
}
ORDER_LINKS = {
    "GetOrder": {
        "operationId": "getOrder",
        "description": "The order just created or changed.",
        "parameters": {"path.id": "$response.body#/id"},
    },
    "UpdateOrderStatus": {
        "operationId": "updateOrderStatus",
        "description": "Change the status of this version of the order (its `ETag` as `If-Match`).",
        "parameters": {"path.id": "$response.body#/id", "header.if-match": "$response.header.ETag"},
    },
    "ListUserOrders": {
        "operationId": "listUserOrders",
        "description": "The orders of the order's user.",
        "parameters": {"path.userId": "$response.body#/userId"},
    },
}
# What a page's NextPage link carries over from the request besides the cursor (which is bound to it), by
# the listing's operation id.
PAGE_QUERIES: dict[str, tuple[str, ...]] = {
    "listUserOrders": ("path.userId",),
    "listOrders": tuple(f"query.{name}" for name in ("status", "createdFrom", "createdTo", "order", "limit")),
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_TIMESTAMP = {"type": "string", "format": "date-time", "description": "ISO-8601 UTC with milliseconds."}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Order": {
        "type": "object",
        "title": "Order",
        "required": [name for name in ORDER_FIELDS if name not in OPTIONAL_ORDER_FIELDS],
        "additionalProperties": False,
        "properties": {
            "id": {
                "type": "string",
                "format": "uuid",
                "description": "A UUIDv7: time-ordered, not guessable.",
            },
            "userId": {"type": "string"},
            "items": {"type": "array", "minItems": 1, "items": _ref("OrderLine")},
            "shippingAddress": _ref("ShippingAddress"),
            "status": _ref("OrderStatus"),
            "total": MONEY_SCHEMA,
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "createdAt": _TIMESTAMP,
            "updatedAt": _TIMESTAMP,
            "version": {"type": "integer", "minimum": 1},
            "statusHistory": {"type": "array", "minItems": 1, "items": _ref("StatusChange")},
            "reservationId": {"type": "string"},
        },
    },
    "OrderLine": {
        "type": "object",
        "title": "OrderLine",
        "required": list(LINE_FIELDS),
        "additionalProperties": False,
        "properties": {
            "productId": {"type": "string"},
            "quantity": {"type": "integer", "minimum": 1},
            "unitPrice": MONEY_SCHEMA,
            "lineTotal": MONEY_SCHEMA,
        },
    },
    "StatusChange": {
        "type": "object",
        "title": "StatusChange",
        "required": list(CHANGE_FIELDS),
        "additionalProperties": False,
        "properties": {
            "status": _ref("OrderStatus"),
            "at": _TIMESTAMP,
            "by": {"type": "string", "description": "The user who made the change."},
        },
    },
    "OrderPage": {
        "type": "object",
        "title": "OrderPage",
        "required": ["items", "nextCursor"],
        "additionalProperties": False,
        "properties": {
            "items": {"type": "array", "items": _ref("Order")},
            "nextCursor": {
                "type": ["string", "null"],
                "description": "Pass as `cursor` for the next page; null on the last.",
            },
        },
    },
}


def order_response(description: str, **headers: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": description,
        "headers": headers or {"ETag": ETAG_HEADER},
        "content": {JSON: {"schema": _ref("Order")}},
        "links": copy.deepcopy(ORDER_LINKS),
    }


def page_response(description: str, operation_id: str = "listUserOrders") -> dict[str, Any]:
    """A page of `operation_id`'s listing, linked to its next page: the same listing (the same request
    values) with the page's `nextCursor`."""
    carried = {name: f"$request.{name}" for name in PAGE_QUERIES[operation_id]}
    return {
        "description": description,
        "content": {JSON: {"schema": _ref("OrderPage")}},
        "links": {
            "NextPage": {
                "operationId": operation_id,
                "description": "The next page of the same listing.",
                "parameters": {**carried, "query.cursor": "$response.body#/nextCursor"},
            },
        },
    }


def route[Handler: Callable[..., Any]](
    register: Callable[..., Any],
    path: str,
    operation_id: str,
    summary: str,
    *,
    responses: dict[int, Any],
    parameters: dict[str, dict[str, Any]] | None = None,
) -> Callable[[Handler], Handler]:
    """`register(path, ...)` (e.g. `app.post`) with the operation's documentation: its id, summary, the
    handler's docstring as description, and its responses, with the 500 (`internal-error`) that every
    route behind `orders.http.api.build_resolver` may answer.

    `parameters` (by the handler's argument name: OpenAPI keys such as `description`) is for routes that
    must not import pydantic, which Powertools' `Path(description=...)` and its kin need: it travels as the
    operation's `x-parameter-docs` extension, which the OpenAPI document's assembly (`local/front/openapi.py`)
    folds into the parameters. Routes that validate with pydantic annotate their arguments instead."""

    def decorate(handler: Callable[..., Any]) -> Any:
        description = " ".join(inspect.cleandoc(handler.__doc__ or "").split())
        documented = register(
            path,
            operation_id=operation_id,
            summary=summary,
            description=description,
            tags=["orders"],
            responses={**problems.responses("internal-error"), **responses},
            openapi_extensions={PARAMETER_DOCS: parameters} if parameters else None,
        )
        return documented(handler)

    return decorate
