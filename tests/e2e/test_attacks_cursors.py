"""Attacks over HTTP against the local stack, listing cursors: a cursor is good only on the listing that
issued it (same user, same filter); an edited, borrowed or made-up cursor is a 400 problem."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import quote, urlencode

import pytest

from tests.e2e.attacks import assert_problem
from tests.e2e.harness import Reply

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cursors(stack, cast, victim):
    """A's cursors: unfiltered and `status=pending` (A has several pending orders); and the admin's across
    users (GET /api/orders) on a window holding A's orders, unfiltered and `status=pending`."""

    def cursor(query: str) -> str:
        reply = stack.request("GET", f"/api/users/{cast.a}/orders?limit=1{query}", token=cast.token_a)
        assert reply.status == 200, reply.text
        value = reply.json()["nextCursor"]
        assert value
        return value

    def across(query: str) -> str:
        reply = stack.request("GET", f"/api/orders?limit=1&{query}", token=cast.token_admin)
        assert reply.status == 200, reply.text
        value = reply.json()["nextCursor"]
        assert value
        return value

    return {
        "all": cursor(""),
        "pending": cursor("&status=pending"),
        "across": across(across_window(victim)),
        "across-pending": across(f"{across_window(victim)}&status=pending"),
    }


def across_window(victim) -> str:
    """A window that holds A's orders (and a day after), oldest first: its pages hold A's orders."""
    return urlencode({"createdFrom": victim[0]["createdAt"], "order": "asc"})


def listing(stack, token: str, user: str, cursor: str, query: str = "") -> Reply:
    return stack.request(
        "GET", f"/api/users/{user}/orders?limit=1{query}&cursor={quote(cursor, safe='')}", token=token
    )


def across_users(stack, token: str, cursor: str, query: str) -> Reply:
    return stack.request("GET", f"/api/orders?limit=1&{query}&cursor={quote(cursor, safe='')}", token=token)


def test_cursors_are_good_where_they_were_issued(stack, cast, cursors, victim, mint):
    assert listing(stack, cast.token_a, cast.a, cursors["all"]).status == 200
    assert listing(stack, cast.token_a, cast.a, cursors["pending"], "&status=pending").status == 200
    # The admin reading A's listing continues A's pages: the cursor is bound to the listing, not the reader.
    assert listing(stack, cast.token_admin, cast.a, cursors["all"]).status == 200
    window = across_window(victim)
    assert across_users(stack, cast.token_admin, cursors["across"], window).status == 200
    pending = f"{window}&status=pending"
    assert across_users(stack, cast.token_admin, cursors["across-pending"], pending).status == 200
    # Another admin continues the same query: bound to the query, not to the admin who asked.
    other_admin = mint(f"{cast.admin}-2", admin=True)
    assert across_users(stack, other_admin, cursors["across"], window).status == 200


# (whose cursor, the query it is sent with); "{window}" is across_window(victim).
ACROSS_USERS_MISUSE = {
    "across cursor without its window": ("across", "order=asc"),
    "across cursor without its order": ("across", "createdFrom={from}"),
    "across cursor with order=desc": ("across", "createdFrom={from}&order=desc"),
    "across cursor with status=pending": ("across", "{window}&status=pending"),
    "across cursor with another createdFrom": ("across", "createdFrom={from_earlier}&order=asc"),
    "across cursor with a createdTo added": ("across", "{window}&createdTo=2999-01-01T00:00:00Z"),
    "across cursor with createdFrom written otherwise": ("across", "createdFrom={from_offset}&order=asc"),
    "pending across cursor without the filter": ("across-pending", "{window}"),
    "pending across cursor with status=confirmed": ("across-pending", "{window}&status=confirmed"),
    "A's user-listing cursor across users": ("all", "{window}"),
    "A's user-listing cursor across users, no query": ("all", ""),
    "A's filtered user-listing cursor across users": ("pending", "{window}&status=pending"),
}


@pytest.mark.parametrize("case", list(ACROSS_USERS_MISUSE))
def test_a_cursor_from_another_query_across_users_is_a_400(stack, cast, cursors, victim, case):
    whose, query = ACROSS_USERS_MISUSE[case]
    created = victim[0]["createdAt"]  # e.g. 2026-12-05T08:00:00.123Z
    earlier = datetime.fromisoformat(created) - timedelta(hours=1)
    query = query.format(
        window=across_window(victim),
        **{
            "from": quote(created, safe=""),
            "from_earlier": quote(earlier.isoformat(), safe=""),
            # The same instant, written another way: the cursor is bound to the query as sent.
            "from_offset": quote(created.replace("Z", "+00:00"), safe=""),
        },
    )
    problem = assert_problem(across_users(stack, cast.token_admin, cursors[whose], query), 400)
    assert problem["type"].endswith(":invalid-cursor"), problem


