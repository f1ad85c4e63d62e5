"""Baseline POST /api/orders: the same DynamoDB calls as the real function with an Idempotency-Key
(PutItem of the in-progress record, then one TransactWriteItems: the order and the completed record), and, when
BASELINE_UPSTREAM is set (the real function calls the user and inventory services), the same two calls."""

import hashlib
import json
import os
import secrets
import time
import uuid
import zlib
from datetime import UTC, datetime
from decimal import Decimal

import boto3
from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

TABLE = os.environ["TABLE_NAME"]
CURRENCY = os.environ.get("CURRENCY", "USD")
# The status index's shard of an order: crc32 of its id modulo the deployment's shard count (template
# parameter StatusIndexShards, default 48), as the real repository computes it.
STATUS_INDEX_SHARDS = int(os.environ.get("STATUS_INDEX_SHARDS") or 48)
dynamodb = boto3.client("dynamodb", endpoint_url=os.environ.get("DYNAMODB_ENDPOINT") or None)
_serialize = TypeSerializer().serialize
CENT = Decimal("0.01")
DAY = 24 * 60 * 60
_http = None


def _trace_id() -> str:
    """The request's X-Ray trace id (Lambda sets `_X_AMZN_TRACE_ID` per invocation), kept per version as the
    real function keeps it."""
    for part in os.environ.get("_X_AMZN_TRACE_ID", "").split(";"):
        if part.startswith("Root="):
            return part.removeprefix("Root=")
    return ""


def _number(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(type(value).__name__)


def _answer(status, body, headers=None):
    text = body if isinstance(body, str) else json.dumps(body, default=_number)
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": text,
    }


def _order_id(now):
    value = (int(now.timestamp() * 1000) << 80) | (0x7 << 76) | (secrets.randbits(12) << 64) | (0b10 << 62)
    return str(uuid.UUID(int=value | secrets.randbits(62)))


def _upstream(user_id, order_id, items):
    """GET the user, reserve the items; unit prices come from the inventory."""
    global _http
    if _http is None:
        import urllib3

        _http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=1, read=3), retries=False)
    user = _http.request("GET", f"{os.environ['USERS_API_URL'].rstrip('/')}/api/users/{user_id}")
    if user.status != 200 or json.loads(user.data).get("status") != "active":
        return None
    reservation = _http.request(
        "POST",
        f"{os.environ['INVENTORY_API_URL'].rstrip('/')}/api/inventory/reservations",
        body=json.dumps(
            {
                "reservationId": order_id,
                "items": [{"productId": i["productId"], "quantity": i["quantity"]} for i in items],
            }
        ),
        headers={"Content-Type": "application/json"},
    )
    if reservation.status != 201:
        return None
    answer = json.loads(reservation.data, parse_float=Decimal)
    return {line["productId"]: Decimal(str(line["unitPrice"])) for line in answer["items"]}


