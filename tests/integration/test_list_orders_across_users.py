"""GET /api/orders (admins): every user's orders by status and creation time, the status index's shards
merged; windows, cursors bound to the query, and every refusal as problem+json.

Most orders here are written straight into the table (the repository's own item, `_to_item`, with the
deployment's shard count) so that their `createdAt` is chosen: exact window edges, ties within one
millisecond, thousands of orders in a second. A few go through POST /api/orders and the status route, to
show that the live write path keeps the index the listing reads."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from orders import wiring
from orders.domain.ids import iso_timestamp, new_order_id
from orders.domain.models import Order, OrderLine, ShippingAddress, StatusChange
from orders.domain.status import OrderStatus
from orders.storage.repository import DEFAULT_STATUS_SHARDS, _to_item, status_shard

from tests.conftest import TEST_ENV
from tests.support import api_calls as calls
from tests.support.api_calls import ADMIN_USER, OTHER_USER, SAMPLE_USER, assert_problem
from tests.support.cursors import with_mac_bit_flipped, with_payload_bit_flipped
from tests.support.dynamo import raw_order_item, record_calls
from tests.support.lambda_runtime import HttpResult, http_event, invoke, reset_process_state

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

USERS = (SAMPLE_USER, OTHER_USER, "user-789", "user-abc")
STATUSES = tuple(OrderStatus)
# A fixed day for orders written with a chosen createdAt: [DAY, DAY + 1 day) is a valid explicit window.
DAY = datetime(2026, 11, 20, tzinfo=UTC)
MS = timedelta(milliseconds=1)


@dataclass(frozen=True)
class Seeded:
    id: str
    created_at: str
    status: str
    user_id: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.created_at, self.id)


def stamp(moment: datetime) -> str:
    return iso_timestamp(moment)


def listing(caller: str | None = ADMIN_USER, *, admin: bool = True, **query: Any) -> HttpResult:
    """GET /api/orders with `query` (None values left out), as `caller`."""
    params = {name: str(value) for name, value in query.items() if value is not None}
    event = http_event("list_orders", user=caller, admin=admin, path="/api/orders", query=params)
    return invoke("list_orders", event)


def ids(result: HttpResult) -> list[str]:
    assert result.status == 200, result.raw_body
    assert result.content_type.startswith("application/json"), result.headers
    return [order["id"] for order in result.body["items"]]


def all_pages(**query: Any) -> list[list[str]]:
    """Every page of one listing, following nextCursor with the same query."""
    pages: list[list[str]] = []
    cursor = None
    while True:
        result = listing(**query, cursor=cursor)
        pages.append(ids(result))
        cursor = result.body["nextCursor"]
        if cursor is None:
            return pages
        assert len(pages) <= 5000, "the cursor never ends"


def whole_day(**query: Any) -> dict[str, Any]:
    return {"createdFrom": stamp(DAY), "createdTo": stamp(DAY + timedelta(days=1)), **query}


def make_order(user_id: str, moment: datetime, status: OrderStatus) -> Order:
    at = stamp(moment)
    line = OrderLine(
        product_id="prod-456", quantity=1, unit_price=Decimal("29.99"), line_total=Decimal("29.99")
    )
    order_id = new_order_id(moment)
    return Order(
        id=order_id,
        user_id=user_id,
        items=[line],
        shipping_address=ShippingAddress(street="123 Main St", city="New York", zip_code="10001"),
        status=status,
        total=Decimal("29.99"),
        currency="USD",
        created_at=at,
        updated_at=at,
        version=1,
        status_history=[StatusChange(status=status, at=at, by=user_id)],
        reservation_id=order_id,
    )


def seed(table: Any, specs: Iterable[tuple[str, datetime, OrderStatus]]) -> list[Seeded]:
    """Orders (user, createdAt, status) written as the repository writes them, with the shard count the
    functions read from the environment (`wiring.status_index_shards`)."""
    shards = wiring.status_index_shards()
    orders = [make_order(user, moment, status) for user, moment, status in specs]
    requests = [{"PutRequest": {"Item": _to_item(order, None, shards)}} for order in orders]
    for start in range(0, len(requests), 25):
        pending = {TEST_ENV["TABLE_NAME"]: requests[start : start + 25]}
        while pending:
            pending = table.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    return [Seeded(order.id, order.created_at, order.status, order.user_id) for order in orders]


def random_specs(
    rng: random.Random, count: int, *, start: datetime = DAY, span: timedelta = timedelta(hours=23)
) -> list[tuple[str, datetime, OrderStatus]]:
    """`count` orders of random users and statuses at random milliseconds of [start, start + span), a fifth
    of them sharing a millisecond with another (ties are ordered by id)."""
    moments: list[datetime] = []
    for _ in range(count):
        if moments and rng.random() < 0.2:
            moments.append(rng.choice(moments))
        else:
            moments.append(start + timedelta(milliseconds=rng.randrange(int(span / MS))))
    return [(rng.choice(USERS), moment, rng.choice(STATUSES)) for moment in moments]


def sorted_ids(orders: Iterable[Seeded], *, descending: bool = False) -> list[str]:
    return [order.id for order in sorted(orders, key=lambda order: order.key, reverse=descending)]


@pytest.fixture
def shards_4(api: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A deployment with StatusIndexShards=4 (cold process state, as a fresh environment reads it)."""
    monkeypatch.setenv("STATUS_INDEX_SHARDS", "4")
    reset_process_state()
    assert wiring.status_index_shards() == 4
    yield api
    reset_process_state()


