"""Issue 12's findings against the running local stack (`make dev`), each as it was found: group names that
are not `admin`, subjects that are not strings or not user ids, 5,000-digit numbers, tokens whose `kid` or
`alg` is not Latin-1, the loose verifier, If-Match, string prices. Nothing here may be a 5xx, hang, or leave
a traceback in the stack's output."""

from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
import pytest

from tests.e2e.harness import Reply
from tests.support.tokens import raw_token

pytestmark = pytest.mark.e2e

PROBLEM_JSON = "application/problem+json"
GATEWAY_UNAUTHORIZED = {"message": "Unauthorized"}
ADDRESS = {"street": "1 Hardening Way", "city": "Springfield", "zipCode": "12345"}
HUGE = "9" * 5000


def order_body(**changes) -> str:
    body = {"items": [{"productId": "prod-456", "quantity": 1}], "shippingAddress": ADDRESS, **changes}
    return json.dumps(body)


def is_problem(reply: Reply, status: int) -> bool:
    media = (reply.headers.get("Content-Type") or "").split(";")[0].strip()
    return reply.status == status and media == PROBLEM_JSON and reply.json().get("status") == status


def signed(claims: dict, **header) -> str:
    from local.aws import auth

    key = auth.signing_key()
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid, **header})


def claims_for(subject, **changes) -> dict:
    from local.aws import auth

    now = int(time.time())
    return {"sub": subject, "iss": auth.ISSUER, "aud": auth.AUDIENCE, "iat": now, "exp": now + 600, **changes}


@pytest.fixture(scope="module")
def log_start(stack) -> int:
    return len(stack.log)


@pytest.fixture(scope="module")
def alice(stack, mint, log_start):
    """A customer with one order, and an admin's token."""
    user = f"hard-a-{uuid.uuid4().hex[:8]}"
    token = mint(user)
    created = stack.request("POST", "/api/orders", token=token, body=order_body())
    assert created.status == 201, created.text
    return {"user": user, "token": token, "order": created.json(), "admin": mint("hard-ops", admin=True)}


# ------------------------------------------------------------------ finding 1: admin only from `admin`
@pytest.mark.parametrize(
    "groups", [["not admin"], ["team admin"], ["[admin]"], ["admin]"], ["x", "admin"]], ids=repr
)
def test_a_group_that_is_not_exactly_admin_reads_and_lists_nothing_of_alice(stack, mint, alice, groups):
    bob = mint(f"hard-b-{uuid.uuid4().hex[:6]}", extra_claims={"cognito:groups": groups})
    got = stack.request("GET", f"/api/orders/{alice['order']['id']}", token=bob)
    assert is_problem(got, 404), got.text
    listed = stack.request("GET", f"/api/users/{alice['user']}/orders", token=bob)
    assert is_problem(listed, 403), listed.text


def test_the_admin_group_alone_still_makes_an_admin(stack, alice):
    assert stack.request("GET", f"/api/orders/{alice['order']['id']}", token=alice["admin"]).status == 200
    assert stack.request("GET", f"/api/users/{alice['user']}/orders", token=alice["admin"]).status == 200


# ------------------------------------------------------------------ findings 2 and 3: subjects
@pytest.mark.parametrize("subject", [None, True, 123, ["alice"]], ids=repr)
def test_a_subject_that_is_not_a_string_is_refused_and_creates_nothing(stack, alice, subject):
    reply = stack.request("POST", "/api/orders", token=signed(claims_for(subject)), body=order_body())
    assert reply.status == 401, reply.text
    for name in ("None", "none", "null", "true", "True", "123", "[alice]"):
        listed = stack.request("GET", f"/api/users/{name}/orders", token=alice["admin"])
        assert listed.status in (200, 400) and (listed.status == 400 or listed.json()["items"] == []), name


@pytest.mark.parametrize("subject", ["alice\n", "alice\r\n", "alice\r", " alice", "alice#1"], ids=repr)
def test_a_subject_that_is_not_a_user_id_is_a_401_problem(stack, mint, alice, subject):
    token = mint(subject)
    created = stack.request("POST", "/api/orders", token=token, body=order_body())
    assert is_problem(created, 401), created.text
    listing = stack.request("GET", "/api/users/alice/orders", token=token)
    assert is_problem(listing, 401), listing.text


# ------------------------------------------------------------------ finding 4: numbers past the digit limit
@pytest.mark.parametrize(
    "path, body",
    [
        (
            "/api/orders",
            f'{{"items": [{{"productId": "prod-456", "quantity": {HUGE}}}], "shippingAddress": {json.dumps(ADDRESS)}}}',
        ),
        (
            "/api/orders",
            f'{{"items": [{{"productId": "prod-456", "quantity": 1, "price": {HUGE}}}], "shippingAddress": {json.dumps(ADDRESS)}}}',
        ),
        (
            "/api/orders",
            f'{{"items": [{{"productId": "prod-456", "quantity": 1e-999999999}}], "shippingAddress": {json.dumps(ADDRESS)}}}',
        ),
        ("status", f'{{"status": "cancelled", "n": {HUGE}}}'),
        ("status", f'{{"status": {HUGE}}}'),
        ("status", '{"status": "cancelled", "n": 1e-999999999}'),
    ],
    ids=["quantity", "price", "tiny quantity", "status extra", "status itself", "status tiny"],
)
def test_huge_numbers_in_any_body_are_a_400_problem(stack, alice, path, body):
    target = f"/api/orders/{alice['order']['id']}/status" if path == "status" else path
    method = "PATCH" if path == "status" else "POST"
    reply = stack.request(method, target, token=alice["token"], body=body, timeout=20)
    assert is_problem(reply, 400), reply.text


