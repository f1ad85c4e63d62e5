"""GET /api/users/{userId}/orders: newest first, bounded pages, exact status filter, signed cursors."""

from __future__ import annotations

import json

import pytest

from tests.support import api_calls as calls
from tests.support.api_calls import ADMIN_USER, OTHER_USER, SAMPLE_USER, assert_problem
from tests.support.cursors import b64, unb64, with_mac_bit_flipped
from tests.support.dynamo import record_calls

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def ids(result) -> list[str]:
    assert result.status == 200, result.raw_body
    return [order["id"] for order in result.body["items"]]


def all_pages(user_id: str, caller: str = SAMPLE_USER, *, admin: bool = False, **query) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        params = dict(query, **({"cursor": cursor} if cursor else {}))
        result = calls.list_orders(user_id, caller, admin=admin, **params)
        pages.append(ids(result))
        cursor = result.body["nextCursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50, "the cursor never ends"


def test_newest_first(api):
    created = calls.create_many(5)
    result = calls.list_orders(SAMPLE_USER)
    assert ids(result) == list(reversed(created))
    stamps = [order["createdAt"] for order in result.body["items"]]
    assert stamps == sorted(stamps, reverse=True)
    assert result.body["nextCursor"] is None
    assert result.content_type.startswith("application/json")


def test_only_the_users_orders_are_listed(api):
    mine = calls.create_many(2)
    calls.create_many(2, OTHER_USER)
    assert sorted(ids(calls.list_orders(SAMPLE_USER))) == sorted(mine)


def test_a_user_without_orders_gets_an_empty_page(api):
    result = calls.list_orders("user-without-orders", "user-without-orders")
    assert result.body == {"items": [], "nextCursor": None}


def test_default_page_size_is_20(api):
    created = calls.create_many(23)
    first = calls.list_orders(SAMPLE_USER)
    assert ids(first) == list(reversed(created))[:20]
    assert first.body["nextCursor"]
    second = calls.list_orders(SAMPLE_USER, cursor=first.body["nextCursor"])
    assert ids(second) == list(reversed(created))[20:]
    assert second.body["nextCursor"] is None


@pytest.mark.parametrize("limit", [1, 2, 100])
def test_limit_bounds_the_page(api, limit):
    created = calls.create_many(3)
    assert ids(calls.list_orders(SAMPLE_USER, limit=limit)) == list(reversed(created))[:limit]


@pytest.mark.parametrize("limit", ["0", "101", "abc", "-1", "1.5", "", "1e2"])
def test_out_of_range_or_non_integer_limits_are_400(api, limit):
    problem = assert_problem(calls.list_orders(SAMPLE_USER, limit=limit), 400)
    assert any(
        error["pointer"] == "/limit" and error["in"] == "query" for error in problem.get("errors", [])
    ), problem


@pytest.mark.parametrize(("count", "limit"), [(7, 3), (6, 3), (5, 1), (4, 100)])
def test_pages_cover_every_order_exactly_once(api, count, limit):
    created = calls.create_many(count)
    pages = all_pages(SAMPLE_USER, limit=limit)
    flat = [order_id for page in pages for order_id in page]
    assert flat == list(reversed(created))
    assert all(len(page) == limit for page in pages[:-1])
    assert 1 <= len(pages[-1]) <= limit  # no empty trailing page, even when `count` is a multiple
    assert len(pages) == -(-count // limit)


def test_status_filter_returns_and_reads_only_matching_orders(api):
    created = calls.create_many(7)
    cancelled = {created[1], created[4]}
    confirmed = {created[2], created[5], created[6]}
    for order_id in cancelled:
        assert calls.change_status(order_id, "cancelled").status == 200
    for order_id in confirmed:
        assert calls.change_status(order_id, "confirmed", ADMIN_USER, admin=True).status == 200

    for status, expected in (
        ("cancelled", cancelled),
        ("confirmed", confirmed),
        ("pending", {created[0], created[3]}),
    ):
        with record_calls() as recorder:
            result = calls.list_orders(SAMPLE_USER, status=status)
        listed = ids(result)
        assert set(listed) == expected
        assert all(order["status"] == status for order in result.body["items"])
        assert listed == [order_id for order_id in reversed(created) if order_id in expected]  # newest first
        queries = [call for call in recorder.calls if call.operation == "Query"]
        assert recorder.operations == ["Query"]
        response = queries[0].response
        assert "FilterExpression" not in queries[0].params
        # DynamoDB read exactly the matching orders: nothing was read and then filtered away.
        assert response["Count"] == len(response["Items"]) == len(expected)
        assert response["ScannedCount"] == len(expected)


def test_status_filter_follows_status_changes(api):
    order_id = calls.create_many(1)[0]
    assert ids(calls.list_orders(SAMPLE_USER, status="pending")) == [order_id]
    calls.change_status(order_id, "cancelled")
    assert ids(calls.list_orders(SAMPLE_USER, status="pending")) == []
    assert ids(calls.list_orders(SAMPLE_USER, status="cancelled")) == [order_id]


def test_filtered_pagination_covers_every_match_once(api):
    created = calls.create_many(8)
    for order_id in created[::2]:
        calls.change_status(order_id, "cancelled")
    pages = all_pages(SAMPLE_USER, status="cancelled", limit=3)
    assert [order_id for page in pages for order_id in page] == list(reversed(created[::2]))


def test_unknown_status_filter_is_400(api):
    assert_problem(calls.list_orders(SAMPLE_USER, status="lost"), 400)


# ------------------------------------------------------------------ cursors
def first_cursor(
    user_id: str = SAMPLE_USER, caller: str = SAMPLE_USER, *, admin: bool = False, **query
) -> str:
    result = calls.list_orders(user_id, caller, admin=admin, limit=1, **query)
    cursor = result.body["nextCursor"]
    assert cursor, result.raw_body
    return cursor


def test_edited_cursor_is_400(api):
    calls.create_many(3)
    cursor = first_cursor()
    payload, _, mac = cursor.partition(".")
    assert payload and mac, cursor
    position = json.loads(unb64(payload))
    edited_position = position[:-1] + ("0" if position[-1] != "0" else "1")
    edited = b64(json.dumps(edited_position).encode())
    for bad in (
        f"{edited}.{mac}",
        with_mac_bit_flipped(cursor),
        cursor[:-1],
        "x" + cursor,
    ):
        assert_problem(calls.list_orders(SAMPLE_USER, limit=1, cursor=bad), 400)


@pytest.mark.parametrize("garbage", ["garbage", "a.b.c", ".", "%%%", "x" * 1025])
def test_garbage_cursor_is_400(api, garbage):
    calls.create_many(1)
    assert_problem(calls.list_orders(SAMPLE_USER, cursor=garbage), 400)


def test_cursor_from_another_users_listing_is_400(api):
    calls.create_many(3)
    calls.create_many(3, OTHER_USER)
    others_cursor = first_cursor(OTHER_USER, OTHER_USER)
    # The customer replays it on their own listing; an admin replays it on a third listing.
    assert_problem(calls.list_orders(SAMPLE_USER, limit=1, cursor=others_cursor), 400)
    assert_problem(calls.list_orders(SAMPLE_USER, ADMIN_USER, admin=True, limit=1, cursor=others_cursor), 400)
    admin_cursor = first_cursor(SAMPLE_USER, ADMIN_USER, admin=True)
    assert_problem(calls.list_orders(OTHER_USER, ADMIN_USER, admin=True, limit=1, cursor=admin_cursor), 400)


def test_cursor_from_another_status_listing_is_400(api):
    calls.create_many(4)
    unfiltered = first_cursor()
    pending = first_cursor(status="pending")
    assert_problem(calls.list_orders(SAMPLE_USER, limit=1, status="pending", cursor=unfiltered), 400)
    assert_problem(calls.list_orders(SAMPLE_USER, limit=1, cursor=pending), 400)
    assert_problem(calls.list_orders(SAMPLE_USER, limit=1, status="cancelled", cursor=pending), 400)


def test_cursor_is_valid_for_the_listing_that_issued_it_whatever_the_limit(api):
    created = calls.create_many(4)
    cursor = first_cursor()
    assert ids(calls.list_orders(SAMPLE_USER, limit=10, cursor=cursor)) == list(reversed(created))[1:]


# ------------------------------------------------------------------ who may list
def test_customers_may_not_list_another_user(api):
    calls.create_many(2)
    result = calls.list_orders(SAMPLE_USER, OTHER_USER)
    assert_problem(result, 403)
    assert "items" not in result.body


def test_admin_lists_anyone(api):
    created = calls.create_many(3)
    assert ids(calls.list_orders(SAMPLE_USER, ADMIN_USER, admin=True)) == list(reversed(created))
    assert all_pages(SAMPLE_USER, ADMIN_USER, admin=True, limit=2) == [
        list(reversed(created))[:2],
        list(reversed(created))[2:],
    ]


def test_no_claims_is_401(api):
    calls.create_many(1)
    assert_problem(calls.list_orders(SAMPLE_USER, None), 401)


@pytest.mark.parametrize("user_id", ["user#1", "a" * 129, "USER%23x"])
def test_odd_user_ids_are_refused(api, user_id):
    result = calls.list_orders(user_id, ADMIN_USER, admin=True)
    assert result.status in (400, 404), result.raw_body
    assert_problem(result, result.status)


# ------------------------------------------------------------------ the read path without pydantic
@pytest.mark.parametrize("status", [None, "pending"])
def test_the_wire_listing_is_the_models_listing_byte_for_byte(api, status):
    """The function answers `list_wire_for_user` (no pydantic on its path): the same page, the same JSON text,
    as the models' `list_for_user(...).to_wire()`, from the items DynamoDB gives back."""
    from orders import wiring
    from orders.domain.caller import Caller
    from orders.domain.jsonio import dumps

    calls.create_many(3)
    caller = Caller(SAMPLE_USER, False)
    service = wiring.order_service()
    for limit in (2, 10):
        models = service.list_for_user(caller, SAMPLE_USER, limit=limit, status=status)
        wire = service.list_wire_for_user(caller, SAMPLE_USER, limit=limit, status=status)
        assert dumps(wire) == dumps(models.to_wire())
        assert wire["items"] and (wire["nextCursor"] is None) is (limit == 10)
