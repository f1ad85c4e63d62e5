"""The JWT authorizer emulation, over HTTP: what API Gateway refuses with 401 never reaches a function."""

from __future__ import annotations

import base64
import json
import time
from functools import cache

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from local.aws import auth

pytestmark = pytest.mark.e2e


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _claims(**changes) -> dict:
    now = int(time.time())
    claims = {"sub": "user-123", "iss": auth.ISSUER, "aud": auth.AUDIENCE, "iat": now, "exp": now + 600}
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def _signed(claims: dict, key=None, kid: str | None = None) -> str:
    own = auth.signing_key()
    return jwt.encode(claims, key or own.private_key, algorithm="RS256", headers={"kid": kid or own.kid})


@cache
def bad_tokens() -> dict[str, str | None]:
    now = int(time.time())
    return {
        "missing": None,
        "expired": auth.mint("user-123", now=now - 7200),
        "wrong audience": _signed(_claims(aud="someone-else")),
        "wrong issuer": _signed(_claims(iss="https://issuer.example")),
        "no exp": _signed(_claims(exp=None)),
        "not yet valid": _signed(_claims(nbf=now + 600)),
        "issued in the future": _signed(_claims(iat=now + 600)),
        "unknown kid": _signed(_claims(), key=_other_key(), kid="not-a-key-of-ours"),
        "forged with our kid": _signed(_claims(), key=_other_key()),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': auth.signing_key().kid})}.{_b64(_claims())}.",
        "alg HS256": jwt.encode(_claims(), "a-shared-secret-instead-of-an-rsa-key", algorithm="HS256"),
        "not a jwt": "not-a-token",
    }


@pytest.mark.parametrize("case", list(bad_tokens()))
def test_refused_tokens_get_apigateway_401(stack, case):
    token = bad_tokens()[case]
    reply = stack.request("GET", "/api/users/user-123/orders", token=token)
    assert reply.status == 401, (case, reply.text)
    assert reply.json() == {"message": "Unauthorized"}
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")


def test_good_tokens_pass_with_or_without_bearer_prefix(stack, mint):
    token = mint("user-123")
    assert stack.request("GET", "/api/users/user-123/orders", token=token).status == 200
    raw = stack.request("GET", "/api/users/user-123/orders", headers={"Authorization": token})
    assert raw.status == 200
    # client_id stands in for aud (Cognito access tokens carry no aud).
    access = _signed(_claims(aud=None, client_id=auth.AUDIENCE, scope="orders/admin"))
    assert stack.request("GET", "/api/users/someone-else/orders", token=access).status == 200


def test_public_route_needs_no_token_and_ignores_a_bad_one(stack):
    assert stack.request("GET", "/health").status == 200
    assert stack.request("GET", "/health", token="garbage").status == 200


def test_claims_reach_handlers_flattened_like_apigateway():
    claims = {
        "sub": "u",
        "cognito:groups": ["admin", "users"],
        "exp": 17,
        "email_verified": True,
        "x": {"a": 1},
    }
    assert auth.api_gateway_claims(claims) == {
        "sub": "u",
        "cognito:groups": "[admin users]",
        "exp": "17",
        "email_verified": "true",
        "x": '{"a":1}',
    }
    assert auth.token_scopes({"scope": "a b"}) == ["a", "b"]
    assert auth.token_scopes({}) is None


def test_token_cli_options(mint):
    authorizer = auth.JwtAuthorizer("jwt", auth.ISSUER, (auth.AUDIENCE,))
    token = mint("user-9", admin=True, scopes=["orders/admin", "x"], expires_in=60)
    claims = authorizer.verify(token, auth.public_keys())
    assert claims["sub"] == "user-9" and claims["cognito:groups"] == ["admin"]
    assert claims["scope"] == "orders/admin x"
    assert claims["exp"] - claims["iat"] == 60
    with pytest.raises(auth.Forbidden):
        authorizer.verify(mint("user-9"), auth.public_keys(), required_scopes=["orders/admin"])
