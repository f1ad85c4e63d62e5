"""GET /health: no token, no I/O, nothing imported beyond the standard library, so it stays cheap."""

import json

_BODY = json.dumps({"status": "ok", "service": "orders"})


def lambda_handler(event, context):
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": _BODY,
    }
