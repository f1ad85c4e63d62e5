"""Attacks over HTTP against the local stack: a second customer on the first one's order (every endpoint,
every verb), edited and borrowed listing cursors, oversized and over-limit bodies, odd ids.

Every refusal is a 4xx, never a 5xx, and is `application/problem+json` (RFC 9457), except what API
Gateway answers itself before any function runs: the authorizer's 401 `{"message":"Unauthorized"}` and,
for a path that matches no route, its 404 `{"message":"Not Found"}`. Nothing an attacker sends changes
anything: the victim's orders, events and reservations are checked afterwards.
"""

from __future__ import annotations

import json
import socket
import uuid
from urllib.parse import quote

import pytest

from tests.e2e.harness import Reply, wait_for

pytestmark = pytest.mark.e2e

PROBLEM_JSON = "application/problem+json"
STATUSES = ["pending", "confirmed", "processing", "shipped", "delivered", "cancelled"]
ADDRESS = {"street": "1 Attack Lane", "city": "Springfield", "zipCode": "12345"}
GATEWAY_NOT_FOUND = {"message": "Not Found"}
GATEWAY_UNAUTHORIZED = {"message": "Unauthorized"}


# ------------------------------------------------------------------------------------------ helpers
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


@pytest.fixture(scope="module")
def cast(mint) -> Cast:
    return Cast(mint)


@pytest.fixture(scope="module")
def victim(stack, cast):
    """Customer A's orders: [0] the target, [1] a witness A cancels, [2] the one the admin moves, [3] stays
    pending (so that every listing of A's has pages). The first is created with an Idempotency-Key."""
    orders = []
    for index in range(4):
        headers = {"Idempotency-Key": f"a-key-{cast.a}"} if index == 0 else None
        created = stack.request("POST", "/api/orders", token=cast.token_a, body=order_body(), headers=headers)
        assert created.status == 201, created.text
        orders.append(created.json())
    return orders


def admin_listing(stack, cast, user_id: str) -> list[dict]:
    reply = stack.request("GET", f"/api/users/{user_id}/orders?limit=100", token=cast.token_admin)
    assert reply.status == 200, reply.text
    assert reply.json()["nextCursor"] is None
    return reply.json()["items"]


# ------------------------------------------------------------------------------------------ BOLA
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
    assert attempts >= 45
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
    created = stack.request("POST", "/api/orders", token=cast.token_admin, body=order_body(cast.a))
    assert created.status == 201, created.text
    assert created.json()["userId"] == cast.a
    assert created.json()["statusHistory"][0]["by"] == cast.admin
    owned = stack.request("GET", f"/api/orders/{created.json()['id']}", token=cast.token_a)
    assert owned.status == 200 and owned.json()["userId"] == cast.a


def test_customer_may_not_move_own_order_anywhere_but_cancelled(stack, cast, mint):
    owner = mint(f"{cast.a}-own")
    created = stack.request("POST", "/api/orders", token=owner, body=order_body())
    assert created.status == 201, created.text
    order_id = created.json()["id"]
    for status in STATUSES:
        if status == "cancelled":
            continue
        reply = stack.request(
            "PATCH", f"/api/orders/{order_id}/status", token=owner, body=json.dumps({"status": status})
        )
        assert_problem(reply, 403)
    got = stack.request("GET", f"/api/orders/{order_id}", token=owner).json()
    assert (got["status"], got["version"]) == ("pending", 1)


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/orders/{id}"),
        ("PATCH", "/api/orders/{id}/status"),
        ("GET", "/api/users/{user}/orders"),
        ("POST", "/api/orders"),
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
    ):
        reply = stack.request(method, path, token=token, body=order_body() if method == "POST" else None)
        # The path may be refused first (400); the subject is never taken for a user id.
        assert_problem(reply, 400, 401)


# ------------------------------------------------------------------------------------------ cursors
@pytest.fixture(scope="module")
def cursors(stack, cast, victim):
    """A's cursors: unfiltered and `status=pending` (A's three orders are pending when first listed)."""

    def cursor(query: str) -> str:
        reply = stack.request("GET", f"/api/users/{cast.a}/orders?limit=1{query}", token=cast.token_a)
        assert reply.status == 200, reply.text
        value = reply.json()["nextCursor"]
        assert value
        return value

    return {"all": cursor(""), "pending": cursor("&status=pending")}


def listing(stack, token: str, user: str, cursor: str, query: str = "") -> Reply:
    return stack.request(
        "GET", f"/api/users/{user}/orders?limit=1{query}&cursor={quote(cursor, safe='')}", token=token
    )


