"""`orders.events.batch` reads and answers a stream batch exactly as Powertools' batch utility would (the
consumer no longer imports it): the same values from each record, the same partial batch response, the same
exceptions when a batch has no records or fails whole."""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError, UnexpectedBatchTypeError
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBStreamEvent
from hypothesis import given, settings
from hypothesis import strategies as st
from orders import wiring
from orders.events.batch import StreamRecord, partial_response, records_of

from tests.support.lambda_runtime import sample_event

SAMPLE = sample_event("order_events")["Records"]

VALUES = st.recursive(
    st.one_of(
        st.builds(lambda n: {"N": str(n)}, st.decimals(allow_nan=False, allow_infinity=False, places=3)),
        st.builds(lambda s: {"S": s}, st.text(max_size=5)),
        st.builds(lambda b: {"BOOL": b}, st.booleans()),
        st.just({"NULL": True}),
        st.builds(
            lambda items: {"SS": sorted(set(items))}, st.lists(st.text(max_size=3), min_size=1, max_size=3)
        ),
        st.builds(
            lambda items: {"NS": sorted({str(n) for n in items})},
            st.lists(st.integers(), min_size=1, max_size=3),
        ),
    ),
    lambda inner: st.one_of(
        st.builds(lambda items: {"L": items}, st.lists(inner, max_size=3)),
        st.builds(lambda members: {"M": members}, st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    ),
    max_leaves=8,
)
IMAGES = st.dictionaries(st.sampled_from(["PK", "status", "total", "items", "x"]), VALUES, max_size=4)


@st.composite
def records(draw) -> dict[str, Any]:
    record = copy.deepcopy(draw(st.sampled_from(SAMPLE)))
    if draw(st.booleans()):
        change: dict[str, Any] = {"SequenceNumber": str(draw(st.integers(1, 10**20)))}
        for key in ("OldImage", "NewImage"):
            if draw(st.booleans()):
                change[key] = draw(IMAGES)
        record["dynamodb"] = change
    for key, choices in (("eventName", ["INSERT", "MODIFY", "REMOVE", "UPSERT"]), ("eventID", ["e-1"])):
        kind = draw(st.sampled_from(["keep", "drop", "other"]))
        if kind == "drop":
            record.pop(key, None)
        elif kind == "other":
            record[key] = draw(st.sampled_from(choices))
    if draw(st.integers(0, 9)) == 0:
        record.pop("dynamodb", None)
    return record


def read(record: Any) -> dict[str, Any]:
    """Everything the consumer reads of a record, or the exception reading it raises."""

    def attempt(getter):
        try:
            return ("value", getter())
        except Exception as error:  # noqa: BLE001 - the same failure is what is compared
            return ("raises", type(error))

    change = record.dynamodb
    return {
        "event_id": attempt(lambda: record.event_id),
        "event_name": attempt(lambda: record.event_name and record.event_name.name),
        "dynamodb": change is None,
        "sequence_number": None if change is None else attempt(lambda: change.sequence_number),
        "old_image": None if change is None else attempt(lambda: change.old_image),
        "new_image": None if change is None else attempt(lambda: change.new_image),
    }


@settings(max_examples=300, deadline=None)
@given(record=records())
def test_a_record_reads_as_powertools_reads_it(record):
    (theirs,) = DynamoDBStreamEvent({"Records": [copy.deepcopy(record)]}).records
    ours = StreamRecord(copy.deepcopy(record))
    assert read(ours) == read(theirs)


def failing_on(sequence_numbers: set[str]):
    def handler(record: Any) -> str:
        if record.dynamodb.sequence_number in sequence_numbers:
            raise RuntimeError(f"record {record.dynamodb.sequence_number}")
        return "ok"

    return handler


def powertools(event: dict[str, Any], failing: set[str]) -> Any:
    try:
        return process_partial_response(
            event=event,
            record_handler=failing_on(failing),
            processor=BatchProcessor(EventType.DynamoDBStreams),
        )
    except Exception as error:  # noqa: BLE001 - compared below
        return (type(error), str(error).splitlines()[0])


def ours(event: dict[str, Any], failing: set[str]) -> Any:
    try:
        return partial_response(records_of(event), failing_on(failing))
    except Exception as error:  # noqa: BLE001
        return (type(error), str(error).splitlines()[0])


@pytest.mark.parametrize(
    "failing",
    [set(), {"1"}, {"2", "3"}, {"1", "2", "3"}],
    ids=["none", "one", "two", "all"],
)
def test_a_batch_is_answered_as_powertools_answers_it(failing):
    event = {
        "Records": [dict(SAMPLE[0], dynamodb={**SAMPLE[0]["dynamodb"], "SequenceNumber": n}) for n in "123"]
    }
    expected = powertools(copy.deepcopy(event), failing)
    assert ours(copy.deepcopy(event), failing) == expected
    if failing == {"1", "2", "3"}:
        assert expected[0] is BatchProcessingError
    else:
        assert expected == {"batchItemFailures": [{"itemIdentifier": n} for n in "123" if n in failing]}


def test_a_batch_without_records_fails_as_powertools_fails_it():
    assert ours({"Records": []}, set()) == powertools({"Records": []}, set())
    assert ours({"Records": []}, set())[0] is UnexpectedBatchTypeError


# ---------------------------------------------------------------- records of different items side by side
def keyed_batch(items_of_records: list[int]) -> dict[str, Any]:
    """A batch whose n-th record changes item `items_of_records[n]`; sequence numbers in stream order."""
    return {
        "Records": [
            dict(
                SAMPLE[1],
                dynamodb={
                    **SAMPLE[1]["dynamodb"],
                    "Keys": {"PK": {"S": f"ORDER#{item}"}, "SK": {"S": "ORDER"}},
                    "SequenceNumber": str(100 + position),
                },
            )
            for position, item in enumerate(items_of_records)
        ]
    }


class ItemHistory:
    """A handler whose outcome depends on the item's earlier records (as the reservation keeper's does): a
    record fails if its sequence number is marked, or if an earlier record of its item failed and `sticky`.
    Records what it saw per item and whether one item was ever handled twice at once."""

    def __init__(self, failing: set[str], *, sticky: bool) -> None:
        self.failing, self.sticky = failing, sticky
        self.seen: dict[str, list[int]] = {}
        self.failed_items: set[str] = set()
        self.busy: set[str] = set()
        self.overlapped = False
        self.lock = threading.Lock()

    def __call__(self, record: Any) -> None:
        item = record.dynamodb.typed_keys["PK"]["S"]
        with self.lock:
            self.overlapped |= item in self.busy
            self.busy.add(item)
        try:
            time.sleep(0)  # let another thread in
            self.seen.setdefault(item, []).append(int(record.dynamodb.sequence_number))
            if record.dynamodb.sequence_number in self.failing or (self.sticky and item in self.failed_items):
                self.failed_items.add(item)
                raise RuntimeError(record.dynamodb.sequence_number)
        finally:
            with self.lock:
                self.busy.discard(item)


def answered(event: dict[str, Any], handler: Any, **options: Any) -> Any:
    try:
        return partial_response(records_of(event), handler, **options)
    except Exception as error:  # noqa: BLE001 - compared below
        return (type(error), str(error).splitlines()[0])


@settings(max_examples=150, deadline=None)
@given(
    items=st.lists(st.integers(0, 6), min_size=1, max_size=40),
    failing=st.sets(st.integers(0, 39)),
    sticky=st.booleans(),
)
def test_side_by_side_answers_as_one_after_another_and_keeps_each_items_order(items, failing, sticky):
    event = keyed_batch(items)
    marked = {str(100 + position) for position in failing}
    in_order, concurrent = ItemHistory(marked, sticky=sticky), ItemHistory(marked, sticky=sticky)
    expected = answered(copy.deepcopy(event), in_order)
    assert answered(copy.deepcopy(event), concurrent, side_by_side=wiring.side_by_side) == expected
    assert concurrent.seen == in_order.seen  # each item's records, in stream order
    assert all(seen == sorted(seen) for seen in concurrent.seen.values())
    assert not concurrent.overlapped


def test_side_by_side_handles_different_items_at_once():
    """Each item's one record waits until two are in flight: one after another, each would time out."""
    in_flight, two_at_once, lock = [0], threading.Event(), threading.Lock()
    peak = [0]

    def handler(record: Any) -> None:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
            if in_flight[0] >= 2:
                two_at_once.set()
        try:
            two_at_once.wait(timeout=2)
        finally:
            with lock:
                in_flight[0] -= 1

    event = keyed_batch(list(range(wiring.BACKGROUND_THREADS * 2)))
    assert partial_response(records_of(event), handler, side_by_side=wiring.side_by_side) == {
        "batchItemFailures": []
    }
    assert peak[0] >= 2


def test_a_record_without_keys_is_handled_on_its_own_and_reported():
    event = keyed_batch([1, 2, 1])
    del event["Records"][1]["dynamodb"]["Keys"]
    history = ItemHistory({"101"}, sticky=False)
    response = partial_response(records_of(event), history, side_by_side=wiring.side_by_side)
    assert response == {"batchItemFailures": [{"itemIdentifier": "101"}]}
    assert history.seen == {"ORDER#1": [100, 102]}
