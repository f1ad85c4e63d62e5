"""Invocation events: each function's `events/` sample, adjusted so that it succeeds (an order that exists,
a fresh Idempotency-Key, a pending order to cancel), and DynamoDB stream records built from real items."""

from __future__ import annotations

import copy
import itertools
import json
import time
import uuid
from functools import cache
from typing import Any

from bench.infra import ROOT

EVENTS_DIR = ROOT / "events"
SAMPLE_ORDER_ID = "019ac0a1-2b3c-7d4e-8f60-123456789abc"
CUSTOMER = "user-123"
ADMIN = "ops-1"
_sequence = itertools.count(4_000_000_000_000_000_000)


@cache
def _sample(function: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / f"{function}.json").read_text())


def _replace_id(event: dict[str, Any], order_id: str) -> None:
    event["rawPath"] = event["rawPath"].replace(SAMPLE_ORDER_ID, order_id)
    event["requestContext"]["http"]["path"] = event["requestContext"]["http"]["path"].replace(
        SAMPLE_ORDER_ID, order_id
    )
    if "id" in (event.get("pathParameters") or {}):
        event["pathParameters"]["id"] = order_id


def api_event(
    function: str,
    *,
    order_id: str | None = None,
    user: str = CUSTOMER,
    admin: bool = False,
    body: Any = ...,
    headers: dict[str, str] | None = None,
    drop_headers: tuple[str, ...] = (),
    query: dict[str, str] | None = None,
    path_user: str | None = None,
) -> dict[str, Any]:
    event = copy.deepcopy(_sample(function))
    if order_id is not None:
        _replace_id(event, order_id)
    if path_user is not None:
        event["rawPath"] = event["rawPath"].replace("/users/user-123/", f"/users/{path_user}/")
        event["requestContext"]["http"]["path"] = event["rawPath"]
        event["pathParameters"]["userId"] = path_user
    if query is not None:
        event["queryStringParameters"] = dict(query)
        event["rawQueryString"] = "&".join(f"{name}={value}" for name, value in query.items())
    if body is not ...:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
    for name in drop_headers:
        event["headers"].pop(name, None)
    event["headers"].update(headers or {})
    context = event["requestContext"]
    context["requestId"] = str(uuid.uuid4())
    context["timeEpoch"] = int(time.time() * 1000)
    if "authorizer" in context:
        claims = context["authorizer"]["jwt"]["claims"]
        claims["sub"] = user
        claims["cognito:groups"] = "[admin]" if admin else "[users]"
    return event


def health() -> dict[str, Any]:
    return api_event("health")


def create_order(idempotency_key: str | None = "fresh") -> dict[str, Any]:
    if idempotency_key is None:
        return api_event("create_order", drop_headers=("idempotency-key",))
    key = str(uuid.uuid4()) if idempotency_key == "fresh" else idempotency_key
    return api_event("create_order", headers={"idempotency-key": key})


def get_order(order_id: str, user: str = CUSTOMER) -> dict[str, Any]:
    return api_event("get_order", order_id=order_id, user=user)


def list_user_orders(user: str = CUSTOMER, limit: int = 20, cursor: str | None = None) -> dict[str, Any]:
    query = {"limit": str(limit)}
    if cursor:
        query["cursor"] = cursor
    return api_event("list_user_orders", user=user, path_user=user, query=query)


def change_status(
    order_id: str, status: str = "cancelled", *, admin: bool = False, user: str = CUSTOMER
) -> dict[str, Any]:
    return api_event(
        "update_order_status",
        order_id=order_id,
        body={"status": status},
        admin=admin,
        user=ADMIN if admin else user,
    )


# ---------------------------------------------------------------------------------------- stream
def stream_record(event_name: str, old: dict | None, new: dict | None) -> dict[str, Any]:
    """One DynamoDB stream record (NEW_AND_OLD_IMAGES) as Lambda delivers it; images in the wire shape."""
    keys_of = new or old or {}
    sequence = str(next(_sequence))
    dynamodb: dict[str, Any] = {
        "ApproximateCreationDateTime": int(time.time()),
        "Keys": {name: keys_of[name] for name in ("PK", "SK") if name in keys_of},
        "SequenceNumber": sequence,
        "SizeBytes": len(json.dumps(new or old or {})),
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new is not None:
        dynamodb["NewImage"] = new
    if old is not None:
        dynamodb["OldImage"] = old
    return {
        "eventID": f"bench-{sequence}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": dynamodb,
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/bench/stream/2026-01-01T00:00:00.000",
    }


def with_fresh_sequence(record: dict[str, Any]) -> dict[str, Any]:
    record = copy.deepcopy(record)
    sequence = str(next(_sequence))
    record["dynamodb"]["SequenceNumber"] = sequence
    record["eventID"] = f"bench-{sequence}"
    return record


def stream_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": [with_fresh_sequence(record) for record in records]}
