"""Baseline GET /health: the real function is already minimal (standard library only, no I/O)."""

import json

_BODY = json.dumps({"status": "ok", "service": "orders"})


def lambda_handler(event, context):
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": _BODY,
    }
