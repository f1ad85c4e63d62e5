"""Attacks over HTTP against the local stack, sizes and limits: oversized bodies are a 413 problem,
over-limit bodies, headers and listing parameters a 400 problem naming the field; just-in-limit ones pass."""

from __future__ import annotations

import json

import pytest

from tests.e2e.attacks import ADDRESS, assert_problem, order_body, pointers

pytestmark = pytest.mark.e2e


def long_street_body(total_bytes: int) -> str:
    skeleton = order_body()
    filler = total_bytes - len(skeleton) + len(ADDRESS["street"])
    body = json.dumps(
        {
            "items": [{"productId": "prod-456", "quantity": 1}],
            "shippingAddress": {**ADDRESS, "street": "x" * filler},
        }
    )
    assert len(body) == total_bytes
    return body


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(lambda: long_street_body(64 * 1024 + 1), id="valid JSON, 64 KB + 1"),
        pytest.param(lambda: long_street_body(1024 * 1024), id="valid JSON, 1 MB"),
        pytest.param(lambda: "x" * (64 * 1024 + 1), id="not JSON, 64 KB + 1"),
        pytest.param(lambda: "[" * 100_000, id="deep nesting, 100 KB"),
        pytest.param(lambda: json.dumps({"k": "é" * (33 * 1024)}), id="66 KB in UTF-8, 33 K characters"),
    ],
)
def test_oversized_bodies_are_a_413_problem(stack, cast, victim, body):
    text = body()
    created = stack.request("POST", "/api/orders", token=cast.token_a, body=text)
    assert_problem(created, 413)
    patched = stack.request("PATCH", f"/api/orders/{victim[0]['id']}/status", token=cast.token_a, body=text)
    assert_problem(patched, 413)


def test_a_body_of_exactly_64_kb_is_read_and_judged(stack, cast):
    problem = assert_problem(
        stack.request("POST", "/api/orders", token=cast.token_a, body=long_street_body(64 * 1024)), 400
    )
    assert pointers(problem) == {"/shippingAddress/street"}


def test_deep_nesting_within_the_size_limit_is_a_400(stack, cast):
    assert_problem(stack.request("POST", "/api/orders", token=cast.token_a, body="[" * 30_000), 400)
    assert_problem(stack.request("POST", "/api/orders", token=cast.token_a, body='{"a":' * 10_000), 400)


def _items(count: int) -> list[dict]:
    return [{"productId": f"atk-{index}-c100", "quantity": 1} for index in range(count)]


OVER_LIMITS = {
    "51 items": (lambda: order_body(items=_items(51)), "/items"),
    "no items": (lambda: order_body(items=[]), "/items"),
    "street of 201": (
        lambda: order_body(shippingAddress={**ADDRESS, "street": "s" * 201}),
        "/shippingAddress/street",
    ),
    "city of 101": (
        lambda: order_body(shippingAddress={**ADDRESS, "city": "c" * 101}),
        "/shippingAddress/city",
    ),
    "state of 101": (
        lambda: order_body(shippingAddress={**ADDRESS, "state": "s" * 101}),
        "/shippingAddress/state",
    ),
    "zipCode of 17": (
        lambda: order_body(shippingAddress={**ADDRESS, "zipCode": "1" * 17}),
        "/shippingAddress/zipCode",
    ),
    "country of 3": (
        lambda: order_body(shippingAddress={**ADDRESS, "country": "USA"}),
        "/shippingAddress/country",
    ),
    "productId of 65": (
        lambda: order_body(items=[{"productId": "p" * 65, "quantity": 1}]),
        "/items/0/productId",
    ),
    "quantity of 1001": (
        lambda: order_body(items=[{"productId": "prod-456", "quantity": 1001}]),
        "/items/0/quantity",
    ),
    "price with three decimals": (
        lambda: order_body(items=[{"productId": "prod-456", "quantity": 1, "price": 29.999}]),
        "/items/0/price",
    ),
    "userId of 129": (lambda: order_body("u" * 129), "/userId"),
    "userId with a key separator": (lambda: order_body("user#ORDER"), "/userId"),
    "unknown field": (lambda: order_body(discount=100), "/discount"),
}


@pytest.mark.parametrize("case", list(OVER_LIMITS))
def test_over_limit_bodies_are_a_400_problem_naming_the_field(stack, cast, case):
    make_body, pointer = OVER_LIMITS[case]
    problem = assert_problem(
        stack.request("POST", "/api/orders", token=cast.token_admin, body=make_body()), 400
    )
    assert pointer in pointers(problem), problem


def test_fifty_items_are_accepted(stack, cast):
    created = stack.request("POST", "/api/orders", token=cast.token_a, body=order_body(items=_items(50)))
    assert created.status == 201, created.text
    assert len(created.json()["items"]) == 50


@pytest.mark.parametrize(
    "headers, pointer",
    [
        ({"Idempotency-Key": "k" * 256}, "/idempotency-key"),
        ({"Idempotency-Key": ""}, "/idempotency-key"),
    ],
    ids=["Idempotency-Key of 256", "empty Idempotency-Key"],
)
def test_over_limit_headers_on_create_are_a_400_problem(stack, cast, headers, pointer):
    reply = stack.request("POST", "/api/orders", token=cast.token_a, body=order_body(), headers=headers)
    assert pointer in pointers(assert_problem(reply, 400))


