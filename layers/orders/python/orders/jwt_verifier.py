"""Checking a bearer JWT with the rules of API Gateway's HTTP API JWT authorizer, and shaping its claims
as that authorizer hands them on. Used where no authorizer runs: the local stack, and functions under
`sam local` (`AWS_SAM_LOCAL=true`), which SAM CLI runs without the authorizer.

Rules: RS256 only; the JWKS key named by `kid`; `iss` equal to the issuer; `aud` (or, without `aud`,
`client_id`) among the audiences; `exp` required and in the future; `nbf` and `iat`, when present, not
in the future. The signature is checked with the pure-Python `rsa` package (PKCS#1 v1.5, SHA-256), so
the layer needs no native crypto library.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

ALGORITHM = "RS256"


class InvalidToken(Exception):
    """The token is not one the authorizer would accept; the message says why (for logs, not clients)."""


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _b64int(segment: str) -> int:
    return int.from_bytes(_b64decode(segment), "big")


def bearer_token(headers: Mapping[str, str]) -> str:
    """The token from `Authorization`, with or without the `Bearer ` prefix (API Gateway takes both)."""
    value = (headers.get("authorization") or headers.get("Authorization") or "").strip()
    if not value:
        raise InvalidToken("no token")
    scheme, _, rest = value.partition(" ")
    return rest.strip() if scheme.lower() == "bearer" and rest.strip() else value


def verify(
    token: str,
    *,
    jwks: Mapping[str, Any],
    issuer: str,
    audiences: Iterable[str],
    now: float | None = None,
) -> dict[str, Any]:
    """The token's claims, when every rule holds; raises InvalidToken otherwise."""
    import rsa  # deferred: only the local paths verify tokens themselves

    try:
        encoded_header, encoded_claims, encoded_signature = token.split(".")
        header = json.loads(_b64decode(encoded_header))
        claims = json.loads(_b64decode(encoded_claims))
        signature = _b64decode(encoded_signature)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidToken(f"malformed token: {error}") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidToken("malformed token")
    if header.get("alg") != ALGORITHM:
        raise InvalidToken(f"algorithm {header.get('alg')!r} is not accepted")
    key = next(
        (jwk for jwk in jwks.get("keys", []) if jwk.get("kid") == header.get("kid") and jwk.get("kty") == "RSA"),
        None,
    )
    if key is None:
        raise InvalidToken(f"no key {header.get('kid')!r} in the issuer's JWKS")
    try:
        method = rsa.verify(
            f"{encoded_header}.{encoded_claims}".encode(),
            signature,
            rsa.PublicKey(_b64int(key["n"]), _b64int(key["e"])),
        )
    except (rsa.VerificationError, KeyError, ValueError) as error:
        raise InvalidToken(f"bad signature: {error}") from None
    if method != "SHA-256":
        raise InvalidToken(f"signature hash {method} is not SHA-256")
    _check_claims(claims, issuer=issuer, audiences=set(audiences), now=time.time() if now is None else now)
    return claims


def _check_claims(claims: Mapping[str, Any], *, issuer: str, audiences: set[str], now: float) -> None:
    if claims.get("iss") != issuer:
        raise InvalidToken("issuer not accepted")
    audience = claims.get("aud")
    if audience is not None:
        accepted = {audience} if isinstance(audience, str) else set(audience)
        if not accepted & audiences:
            raise InvalidToken("audience not accepted")
    elif claims.get("client_id") not in audiences:
        raise InvalidToken("neither aud nor client_id is accepted")
    expires = claims.get("exp")
    if not isinstance(expires, (int, float)) or isinstance(expires, bool) or expires <= now:
        raise InvalidToken("expired or without exp")
    for name in ("nbf", "iat"):
        value = claims.get(name)
        if value is not None and (not isinstance(value, (int, float)) or value > now):
            raise InvalidToken(f"{name} is in the future")


def _flatten(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(_flatten(item) for item in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def api_gateway_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """Claims as API Gateway hands them to the integration: every value a string, lists as `[a b]`."""
    return {name: _flatten(value) for name, value in claims.items()}


def token_scopes(claims: Mapping[str, Any]) -> list[str] | None:
    scope = claims.get("scope", claims.get("scp"))
    if scope is None:
        return None
    return scope.split() if isinstance(scope, str) else [str(item) for item in scope]
