"""Baseline stream consumer: OrderCreated / OrderStatusChanged from the stream images, PutEvents in chunks
of 10, failed entries reported as batch item failures. With BASELINE_UPSTREAM (the real consumer keeps
the inventory in step), commit on shipped and release on cancelled."""

import json
import os
from decimal import Decimal

import boto3
from boto3.dynamodb.types import TypeDeserializer

BUS = os.environ["EVENT_BUS_NAME"]
events = boto3.client("events", endpoint_url=os.environ.get("EVENTS_ENDPOINT") or None)
_deserialize = TypeDeserializer().deserialize
_http = None


def _number(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(type(value).__name__)


def _image(image):
    return {name: _deserialize(value) for name, value in (image or {}).items()}


def _inventory(order_id, status):
    global _http
    if _http is None:
        import urllib3

        _http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=1, read=3), retries=False)
    base = os.environ["INVENTORY_API_URL"].rstrip("/") + f"/api/inventory/reservations/{order_id}"
    if status == "shipped":
        _http.request("POST", base + "/commit")
    elif status == "cancelled":
        _http.request("DELETE", base)


def lambda_handler(event, context):
    pending = []
    for record in event["Records"]:
        new, old = _image(record["dynamodb"].get("NewImage")), _image(record["dynamodb"].get("OldImage"))
        if new.get("entityType") != "order":
            continue
        if record["eventName"] == "INSERT":
            detail_type, previous = "OrderCreated", None
        elif record["eventName"] == "MODIFY" and old.get("status") != new.get("status"):
            detail_type, previous = "OrderStatusChanged", old.get("status")
        else:
            continue
        change = (new.get("statusHistory") or [{}])[-1]
        detail = {
            "specVersion": "1.0",
            "eventId": f"{new['id']}:{int(new['version'])}",
            "orderId": new["id"],
            "userId": new["userId"],
            "previousStatus": previous,
            "status": new["status"],
            "version": int(new["version"]),
            "total": new["total"],
            "currency": new["currency"],
            "occurredAt": change.get("at", new.get("updatedAt")),
            "changedBy": change.get("by"),
        }
        entry = {"EventBusName": BUS, "Source": "com.orderservice.orders", "DetailType": detail_type,
                 "Detail": json.dumps(detail, default=_number)}  # fmt: skip
        pending.append((record["dynamodb"]["SequenceNumber"], entry, new))
    failed = []
    for start in range(0, len(pending), 10):
        chunk = pending[start : start + 10]
        response = events.put_events(Entries=[entry for _, entry, _ in chunk])
        if response.get("FailedEntryCount"):
            failed = [sequence for sequence, _, _ in pending[start:]]
            break
    if os.environ.get("BASELINE_UPSTREAM"):
        for sequence, _, new in pending:
            if sequence not in failed:
                _inventory(new["id"], new["status"])
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}
