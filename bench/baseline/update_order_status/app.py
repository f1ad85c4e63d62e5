"""Baseline PATCH /api/orders/{id}/status: one conditional UpdateItem naming the allowed source statuses
(and the owner for customers, the version for If-Match); ALL_OLD on failure tells 404 from 409/412."""

import json
import os
import re
import zlib
from datetime import UTC, datetime
from decimal import Decimal

import boto3
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

TABLE = os.environ["TABLE_NAME"]
# The status index's shard count (template parameter StatusIndexShards, default 48): an order's shard is crc32
# of its id modulo it, as the real repository computes it.
STATUS_INDEX_SHARDS = int(os.environ.get("STATUS_INDEX_SHARDS") or 48)
dynamodb = boto3.client("dynamodb", endpoint_url=os.environ.get("DYNAMODB_ENDPOINT") or None)
_deserialize = TypeDeserializer().deserialize
# The item's bookkeeping, never answered (the real function's orders.storage.repository.KEY_ATTRIBUTES; a
# baseline imports nothing of ours).
_HIDDEN = {"PK", "SK", "GSI1PK", "GSI1SK", "GSI2SK", "GSI3PK", "entityType", "correlationId", "changeCorrelationIds", "traceId", "changeTraceIds"}  # fmt: skip
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
FORWARD = ["pending", "confirmed", "processing", "shipped", "delivered"]
SOURCES = {target: FORWARD[:position] for position, target in enumerate(FORWARD)}
SOURCES["cancelled"] = ["pending", "confirmed", "processing"]


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
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps(body, default=_number),
    }


def _order(item):
    return {name: _deserialize(value) for name, value in item.items() if name not in _HIDDEN}


def lambda_handler(event, context):
    claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt", {}).get("claims") or {}
    caller = claims.get("sub")
    if not caller:
        return _answer(401, {"title": "Authentication required"})
    is_admin = "admin" in str(claims.get("cognito:groups", "")).strip("[]").split()
    try:
        target = json.loads(event.get("body") or "")["status"]
        sources = SOURCES[target]
    except (ValueError, KeyError, TypeError):
        return _answer(400, {"title": "Invalid request"})
    order_id = (event.get("pathParameters") or {}).get("id", "")
    if not _ID.fullmatch(order_id):
        return _answer(404, {"title": "Order not found"})
    if not is_admin and target != "cancelled":
        return _answer(403, {"title": "Forbidden"})
    if_match = (event.get("headers") or {}).get("if-match")
    at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    names = {"#status": "status", "#updatedAt": "updatedAt", "#version": "version", "#history": "statusHistory",
             "#statusKey": "GSI2SK", "#shardKey": "GSI3PK", "#correlationId": "correlationId",
             "#changeIds": "changeCorrelationIds", "#traceId": "traceId", "#changeTraceIds": "changeTraceIds"}  # fmt: skip
    values = {f":from{i}": {"S": source} for i, source in enumerate(sources)}
    values.update({
        ":to": {"S": target}, ":at": {"S": at}, ":one": {"N": "1"},
        ":entry": {"L": [{"M": {"status": {"S": target}, "at": {"S": at}, "by": {"S": caller}}}]},
        ":statusKey": {"S": f"{target}#{order_id}"},
        ":shardKey": {"S": f"STATUS#{target}#{zlib.crc32(order_id.encode()) % STATUS_INDEX_SHARDS}"},
        ":correlationId": {"S": event["requestContext"]["requestId"]},
        ":changeCorrelationId": {"L": [{"S": event["requestContext"]["requestId"]}]},
        ":noCorrelationIds": {"L": []},
        ":traceId": {"S": _trace_id()}, ":changeTraceId": {"L": [{"S": _trace_id()}]},
    })  # fmt: skip
    conditions = [
        "attribute_exists(PK)",
        f"#status IN ({', '.join(v for v in values if v.startswith(':from'))})",
    ]
    if not is_admin:
        conditions.append("#userId = :owner")
        names["#userId"] = "userId"
        values[":owner"] = {"S": caller}
    if if_match:
        conditions.append("#version = :expected")
        values[":expected"] = {"N": if_match.strip().removeprefix("W/").strip('"')}
    try:
        response = dynamodb.update_item(
            TableName=TABLE,
            Key={"PK": {"S": f"ORDER#{order_id}"}, "SK": {"S": "ORDER"}},
            UpdateExpression="SET #status = :to, #updatedAt = :at, #version = #version + :one, "
            "#history = list_append(#history, :entry), #statusKey = :statusKey, #shardKey = :shardKey, "
            "#correlationId = :correlationId, "
            "#changeIds = list_append(if_not_exists(#changeIds, :noCorrelationIds), :changeCorrelationId), "
            "#traceId = :traceId, "
            "#changeTraceIds = list_append(if_not_exists(#changeTraceIds, :noCorrelationIds), :changeTraceId)",
            ConditionExpression=" AND ".join(conditions),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        old = error.response.get("Item")
        if not old or not (is_admin or old.get("userId", {}).get("S") == caller):
            return _answer(404, {"title": "Order not found"})
        return _answer(409, {"title": "Status change not allowed", "currentStatus": old["status"]["S"]})
    order = _order(response["Attributes"])
    return _answer(200, order, {"ETag": f'"{order["version"]}"'})
