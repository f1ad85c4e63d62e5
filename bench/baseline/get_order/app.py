"""Baseline GET /api/orders/{id}: one consistent GetItem, owner check, JSON out."""

import json
import os
import re
from decimal import Decimal

import boto3
from boto3.dynamodb.types import TypeDeserializer

TABLE = os.environ["TABLE_NAME"]
dynamodb = boto3.client("dynamodb", endpoint_url=os.environ.get("DYNAMODB_ENDPOINT") or None)
_deserialize = TypeDeserializer().deserialize
# The item's bookkeeping, never answered (the real function's orders.storage.repository.KEY_ATTRIBUTES; a
# baseline imports nothing of ours).
_HIDDEN = {"PK", "SK", "GSI1PK", "GSI1SK", "GSI2SK", "GSI3PK", "entityType", "correlationId", "changeCorrelationIds", "traceId", "changeTraceIds"}  # fmt: skip
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def _number(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(type(value).__name__)


def _answer(status, body, headers=None):
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps(body, default=_number),
    }


def lambda_handler(event, context):
    claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt", {}).get("claims") or {}
    caller = claims.get("sub")
    if not caller:
        return _answer(401, {"title": "Authentication required"})
    is_admin = "admin" in str(claims.get("cognito:groups", "")).strip("[]").split()
    order_id = (event.get("pathParameters") or {}).get("id", "")
    item = None
    if _ID.fullmatch(order_id):
        item = dynamodb.get_item(
            TableName=TABLE, Key={"PK": {"S": f"ORDER#{order_id}"}, "SK": {"S": "ORDER"}}, ConsistentRead=True
        ).get("Item")
    order = {name: _deserialize(value) for name, value in (item or {}).items() if name not in _HIDDEN}
    if not item or not (is_admin or order.get("userId") == caller):
        return _answer(404, {"title": "Order not found"})
    return _answer(200, order, {"ETag": f'"{order["version"]}"'})
