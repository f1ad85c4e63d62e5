"""What the attack tests (tests/e2e/test_attacks_*.py) share: the bodies they send, what a refusal must look
like, and the cast (two customers and an admin); the `cast` and `victim` fixtures are in conftest.py.

Every refusal is a 4xx, never a 5xx, and is `application/problem+json` (RFC 9457), except what API
Gateway answers itself before any function runs: the authorizer's 401 `{"message":"Unauthorized"}` and,
for a path that matches no route, its 404 `{"message":"Not Found"}`.
"""

from __future__ import annotations

import json
import socket
import uuid

from tests.e2e.harness import Reply

PROBLEM_JSON = "application/problem+json"
ADDRESS = {"street": "1 Attack Lane", "city": "Springfield", "zipCode": "12345"}
GATEWAY_NOT_FOUND = {"message": "Not Found"}
GATEWAY_UNAUTHORIZED = {"message": "Unauthorized"}


def order_body(user_id: str | None = None, *, items: list[dict] | None = None, **changes) -> str:
    if items is None:
        items = [{"productId": "prod-456", "quantity": 1}]
    body: dict = {"items": items, "shippingAddress": ADDRESS}
    if user_id is not None:
        body["userId"] = user_id
    body.update(changes)
    return json.dumps(body)


def media_type(reply: Reply) -> str:
    return (reply.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()


def problem_errors(reply: Reply, *statuses: int, gateway_not_found: bool = False) -> list[str]:
    """What is wrong with `reply` as one of `statuses` (empty: nothing). A problem is RFC 9457
    problem+json whose `status` member matches the HTTP status."""
    where = f"{reply.status} {media_type(reply)} {reply.raw[:160]!r}"
    if reply.status not in statuses:
        return [f"expected {statuses}, got {where}"]
    if gateway_not_found and reply.status == 404 and media_type(reply) == "application/json":
        return [] if reply.json() == GATEWAY_NOT_FOUND else [f"not API Gateway's own 404: {where}"]
    if media_type(reply) != PROBLEM_JSON:
        return [f"not {PROBLEM_JSON}: {where}"]
    try:
        body = reply.json()
    except ValueError:
        return [f"problem body is not JSON: {where}"]
    missing = {"type", "title", "status", "detail"} - set(body)
    if missing or body.get("status") != reply.status:
        return [f"problem members missing {sorted(missing)} or status differs: {where}"]
    return []


def assert_problem(reply: Reply, *statuses: int, gateway_not_found: bool = False) -> dict:
    errors = problem_errors(reply, *statuses, gateway_not_found=gateway_not_found)
    assert not errors, errors[0]
    return reply.json()


def pointers(problem: dict) -> set[str]:
    return {error["pointer"] for error in problem.get("errors", [])}


def raw_request(port: int, request_line_target: bytes, token: str) -> Reply:
    """A request whose target is sent byte for byte (raw UTF-8 in the path, which http.client refuses)."""
    import http.client

    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            b"GET " + request_line_target + b" HTTP/1.1\r\nHost: localhost\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\nConnection: close\r\n\r\n"
        )
        response = http.client.HTTPResponse(sock)
        response.begin()
        return Reply(response.status, response.headers, response.read())


def events_for(stack, order_ids: set[str]) -> list[dict]:
    return [
        event
        for event in stack.request("GET", "/_local/events").json()
        if isinstance(event.get("detail"), dict) and event["detail"].get("orderId") in order_ids
    ]


# ------------------------------------------------------------------------------------------ the cast
class Cast:
    """Two customers and an admin with ids of their own (the session's stack is shared)."""

    def __init__(self, mint) -> None:
        run = uuid.uuid4().hex[:8]
        self.a, self.b, self.admin = f"atk-a-{run}", f"atk-b-{run}", f"atk-ops-{run}"
        self.token_a, self.token_b = mint(self.a), mint(self.b)
        self.token_admin = mint(self.admin, admin=True)


def admin_listing(stack, cast, user_id: str) -> list[dict]:
    reply = stack.request("GET", f"/api/users/{user_id}/orders?limit=100", token=cast.token_admin)
    assert reply.status == 200, reply.text
    assert reply.json()["nextCursor"] is None
    return reply.json()["items"]
