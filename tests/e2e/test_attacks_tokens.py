"""Attacks over HTTP against the local stack, tokens: no token is API Gateway's own 401 on every route; a
signed token whose subject cannot be a user id is a 401 problem (or the path's 400), never a user id."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.e2e.attacks import GATEWAY_UNAUTHORIZED, assert_problem, order_body

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/orders/{id}"),
        ("PATCH", "/api/orders/{id}/status"),
        ("GET", "/api/users/{user}/orders"),
        ("POST", "/api/orders"),
        ("GET", "/api/orders"),
        ("GET", "/api/orders?status=pending&order=asc&limit=100"),
    ],
)
def test_every_route_without_a_token_is_the_authorizers_401(stack, cast, victim, method, path):
    reply = stack.request(
        method, path.format(id=victim[0]["id"], user=cast.a), body=order_body() if method != "GET" else None
    )
    assert reply.status == 401 and reply.json() == GATEWAY_UNAUTHORIZED


@pytest.mark.parametrize("subject", ["USER#x", "a#ORDER", "-lead", "ünïcode", "a b", "x" * 129])
def test_a_signed_token_with_an_unusable_subject_is_a_401_problem(stack, mint, cast, subject):
    token = mint(subject)
    for method, path in (
        ("GET", f"/api/users/{quote(subject, safe='')}/orders"),
        ("GET", f"/api/users/{cast.a}/orders"),
        ("POST", "/api/orders"),
        ("GET", "/api/orders"),
    ):
        reply = stack.request(method, path, token=token, body=order_body() if method == "POST" else None)
        # The path may be refused first (400); the subject is never taken for a user id.
        assert_problem(reply, 400, 401)
