"""API Gateway HTTP API, Lambda proxy integration, payload format 2.0: the event a request becomes and
the HTTP response a function's return value becomes."""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote

from local.template.model import ACCOUNT, Route

API_ID = "local"
DOMAIN_PREFIX = "local"
MAX_STATUS = 599  # the highest status code API Gateway passes on

_TEXT_TYPES = ("application/json", "application/xml", "application/javascript", "application/graphql")


def is_text(content_type: str | None) -> bool:
    """Bodies API Gateway passes as text; any other body reaches the function base64-encoded (including
    form posts: a well-known HTTP API surprise)."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("text/") or media in _TEXT_TYPES or media.endswith(("+json", "+xml"))


def new_request_id() -> str:
    """Shaped like API Gateway's (`Jx1Rkh0ZIAMEV6w=`)."""
    return base64.b64encode(secrets.token_bytes(10)).decode()


@dataclass
class IncomingRequest:
    """What the HTTP server hands over: the request as it came off the wire."""

    method: str
    raw_path: str  # still percent-encoded
    raw_query: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"
    received_at: float = field(default_factory=time.time)


def _joined(pairs: Iterable[tuple[str, str]], lower: bool) -> dict[str, str]:
    values: dict[str, list[str]] = {}
    for name, value in pairs:
        values.setdefault(name.lower() if lower else name, []).append(value)
    return {name: ",".join(items) for name, items in values.items()}


def build_event(
    request: IncomingRequest,
    route: Route,
    path_parameters: dict[str, str],
    *,
    request_id: str,
    authorizer: dict[str, Any] | None,
    host: str,
    port: int,
) -> dict[str, Any]:
    headers = _joined(
        ((name, value) for name, value in request.headers if name.lower() != "cookie"), lower=True
    )
    cookie_header = "; ".join(value for name, value in request.headers if name.lower() == "cookie")
    headers.setdefault("host", host)
    headers["x-forwarded-for"] = request.source_ip
    headers["x-forwarded-port"] = str(port)
    headers["x-forwarded-proto"] = "http"
    headers["x-amzn-trace-id"] = f"Root=1-{int(request.received_at):08x}-{secrets.token_hex(12)}"
    path = unquote(request.raw_path)
    epoch_ms = int(request.received_at * 1000)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
    }
    if cookie_header:
        event["cookies"] = [cookie.strip() for cookie in cookie_header.split(";") if cookie.strip()]
    event["headers"] = headers
    if request.raw_query:
        event["queryStringParameters"] = _joined(
            parse_qsl(request.raw_query, keep_blank_values=True), lower=False
        )
    request_context: dict[str, Any] = {
        "accountId": ACCOUNT,
        "apiId": API_ID,
        "domainName": host.split(":", maxsplit=1)[0],
        "domainPrefix": DOMAIN_PREFIX,
        "http": {
            "method": request.method,
            "path": path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route.route_key,
        "stage": "$default",
        "time": _clf_time(request.received_at),
        "timeEpoch": epoch_ms,
    }
    if authorizer is not None:
        request_context["authorizer"] = authorizer
    event["requestContext"] = request_context
    if path_parameters:
        event["pathParameters"] = {name: unquote(value) for name, value in path_parameters.items()}
    if request.body:
        text = is_text(headers.get("content-type"))
        if text:
            try:
                event["body"] = request.body.decode("utf-8")
            except UnicodeDecodeError:
                text = False
        if not text:
            event["body"] = base64.b64encode(request.body).decode()
        event["isBase64Encoded"] = not text
    else:
        event["isBase64Encoded"] = False
    return event


def _clf_time(moment: float) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(moment))


# ---------------------------------------------------------------------------------------- responses
@dataclass
class OutgoingResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class MalformedResponse(ValueError):
    """The function returned something API Gateway cannot turn into a response (→ 500)."""


def json_response(status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()) -> OutgoingResponse:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return OutgoingResponse(status, [("Content-Type", "application/json"), *headers], body)


def map_response(payload: str) -> OutgoingResponse:
    """The function's return value (JSON text) → the HTTP response, as API Gateway maps format 2.0:
    a dict with `statusCode` is a response; anything else is a 200 JSON body."""
    result = json.loads(payload)
    if not (isinstance(result, dict) and "statusCode" in result):
        return OutgoingResponse(200, [("Content-Type", "application/json")], payload.encode())
    status = result["statusCode"]
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if (
        not isinstance(status, int)
        or isinstance(status, bool)
        or not HTTPStatus.CONTINUE <= status <= MAX_STATUS
    ):
        raise MalformedResponse(f"statusCode {status!r} is not an HTTP status")
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        headers.append((str(name), _header_value(value)))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values if isinstance(values, list) else [values]:
            headers.append((str(name), _header_value(value)))
    for cookie in result.get("cookies") or []:
        headers.append(("Set-Cookie", str(cookie)))
    headers = [
        (name, value)
        for name, value in headers
        if name.lower() not in ("content-length", "transfer-encoding")
    ]
    for name, value in headers:
        if problem := header_problem(name, value):
            raise MalformedResponse(problem)
    body = result.get("body")
    if body is None:
        raw = b""
    elif not isinstance(body, str):
        raise MalformedResponse(f"body must be a string, not {type(body).__name__}")
    elif result.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except binascii.Error as error:
            raise MalformedResponse(f"isBase64Encoded but the body is not base64: {error}") from None
    else:
        raw = body.encode()
    return OutgoingResponse(status, headers, raw)


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 §5.6.2 field-name
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")  # RFC 9110 §5.5: no CR, LF, NUL or controls


def header_problem(name: str, value: str) -> str | None:
    """Why a header cannot be sent as HTTP/1.1 (None when it can): the response would otherwise fail to
    encode halfway through, leaving the client without an answer. Nothing of the header is quoted back."""
    if not _TOKEN.fullmatch(name):
        return "a header name that is not an HTTP token"
    if not _FIELD_VALUE.fullmatch(value):
        return f"header {name}: a value with characters HTTP/1.1 cannot carry"
    return None


def unauthorized(detail: str | None = None) -> OutgoingResponse:
    """API Gateway's 401. `detail` is one of the verifier's fixed reasons; even so only plain printable
    ASCII of it reaches the header (no quote, no backslash), never request data."""
    challenge = (
        "Bearer" if not detail else f'Bearer error="invalid_token", error_description="{_quoted(detail)}"'
    )
    return json_response(401, {"message": "Unauthorized"}, [("WWW-Authenticate", challenge)])


def _quoted(text: str) -> str:
    return "".join(char for char in text[:200] if " " <= char <= "~" and char not in '"\\')


def forbidden() -> OutgoingResponse:
    return json_response(403, {"message": "Forbidden"})


def not_found() -> OutgoingResponse:
    return json_response(404, {"message": "Not Found"})


def internal_error() -> OutgoingResponse:
    return json_response(500, {"message": "Internal Server Error"})


def service_unavailable() -> OutgoingResponse:
    return json_response(503, {"message": "Service Unavailable"})