def test_cursors_are_good_where_they_were_issued(stack, cast, cursors):
    assert listing(stack, cast.token_a, cast.a, cursors["all"]).status == 200
    assert listing(stack, cast.token_a, cast.a, cursors["pending"], "&status=pending").status == 200
    # The admin reading A's listing continues A's pages: the cursor is bound to the listing, not the reader.
    assert listing(stack, cast.token_admin, cast.a, cursors["all"]).status == 200


@pytest.mark.parametrize(
    "who, whose, cursor, query",
    [
        ("b", "b", "all", ""),
        ("b", "b", "pending", "&status=pending"),
        ("admin", "b", "all", ""),
        ("a", "a", "pending", ""),
        ("a", "a", "all", "&status=pending"),
        ("a", "a", "pending", "&status=confirmed"),
        ("admin", "a", "pending", ""),
    ],
    ids=[
        "A's cursor on B's listing (B)",
        "A's filtered cursor on B's filtered listing (B)",
        "A's cursor on B's listing (admin)",
        "pending cursor without the filter",
        "unfiltered cursor with status=pending",
        "pending cursor with status=confirmed",
        "pending cursor without the filter (admin)",
    ],
)
def test_a_cursor_from_another_listing_is_a_400(stack, cast, cursors, who, whose, cursor, query):
    token = {"a": cast.token_a, "b": cast.token_b, "admin": cast.token_admin}[who]
    problem = assert_problem(listing(stack, token, getattr(cast, whose), cursors[cursor], query), 400)
    assert problem["type"].endswith(":invalid-cursor")


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _flip(text: str, position: int) -> str:
    character = text[position]
    replacement = ALPHABET[(ALPHABET.index(character) + 17) % 64] if character in ALPHABET else "A"
    return text[:position] + replacement + text[position + 1 :]


def _sibling_of_last(text: str) -> str:
    """The last base64 character with its lowest bit flipped: an edit that a decoder ignoring the
    padding bits of the final character would not notice."""
    return text[:-1] + ALPHABET[ALPHABET.index(text[-1]) ^ 1]


