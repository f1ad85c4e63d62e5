"""Authentication under `sam local start-api`, shipped only in the SamLocalAuth layer
(template.yaml: `SamLocalAuth=true`; a deployment never has it, and deployed functions never verify
tokens: they trust API Gateway's authorizer claims).

SAM CLI does not run HTTP API JWT authorizers, so handlers would see no claims. `orders.http.api` (when
`AWS_SAM_LOCAL=true`, which SAM CLI sets and Lambda never does) calls `verified_claims`: the bearer token is
verified with the authorizer's rules (`sam_local_auth.jwt_verifier`, the very code the local stack's
authorizer runs) against the issuer's JWKS (the local stack's by default, see `make services`), and the
claims are shaped as API Gateway passes them on. An unverified token is never trusted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import cache
from http import HTTPStatus
from typing import Any

from sam_local_auth.jwt_verifier import UNKNOWN_KEY, InvalidToken, api_gateway_claims, bearer_token, verify

__all__ = ["IssuerUnavailable", "TokenRefused", "verified_claims"]

DEFAULT_JWKS_URL = "http://host.docker.internal:3001/.well-known/jwks.json"
DEFAULT_ISSUER = "http://localhost/local-issuer"
DEFAULT_AUDIENCE = "orders-local"

TokenRefused = InvalidToken


class IssuerUnavailable(Exception):
    """The issuer's JWKS could not be fetched."""


@cache
def _jwks() -> dict[str, Any]:
    import urllib3

    url = os.environ.get("SAM_LOCAL_JWKS_URL") or DEFAULT_JWKS_URL
    try:
        response = urllib3.request("GET", url, timeout=2.0, retries=1)
        keys = json.loads(response.data)
    except (urllib3.exceptions.HTTPError, ValueError) as error:
        raise IssuerUnavailable(url) from error
    if response.status != HTTPStatus.OK or not isinstance(keys, dict):
        raise IssuerUnavailable(url)
    return keys


def verified_claims(headers: Mapping[str, str]) -> dict[str, str]:
    """The token's claims as API Gateway's authorizer passes them on; raises TokenRefused or
    IssuerUnavailable."""
    issuer = os.environ.get("SAM_LOCAL_JWT_ISSUER") or DEFAULT_ISSUER
    audiences = [os.environ.get("SAM_LOCAL_JWT_AUDIENCE") or DEFAULT_AUDIENCE]
    token = bearer_token(headers)
    try:
        claims = verify(token, jwks=_jwks(), issuer=issuer, audiences=audiences)
    except InvalidToken as error:
        if error.reason != UNKNOWN_KEY:
            raise
        _jwks.cache_clear()  # the issuer may have rotated its keys: fetch them once more
        claims = verify(token, jwks=_jwks(), issuer=issuer, audiences=audiences)
    return api_gateway_claims(claims)
