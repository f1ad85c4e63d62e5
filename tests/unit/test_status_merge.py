"""The cross-user listing's shard merge (OrderRepository.list_wire_by_status, `_ShardMerge`) in isolation:
a fake client holds GSI3's partitions as sorted key lists and answers Query as DynamoDB does (key
condition BETWEEN, ScanIndexForward, Limit, ExclusiveStartKey, LastEvaluatedKey whenever Limit was reached).
Every page must equal the same slice of one plain sorted merge, for either order, any limit, any spread of
orders over partitions, with or without a position to resume after; and a page reads each partition once,
plus at most one refill, and refills only a partition whose first read the page used up."""

from __future__ import annotations

import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from orders.domain.status import OrderStatus
from orders.storage import repository
from orders.storage.repository import OrderRepository, order_pk, status_shard_pk

TABLE = "orders-test"
BASE = datetime(2026, 11, 20, tzinfo=UTC)


def key_at(millisecond: int, rng: random.Random) -> str:
    moment = BASE + timedelta(milliseconds=millisecond)
    order_id = str(uuid.UUID(int=rng.getrandbits(128)))
    return f"{moment.isoformat(timespec='milliseconds').replace('+00:00', 'Z')}#{order_id}"


def window_key(millisecond: int) -> str:
    return (
        (BASE + timedelta(milliseconds=millisecond)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


class FakeIndex:
    """GSI3 as Query sees it. Items carry only their keys (the page's wire form is patched to the sort key)."""

    def __init__(self, partitions: Mapping[str, Sequence[str]], *, exact_last_key: bool = False) -> None:
        self.partitions = {name: sorted(keys) for name, keys in partitions.items()}
        # DynamoDB returns LastEvaluatedKey whenever Limit stopped it, even if nothing follows; `exact`
        # returns it only when more items follow (both are what a client may see).
        self.exact_last_key = exact_last_key
        self.calls: list[dict[str, Any]] = []
        self.returned: dict[str, list[int]] = defaultdict(list)  # per partition: items per read

    def query(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request)
        assert request["TableName"] == TABLE
        assert request["IndexName"] == "GSI3"
        assert request["KeyConditionExpression"] == "#pk = :pk AND #sk BETWEEN :from AND :to"
        assert request["ExpressionAttributeNames"] == {"#pk": "GSI3PK", "#sk": "GSI1SK"}
        assert "FilterExpression" not in request
        values = request["ExpressionAttributeValues"]
        partition, low, high = values[":pk"]["S"], values[":from"]["S"], values[":to"]["S"]
        limit = request["Limit"]
        assert isinstance(limit, int) and limit >= 1
        forward = request["ScanIndexForward"]
        keys = [key for key in self.partitions.get(partition, []) if low <= key <= high]
        if not forward:
            keys.reverse()
        start = request.get("ExclusiveStartKey")
        if start is not None:
            # What DynamoDB checks: the start key is a key of this index and partition, within the condition.
            assert set(start) == {"GSI3PK", "GSI1SK", "PK", "SK"}, start
            assert start["GSI3PK"] == {"S": partition}
            position = start["GSI1SK"]["S"]
            assert start["PK"] == {"S": order_pk(position.rpartition("#")[2])}
            assert low <= position <= high, "the starting key is outside query boundaries"
            keys = [key for key in keys if (key > position if forward else key < position)]
        page, rest = keys[:limit], keys[limit:]
        self.returned[partition].append(len(page))
        response: dict[str, Any] = {
            "Items": [self.item(partition, key) for key in page],
            "Count": len(page),
        }
        if rest or (len(page) == limit and not self.exact_last_key):
            response["LastEvaluatedKey"] = self.item(partition, page[-1]) if page else start
        return response

    @staticmethod
    def item(partition: str, key: str) -> dict[str, Any]:
        return {
            "GSI3PK": {"S": partition},
            "GSI1SK": {"S": key},
            "PK": {"S": order_pk(key.rpartition("#")[2])},
            "SK": {"S": "ORDER"},
        }


@pytest.fixture(autouse=True)
def wire_is_the_sort_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A page's items as their sort keys: the merge is under test, not the wire form."""
    monkeypatch.setattr(repository, "_wire_from_item", lambda item: item["GSI1SK"]["S"])


def shuffled_run_all(rng: random.Random) -> Callable[[Sequence[Callable[[], Any]]], list[Any]]:
    """Runs the calls in a random order (as threads may) and returns their results in the calls' order."""

    def run_all(calls: Sequence[Callable[[], Any]]) -> list[Any]:
        order = list(range(len(calls)))
        rng.shuffle(order)
        results: dict[int, Any] = {}
        for index in order:
            results[index] = calls[index]()
        return [results[index] for index in range(len(calls))]

    return run_all


def reference(
    index: FakeIndex, partitions: Sequence[str], low: str, high: str, *, ascending: bool, after: str | None
) -> list[tuple[str, str]]:
    """Every (key, partition) of the listing past `after`, by one sort: what the merge must produce."""
    rows = [
        (key, name)
        for name in partitions
        for key in index.partitions.get(name, [])
        if low <= key <= high and (after is None or (key > after if ascending else key < after))
    ]
    return sorted(rows, reverse=not ascending)


def check_page(
    index: FakeIndex,
    *,
    statuses: Sequence[str],
    shards: int,
    low: str,
    high: str,
    ascending: bool,
    limit: int,
    after: str | None,
    run_all: Callable[[Sequence[Callable[[], Any]]], list[Any]] | None = None,
) -> tuple[list[str], str | None]:
    """One page, checked against the reference and for what it read."""
    repo = OrderRepository(index, TABLE, status_shards=shards, run_all=run_all)  # type: ignore[arg-type]
    partitions = [status_shard_pk(status, shard) for status in statuses for shard in range(shards)]
    index.calls.clear()
    index.returned.clear()
    page, position = repo.list_wire_by_status(
        statuses, created_from=low, created_to=high, ascending=ascending, limit=limit, after=after
    )
    expected = reference(index, partitions, low, high, ascending=ascending, after=after)
    assert page == [key for key, _ in expected[:limit]]
    assert position == (page[-1] if len(expected) > limit else None)

    # What it read: every partition of the listing, once, and at most one refill each.
    read = Counter(call["ExpressionAttributeValues"][":pk"]["S"] for call in index.calls)
    assert set(read) == set(partitions)
    assert all(count <= 2 for count in read.values()), read
    assert len(index.calls) <= 2 * len(partitions)
    # A refill only for a partition whose first read the page (and the one item past it) used up entirely.
    needed = Counter(name for _, name in expected[: limit + 1])
    for name, counts in index.returned.items():
        if len(counts) == 2:
            assert needed[name] >= counts[0], (name, counts, needed[name])
        # A page never reads from a partition more than it needs, plus one read's worth.
        assert sum(counts) <= needed[name] + max(counts), (name, counts, needed[name])
    # The first reads are about each partition's share of the page, plus two; a refill asks for what the
    # page still lacks.
    first_chunk = min(limit + 1, -(-(limit + 1) // len(partitions)) + 2)
    assert all(call["Limit"] == first_chunk for call in index.calls[: len(partitions)])
    assert all(1 <= call["Limit"] <= limit + 1 for call in index.calls)
    return page, position


def page_through(
    index: FakeIndex,
    *,
    statuses: Sequence[str],
    shards: int,
    low: str,
    high: str,
    ascending: bool,
    limits: Sequence[int],
    after: str | None = None,
    run_all: Callable[[Sequence[Callable[[], Any]]], list[Any]] | None = None,
) -> list[str]:
    """Every page from `after` (each with the next of `limits`, cycling) to the end."""
    seen: list[str] = []
    position = after
    for number in range(100_000):
        page, position = check_page(
            index,
            statuses=statuses,
            shards=shards,
            low=low,
            high=high,
            ascending=ascending,
            limit=limits[number % len(limits)],
            after=position,
            run_all=run_all,
        )
        seen.extend(page)
        if position is None:
            return seen
    raise AssertionError("the listing never ends")


def random_index(
    rng: random.Random, *, statuses: Sequence[str], shards: int, count: int, span_ms: int, skew: str
) -> FakeIndex:
    names = [status_shard_pk(status, shard) for status in statuses for shard in range(shards)]
    extra = [
        status_shard_pk(status, shard)
        for status in OrderStatus
        if status not in statuses
        for shard in range(shards)
    ]
    partitions: dict[str, list[str]] = {name: [] for name in names + extra}
    hot = rng.choice(names)
    millis: list[int] = []
    for _ in range(count):
        # Ties: a third of the orders share a millisecond with an earlier one.
        millisecond = rng.choice(millis) if millis and rng.random() < 0.33 else rng.randrange(span_ms)
        millis.append(millisecond)
        if skew == "hot" and rng.random() < 0.8:
            name = hot
        elif skew == "few":
            name = rng.choice(names[:2])
        else:
            name = rng.choice(names + extra)
        partitions[name].append(key_at(millisecond, rng))
    return FakeIndex(partitions, exact_last_key=rng.random() < 0.5)


SCENARIOS = [(seed, skew) for seed in range(12) for skew in ("even", "hot", "few")]


@pytest.mark.parametrize(("seed", "skew"), SCENARIOS)
def test_pages_are_the_sorted_merge_and_every_order_is_seen_once(seed, skew):
    rng = random.Random(seed)
    shards = rng.choice([1, 2, 3, 4, 8, 32])
    statuses = rng.sample([s.value for s in OrderStatus], rng.choice([1, 1, 2, len(OrderStatus)]))
    span = rng.choice([5, 200, 10_000])
    index = random_index(
        rng, statuses=statuses, shards=shards, count=rng.randrange(0, 400), span_ms=span, skew=skew
    )
    low_ms = rng.randrange(0, span // 4 + 1)
    high_ms = rng.randrange(low_ms + 1, span + 2)
    low, high = window_key(low_ms), window_key(high_ms)
    partitions = [status_shard_pk(status, shard) for status in statuses for shard in range(shards)]
    for ascending in (True, False):
        limits = [rng.choice([1, 2, 3, 7, 20, 100]) for _ in range(rng.randrange(1, 4))]
        run_all = shuffled_run_all(rng) if rng.random() < 0.5 else None
        expected = [
            key for key, _ in reference(index, partitions, low, high, ascending=ascending, after=None)
        ]
        seen = page_through(
            index,
            statuses=statuses,
            shards=shards,
            low=low,
            high=high,
            ascending=ascending,
            limits=limits,
            run_all=run_all,
        )
        assert seen == expected
        assert len(set(seen)) == len(seen)
        # The window's ends: from inclusive; a key at `to` exactly is longer than `to`, so never in.
        assert all(low <= key < high for key in seen)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    shards=st.sampled_from([1, 2, 5, 32]),
    status_count=st.sampled_from([1, 2, len(OrderStatus)]),
    ascending=st.booleans(),
    limit=st.integers(min_value=1, max_value=100),
)
def test_any_page_from_any_position_is_the_reference_slice(data, shards, status_count, ascending, limit):
    statuses = [s.value for s in OrderStatus][:status_count]
    names = [status_shard_pk(status, shard) for status in statuses for shard in range(shards)]
    rng = random.Random(data.draw(st.integers(min_value=0, max_value=2**32)))
    millis = data.draw(st.lists(st.integers(min_value=0, max_value=60), max_size=150))
    partitions: dict[str, list[str]] = defaultdict(list)
    for millisecond in millis:
        partitions[data.draw(st.sampled_from(names))].append(key_at(millisecond, rng))
    index = FakeIndex(partitions, exact_last_key=data.draw(st.booleans()))
    low, high = window_key(data.draw(st.integers(0, 30))), window_key(data.draw(st.integers(31, 62)))
    everything = reference(index, names, low, high, ascending=ascending, after=None)
    # Resume after an order of the listing, or after a key of no order (between two), or from the start.
    choice = data.draw(st.sampled_from(["start", "order", "between"]))
    after = None
    if choice == "order" and everything:
        after = data.draw(st.sampled_from(everything))[0]
    elif choice == "between":
        after = key_at(data.draw(st.integers(0, 61)), rng)
        after = min(max(after, low), high)
    check_page(
        index,
        statuses=statuses,
        shards=shards,
        low=low,
        high=high,
        ascending=ascending,
        limit=limit,
        after=after,
    )


def test_a_page_that_one_partition_fills_refills_only_that_partition():
    rng = random.Random(5)
    names = [status_shard_pk("pending", shard) for shard in range(8)]
    partitions = {name: [] for name in names}
    partitions[names[3]] = [key_at(ms, rng) for ms in range(100)]  # the page's every order is here
    partitions[names[5]] = [key_at(1000 + ms, rng) for ms in range(100)]  # after the page
    index = FakeIndex(partitions)
    page, position = check_page(
        index,
        statuses=["pending"],
        shards=8,
        low=window_key(0),
        high=window_key(5000),
        ascending=True,
        limit=20,
        after=None,
    )
    assert page == sorted(partitions[names[3]])[:20]
    assert position == page[-1]
    read = Counter(call["ExpressionAttributeValues"][":pk"]["S"] for call in index.calls)
    assert read == {name: 2 if name == names[3] else 1 for name in names}
    # First reads: ceil(21 / 8) + 2 = 5 each; the refill asks for the 16 the page still lacks.
    assert [call["Limit"] for call in index.calls] == [5] * 8 + [16]


def test_an_empty_listing_reads_each_partition_once():
    index = FakeIndex({})
    page, position = check_page(
        index,
        statuses=[s.value for s in OrderStatus],
        shards=4,
        low=window_key(0),
        high=window_key(10),
        ascending=False,
        limit=100,
        after=None,
    )
    assert (page, position) == ([], None)
    assert len(index.calls) == 4 * len(OrderStatus)


@pytest.mark.parametrize("ascending", [True, False])
def test_orders_of_one_millisecond_are_ordered_by_id(ascending):
    rng = random.Random(11)
    keys = [key_at(7, rng) for _ in range(30)]
    partitions: dict[str, list[str]] = defaultdict(list)
    for number, key in enumerate(keys):
        partitions[status_shard_pk("confirmed", number % 4)].append(key)
    index = FakeIndex(partitions)
    seen = page_through(
        index,
        statuses=["confirmed"],
        shards=4,
        low=window_key(7),
        high=window_key(8),
        ascending=ascending,
        limits=[4],
    )
    assert seen == sorted(keys, reverse=not ascending)


def test_the_last_full_page_has_no_position():
    rng = random.Random(2)
    partitions = {
        status_shard_pk("shipped", shard): [key_at(shard * 10 + n, rng) for n in range(5)]
        for shard in range(4)
    }
    index = FakeIndex(partitions)
    page, position = check_page(
        index,
        statuses=["shipped"],
        shards=4,
        low=window_key(0),
        high=window_key(100),
        ascending=True,
        limit=20,
        after=None,
    )
    assert len(page) == 20
    assert position is None


def test_a_shard_count_below_one_is_refused():
    with pytest.raises(ValueError, match="at least one shard"):
        OrderRepository(FakeIndex({}), TABLE, status_shards=0)  # type: ignore[arg-type]
