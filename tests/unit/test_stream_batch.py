"""`orders.events.batch` reads and answers a stream batch exactly as Powertools' batch utility would (the
consumer no longer imports it): the same values from each record, the same partial batch response, the same
exceptions when a batch has no records or fails whole."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError, UnexpectedBatchTypeError
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBStreamEvent
from hypothesis import given, settings
from hypothesis import strategies as st
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
