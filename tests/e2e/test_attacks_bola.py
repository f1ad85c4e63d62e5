"""Attacks over HTTP against the local stack, broken object-level authorisation: a second customer on the
first one's order (every endpoint, every verb) is refused and changes nothing (the victim's order, events
and reservations are checked afterwards); the admin may do everything; a customer may only cancel."""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

import pytest

from tests.e2e.attacks import admin_listing, assert_problem, events_for, order_body, problem_errors
from tests.e2e.harness import wait_for
from tests.support.status_rules import STATUSES, customer_may_request

pytestmark = pytest.mark.e2e


ACROSS_USERS_QUERIES = (
    "",
    "limit=100",
    *(f"status={status}" for status in STATUSES),
    "order=asc",
    "createdFrom=2026-01-01T00:00:00Z&createdTo=2026-01-31T00:00:00Z",
)


def intruder_attempts(stack, cast, order_id: str, owner_cursor: str):
    """(label, expected statuses, send, gateway 404 allowed) for everything customer B might try on
    customer A's order, listing and name."""
    b = cast.token_b
    order = f"/api/orders/{order_id}"
    yield "GET order", (404,), lambda: stack.request("GET", order, token=b), False
    for status in STATUSES:
        for if_match in (None, '"1"', '"2"', "*"):
            headers = {"If-Match": if_match} if if_match else None
            yield (
                f"PATCH {status} If-Match {if_match}",
                (404,),
                lambda status=status, headers=headers: stack.request(
                    "PATCH", f"{order}/status", token=b, body=json.dumps({"status": status}), headers=headers
                ),
                False,
            )
    listing = f"/api/users/{cast.a}/orders"
    yield "LIST", (403,), lambda: stack.request("GET", listing, token=b), False
    yield "LIST limit=100", (403,), lambda: stack.request("GET", f"{listing}?limit=100", token=b), False
    for status in STATUSES:
        yield (
            f"LIST status={status}",
            (403,),
            lambda status=status: stack.request("GET", f"{listing}?status={status}", token=b),
            False,
        )
    yield (
        "LIST with A's own cursor",
        (403,),
        lambda: stack.request("GET", f"{listing}?limit=1&cursor={quote(owner_cursor)}", token=b),
        False,
    )
    # The cross-user listing (GET /api/orders) is the admins': a customer gets a 403 however it is asked.
    for query in ACROSS_USERS_QUERIES:
        yield (
            f"LIST across users ?{query}",
            (403,),
            lambda query=query: stack.request("GET", f"/api/orders?{query}", token=b),
            False,
        )
    yield (
        "POST for A",
        (403,),
        lambda: stack.request("POST", "/api/orders", token=b, body=order_body(cast.a)),
        False,
    )
    yield (
        "POST for A with A's Idempotency-Key",
        (403,),
        lambda: stack.request(
            "POST",
            "/api/orders",
            token=b,
            body=order_body(cast.a),
            headers={"Idempotency-Key": f"a-key-{cast.a}"},
        ),
        False,
    )
    yield (
        "POST for A with an Idempotency-Key",
        (403,),
        lambda: stack.request(
            "POST", "/api/orders", token=b, body=order_body(cast.a), headers={"Idempotency-Key": "b-key"}
        ),
        False,
    )
    # Verbs the API does not route: API Gateway's own 404, and certainly no change.
    for method, path in (
        ("PUT", order),
        ("DELETE", order),
        ("POST", order),
        ("PATCH", order),
        ("PUT", f"{order}/status"),
        ("POST", f"{order}/status"),
        ("DELETE", f"{order}/status"),
        ("GET", f"{order}/status"),
        ("POST", listing),
        ("DELETE", listing),
    ):
        yield (
            f"{method} {path.replace(order_id, '{id}')}",
            (404, 405),
            lambda method=method, path=path: stack.request(
                method, path, token=b, body=json.dumps({"status": "cancelled", "userId": cast.b})
            ),
            True,
        )