def lambda_handler(event, context):
    claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt", {}).get("claims") or {}
    caller = claims.get("sub")
    if not caller:
        return _answer(401, {"title": "Authentication required"})
    is_admin = "admin" in str(claims.get("cognito:groups", "")).strip("[]").split()
    try:
        body = json.loads(event.get("body") or "", parse_float=Decimal)
        user_id = body.get("userId") or caller
        items = body["items"]
        address = body["shippingAddress"]
        if not items or not all(i["quantity"] >= 1 for i in items):
            raise ValueError
    except (ValueError, KeyError, TypeError, AttributeError):
        return _answer(400, {"title": "Invalid request"})
    if not (is_admin or user_id == caller):
        return _answer(403, {"title": "Forbidden"})

    key = (event.get("headers") or {}).get("idempotency-key")
    record_key = None
    if key:
        digest = hashlib.sha256(json.dumps([caller, key]).encode()).hexdigest()
        validation = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
        record_key = {"PK": {"S": f"IDEMPOTENCY#create-order#{digest}"}, "SK": {"S": "IDEMPOTENCY"}}
        now = int(time.time())
        claimed = {"N": str(int(time.time() * 1000) + 10_000)}
        try:
            dynamodb.put_item(
                TableName=TABLE,
                Item={
                    **record_key,
                    "expiration": {"N": str(now + DAY)},
                    "in_progress_expiration": claimed,
                    "status": {"S": "INPROGRESS"},
                    "validation": {"S": validation},
                },
                ConditionExpression="attribute_not_exists(PK) OR expiration < :now",
                ExpressionAttributeValues={":now": {"N": str(now)}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            old = error.response.get("Item") or {}
            if old.get("validation", {}).get("S") != validation:
                return _answer(422, {"title": "Idempotency-Key reused with another body"})
            if old.get("status", {}).get("S") != "COMPLETED":
                return _answer(409, {"title": "Request in progress"})
            stored = json.loads(old["data"]["S"])
            return _answer(201, stored["body"], {"Location": f"/api/orders/{stored['id']}", "ETag": '"1"'})

    moment = datetime.now(UTC)
    at = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    order_id = _order_id(moment)
    prices = {i["productId"]: Decimal(str(i["price"])) for i in items}
    if os.environ.get("BASELINE_UPSTREAM"):
        prices = _upstream(user_id, order_id, items)
        if prices is None:
            return _answer(422, {"title": "Order not accepted upstream"})
    lines = [
        {
            "productId": i["productId"],
            "quantity": i["quantity"],
            "unitPrice": prices[i["productId"]].quantize(CENT),
            "lineTotal": (prices[i["productId"]] * i["quantity"]).quantize(CENT),
        }
        for i in items
    ]
    order = {
        "id": order_id,
        "userId": user_id,
        "items": lines,
        "shippingAddress": address,
        "status": "pending",
        "total": sum((line["lineTotal"] for line in lines), Decimal(0)).quantize(CENT),
        "currency": CURRENCY,
        "createdAt": at,
        "updatedAt": at,
        "version": 1,
        "statusHistory": [{"status": "pending", "at": at, "by": caller}],
    }
    if os.environ.get("BASELINE_UPSTREAM"):
        order["reservationId"] = order_id  # as the real function records the reservation it made
    item = {
        **order,
        "correlationId": event["requestContext"]["requestId"],
        "changeCorrelationIds": [event["requestContext"]["requestId"]],
        **({"traceId": _trace_id()} if _trace_id() else {}),
        "changeTraceIds": [_trace_id()],
        "PK": f"ORDER#{order_id}",
        "SK": "ORDER",
        "GSI1PK": f"USER#{user_id}",
        "GSI1SK": f"{at}#{order_id}",
        "GSI2SK": f"pending#{order_id}",
        "GSI3PK": f"STATUS#pending#{zlib.crc32(order_id.encode()) % STATUS_INDEX_SHARDS}",
        "entityType": "order",
    }
    put = {
        "TableName": TABLE,
        "Item": {name: _serialize(value) for name, value in item.items()},
        "ConditionExpression": "attribute_not_exists(PK)",
    }
    text = json.dumps(order, default=_number)
    if record_key:
        completed = {
            **record_key,
            "status": {"S": "COMPLETED"},
            "expiration": {"N": str(int(time.time()) + DAY)},
            "in_progress_expiration": claimed,
            "data": {"S": json.dumps({"id": order_id, "version": 1, "body": text})},
            "validation": {"S": validation},
        }
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": put},
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": completed,
                        "ConditionExpression": "#status = :inprogress AND in_progress_expiration = :claimed",
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": {
                            ":inprogress": {"S": "INPROGRESS"},
                            ":claimed": claimed,
                        },
                    }
                },
            ]
        )
    else:
        dynamodb.put_item(**put)
    return _answer(201, text, {"Location": f"/api/orders/{order_id}", "ETag": '"1"'})
