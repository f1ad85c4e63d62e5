"""Handlers as `sam local start-api` runs them: `AWS_SAM_LOCAL=true`, no authorizer context. They must
verify the bearer token themselves against the issuer's JWKS and never trust an unverified token."""

from __future__ import annotations

import base64
import functools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from orders import sam_local

from local import auth
from tests.support.lambda_runtime import http_event, invoke

FUNCTIONS_WITH_AUTH = ["create_order", "get_order", "update_order_status", "list_user_orders"]


@pytest.fixture(scope="module")
def jwks_url(tmp_path_factory):
    """The local issuer's keys (in a temporary key folder), served over HTTP as the stack serves them."""
    keys = tmp_path_factory.mktemp("keys")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LOCAL_KEYS_DIR", str(keys))
        auth.signing_key.cache_clear()
        jwks_document = json.dumps(auth.jwks()).encode()

        class Jwks(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(jwks_document)

            def log_message(self, *_):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{server.server_port}/jwks.json"
        server.shutdown()
        auth.signing_key.cache_clear()


@pytest.fixture
def sam_local_env(jwks_url, monkeypatch, table):
    """SAM CLI's environment for the functions (`AWS_SAM_LOCAL=true`), pointed at the JWKS."""
    monkeypatch.setenv("AWS_SAM_LOCAL", "true")
    monkeypatch.setenv("SAM_LOCAL_JWKS_URL", jwks_url)
    sam_local._jwks.cache_clear()
    yield
    sam_local._jwks.cache_clear()


def sam_event(function: str, token: str | None, **changes) -> dict:
    event = http_event(function, user=None, **changes)
    event["headers"].pop("authorization", None)
    if token is not None:
        event["headers"]["authorization"] = f"Bearer {token}"
    return event


@functools.cache
def stranger_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def forged(claims: dict, kid: str) -> str:
    """Signed by someone else's key, under the issuer's key id."""
    return jwt.encode(claims, stranger_key(), algorithm="RS256", headers={"kid": kid})


def unsigned(claims: dict, kid: str) -> str:
    part = lambda data: base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'none', 'kid': kid, 'typ': 'JWT'})}.{part(claims)}."


def test_a_minted_token_is_verified_and_becomes_the_caller(sam_local_env):
    created = invoke("create_order", sam_event("create_order", auth.mint("user-123")))
    assert created.status == 201 and created.body["userId"] == "user-123"
    order_id = created.body["id"]
    got = invoke("get_order", sam_event("get_order", auth.mint("user-123"), path=f"/api/orders/{order_id}"))
    assert got.status == 200
    # Admin rights come from the verified token's groups, flattened as API Gateway flattens them.
    shipped = invoke("update_order_status", sam_event(
        "update_order_status", auth.mint("ops-1", admin=True), path=f"/api/orders/{order_id}/status",
        body={"status": "shipped"}))
    assert shipped.status == 200 and shipped.body["statusHistory"][-1]["by"] == "ops-1"
    listed = invoke("list_user_orders", sam_event("list_user_orders", auth.mint("user-123")))
    assert [order["id"] for order in listed.body["items"]] == [order_id]


@pytest.mark.parametrize("function", FUNCTIONS_WITH_AUTH)
@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda: None, id="no-token"),
        pytest.param(lambda: auth.mint("user-123", expires_in=-10), id="expired"),
        pytest.param(lambda: auth.mint("user-123", now=time.time() + 600), id="not-yet-valid"),
        pytest.param(lambda: auth.mint("user-123", extra_claims={"aud": "someone-else"}), id="wrong-audience"),
        pytest.param(lambda: auth.mint("user-123", extra_claims={"iss": "https://evil.example"}), id="wrong-issuer"),
        pytest.param(lambda: forged(jwt.decode(auth.mint("user-123"), options={"verify_signature": False}),
                                    auth.signing_key().kid), id="forged-signature"),
        pytest.param(lambda: unsigned(jwt.decode(auth.mint("user-123"), options={"verify_signature": False}),
                                      auth.signing_key().kid), id="alg-none"),
        pytest.param(lambda: auth.mint("user-123").replace(".", ".x", 1), id="garbled"),
    ],
)
def test_tokens_the_authorizer_would_refuse_are_401(sam_local_env, function, make_token):
    response = invoke(function, sam_event(function, make_token()))
    assert response.status == 401 and response.content_type == "application/problem+json"


def test_outside_sam_local_a_bearer_token_alone_is_never_trusted(table):
    # On Lambda the authorizer's claims are the only source: a token in the header is not read.
    event = sam_event("get_order", auth.mint("user-123"))
    assert invoke("get_order", event).status == 401
