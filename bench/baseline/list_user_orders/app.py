"""Baseline GET /api/users/{userId}/orders: one Query per page on the user index, HMAC-signed cursor."""

import base64
import hashlib
import hmac
import json
import os
from decimal import Decimal

import boto3
from boto3.dynamodb.types import TypeDeserializer

TABLE = os.environ["TABLE_NAME"]
SECRET = os.environ.get("CURSOR_SECRET", "baseline-cursor-secret").encode()
dynamodb = boto3.client("dynamodb", endpoint_url=os.environ.get("DYNAMODB_ENDPOINT") or None)
_deserialize = TypeDeserializer().deserialize
# The item's bookkeeping, never answered (the real function's orders.storage.repository.KEY_ATTRIBUTES; a
# baseline imports nothing of ours).
_HIDDEN = {"PK", "SK", "GSI1PK", "GSI1SK", "GSI2SK", "GSI3PK", "entityType", "correlationId", "changeCorrelationIds", "traceId", "changeTraceIds"}  # fmt: skip


def _number(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(type(value).__name__)


def _answer(status, body):
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, default=_number),
    }


def _b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(scope, payload):
    return hmac.new(SECRET, scope.encode() + b"\x00" + payload, hashlib.sha256).digest()[:16]


def lambda_handler(event, context):
    claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt", {}).get("claims") or {}
    caller = claims.get("sub")
    if not caller:
        return _answer(401, {"title": "Authentication required"})
    is_admin = "admin" in str(claims.get("cognito:groups", "")).strip("[]").split()
    user_id = (event.get("pathParameters") or {}).get("userId", "")
    if not (is_admin or user_id == caller):
        return _answer(403, {"title": "Forbidden"})
    query = event.get("queryStringParameters") or {}
    try:
        limit = int(query.get("limit", "20"))
    except ValueError:
        return _answer(400, {"title": "Invalid request"})
    if not 1 <= limit <= 100:
        return _answer(400, {"title": "Invalid request"})
    status = query.get("status")
    scope = f"{user_id}\x00{status or ''}"
    index, sort_key = ("GSI2", "GSI2SK") if status else ("GSI1", "GSI1SK")
    request = {
        "TableName": TABLE,
        "IndexName": index,
        "KeyConditionExpression": "GSI1PK = :pk" + (" AND begins_with(GSI2SK, :s)" if status else ""),
        "ExpressionAttributeValues": {
            ":pk": {"S": f"USER#{user_id}"},
            **({":s": {"S": f"{status}#"}} if status else {}),
        },
        "ScanIndexForward": False,
        "Limit": limit + 1,
    }
    if cursor := query.get("cursor"):
        try:
            payload_text, mac_text = cursor.split(".")
            payload = _unb64(payload_text)
            if not hmac.compare_digest(_unb64(mac_text), _mac(scope, payload)):
                raise ValueError
            after = json.loads(payload)
        except ValueError:
            return _answer(400, {"title": "Invalid cursor"})
        order_id = after.rpartition("#")[2]
        request["ExclusiveStartKey"] = {
            "PK": {"S": f"ORDER#{order_id}"},
            "SK": {"S": "ORDER"},
            "GSI1PK": {"S": f"USER#{user_id}"},
            sort_key: {"S": after},
        }
    items = dynamodb.query(**request).get("Items", [])
    page = items[:limit]
    next_cursor = None
    if len(items) > limit:
        payload = json.dumps(page[-1][sort_key]["S"]).encode()
        next_cursor = f"{_b64(payload)}.{_b64(_mac(scope, payload))}"
    orders = [
        {name: _deserialize(value) for name, value in item.items() if name not in _HIDDEN} for item in page
    ]
    return _answer(200, {"items": orders, "nextCursor": next_cursor})
