"""A bearer JWT checked with the rules of API Gateway's HTTP API JWT authorizer, and its claims shaped as
that authorizer hands them on. Used only where no authorizer runs: the local stack (`make dev`) and the
functions under `sam local start-api` (this package ships in the SamLocalAuth layer, never in a
deployment).

The cryptography and the standard claim checks are PyJWT's (with `cryptography` for RS256). On top of
them, what the authorizer's rules need and PyJWT leaves lax:
- canonical base64url segments only (PyJWT's decoder skips junk and takes padding or `+/`);
- RS256 only, with the JWKS key named by the header's `kid` (a string);
- `iss` equal to the issuer; `aud` a string or a list of strings among the audiences or, without `aud`,
  `client_id` among them;
- `exp` required; `exp`, `nbf` and `iat` JSON numbers and finite (PyJWT's `int()` takes "123" or true);
  `nbf` and `iat` not in the future, `exp` in it;
- `sub` and `jti`, when present, strings (PyJWT's `verify_sub` / `verify_jti`);
- claims nested at most 16 deep (they are flattened recursively, as API Gateway hands them on).
A refusal says why with one of a few fixed texts (`InvalidToken.reason`), never anything from the token:
the reason may reach a `WWW-Authenticate` header and the logs.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import jwt

ALGORITHM = "RS256"
MAX_TOKEN_LENGTH = 16 * 1024  # far above any real token; API Gateway limits headers to 10 KB
MAX_CLAIM_DEPTH = 16  # nested lists/objects in claims; deeper is refused before anything recurses over them
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")

MALFORMED = "the token is malformed"
WRONG_ALGORITHM = "signing method is not RS256"
UNKNOWN_KEY = "no key with the token's kid in the issuer's JWKS"
BAD_SIGNATURE = "the token's signature is invalid"
EXPIRED = "the token has expired"
NOT_YET_VALID = "the token is not valid yet"
BAD_ISSUER = "the token's issuer is not accepted"
BAD_AUDIENCE = "the token's audience is not accepted"
BAD_CLAIMS = "the token's claims are not valid"
NO_TOKEN = "no token"


class InvalidToken(Exception):
    """The token is not one the authorizer would accept. `reason` is one of this module's fixed texts."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def bearer_token(headers: Mapping[str, str], header: str = "authorization") -> str:
    """The token from `Authorization`, with or without the `Bearer ` prefix (API Gateway takes both)."""
    value = headers.get(header)
    if value is None:
        value = next((v for name, v in headers.items() if str(name).lower() == header), None)
    value = value.strip() if isinstance(value, str) else ""
    if not value:
        raise InvalidToken(NO_TOKEN)
    scheme, _, rest = value.partition(" ")
    return rest.strip() if scheme.lower() == "bearer" and rest.strip() else value


def _is_canonical_base64url(segment: str) -> bool:
    """Unpadded base64url whose decoding encodes back to the very same text (no spare bits set)."""
    if not _BASE64URL.fullmatch(segment) or len(segment) % 4 == 1:
        return False
    try:
        decoded = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        return False
    return base64.urlsafe_b64encode(decoded).rstrip(b"=").decode("ascii") == segment


def _signing_key(jwks: Mapping[str, Any], kid: str) -> jwt.PyJWK:
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    for jwk in keys if isinstance(keys, list) else []:
        if not isinstance(jwk, Mapping) or jwk.get("kid") != kid or jwk.get("kty") != "RSA":
            continue
        if jwk.get("use", "sig") != "sig" or jwk.get("alg", ALGORITHM) != ALGORITHM:
            continue
        try:
            return jwt.PyJWK(dict(jwk), algorithm=ALGORITHM)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            continue  # an unusable key in the issuer's set is no key
    raise InvalidToken(UNKNOWN_KEY)


def _nesting_within(value: Any, limit: int) -> bool:
    """Whether lists and objects in `value` nest at most `limit` deep (iterative: no recursion)."""
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, (list, dict)):
            if depth >= limit:
                return False
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return True


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, EXPIRED),
    (jwt.ImmatureSignatureError, NOT_YET_VALID),
    (jwt.InvalidIssuerError, BAD_ISSUER),
    (jwt.InvalidSignatureError, BAD_SIGNATURE),
    (jwt.InvalidAlgorithmError, WRONG_ALGORITHM),
    (jwt.MissingRequiredClaimError, BAD_CLAIMS),
    (jwt.DecodeError, MALFORMED),
)


def verify(token: str, *, jwks: Mapping[str, Any], issuer: str, audiences: Iterable[str]) -> dict[str, Any]:
    """The token's claims when every rule holds; raises InvalidToken otherwise (never anything else)."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken(MALFORMED)
    segments = token.split(".")
    if len(segments) != len(("header", "payload", "signature")) or not all(
        _is_canonical_base64url(segment) for segment in segments
    ):
        raise InvalidToken(MALFORMED)
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, ValueError, TypeError, RecursionError):
        raise InvalidToken(MALFORMED) from None
    if header.get("alg") != ALGORITHM:
        raise InvalidToken(WRONG_ALGORITHM)
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise InvalidToken(UNKNOWN_KEY)
    key = _signing_key(jwks, kid)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            issuer=issuer,
            leeway=0,
            # The audience rule is API Gateway's (aud, else client_id): checked below.
            options={"require": ["exp", "iss"], "verify_aud": False, "verify_sub": True, "verify_jti": True},
        )
    except (jwt.PyJWTError, ValueError, TypeError, KeyError, OverflowError, RecursionError) as error:
        reason = next((text for kind, text in _REASONS if isinstance(error, kind)), BAD_CLAIMS)
        raise InvalidToken(reason) from None
    for name in ("exp", "nbf", "iat"):
        if name in claims and not _number(claims[name]):
            raise InvalidToken(BAD_CLAIMS)
    if not _nesting_within(claims, MAX_CLAIM_DEPTH):
        raise InvalidToken(BAD_CLAIMS)
    _check_audience(claims, set(audiences))
    return claims


def _check_audience(claims: Mapping[str, Any], audiences: set[str]) -> None:
    if "aud" in claims:
        audience = claims["aud"]
        named = [audience] if isinstance(audience, str) else audience
        if not isinstance(named, list) or not all(isinstance(item, str) for item in named):
            raise InvalidToken(BAD_AUDIENCE)
        if not set(named) & audiences:
            raise InvalidToken(BAD_AUDIENCE)
    elif not (isinstance(claims.get("client_id"), str) and claims["client_id"] in audiences):
        raise InvalidToken(BAD_AUDIENCE)


def _flatten(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
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
    if isinstance(scope, str):
        return scope.split()
    return [item for item in scope if isinstance(item, str)] if isinstance(scope, list) else []
