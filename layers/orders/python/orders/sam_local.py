"""Authentication under `sam local start-api` (SAM CLI sets `AWS_SAM_LOCAL=true` in its containers;
Lambda never does). SAM CLI does not run HTTP API JWT authorizers, so handlers would see no claims:
here the bearer token is verified with the authorizer's rules against the issuer's JWKS (the local
stack's by default, see `make services`) and the same claims are built. An unverified token is never
trusted."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import cache
from typing import Any

from orders.errors import Unauthenticated, UpstreamUnavailable
from orders.jwt_verifier import InvalidToken, api_gateway_claims, bearer_token, verify

DEFAULT_JWKS_URL = "http://host.docker.internal:3001/.well-known/jwks.json"
DEFAULT_ISSUER = "http://localhost/local-issuer"
DEFAULT_AUDIENCE = "orders-local"


@cache
def _jwks() -> dict[str, Any]:
    import urllib3

    url = os.environ.get("SAM_LOCAL_JWKS_URL") or DEFAULT_JWKS_URL
    try:
        response = urllib3.request("GET", url, timeout=2.0, retries=1)
        keys = json.loads(response.data)
    except (urllib3.exceptions.HTTPError, ValueError) as error:
        raise UpstreamUnavailable("token issuer") from error
    if response.status != 200 or not isinstance(keys, dict):
        raise UpstreamUnavailable("token issuer")
    return keys


def verified_claims(headers: Mapping[str, str]) -> dict[str, str]:
    issuer = os.environ.get("SAM_LOCAL_JWT_ISSUER") or DEFAULT_ISSUER
    audiences = [os.environ.get("SAM_LOCAL_JWT_AUDIENCE") or DEFAULT_AUDIENCE]
    try:
        token = bearer_token(headers)
        try:
            claims = verify(token, jwks=_jwks(), issuer=issuer, audiences=audiences)
        except InvalidToken as error:
            if "no key" not in str(error):
                raise
            _jwks.cache_clear()  # the issuer may have rotated its keys: fetch them once more
            claims = verify(token, jwks=_jwks(), issuer=issuer, audiences=audiences)
    except InvalidToken:
        raise Unauthenticated("The bearer token is missing or not valid.") from None
    return api_gateway_claims(claims)
