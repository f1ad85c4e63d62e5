"""What the routes declare for the OpenAPI document beside their problem responses (`orders.http.problems`):
success responses, their headers and links. Plain dicts (Powertools' `responses=`): no pydantic."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from typing import Any

from orders.http.problems import JSON

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
PAGE_LINKS = {
    "NextPage": {
        "operationId": "listUserOrders",
        "description": "The next page of the same listing.",
        "parameters": {"path.userId": "$request.path.userId", "query.cursor": "$response.body#/nextCursor"},
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def order_response(description: str, **headers: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": description,
        "headers": headers or {"ETag": ETAG_HEADER},
        "content": {JSON: {"schema": _ref("Order")}},
        "links": copy.deepcopy(ORDER_LINKS),
    }


def page_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {JSON: {"schema": _ref("OrderPage")}},
        "links": copy.deepcopy(PAGE_LINKS),
    }


def route[Handler: Callable[..., Any]](
    register: Callable[..., Any],
    path: str,
    operation_id: str,
    summary: str,
    responses: dict[int, Any],
    parameters: dict[str, dict[str, Any]] | None = None,
) -> Callable[[Handler], Handler]:
    """`register(path, ...)` (e.g. `app.post`) with the operation's documentation: its id, summary, the
    handler's docstring as description, and its responses.

    `parameters` (by the handler's argument name: OpenAPI keys such as `description`) is for routes that
    must not import pydantic, which Powertools' `Path(description=...)` and its kin need: it travels as the
    operation's `x-parameter-docs` extension, which the OpenAPI document's assembly (`local/openapi.py`)
    folds into the parameters. Routes that validate with pydantic annotate their arguments instead."""

    def decorate(handler: Callable[..., Any]) -> Any:
        description = " ".join(inspect.cleandoc(handler.__doc__ or "").split())
        documented = register(
            path,
            operation_id=operation_id,
            summary=summary,
            description=description,
            tags=["orders"],
            responses=responses,
            openapi_extensions={PARAMETER_DOCS: parameters} if parameters else None,
        )
        return documented(handler)

    return decorate