# ------------------------------------------------------------------ finding 5: no echo, no hang
@pytest.mark.parametrize(
    "header",
    [
        {"kid": "ключ"},
        {"kid": "☃" * 50},
        {"alg": "RS256\u2603"},
        {"alg": "ñ"},
        {"kid": 'a"\r\nX-Injected: 1'},
    ],
    ids=repr,
)
def test_a_token_header_that_is_not_latin_1_is_a_prompt_401_that_echoes_nothing(stack, header):
    token = raw_token({"alg": "RS256", **header}, json.dumps(claims_for("user-123")))
    started = time.monotonic()
    reply = stack.request("GET", "/api/users/user-123/orders", token=token, timeout=10)
    assert time.monotonic() - started < 5
    assert reply.status == 401 and reply.json() == GATEWAY_UNAUTHORIZED
    challenge = reply.headers["WWW-Authenticate"]
    assert challenge.isascii() and "X-Injected" not in str(reply.headers)
    assert not any(str(value) in challenge for value in header.values())


# ------------------------------------------------------------------ finding 6: the loose verifier
def _with_signature(token: str, edit) -> str:
    head, body, signature = token.split(".")
    return f"{head}.{body}.{edit(signature)}"


def loose_tokens(mint) -> dict[str, str]:
    from local.aws import auth

    good = mint("user-123")
    kid = auth.signing_key().kid
    padded = lambda s: base64.b64encode(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))).decode()
    return {
        "junk after the signature": _with_signature(good, lambda s: s + "AAAA"),
        "signature in padded standard base64": _with_signature(good, padded),
        "exp NaN": raw_token(
            {"alg": "RS256", "kid": kid},
            json.dumps(claims_for("user-123")).replace(str(claims_for("user-123")["exp"]), "NaN"),
        ),
        "aud 5": signed(claims_for("user-123", aud=5)),
        "aud [{}]": signed(claims_for("user-123", aud=[{}])),
        "exp a string": signed(claims_for("user-123", exp=str(int(time.time()) + 600))),
        # Found by the attack run after the fix: flattening 3,000 nested lists was a RecursionError (500).
        "claims nested 3,000 deep": raw_token(
            {"alg": "RS256", "kid": kid},
            json.dumps(claims_for("user-123"))[:-1] + ', "x": ' + "[" * 3000 + "]" * 3000 + "}",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "junk after the signature",
        "signature in padded standard base64",
        "exp NaN",
        "aud 5",
        "aud [{}]",
        "exp a string",
        "claims nested 3,000 deep",
    ],
)
def test_tokens_the_old_verifier_took_are_the_authorizers_401(stack, mint, case):
    reply = stack.request("GET", "/api/users/user-123/orders", token=loose_tokens(mint)[case])
    assert reply.status == 401 and reply.json() == GATEWAY_UNAUTHORIZED, (case, reply.text)


# ------------------------------------------------------------------ finding 8: If-Match and string prices
def test_if_match_follows_rfc_9110(stack, mint):
    user = f"hard-m-{uuid.uuid4().hex[:8]}"
    token = mint(user)
    order = stack.request("POST", "/api/orders", token=token, body=order_body()).json()
    path = f"/api/orders/{order['id']}/status"
    cancel = json.dumps({"status": "cancelled"})
    for header in ('""1""', '"1', '1"', "1", 'w/"1"'):
        assert is_problem(
            stack.request("PATCH", path, token=token, body=cancel, headers={"If-Match": header}), 400
        ), header
    weak = stack.request("PATCH", path, token=token, body=cancel, headers={"If-Match": 'W/"1"'})
    assert is_problem(weak, 412) and weak.json()["currentVersion"] == 1
    listed = stack.request("PATCH", path, token=token, body=cancel, headers={"If-Match": '"99", "1"'})
    assert listed.status == 200 and listed.headers["ETag"] == '"2"', listed.text


@pytest.mark.parametrize("price", ['"29.99"', '"0"', "true"])
def test_a_price_sent_as_a_string_is_a_400_problem(stack, alice, price):
    body = f'{{"items": [{{"productId": "prod-456", "quantity": 1, "price": {price}}}], "shippingAddress": {json.dumps(ADDRESS)}}}'
    reply = stack.request("POST", "/api/orders", token=alice["token"], body=body)
    assert is_problem(reply, 400), reply.text
    assert "/items/0/price" in {error["pointer"] for error in reply.json()["errors"]}


# ------------------------------------------------------------------ and the stack said nothing alarming
def test_no_traceback_and_no_5xx_in_the_stack_output_for_all_of_the_above(stack, log_start):
    output = stack.log[log_start:]
    assert "Traceback" not in output
    assert " -> 5" not in output, [line for line in output.splitlines() if " -> 5" in line][:5]