@pytest.fixture
def frozen_clock(shards_4: Any) -> Any:
    """The service's clock, set by the test: `clock.now = ...` (the listing's default window reads it)."""

    class Clock:
        now = DAY + timedelta(days=1, hours=12)

        def __call__(self) -> datetime:
            return self.now

    clock = Clock()
    service = wiring.order_service()
    service._clock = clock  # the one service object the handlers use in this process
    return clock


# ------------------------------------------------------------------------------------------ order and paging
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_order_across_shards_is_creation_time_then_id(api, order):
    seeded = seed(api, random_specs(random.Random(21), 90))
    assert len({status_shard(o.id, wiring.status_index_shards()) for o in seeded}) > 16  # spread over shards
    assert len({o.created_at for o in seeded}) < len(seeded)  # ties in one millisecond
    result = listing(**whole_day(order=order, limit=100))
    assert ids(result) == sorted_ids(seeded, descending=order == "desc")
    assert result.body["nextCursor"] is None
    stamps = [item["createdAt"] for item in result.body["items"]]
    assert stamps == sorted(stamps, reverse=order == "desc")
    assert {item["userId"] for item in result.body["items"]} == set(USERS)


def test_the_default_order_is_newest_first(shards_4):
    seeded = seed(shards_4, random_specs(random.Random(3), 12))
    assert ids(listing(**whole_day())) == sorted_ids(seeded, descending=True)


def test_items_are_the_orders_as_get_returns_them(api):
    created = calls.create_ok(SAMPLE_USER)
    result = listing()
    assert result.body["items"] == [calls.get(created["id"], ADMIN_USER, admin=True).body]


def test_orders_created_through_the_api_are_listed_in_the_default_window(api):
    mine = calls.create_many(3)
    theirs = calls.create_many(2, OTHER_USER)
    expected = sorted(
        (calls.get(order_id, ADMIN_USER, admin=True).body for order_id in mine + theirs),
        key=lambda order: (order["createdAt"], order["id"]),
    )
    assert ids(listing(order="asc")) == [order["id"] for order in expected]
    assert ids(listing(status="pending")) == [order["id"] for order in reversed(expected)]


def test_paging_through_two_thousand_orders_sees_each_once_in_order(shards_4):
    # One status, so that a page is 4 Queries (moto reads the whole table for each).
    specs = [
        (user, moment, OrderStatus.CONFIRMED) for user, moment, _ in random_specs(random.Random(2000), 2000)
    ]
    seeded = seed(shards_4, specs)
    assert {status_shard(o.id, 4) for o in seeded} == {0, 1, 2, 3}
    pages = all_pages(**whole_day(order="asc", limit=100, status="confirmed"))
    assert [order_id for page in pages for order_id in page] == sorted_ids(seeded)
    assert [len(page) for page in pages] == [100] * 20  # no empty last page: the 20th is known to end it