EDITS = {
    "first character flipped": lambda c: _flip(c, 0),
    "payload character flipped": lambda c: _flip(c, c.index(".") // 2),
    "last payload character flipped": lambda c: _flip(c, c.index(".") - 1),
    "signature character flipped": lambda c: _flip(c, c.index(".") + 3),
    "last character flipped": lambda c: _flip(c, len(c) - 1),
    "last character's padding bit flipped": _sibling_of_last,
    "last payload character's lowest bit flipped": lambda c: (
        _sibling_of_last(c[: c.index(".")]) + c[c.index(".") :]
    ),
    "a character inserted ('!')": lambda c: c[:10] + "!" + c[10:],
    "a space inserted": lambda c: c[:10] + " " + c[10:],
    "padding appended": lambda c: c + "==",
    "a character dropped": lambda c: c[:-1],
    "a character appended": lambda c: c + "A",
    "signature removed": lambda c: c.split(".")[0],
    "signature swapped for the filtered cursor's": None,  # built in the test
    "separator doubled": lambda c: c.replace(".", "..", 1),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_an_edited_cursor_is_a_400(stack, cast, cursors, edit):
    original = cursors["all"]
    if EDITS[edit] is None:
        edited = original.split(".")[0] + "." + cursors["pending"].split(".")[1]
    else:
        edited = EDITS[edit](original)
    assert edited != original
    problem = assert_problem(listing(stack, cast.token_a, cast.a, edited), 400)
    assert problem["type"].endswith(":invalid-cursor") or problem["type"].endswith(":validation-error")


@pytest.mark.parametrize(
    "cursor", ["", ".", "..", "a.b", "%00", "%E2%98%83.x", "x" * 1025, "null", "e30.e30"]
)
def test_a_made_up_cursor_is_a_400(stack, cast, cursor):
    reply = stack.request("GET", f"/api/users/{cast.a}/orders?cursor={cursor}", token=cast.token_a)
    assert_problem(reply, 400)


# ------------------------------------------------------------------------------------------ sizes
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


# ------------------------------------------------------------------------------------------ odd ids
LONG = "x" * 10 * 1024
ODD_IDS = {
    "unicode (été)": quote("été"),
    "unicode (snowman)": quote("☃"),
    "zero-width space": quote("\u200b"),
    "dot dot": "..",
    "dot": ".",
    "dot dot slash": "../",
    "encoded dot dot": "%2e%2e",
    "encoded slash": "%2F",
    "encoded traversal": "..%2F..%2Fhealth",
    "encoded slash inside": "a%2Fb",
    "10 KB long": LONG,
    "space": "%20",
    "tab": "%09",
    "newline": "%0A",
    "NUL": "%00",
    "percent": "%25",
    "bad escape": "%ZZ",
    "invalid UTF-8": "%FF%FE",
    "quotes": "%22%27",
    "key separator": "ORDER%23x",
    "SQL-ish": quote("' OR '1'='1"),
    "template": quote("${jndi:x}"),
    "null word": "null",
}


def odd_order_ids(real_id: str) -> dict[str, str]:
    return {
        **ODD_IDS,
        "real id upper-cased": real_id.upper(),
        "real id with a trailing space": real_id + "%20",
        "real id with a trailing slash": real_id + "/",
        "real id, key-prefixed": f"ORDER%23{real_id}",
    }


def test_odd_order_ids_are_400_or_404_never_500(stack, cast, victim):
    failures = []
    for label, odd in odd_order_ids(victim[0]["id"]).items():
        for token in (cast.token_a, cast.token_admin):
            got = stack.request("GET", f"/api/orders/{odd}", token=token)
            failures += [
                f"GET {label}: {error}" for error in problem_errors(got, 400, 404, gateway_not_found=True)
            ]
            patched = stack.request(
                "PATCH", f"/api/orders/{odd}/status", token=token, body='{"status": "cancelled"}'
            )
            failures += [
                f"PATCH {label}: {error}"
                for error in problem_errors(patched, 400, 404, gateway_not_found=True)
            ]
    assert not failures, "\n".join(failures)
    unchanged = stack.request("GET", f"/api/orders/{victim[0]['id']}", token=cast.token_a).json()
    assert unchanged["status"] == "pending"


def test_odd_user_ids_on_listing_are_400_or_404_never_500(stack, cast):
    failures = []
    # "null" is a well-formed user id: A's listing of it is a 403, the admin's an empty 200.
    odd_user_ids = {label: odd for label, odd in ODD_IDS.items() if odd != "null"}
    for label, odd in {**odd_user_ids, "empty-ish (+)": "+", "key separator user": "USER%23x"}.items():
        for token in (cast.token_a, cast.token_admin):
            reply = stack.request("GET", f"/api/users/{odd}/orders", token=token)
            failures += [
                f"LIST {label}: {error}" for error in problem_errors(reply, 400, 404, gateway_not_found=True)
            ]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    "target", ["/api/orders/été☃", "/api/orders/été☃/status", "/api/users/été☃/orders", "/api/orders/\xff"]
)
def test_raw_utf8_in_the_path_is_400_or_404(stack, cast, target):
    reply = raw_request(stack.port, target.encode("utf-8", "surrogateescape"), cast.token_admin)
    assert_problem(reply, 400, 404, gateway_not_found=True)


# ------------------------------------------------------------------------------------------ races
RACERS = 8
RACE_ROUNDS = 40
RACE_TARGETS = [
    "confirmed",
    "processing",
    "shipped",
    "delivered",
    "cancelled",
    "confirmed",
    "shipped",
    "cancelled",
]


def race(stack, requests: list[dict]) -> list[Reply | None]:
    """Every request at once (released together by a barrier), one thread each."""
    import threading

    barrier = threading.Barrier(len(requests))
    replies: list[Reply | None] = [None] * len(requests)

    def send(index: int) -> None:
        barrier.wait(timeout=30)
        replies[index] = stack.request(**requests[index])

    threads = [threading.Thread(target=send, args=(index,)) for index in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return replies


def test_racing_status_changes_have_exactly_one_winner(stack, cast):
    """Many changes of one order at once must not get two applied: each is one conditional write.
    Even rounds: 8 cancels by its customer; odd rounds: 8 admin moves, each with If-Match: "1"."""
    failures = []
    for round_number in range(RACE_ROUNDS):
        created = stack.request("POST", "/api/orders", token=cast.token_a, body=order_body())
        assert created.status == 201, created.text
        path = f"/api/orders/{created.json()['id']}/status"
        if round_number % 2 == 0:
            requests = [
                {"method": "PATCH", "path": path, "token": cast.token_a, "body": '{"status": "cancelled"}'}
            ] * RACERS
        else:
            requests = [
                {
                    "method": "PATCH",
                    "path": path,
                    "token": cast.token_admin,
                    "body": json.dumps({"status": target}),
                    "headers": {"If-Match": '"1"'},
                }
                for target in RACE_TARGETS[:RACERS]
            ]
        replies = race(stack, requests)
        statuses = [reply.status if reply else None for reply in replies]
        final = stack.request("GET", path.removesuffix("/status"), token=cast.token_a).json()
        if statuses.count(200) != 1 or final["version"] != 2 or len(final["statusHistory"]) != 2:
            failures.append(f"round {round_number}: {statuses}, final version {final['version']}")
        for reply in replies:
            if reply is not None and reply.status != 200:
                failures += problem_errors(reply, 409, 412)
    assert not failures, f"{len(failures)} of {RACE_ROUNDS} rounds:\n" + "\n".join(failures)
