"""Baseline stream consumer: OrderCreated / OrderStatusChanged from the stream images, PutEvents in chunks
of 10, failed entries reported as batch item failures. With BASELINE_UPSTREAM (the real consumer keeps
the inventory in step), the same steps as the real one: on a change to shipped or cancelled of an order
holding a reservation (delivered counts as shipped), read the reservation's state item beside the order
(GetItem), and unless already done, commit or release at the inventory and record it (PutItem); a release
intent item is released and deleted."""

import json
import os
from decimal import Decimal

import boto3
from boto3.dynamodb.types import TypeDeserializer

BUS = os.environ["EVENT_BUS_NAME"]
events = boto3.client("events", endpoint_url=os.environ.get("EVENTS_ENDPOINT") or None)
_deserialize = TypeDeserializer().deserialize
_http = None
_dynamodb = None


def _number(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(type(value).__name__)


def _image(image):
    return {name: _deserialize(value) for name, value in (image or {}).items()}


def _settle(name, old, new):
    global _http, _dynamodb
    if _http is None:
        import urllib3

        _http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=1, read=3), retries=False)
        _dynamodb = boto3.client("dynamodb", endpoint_url=os.environ.get("DYNAMODB_ENDPOINT") or None)
    table = os.environ["TABLE_NAME"]
    base = os.environ["INVENTORY_API_URL"].rstrip("/") + "/api/inventory/reservations/"
    if name == "INSERT" and new.get("entityType") == "reservationRelease":
        _http.request("DELETE", base + new["reservationId"])
        _dynamodb.delete_item(
            TableName=table, Key={"PK": {"S": f"RELEASE#{new['reservationId']}"}, "SK": {"S": "RELEASE"}}
        )
        return
    if name != "MODIFY" or new.get("entityType") != "order" or old.get("status") == new.get("status"):
        return
    action = {"cancelled": "released", "shipped": "committed", "delivered": "committed"}.get(new["status"])
    if action is None or not new.get("reservationId"):
        return
    key = {"PK": {"S": f"ORDER#{new['id']}"}, "SK": {"S": "RESERVATION"}}
    item = _dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True)
    if item.get("Item", {}).get("state", {}).get("S") == action:
        return
    if action == "released":
        _http.request("DELETE", base + new["reservationId"])
    else:
        _http.request("POST", base + new["reservationId"] + "/commit")
    _dynamodb.put_item(TableName=table, Item={**key, "state": {"S": action}})


def lambda_handler(event, context):
    pending, images = [], []
    for record in event["Records"]:
        new, old = _image(record["dynamodb"].get("NewImage")), _image(record["dynamodb"].get("OldImage"))
        images.append((record["dynamodb"]["SequenceNumber"], record["eventName"], old, new))
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
        pending.append((record["dynamodb"]["SequenceNumber"], entry))
    failed = []
    for start in range(0, len(pending), 10):
        chunk = pending[start : start + 10]
        response = events.put_events(Entries=[entry for _, entry in chunk])
        if response.get("FailedEntryCount"):
            failed = [sequence for sequence, _ in pending[start:]]
            break
    if os.environ.get("BASELINE_UPSTREAM"):
        for sequence, name, old, new in images:
            if sequence not in failed:
                _settle(name, old, new)
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}
