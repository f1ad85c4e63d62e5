"""GET /health: no token, no I/O, nothing imported beyond the standard library, so it stays cheap."""

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

_BODY = json.dumps({"status": "ok", "service": "orders"})


def lambda_handler(event: dict[str, Any], context: "LambdaContext") -> dict[str, Any]:
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": _BODY,
    }