def test_bola_customer_b_is_refused_everything_on_customer_a_and_nothing_is_written(stack, cast, victim):
    target, witness = victim[0], victim[1]
    first_page = stack.request("GET", f"/api/users/{cast.a}/orders?limit=1", token=cast.token_a)
    owner_cursor = first_page.json()["nextCursor"]
    assert first_page.status == 200 and owner_cursor
    before = stack.request("GET", f"/api/orders/{target['id']}", token=cast.token_a)
    listed_before = admin_listing(stack, cast, cast.a)
    reservations_before = stack.request("GET", "/_local/stubs/state").json()["reservations"]

    failures = []
    attempts = 0
    for label, statuses, send, gateway in intruder_attempts(stack, cast, target["id"], owner_cursor):
        attempts += 1
        failures += [
            f"{label}: {error}" for error in problem_errors(send(), *statuses, gateway_not_found=gateway)
        ]
    assert attempts >= 55
    assert not failures, "\n".join(failures)

    # Nothing written: the order is byte-for-byte the same, A has the same orders, B has none.
    after = stack.request("GET", f"/api/orders/{target['id']}", token=cast.token_a)
    assert (after.status, after.raw, after.headers["ETag"]) == (200, before.raw, before.headers["ETag"])
    assert admin_listing(stack, cast, cast.a) == listed_before
    assert admin_listing(stack, cast, cast.b) == []
    reservations = stack.request("GET", "/_local/stubs/state").json()["reservations"]
    assert reservations[target["id"]] == reservations_before[target["id"]]
    assert reservations[target["id"]]["state"] == "held"

    # A's own change to another order: once its event is out, every earlier record has been through the
    # stream, and none of them was a status change of the target.
    cancelled = stack.request(
        "PATCH", f"/api/orders/{witness['id']}/status", token=cast.token_a, body='{"status": "cancelled"}'
    )
    assert cancelled.status == 200, cancelled.text
    wait_for(
        lambda: any(e["detail-type"] == "OrderStatusChanged" for e in events_for(stack, {witness["id"]})),
        timeout=15,
    )
    assert [e["detail-type"] for e in events_for(stack, {target["id"]})] == ["OrderCreated"]


def test_bola_admin_may_do_everything_on_customer_a(stack, cast, victim):
    target = victim[2]
    got = stack.request("GET", f"/api/orders/{target['id']}", token=cast.token_admin)
    assert got.status == 200 and got.json()["userId"] == cast.a
    listed = stack.request("GET", f"/api/users/{cast.a}/orders", token=cast.token_admin)
    assert listed.status == 200 and target["id"] in {order["id"] for order in listed.json()["items"]}
    filtered = stack.request("GET", f"/api/users/{cast.a}/orders?status=pending", token=cast.token_admin)
    assert filtered.status == 200 and target["id"] in {order["id"] for order in filtered.json()["items"]}
    moved = stack.request(
        "PATCH",
        f"/api/orders/{target['id']}/status",
        token=cast.token_admin,
        body='{"status": "confirmed"}',
        headers={"If-Match": '"1"'},
    )
    assert moved.status == 200, moved.text
    assert (moved.json()["status"], moved.json()["version"]) == ("confirmed", 2)
    # Across users: the moved order, under its new status only.
    since = urlencode({"createdFrom": target["createdAt"], "order": "asc", "limit": 100})
    for status, present in (("confirmed", True), ("pending", False)):
        across = stack.request("GET", f"/api/orders?{since}&status={status}", token=cast.token_admin)
        assert across.status == 200, across.text
        assert (target["id"] in {order["id"] for order in across.json()["items"]}) is present, status
    created = stack.request("POST", "/api/orders", token=cast.token_admin, body=order_body(cast.a))
    assert created.status == 201, created.text
    assert created.json()["userId"] == cast.a
    assert created.json()["statusHistory"][0]["by"] == cast.admin
    owned = stack.request("GET", f"/api/orders/{created.json()['id']}", token=cast.token_a)
    assert owned.status == 200 and owned.json()["userId"] == cast.a


def test_a_customer_may_not_list_across_users_and_sees_no_order(stack, cast, victim):
    """GET /api/orders is a 403 `forbidden` problem for a customer, whatever the query (a window holding
    their own orders, an admin's cursor for it): no `items`, no order id, no cursor in the answer."""
    created = victim[0]["createdAt"]
    window = urlencode({"createdFrom": created, "order": "asc", "limit": 1})
    admin_page = stack.request("GET", f"/api/orders?{window}", token=cast.token_admin)
    assert admin_page.status == 200, admin_page.text
    admin_cursor = admin_page.json()["nextCursor"]
    assert admin_cursor and admin_page.json()["items"]
    queries = [*ACROSS_USERS_QUERIES, window, f"{window}&cursor={quote(admin_cursor, safe='')}"]
    for token in (cast.token_a, cast.token_b):
        for query in queries:
            reply = stack.request("GET", f"/api/orders?{query}", token=token)
            problem = assert_problem(reply, 403)
            assert problem["type"].endswith(":forbidden"), problem
            assert "items" not in problem and "nextCursor" not in problem, problem
            assert all(order["id"] not in reply.text for order in victim), reply.text


def test_customer_may_not_move_own_order_anywhere_but_cancelled(stack, cast, mint):
    owner = mint(f"{cast.a}-own")
    created = stack.request("POST", "/api/orders", token=owner, body=order_body())
    assert created.status == 201, created.text
    order_id = created.json()["id"]
    for status in STATUSES:
        if customer_may_request(status):
            continue
        reply = stack.request(
            "PATCH", f"/api/orders/{order_id}/status", token=owner, body=json.dumps({"status": status})
        )
        assert_problem(reply, 403)
    got = stack.request("GET", f"/api/orders/{order_id}", token=owner).json()
    assert (got["status"], got["version"]) == ("pending", 1)
