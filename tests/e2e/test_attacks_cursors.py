"""Attacks over HTTP against the local stack, listing cursors: a cursor is good only on the listing that
issued it (same user, same filter); an edited, borrowed or made-up cursor is a 400 problem."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.e2e.attacks import assert_problem
from tests.e2e.harness import Reply

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cursors(stack, cast, victim):
    """A's cursors: unfiltered and `status=pending` (A has several pending orders)."""

    def cursor(query: str) -> str:
        reply = stack.request("GET", f"/api/users/{cast.a}/orders?limit=1{query}", token=cast.token_a)
        assert reply.status == 200, reply.text
        value = reply.json()["nextCursor"]
        assert value
        return value

    return {"all": cursor(""), "pending": cursor("&status=pending")}


def listing(stack, token: str, user: str, cursor: str, query: str = "") -> Reply:
    return stack.request(
        "GET", f"/api/users/{user}/orders?limit=1{query}&cursor={quote(cursor, safe='')}", token=token
    )


def test_cursors_are_good_where_they_were_issued(stack, cast, cursors):
    assert listing(stack, cast.token_a, cast.a, cursors["all"]).status == 200
    assert listing(stack, cast.token_a, cast.a, cursors["pending"], "&status=pending").status == 200
    # The admin reading A's listing continues A's pages: the cursor is bound to the listing, not the reader.
    assert listing(stack, cast.token_admin, cast.a, cursors["all"]).status == 200


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


@pytest.mark.parametrize(
    "cursor", ["", ".", "..", "a.b", "%00", "%E2%98%83.x", "x" * 1025, "null", "e30.e30"]
)
def test_a_made_up_cursor_is_a_400(stack, cast, cursor):
    reply = stack.request("GET", f"/api/users/{cast.a}/orders?cursor={cursor}", token=cast.token_a)
    assert_problem(reply, 400)