@pytest.mark.parametrize(
    "whose, query",
    [("across", ""), ("across", "order=asc"), ("across-pending", "status=pending")],
    ids=["no query", "order=asc only", "status=pending only"],
)
def test_an_across_users_cursor_on_a_user_listing_is_a_400(stack, cast, cursors, whose, query):
    reply = stack.request(
        "GET",
        f"/api/users/{cast.a}/orders?limit=1&{query}&cursor={quote(cursors[whose], safe='')}",
        token=cast.token_admin,
    )
    problem = assert_problem(reply, 400)
    assert problem["type"].endswith(":invalid-cursor") or problem["type"].endswith(":validation-error")


@pytest.mark.parametrize(
    "who, whose, cursor, query",
    [
        ("b", "b", "all", ""),
        ("b", "b", "pending", "&status=pending"),
        ("admin", "b", "all", ""),
        ("a", "a", "pending", ""),
        ("a", "a", "all", "&status=pending"),
        ("a", "a", "pending", "&status=confirmed"),
        ("admin", "a", "pending", ""),
    ],
    ids=[
        "A's cursor on B's listing (B)",
        "A's filtered cursor on B's filtered listing (B)",
        "A's cursor on B's listing (admin)",
        "pending cursor without the filter",
        "unfiltered cursor with status=pending",
        "pending cursor with status=confirmed",
        "pending cursor without the filter (admin)",
    ],
)
def test_a_cursor_from_another_listing_is_a_400(stack, cast, cursors, who, whose, cursor, query):
    token = {"a": cast.token_a, "b": cast.token_b, "admin": cast.token_admin}[who]
    problem = assert_problem(listing(stack, token, getattr(cast, whose), cursors[cursor], query), 400)
    assert problem["type"].endswith(":invalid-cursor")


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _flip(text: str, position: int) -> str:
    character = text[position]
    replacement = ALPHABET[(ALPHABET.index(character) + 17) % 64] if character in ALPHABET else "A"
    return text[:position] + replacement + text[position + 1 :]


def _sibling_of_last(text: str) -> str:
    """The last base64 character with its lowest bit flipped: an edit that a decoder ignoring the
    padding bits of the final character would not notice."""
    return text[:-1] + ALPHABET[ALPHABET.index(text[-1]) ^ 1]


EDITS = {
    "first character flipped": lambda c: _flip(c, 0),
    "payload character flipped": lambda c: _flip(c, c.index(".") // 2),
    "last payload character flipped": lambda c: _flip(c, c.index(".") - 1),
    "signature character flipped": lambda c: _flip(c, c.index(".") + 3),
    "last character flipped": lambda c: _flip(c, len(c) - 1),
    "last character's padding bit flipped": _sibling_of_last,
    "last payload character's lowest bit flipped": lambda c: (
        _sibling_of_last(c[: c.index(".")]) + c[c.index(".") :]
    ),
    "a character inserted ('!')": lambda c: c[:10] + "!" + c[10:],
    "a space inserted": lambda c: c[:10] + " " + c[10:],
    "padding appended": lambda c: c + "==",
    "a character dropped": lambda c: c[:-1],
    "a character appended": lambda c: c + "A",
    "signature removed": lambda c: c.split(".")[0],
    "signature swapped for the filtered cursor's": None,  # built in the test
    "separator doubled": lambda c: c.replace(".", "..", 1),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_an_edited_cursor_is_a_400(stack, cast, cursors, edit):
    original = cursors["all"]
    if EDITS[edit] is None:
        edited = original.split(".")[0] + "." + cursors["pending"].split(".")[1]
    else:
        edited = EDITS[edit](original)
    assert edited != original
    problem = assert_problem(listing(stack, cast.token_a, cast.a, edited), 400)
    assert problem["type"].endswith(":invalid-cursor") or problem["type"].endswith(":validation-error")


@pytest.mark.parametrize("edit", list(EDITS))
def test_an_edited_across_users_cursor_is_a_400(stack, cast, cursors, victim, edit):
    original = cursors["across"]
    if EDITS[edit] is None:
        edited = original.split(".")[0] + "." + cursors["across-pending"].split(".")[1]
    else:
        edited = EDITS[edit](original)
    assert edited != original
    problem = assert_problem(across_users(stack, cast.token_admin, edited, across_window(victim)), 400)
    assert problem["type"].endswith(":invalid-cursor") or problem["type"].endswith(":validation-error")


@pytest.mark.parametrize(
    "cursor", ["", ".", "..", "a.b", "%00", "%E2%98%83.x", "x" * 1025, "null", "e30.e30"]
)
def test_a_made_up_cursor_is_a_400(stack, cast, cursor):
    reply = stack.request("GET", f"/api/users/{cast.a}/orders?cursor={cursor}", token=cast.token_a)
    assert_problem(reply, 400)
    assert_problem(stack.request("GET", f"/api/orders?cursor={cursor}", token=cast.token_admin), 400)
