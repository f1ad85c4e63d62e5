"""Claims -> caller: who is an admin (only a real `admin` group or the `orders/admin` scope), and no caller
without a subject that is a user id (one rule, shared with the models and the listing's path)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from orders.domain.caller import (
    MAX_USER_ID_LENGTH,
    USER_ID_PATTERN,
    Caller,
    caller_from_claims,
    is_admin,
    is_user_id,
)
from orders.domain.errors import Unauthenticated
from orders.http.problems import PROBLEMS

OTHER_ISSUER = "https://issuer.example"
COGNITO_ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123xyz"


def claims(iss: str = OTHER_ISSUER, **extra: object) -> dict[str, object]:
    return {"sub": "user-123", "iss": iss, "aud": "orders", **extra}


def flattened(groups: list[str]) -> str:
    """A list claim as API Gateway's HTTP API hands it on: one bracket pair, items joined by a space."""
    return "[" + " ".join(groups) + "]"


def test_plain_customer():
    caller = caller_from_claims(claims(**{"cognito:groups": "[users]"}))
    assert caller == Caller(user_id="user-123", is_admin=False)


@pytest.mark.parametrize("iss", [OTHER_ISSUER, COGNITO_ISSUER])
@pytest.mark.parametrize("groups", ["[admin]", "admin", ["admin"], ["users", "admin"], ("admin",)], ids=repr)
def test_admin_by_the_admin_group(groups, iss):
    caller = caller_from_claims(claims(iss, **{"cognito:groups": groups}))
    assert caller.is_admin is True
    assert caller.user_id == "user-123"


@pytest.mark.parametrize("groups", ["[admin users]", "[users admin]", "[support admin ops]"])
def test_several_cognito_groups_are_read_back_exactly(groups):
    # Cognito group names cannot hold whitespace, so a Cognito issuer's `[a b]` is unambiguous.
    assert caller_from_claims(claims(COGNITO_ISSUER, **{"cognito:groups": groups})).is_admin is True


@pytest.mark.parametrize(
    "groups", ["[admin users]", "[users admin]", "[not admin]", "[team admin]", "[ admin]"]
)
def test_where_a_group_name_may_hold_a_space_several_items_grant_nothing(groups):
    # `["not admin"]` and `["not", "admin"]` read the same: ambiguous, so fail closed.
    assert caller_from_claims(claims(OTHER_ISSUER, **{"cognito:groups": groups})).is_admin is False


# Finding 1 (issue 12): each of these was an admin (brackets stripped everywhere, split on spaces).
# Names with a space exist only where the issuer is not Cognito (Cognito refuses them).
@pytest.mark.parametrize(
    "groups, issuers",
    [
        (["not admin"], [OTHER_ISSUER]),
        (["team admin"], [OTHER_ISSUER]),
        (["[admin]"], [OTHER_ISSUER, COGNITO_ISSUER]),
        (["admin]"], [OTHER_ISSUER, COGNITO_ISSUER]),
        (["[admin"], [OTHER_ISSUER, COGNITO_ISSUER]),
        (["admin,"], [OTHER_ISSUER, COGNITO_ISSUER]),
        (["x", "[admin]"], [OTHER_ISSUER, COGNITO_ISSUER]),
    ],
    ids=repr,
)
def test_groups_that_are_not_exactly_admin_grant_nothing_once_flattened(groups, issuers):
    for iss in issuers:
        assert caller_from_claims(claims(iss, **{"cognito:groups": flattened(groups)})).is_admin is False


@pytest.mark.parametrize(
    "groups",
    [
        "[users]",
        "[admins]",
        "[administrator]",
        "[superadmin users]",
        "[]",
        "",
        "[Admin]",
        "[admin\t]",
        "[[admin]]",
        "[admin]]",
        "[[admin]",
        ["admins"],
        [],
        None,
        1,
        ["admin "],
        [" admin"],
        [1],
    ],
    ids=repr,
)
def test_groups_that_only_resemble_admin_do_not_make_an_admin(groups):
    for iss in (OTHER_ISSUER, COGNITO_ISSUER):
        assert caller_from_claims(claims(iss, **{"cognito:groups": groups})).is_admin is False


