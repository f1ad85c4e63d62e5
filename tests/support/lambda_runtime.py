"""Run the real `lambda_handler`s in-process against moto, the way API Gateway would call them."""

from __future__ import annotations

import copy
import importlib
import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from orders import wiring

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
API_FUNCTIONS = ("create_order", "get_order", "update_order_status", "list_user_orders", "health")


@dataclass
class FakeLambdaContext:
    function_name: str = "orders-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:orders-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timeout_millis: int = 10_000

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_millis


def handler_module(function: str):
    return importlib.import_module(f"functions.{function}.app")


def reset_process_state() -> None:
    """What a fresh Lambda execution environment would not carry over: cached clients and config."""
    wiring.reset()


def sample_event(function: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{function}.json").read_text())


def claims_for(user_id: str, admin: bool = False) -> dict[str, str]:
    return {
        "sub": user_id,
        "iss": "https://issuer.example",
        "aud": "orders",
        "cognito:groups": "[admin]" if admin else "[users]",
    }


def http_event(
    function: str,
    *,
    user: str | None = "user-123",
    admin: bool = False,
    path: str | None = None,
    path_parameters: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    body: Any = ...,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The function's `events/` sample with its path, caller, query, body or headers changed."""
    event = copy.deepcopy(sample_event(function))
    if path is not None:
        event["rawPath"] = path
        event["requestContext"]["http"]["path"] = path
    if path_parameters is not None:
        event["pathParameters"] = path_parameters
    if query is not None:
        event["queryStringParameters"] = query
        event["rawQueryString"] = "&".join(f"{key}={value}" for key, value in query.items())
    if body is not ...:
        event["body"] = body if isinstance(body, str) or body is None else json.dumps(body, default=str)
    if user is None:
        event["requestContext"].pop("authorizer", None)
    else:
        event["requestContext"]["authorizer"] = {"jwt": {"claims": claims_for(user, admin), "scopes": None}}
    event["requestContext"]["requestId"] = str(uuid.uuid4())
    event["headers"].update(headers or {})
    return event


@dataclass
class HttpResult:
    status: int
    headers: dict[str, str]
    body: Any
    raw_body: str

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")


def invoke(function: str, event: dict[str, Any]) -> HttpResult:
    response = handler_module(function).lambda_handler(event, FakeLambdaContext(function_name=function))
    raw = response.get("body") or ""
    headers = {name: value for name, value in (response.get("headers") or {}).items()}
    parsed = json.loads(raw, parse_float=Decimal) if raw else None
    return HttpResult(response["statusCode"], headers, parsed, raw)
