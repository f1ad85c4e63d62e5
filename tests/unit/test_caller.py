"""Claims -> caller: who is an admin, and no caller without a subject."""

from __future__ import annotations

import pytest
from orders.caller import Caller, caller_from_claims
from orders.errors import Unauthenticated


def claims(**extra: object) -> dict[str, object]:
    return {"sub": "user-123", "iss": "https://issuer.example", "aud": "orders", **extra}


def test_plain_customer():
    caller = caller_from_claims(claims(**{"cognito:groups": "[users]"}))
    assert caller == Caller(user_id="user-123", is_admin=False)


@pytest.mark.parametrize(
    "groups",
    [
        "[admin]",
        "[admin users]",
        "[users admin]",
        "[users, admin]",
        "admin",
        ["admin"],
        ["users", "admin"],
        ("admin",),
    ],
    ids=repr,
)
def test_admin_by_cognito_group_as_api_gateway_string_or_list(groups):
    caller = caller_from_claims(claims(**{"cognito:groups": groups}))
    assert caller.is_admin is True
    assert caller.user_id == "user-123"


@pytest.mark.parametrize(
    "groups",
    ["[users]", "[admins]", "[administrator]", "[superadmin users]", "[]", "", ["admins"], [], None, 1],
    ids=repr,
)
def test_groups_that_only_resemble_admin_do_not_make_an_admin(groups):
    assert caller_from_claims(claims(**{"cognito:groups": groups})).is_admin is False


@pytest.mark.parametrize(
    "scope", ["orders/admin", "openid orders/admin", "orders/admin email", ["orders/admin"]]
)
def test_admin_by_scope(scope):
    assert caller_from_claims(claims(scope=scope)).is_admin is True


@pytest.mark.parametrize("scope", ["orders/read", "orders/admin-lite", "xorders/admin", "openid", ""])
def test_other_scopes_do_not_make_an_admin(scope):
    assert caller_from_claims(claims(scope=scope)).is_admin is False


def test_admin_group_in_another_claim_does_not_count():
    assert caller_from_claims(claims(groups="[admin]", role="admin")).is_admin is False


@pytest.mark.parametrize(
    "bad_claims",
    [None, {}, {"iss": "x"}, {"sub": ""}, {"sub": "   "}, {"sub": None}, {"sub": 123}, {"sub": ["user-1"]}],
    ids=repr,
)
def test_no_claims_or_no_subject_is_unauthenticated(bad_claims):
    with pytest.raises(Unauthenticated) as raised:
        caller_from_claims(bad_claims)
    assert raised.value.status == 401


def test_an_admin_without_subject_is_still_unauthenticated():
    with pytest.raises(Unauthenticated):
        caller_from_claims({"cognito:groups": "[admin]", "scope": "orders/admin"})


def test_may_act_for():
    customer = Caller("user-1", False)
    admin = Caller("admin-1", True)
    assert customer.may_act_for("user-1")
    assert not customer.may_act_for("user-2")
    assert admin.may_act_for("user-2")