@pytest.mark.parametrize(
    "scope", ["orders/admin", "openid orders/admin", "orders/admin email", ["orders/admin"]]
)
def test_admin_by_scope(scope):
    assert caller_from_claims(claims(scope=scope)).is_admin is True


@pytest.mark.parametrize(
    "scope",
    [
        "orders/read",
        "orders/admin-lite",
        "xorders/admin",
        "openid",
        "",
        "[orders/admin]",
        "orders/admin,",
        "orders/admin\topenid",
        None,
        5,
    ],
)
def test_other_scopes_do_not_make_an_admin(scope):
    assert caller_from_claims(claims(scope=scope)).is_admin is False


def test_admin_group_in_another_claim_does_not_count():
    assert caller_from_claims(claims(groups="[admin]", role="admin")).is_admin is False


@pytest.mark.parametrize(
    "iss",
    [
        "https://cognito-idp.eu-west-1.amazonaws.com.evil.example/eu-west-1_x",
        "http://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_x",
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_x/extra",
        ["https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_x"],
    ],
    ids=repr,
)
def test_only_a_real_cognito_issuer_reads_several_groups(iss):
    assert caller_from_claims(claims(iss, **{"cognito:groups": "[admin users]"})).is_admin is False


# ------------------------------------------------------------------ properties over generated group lists
ANY_NAME = st.one_of(
    st.sampled_from(
        [
            "admin",
            "Admin",
            "admins",
            "not admin",
            "admin ",
            " admin",
            "[admin]",
            "admin]",
            "[admin",
            "",
            " ",
            "[",
            "]",
            "a b",
            "users",
        ]
    ),
    st.text(alphabet=st.sampled_from("admin []\t,xy"), max_size=8),
    st.text(max_size=8),
)
# Cognito's GroupName pattern: letters, marks, symbols, numbers, punctuation (brackets too), no whitespace.
COGNITO_NAME = st.one_of(
    st.sampled_from(["admin", "Admin", "[admin]", "admin]", "[admin", "admin,", "[", "]", "users", "[]"]),
    st.text(
        alphabet=st.characters(categories=["L", "M", "S", "N", "P"], exclude_characters=" "),
        min_size=1,
        max_size=8,
    ),
)


@settings(max_examples=400, deadline=None)
@given(groups=st.lists(ANY_NAME, max_size=5))
@example(groups=["not admin"])
@example(groups=["not", "admin"])
@example(groups=["admin"])
def test_any_issuer_flattened_admin_iff_the_only_group_is_exactly_admin(groups):
    # Names may hold spaces: only a one-item list can be read back, and it is then exactly one group.
    assert is_admin(claims(OTHER_ISSUER, **{"cognito:groups": flattened(groups)})) is (groups == ["admin"])


@settings(max_examples=400, deadline=None)
@given(groups=st.lists(COGNITO_NAME, max_size=6))
@example(groups=["[admin]"])
@example(groups=["admin]", "x"])
@example(groups=["users", "admin"])
def test_cognito_flattened_admin_iff_one_group_is_exactly_admin(groups):
    assert all(not any(unicodedata.category(c).startswith(("Z", "C")) for c in name) for name in groups)
    assert is_admin(claims(COGNITO_ISSUER, **{"cognito:groups": flattened(groups)})) is ("admin" in groups)


@settings(max_examples=300, deadline=None)
@given(groups=st.lists(ANY_NAME, max_size=5), iss=st.sampled_from([OTHER_ISSUER, COGNITO_ISSUER]))
def test_a_real_list_claim_is_admin_iff_one_group_is_exactly_admin(groups, iss):
    assert is_admin(claims(iss, **{"cognito:groups": groups})) is ("admin" in groups)


