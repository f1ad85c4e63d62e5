"""Who is calling: built from the JWT claims API Gateway's authorizer passes on. Pure.

Subject: `sub` must be a non-empty string that fully matches the user-id rule (`is_user_id`, the one rule
the models and the listing's path parameter share), else the request is a 401.

Admin: `scope` holds the token `orders/admin`, or `cognito:groups` holds a group named exactly `admin`.
API Gateway hands list claims on as one string, `[a b]`: one bracket pair around the items, joined by
single spaces. That text is read back exactly (one bracket pair stripped, then split on single spaces);
an item is `admin` only if it is exactly `admin`, so `[admin]]`, `[[admin]]` or `[admin,]` grant
nothing. Where a group name may hold a space the text is ambiguous as soon as it holds more than one
item (`["not admin"]` and `["not", "admin"]` both read `[not admin]`), so it grants nothing: fail
closed. Cognito group names cannot hold whitespace (its GroupName pattern allows letters, marks, symbols,
numbers and punctuation only), so for a Cognito issuer (`iss` is verified by the authorizer) several
groups are read back exactly. For other issuers, give admins the `orders/admin` scope (OAuth scope tokens
cannot hold spaces), or make `admin` their only group.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

from orders.domain.errors import Unauthenticated

ADMIN_GROUP = "admin"
ADMIN_SCOPE = "orders/admin"
# User ids become part of table keys: bounded, and never the `#` that separates key parts. One rule:
# `is_user_id` (fullmatch, so no final newline slips past `$`), the models' and the path's `pattern`
# (JSON Schema / pydantic's regex engine, where `$` is the end of the text) are property-tested equal.
_USER_ID_BODY = r"[A-Za-z0-9][A-Za-z0-9._:@|+-]*"
USER_ID_PATTERN = rf"^{_USER_ID_BODY}$"
MAX_USER_ID_LENGTH = 128
_USER_ID = re.compile(_USER_ID_BODY)
# Cognito user pool issuers: https://cognito-idp.<region>.amazonaws.com/<region>_<id> (".cn" in China).
_COGNITO_ISSUER = re.compile(
    r"https://cognito-idp\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?/[a-z0-9-]+_[0-9A-Za-z]+"
)


def is_user_id(value: object) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_USER_ID_LENGTH
        and _USER_ID.fullmatch(value) is not None
    )


class Caller(NamedTuple):
    """Immutable; a NamedTuple rather than a frozen dataclass, whose generated methods cost every function's
    cold start about a millisecond to build."""

    user_id: str
    is_admin: bool

    def may_act_for(self, user_id: str) -> bool:
        return self.is_admin or self.user_id == user_id


def list_claim_items(claim: object, *, items_may_hold_spaces: bool) -> list[str] | None:
    """The items of a list claim: a real list (a JWT's own), or API Gateway's flattened `[a b]`.
    A string without the bracket pair is one item. None when the text cannot be read back unambiguously."""
    if isinstance(claim, (list, tuple)):
        return [item for item in claim if isinstance(item, str)]
    if not isinstance(claim, str):
        return []
    if len(claim) >= len("[]") and claim.startswith("[") and claim.endswith("]"):
        items = claim[1:-1].split(" ")
        if items_may_hold_spaces and len(items) > 1:
            return None
        return items
    return [claim]


def scope_tokens(claim: object) -> list[str]:
    """OAuth `scope`: space-separated tokens that cannot hold a space (RFC 6749 §3.3), compared exactly.
    A flattened list's first and last items keep their bracket, so they never match: fail closed."""
    if isinstance(claim, (list, tuple)):
        return [item for item in claim if isinstance(item, str)]
    return claim.split(" ") if isinstance(claim, str) else []


def is_cognito_issuer(issuer: object) -> bool:
    return isinstance(issuer, str) and _COGNITO_ISSUER.fullmatch(issuer) is not None


def is_admin(claims: Mapping[str, object]) -> bool:
    if ADMIN_SCOPE in scope_tokens(claims.get("scope")):
        return True
    groups = list_claim_items(
        claims.get("cognito:groups"), items_may_hold_spaces=not is_cognito_issuer(claims.get("iss"))
    )
    return groups is not None and ADMIN_GROUP in groups


def caller_from_claims(claims: Mapping[str, object] | None) -> Caller:
    """No claims, or no usable subject, means no caller: never a default user."""
    if not isinstance(claims, Mapping):
        raise Unauthenticated("This endpoint needs a bearer token with a subject.")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject.strip():
        raise Unauthenticated("This endpoint needs a bearer token with a subject.")
    if not is_user_id(subject):
        raise Unauthenticated("The token's subject is not a usable user id.")
    return Caller(user_id=subject, is_admin=is_admin(claims))
