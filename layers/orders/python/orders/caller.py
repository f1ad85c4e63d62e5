"""Who is calling: built from the JWT claims API Gateway's authorizer passes on. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from orders.errors import Unauthenticated

ADMIN_GROUP = "admin"
ADMIN_SCOPE = "orders/admin"
# User ids become part of table keys: bounded, and never the `#` that separates key parts.
USER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@|+-]*$"
MAX_USER_ID_LENGTH = 128
_USER_ID = re.compile(USER_ID_PATTERN)


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: str
    is_admin: bool

    def may_act_for(self, user_id: str) -> bool:
        return self.is_admin or self.user_id == user_id


def _words(claim: object) -> set[str]:
    """API Gateway flattens list claims to strings like `[admin users]`; JWTs may carry real lists."""
    if isinstance(claim, (list, tuple)):
        return {str(word) for word in claim}
    if isinstance(claim, str):
        # Space-separated, as API Gateway writes them: a group may itself contain a comma.
        return set(claim.strip("[]").split())
    return set()


def caller_from_claims(claims: Mapping[str, object] | None) -> Caller:
    """No claims, or no subject, means no caller: never a default user."""
    subject = (claims or {}).get("sub")
    if not isinstance(subject, str) or not subject.strip():
        raise Unauthenticated("This endpoint needs a bearer token with a subject.")
    if len(subject) > MAX_USER_ID_LENGTH or not _USER_ID.match(subject):
        raise Unauthenticated("The token's subject is not a usable user id.")
    is_admin = ADMIN_GROUP in _words(claims.get("cognito:groups")) or ADMIN_SCOPE in _words(claims.get("scope"))
    return Caller(user_id=subject, is_admin=is_admin)