SCOPE_TOKEN = st.one_of(
    st.sampled_from(["orders/admin", "openid", "orders/admin-x", "[orders/admin]", "orders/read"]),
    # RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
    st.text(
        alphabet=st.sampled_from([chr(c) for c in range(0x21, 0x7F) if c not in (0x22, 0x5C)]), min_size=1
    ),
)


@settings(max_examples=300, deadline=None)
@given(tokens=st.lists(SCOPE_TOKEN, max_size=5))
def test_scope_admin_iff_one_token_is_exactly_orders_admin(tokens):
    assert is_admin(claims(scope=" ".join(tokens))) is ("orders/admin" in tokens)


# ------------------------------------------------------------------ subjects
@pytest.mark.parametrize(
    "bad_claims",
    [
        None,
        {},
        {"iss": "x"},
        {"sub": ""},
        {"sub": "   "},
        {"sub": None},
        {"sub": 123},
        {"sub": ["user-1"]},
        {"sub": True},
        "sub",
        ["sub"],
    ],
    ids=repr,
)
def test_no_claims_or_no_subject_is_unauthenticated(bad_claims):
    with pytest.raises(Unauthenticated) as raised:
        caller_from_claims(bad_claims)
    assert PROBLEMS[raised.value.slug].status == 401


# Finding 3 (issue 12): `re.match` with `$` let a final newline through.
@pytest.mark.parametrize(
    "subject",
    [
        "alice\n",
        "alice\r",
        "alice\r\n",
        "\nalice",
        "ali ce",
        "alice#x",
        "-alice",
        "x" * 129,
        "\uff41lice",
    ],  # the last: a FULLWIDTH LATIN SMALL LETTER A
)
def test_a_subject_that_is_not_a_user_id_is_unauthenticated(subject):
    with pytest.raises(Unauthenticated):
        caller_from_claims({"sub": subject})


def test_an_admin_without_subject_is_still_unauthenticated():
    with pytest.raises(Unauthenticated):
        caller_from_claims({"cognito:groups": "[admin]", "scope": "orders/admin"})


def test_may_act_for():
    customer = Caller("user-1", False)
    admin = Caller("admin-1", True)
    assert customer.may_act_for("user-1")
    assert not customer.may_act_for("user-2")
    assert admin.may_act_for("user-2")


# One user-id rule: the caller's check, the models' field and the listing's path parameter agree.
USER_ID_CANDIDATES = st.one_of(
    st.text(alphabet=st.sampled_from("aZ09._:@|+-#\n\r \t/ü"), max_size=12),
    st.builds(
        lambda s, tail: s + tail,
        st.from_regex(USER_ID_PATTERN, fullmatch=True),
        st.sampled_from(["", "\n", "\r\n", " "]),
    ),
    st.text(max_size=MAX_USER_ID_LENGTH + 2),
)


@settings(max_examples=500, deadline=None)
@given(candidate=USER_ID_CANDIDATES)
@example(candidate="alice\n")
@example(candidate="x" * MAX_USER_ID_LENGTH)
@example(candidate="x" * (MAX_USER_ID_LENGTH + 1))
def test_one_user_id_rule_for_caller_models_and_path(candidate):
    from typing import Annotated

    from aws_lambda_powertools.event_handler.openapi.params import Path
    from orders.domain.models import Identifier
    from pydantic import TypeAdapter, ValidationError

    def accepts(adapter: TypeAdapter) -> bool:
        try:
            adapter.validate_python(candidate)
        except ValidationError:
            return False
        return True

    path = TypeAdapter(
        Annotated[str, Path(min_length=1, max_length=MAX_USER_ID_LENGTH, pattern=USER_ID_PATTERN)]
    )
    expected = is_user_id(candidate)
    assert accepts(TypeAdapter(Identifier)) is expected
    assert accepts(path) is expected
    try:
        caller_from_claims({"sub": candidate})
        assert expected
    except Unauthenticated:
        assert not expected