@pytest.mark.parametrize(("order", "limit"), [("asc", 41), ("desc", 37)])
def test_paging_every_status_over_four_shards_sees_each_once_in_order(shards_4, order, limit):
    seeded = seed(shards_4, random_specs(random.Random(300), 300))
    pages = all_pages(**whole_day(order=order, limit=limit))
    assert [order_id for page in pages for order_id in page] == sorted_ids(seeded, descending=order == "desc")
    assert [len(page) for page in pages] == [limit] * (300 // limit) + [300 % limit]


def test_paging_with_the_default_shard_count_sees_each_once_in_order(api):
    assert wiring.status_index_shards() == DEFAULT_STATUS_SHARDS
    seeded = seed(api, random_specs(random.Random(32), 120))
    # ids are random: most shards, not all
    assert len({status_shard(o.id, DEFAULT_STATUS_SHARDS) for o in seeded}) >= DEFAULT_STATUS_SHARDS * 3 // 4
    pages = all_pages(**whole_day(order="asc", limit=45))
    assert [order_id for page in pages for order_id in page] == sorted_ids(seeded)
    assert [len(page) for page in pages] == [45, 45, 30]
    pending = [o for o in seeded if o.status == OrderStatus.PENDING]
    pages = all_pages(**whole_day(order="desc", limit=3, status="pending"))
    assert [order_id for page in pages for order_id in page] == sorted_ids(pending, descending=True)
    assert len(pages) == -(-len(pending) // 3)


def test_a_page_of_one_walks_every_order(shards_4):
    seeded = seed(shards_4, random_specs(random.Random(1), 12))
    for order in ("asc", "desc"):
        pages = all_pages(**whole_day(order=order, limit=1))
        assert pages == [[order_id] for order_id in sorted_ids(seeded, descending=order == "desc")]


@pytest.mark.parametrize(("count", "pages"), [(100, 1), (101, 2), (99, 1)])
def test_a_page_of_a_hundred(shards_4, count, pages):
    seeded = seed(shards_4, random_specs(random.Random(count), count))
    got = all_pages(**whole_day(order="asc", limit=100, status=None))
    assert len(got) == pages
    assert [order_id for page in got for order_id in page] == sorted_ids(seeded)


def test_an_empty_listing(shards_4):
    result = listing(**whole_day())
    assert result.status == 200
    assert result.body == {"items": [], "nextCursor": None}


# ------------------------------------------------------------------------------------------ status filter
@pytest.mark.parametrize("status", [status.value for status in OrderStatus])
def test_a_status_lists_only_its_orders(shards_4, status):
    seeded = seed(shards_4, random_specs(random.Random(6), 60))
    result = listing(**whole_day(status=status, order="asc", limit=100))
    assert {item["status"] for item in result.body["items"]} <= {status}
    assert ids(result) == sorted_ids(o for o in seeded if o.status == status)
    assert ids(result)  # every status has some of the 60


def test_no_status_lists_every_status(shards_4):
    seeded = seed(shards_4, random_specs(random.Random(7), 60))
    result = listing(**whole_day(order="asc", limit=100))
    assert ids(result) == sorted_ids(seeded)
    assert {item["status"] for item in result.body["items"]} == {status.value for status in OrderStatus}


def test_a_status_change_moves_the_order_between_listings(api):
    order_id = calls.create_ok(SAMPLE_USER)["id"]
    before = raw_order_item(api, order_id)
    assert before is not None
    shard = status_shard(order_id, DEFAULT_STATUS_SHARDS)
    assert before["GSI3PK"] == {"S": f"STATUS#pending#{shard}"}
    assert ids(listing(status="pending")) == [order_id]
    assert ids(listing(status="confirmed")) == []

    changed = calls.change_status(order_id, "confirmed", ADMIN_USER, admin=True)
    assert changed.status == 200, changed.raw_body
    after = raw_order_item(api, order_id)
    assert after is not None
    assert after["GSI3PK"] == {"S": f"STATUS#confirmed#{shard}"}  # same shard, new status
    assert ids(listing(status="pending")) == []
    confirmed = listing(status="confirmed")
    assert ids(confirmed) == [order_id]
    assert confirmed.body["items"][0]["status"] == "confirmed"
    assert ids(listing()) == [order_id]  # once, not in both

    assert calls.change_status(order_id, "cancelled", SAMPLE_USER).status == 200
    assert ids(listing(status="confirmed")) == []
    assert ids(listing(status="cancelled")) == [order_id]


# ------------------------------------------------------------------------------------------ windows
def test_created_from_is_inclusive_and_created_to_exclusive(shards_4):
    start, end = DAY + timedelta(hours=3), DAY + timedelta(hours=9)
    moments = [start - MS, start, start, start + MS, end - MS, end - MS, end, end + MS]
    seeded = seed(shards_4, [(SAMPLE_USER, moment, OrderStatus.PENDING) for moment in moments])
    inside = [o for o in seeded if stamp(start) <= o.created_at < stamp(end)]
    assert len(inside) == 5
    result = listing(createdFrom=stamp(start), createdTo=stamp(end), order="asc")
    assert ids(result) == sorted_ids(inside)
    # The same window in other spellings: an offset, no milliseconds.
    spelled = listing(
        createdFrom=(start.astimezone(timezone(timedelta(hours=5, minutes=30)))).isoformat(),
        createdTo=end.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        order="asc",
    )
    assert ids(spelled) == sorted_ids(inside)


def test_a_one_millisecond_window_holds_that_millisecond(shards_4):
    moment = DAY + timedelta(hours=5, milliseconds=7)
    seeded = seed(
        shards_4, [(USERS[i % 4], moment + MS * (i // 3 - 1), OrderStatus.PENDING) for i in range(9)]
    )
    result = listing(createdFrom=stamp(moment), createdTo=stamp(moment + MS), order="asc")
    assert ids(result) == sorted_ids(o for o in seeded if o.created_at == stamp(moment))
    assert len(ids(result)) == 3


def test_a_bound_between_milliseconds_keeps_its_meaning(shards_4):
    """createdAt holds whole milliseconds: an order at t is before t + 0.5 ms (in a window ending there,
    not in one starting there)."""
    moment = DAY + timedelta(hours=6)
    (order,) = seed(shards_4, [(SAMPLE_USER, moment, OrderStatus.PENDING)])
    half = (moment + timedelta(microseconds=500)).isoformat()
    assert ids(listing(createdFrom=stamp(moment - timedelta(hours=1)), createdTo=half)) == [order.id]
    assert ids(listing(createdFrom=half, createdTo=stamp(moment + timedelta(hours=1)))) == []


def test_the_default_window_is_the_day_before_now(shards_4, frozen_clock):
    now = frozen_clock.now
    moments = [now - timedelta(days=1) - MS, now - timedelta(days=1), now - timedelta(hours=2), now - MS, now]
    seeded = seed(shards_4, [(SAMPLE_USER, moment, OrderStatus.CONFIRMED) for moment in moments])
    assert ids(listing()) == sorted_ids(seeded[1:4], descending=True)
    # createdTo alone: the day before it; createdFrom alone: up to now.
    assert ids(listing(createdTo=stamp(now - MS), order="asc")) == sorted_ids(seeded[0:3])
    assert ids(listing(createdFrom=stamp(now - timedelta(hours=2)), order="asc")) == sorted_ids(seeded[2:4])


def test_created_from_alone_may_not_reach_more_than_31_days_before_now(shards_4, frozen_clock):
    now = frozen_clock.now
    assert listing(createdFrom=stamp(now - timedelta(days=31))).status == 200
    assert_problem(listing(createdFrom=stamp(now - timedelta(days=31) - MS)), 400, "invalid-window")
    assert_problem(listing(createdFrom=stamp(now)), 400, "invalid-window")  # empty: [now, now)


def test_a_default_window_page_carries_its_window_to_the_next(shards_4, frozen_clock):
    first_now = frozen_clock.now
    seeded = seed(
        shards_4,
        [
            (USERS[i % 4], first_now - timedelta(hours=20) + timedelta(minutes=10 * i), OrderStatus.PENDING)
            for i in range(12)
        ],
    )
    first = listing(limit=5, order="asc")
    assert ids(first) == sorted_ids(seeded)[:5]
    # Time passes: a fresh default window would now miss the oldest orders and hold newer ones.
    frozen_clock.now = first_now + timedelta(hours=10)
    later = seed(shards_4, [(SAMPLE_USER, first_now + timedelta(hours=1), OrderStatus.PENDING)])
    rest = []
    cursor = first.body["nextCursor"]
    while cursor:
        page = listing(limit=5, order="asc", cursor=cursor)
        rest.extend(ids(page))
        cursor = page.body["nextCursor"]
    assert ids(first) + rest == sorted_ids(seeded)
    assert later[0].id not in rest
    assert later[0].id in ids(listing(order="asc", limit=100))  # a new listing has the new window


# ------------------------------------------------------------------------------------------ cursors
def first_cursor(**query: Any) -> str:
    result = listing(**query)
    assert result.status == 200, result.raw_body
    cursor = result.body["nextCursor"]
    assert cursor
    return cursor


QUERY = whole_day(status="pending", order="asc", limit=3)


@pytest.mark.parametrize(
    "change",
    [
        {"status": "confirmed"},
        {"status": None},
        {"order": "desc"},
        {"order": None},  # the default (desc) is another listing than asc
        {"createdFrom": stamp(DAY + MS)},
        {"createdFrom": None},
        {"createdTo": stamp(DAY + timedelta(hours=23))},
        {"createdTo": None},
        {"createdFrom": DAY.isoformat()},  # the same instant written otherwise: bound to the query as sent
    ],
    ids=lambda change: ",".join(f"{k}={v}" for k, v in change.items()),
)
def test_a_cursor_replayed_with_another_query_is_400(shards_4, change):
    seed(shards_4, [(SAMPLE_USER, DAY + timedelta(minutes=i), OrderStatus.PENDING) for i in range(5)])
    cursor = first_cursor(**QUERY)
    problem = assert_problem(listing(**{**QUERY, **change}, cursor=cursor), 400, "invalid-cursor")
    assert "items" not in problem


def test_a_cursor_is_good_for_any_limit(shards_4):
    seeded = seed(
        shards_4, [(USERS[i % 4], DAY + timedelta(minutes=i), OrderStatus.PENDING) for i in range(10)]
    )
    cursor = first_cursor(**QUERY)
    # The limit is not part of what a cursor binds: the next page is as long as the new limit says.
    for limit, expected in ((1, sorted_ids(seeded)[3:4]), (100, sorted_ids(seeded)[3:])):
        result = listing(**{**QUERY, "limit": limit}, cursor=cursor)
        assert ids(result) == expected
    assert ids(listing(**QUERY, cursor=cursor)) == sorted_ids(seeded)[3:6]  # and may be replayed


def test_an_edited_cursor_is_400(shards_4):
    seed(shards_4, [(SAMPLE_USER, DAY + timedelta(minutes=i), OrderStatus.PENDING) for i in range(5)])
    cursor = first_cursor(**QUERY)
    payload, _ = cursor.split(".")
    for bad in (
        with_payload_bit_flipped(cursor),
        with_mac_bit_flipped(cursor),
        f"{payload}.",
        cursor + "x",
        "garbage",
        "a.b.c",
    ):
        assert bad != cursor
        assert_problem(listing(**QUERY, cursor=bad), 400, "invalid-cursor")


def test_a_cursor_of_the_user_listing_is_400_here_and_back(shards_4):
    calls.create_many(3)
    user_cursor = calls.list_orders(SAMPLE_USER, limit=1).body["nextCursor"]
    assert user_cursor
    assert_problem(listing(limit=1, cursor=user_cursor), 400, "invalid-cursor")
    assert_problem(listing(limit=1, order="asc", status="pending", cursor=user_cursor), 400, "invalid-cursor")
    ours = first_cursor(limit=1)
    assert_problem(calls.list_orders(SAMPLE_USER, limit=1, cursor=ours), 400, "invalid-cursor")


# ------------------------------------------------------------------------------------------ refused input
@pytest.mark.parametrize(
    "query",
    [
        {"createdFrom": stamp(DAY + timedelta(hours=1)), "createdTo": stamp(DAY)},  # inverted
        {"createdFrom": stamp(DAY), "createdTo": stamp(DAY)},  # empty
        {"createdFrom": stamp(DAY), "createdTo": stamp(DAY + timedelta(days=31) + MS)},
        {"createdFrom": stamp(DAY), "createdTo": stamp(DAY + timedelta(days=40))},
        {"createdTo": stamp(DAY + timedelta(days=31) + MS), "createdFrom": stamp(DAY)},
        {"createdFrom": "2026-11-20T00:00:00"},  # no time zone
        {"createdTo": "2026-11-20"},  # a date: no time zone either
        {"createdFrom": "yesterday"},
        {"createdTo": "2026-13-01T00:00:00Z"},
        {"createdFrom": "2026-11-20T00:00:00Z", "createdTo": "not a time"},
        {"createdTo": "0001-01-01T00:00:00Z"},  # the default createdFrom would be before year 1
        {"createdFrom": "0001-01-01T00:30:00+01:00", "createdTo": "0001-01-02T00:00:00Z"},  # year 0 in UTC
    ],
)
def test_bad_windows_are_invalid_window(api, query):
    problem = assert_problem(listing(**query), 400, "invalid-window")
    assert "items" not in problem


def test_the_longest_window_is_31_days(shards_4):
    seeded = seed(shards_4, [(SAMPLE_USER, DAY + timedelta(days=31) - MS, OrderStatus.PENDING)])
    result = listing(createdFrom=stamp(DAY), createdTo=stamp(DAY + timedelta(days=31)))
    assert ids(result) == [seeded[0].id]


@pytest.mark.parametrize(
    "query",
    [
        {"createdFrom": "2026-11-20T00:00:00.000000000000000000000000Z"},  # over 40 characters
        {"createdTo": "x" * 41},
        {"createdFrom": ""},
        {"limit": 0},
        {"limit": 101},
        {"limit": -1},
        {"limit": "ten"},
        {"limit": "1.5"},
        {"status": "lost"},
        {"status": "PENDING"},
        {"order": "sideways"},
        {"order": "ASC"},
        {"cursor": ""},
        {"cursor": "x" * 5000},
    ],
)
def test_malformed_parameters_are_validation_errors(api, query):
    problem = assert_problem(listing(**query), 400, "validation-error")
    assert "items" not in problem
    names = {error.get("pointer") for error in problem.get("errors", [])}
    assert {f"/{name}" for name in query} <= names, problem


def test_a_customer_is_403_and_sees_nothing(shards_4):
    seed(shards_4, [(SAMPLE_USER, DAY + timedelta(minutes=i), OrderStatus.PENDING) for i in range(5)])
    cursor = first_cursor(**QUERY)
    for query in ({}, QUERY, {**QUERY, "cursor": cursor}, {"status": "pending"}):
        problem = assert_problem(listing(SAMPLE_USER, admin=False, **query), 403, "forbidden")
        assert "items" not in problem and "nextCursor" not in problem


def test_no_caller_is_401(api):
    assert_problem(listing(None), 401)


# ------------------------------------------------------------------------------------------ DynamoDB calls
@pytest.mark.parametrize(
    ("status", "partitions"),
    [("pending", DEFAULT_STATUS_SHARDS), (None, DEFAULT_STATUS_SHARDS * len(OrderStatus))],
)
def test_a_page_is_queries_on_gsi3_only(api, status, partitions):
    specs = random_specs(random.Random(9), 80, span=timedelta(hours=2))
    seed(
        api,
        [
            (user, moment, OrderStatus.PENDING if i % 2 else status)
            for i, (user, moment, status) in enumerate(specs)
        ],
    )
    with record_calls() as recorder:
        first = listing(**whole_day(status=status, limit=20))
        assert first.status == 200
        assert first.body["nextCursor"]
        assert set(recorder.operations) == {"Query"}
        assert {call.params["IndexName"] for call in recorder.calls} == {"GSI3"}
        # Every partition once, and at most one refill each.
        assert partitions <= len(recorder.calls) <= 2 * partitions
        read = {call.params["ExpressionAttributeValues"][":pk"]["S"] for call in recorder.calls}
        statuses = [status] if status else [s.value for s in OrderStatus]
        assert read == {f"STATUS#{s}#{shard}" for s in statuses for shard in range(DEFAULT_STATUS_SHARDS)}
        recorder.reset()
        second = listing(**whole_day(status=status, limit=20), cursor=first.body["nextCursor"])
        assert second.status == 200
        assert set(recorder.operations) == {"Query"}
        assert partitions <= len(recorder.calls) <= 2 * partitions
        assert all("ExclusiveStartKey" in call.params for call in recorder.calls[:partitions])


def test_refusals_read_nothing(api):
    with record_calls() as recorder:
        assert_problem(listing(SAMPLE_USER, admin=False), 403)
        assert_problem(listing(createdFrom="nope"), 400)
        assert_problem(listing(limit=0), 400)
        assert_problem(listing(cursor="a.b"), 400)
    assert recorder.operations == []