@pytest.mark.parametrize(
    "body, headers",
    [
        (json.dumps({"status": "x" * 10_000}), None),
        (json.dumps({"status": ["cancelled"]}), None),
        (json.dumps({"status": "cancelled", "extra": 1}), None),
        (json.dumps({"status": "cancelled"}), {"If-Match": "x" * 65}),
        # RFC 9110: `"99999999999999999999999"` and `"Â²"` are well-formed tags that match nothing (412,
        # tests/integration/test_update_status.py); these are not entity-tags at all.
        (json.dumps({"status": "cancelled"}), {"If-Match": '"99999999999999999999999'}),
        (json.dumps({"status": "cancelled"}), {"If-Match": "²".encode().decode("latin-1")}),
    ],
    ids=[
        "status of 10 KB",
        "status as a list",
        "unknown field",
        "If-Match of 65",
        "If-Match of 23 digits, unterminated",
        "If-Match ², unquoted",
    ],
)
def test_over_limit_status_changes_are_a_400_problem(stack, cast, victim, body, headers):
    headers = {"Content-Type": "application/json", **(headers or {})}
    reply = stack.request(
        "PATCH", f"/api/orders/{victim[0]['id']}/status", token=cast.token_a, body=body, headers=headers
    )
    assert_problem(reply, 400)


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=abc",
        "limit=-1",
        "limit=1e3",
        "status=bogus",
        "status=PENDING",
        "status=",
    ],
)
def test_bad_listing_parameters_are_a_400_problem(stack, cast, query):
    assert_problem(stack.request("GET", f"/api/users/{cast.a}/orders?{query}", token=cast.token_a), 400)


# GET /api/orders (admins, across users): every hostile value is a 400 problem (the window's own type where
# the value reached the window), never a 500 and never a page.
LONG = "x" * 10 * 1024
HOSTILE_ACROSS_USERS = {
    "limit=0": "validation-error",
    "limit=101": "validation-error",
    "limit=1e3": "validation-error",
    "limit=99999999999999999999999": "validation-error",
    "status=bogus": "validation-error",
    "status=PENDING": "validation-error",
    "status=": "validation-error",
    "status=pending%23STATUS": "validation-error",
    "status=STATUS%23pending%230": "validation-error",
    "order=up": "validation-error",
    "order=DESC": "validation-error",
    "order=": "validation-error",
    "createdFrom=": "validation-error",
    f"createdFrom={LONG}": "validation-error",
    "createdFrom=yesterday": "invalid-window",
    "createdFrom=2026-12-05T08:00:00": "invalid-window",  # no time zone
    "createdFrom=2026-12-05": "invalid-window",
    "createdFrom=2026-13-45T25:61:61Z": "invalid-window",
    "createdFrom=99999-01-01T00:00:00Z": "invalid-window",
    "createdFrom=-2026-01-01T00:00:00Z": "invalid-window",
    "createdFrom=0001-01-01T00:00:00%2B14:00&createdTo=0001-01-02T00:00:00%2B14:00": "invalid-window",
    "createdTo=0001-01-01T00:30:00%2B14:00": "invalid-window",
    "createdFrom=9999-12-31T23:00:00-14:00&createdTo=9999-12-31T23:59:59-14:00": "invalid-window",
    "createdTo=9999-12-31T23:59:59.999999-14:00": "invalid-window",
    "createdFrom=9999-12-31T00:00:00Z": "invalid-window",  # after the default createdTo (now)
    "createdFrom=2026-12-05T08:00:00Z&createdTo=2026-12-05T08:00:00Z": "invalid-window",  # empty
    "createdFrom=2026-12-05T08:00:00Z&createdTo=2026-12-05T07:00:00Z": "invalid-window",  # inverted
    "createdFrom=2026-01-01T00:00:00Z&createdTo=2026-02-01T00:00:01Z": "invalid-window",  # 31 days + 1 s
    "createdFrom=1970-01-01T00:00:00Z&createdTo=2999-01-01T00:00:00Z": "invalid-window",
    "createdFrom=1e308": "invalid-window",
    "createdFrom=NaN": "invalid-window",
    "createdFrom=%00": "invalid-window",
    "createdFrom=2026-12-05T08:00:00Z%00": "invalid-window",  # fromisoformat stops at a NUL: was a 200
    "createdFrom=%E2%98%83": "invalid-window",
    "createdFrom=%27%20OR%20%271%27=%271": "invalid-window",
    "createdFrom=%24%7Bjndi:x%7D": "invalid-window",
    "createdFrom=2026-12-05T08:00:00Z%27%20OR%20%271%27=%271": "invalid-window",
    "createdFrom=2026-12-05T08:00:00Z%00junk": "invalid-window",
    "createdFrom=2026-12-05T08:00:00%00Z": "invalid-window",
    "createdTo=null": "invalid-window",
    "createdTo=STATUS%23pending%230": "invalid-window",
    "status=pending&status=shipped": "validation-error",  # API Gateway joins repeats: "pending,shipped"
    "limit=1&limit=2": "validation-error",
    "order=asc&order=asc": "validation-error",
    "createdFrom=2026-12-05T08:00:00Z&createdFrom=2026-12-05T09:00:00Z": "validation-error",
    "createdFrom=2026-12-05T08Z&createdFrom=2026-12-05T09Z": "validation-error",
    "cursor=a&cursor=b": "validation-error",
}


@pytest.mark.parametrize("query", list(HOSTILE_ACROSS_USERS))
def test_hostile_parameters_across_users_are_a_400_problem(stack, cast, query):
    reply = stack.request("GET", f"/api/orders?{query}", token=cast.token_admin)
    problem = assert_problem(reply, 400)
    assert problem["type"].endswith(f":{HOSTILE_ACROSS_USERS[query]}"), problem
    assert "items" not in problem
