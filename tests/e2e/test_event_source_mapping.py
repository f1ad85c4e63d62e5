"""The event source mapping fed incrementally (what the stack's stream poller does) behaves as the
whole-list `process()` the integration tests check, plus what only exists over time: the batching
window, record age, and invocations that never happened (the stack stopping)."""

from __future__ import annotations

import random
import time

import pytest

from local.aws.event_source_mapping import (
    RECORD_AGE_EXCEEDED,
    InvocationAbandoned,
    StreamMapping,
    StreamMappingConfig,
)

pytestmark = pytest.mark.e2e

CONFIG = StreamMappingConfig(
    batch_size=4,
    maximum_retry_attempts=2,
    bisect_on_function_error=True,
    report_batch_item_failures=True,
    filter_patterns=({"eventName": ["INSERT", "MODIFY"]},),
)


def record(sequence: int, name: str = "INSERT", created: float | None = None) -> dict:
    return {
        "eventName": name,
        "dynamodb": {"SequenceNumber": str(sequence), "ApproximateCreationDateTime": created or time.time()},
    }


class ScriptedFunction:
    """Fails some records (by raising or by reporting them) a given number of times."""

    def __init__(self, raise_on: dict[int, int], report: dict[int, int]) -> None:
        self.raise_on, self.report = dict(raise_on), dict(report)
        self.calls: list[list[int]] = []

    def __call__(self, event: dict) -> dict:
        sequences = [int(item["dynamodb"]["SequenceNumber"]) for item in event["Records"]]
        self.calls.append(sequences)
        for sequence in sequences:
            if self.raise_on.get(sequence, 0) > 0:
                self.raise_on[sequence] -= 1
                raise RuntimeError(f"poison {sequence}")
        failed = []
        for sequence in sequences:
            if self.report.get(sequence, 0) > 0:
                self.report[sequence] -= 1
                failed.append({"itemIdentifier": str(sequence)})
        return {"batchItemFailures": failed}


@pytest.mark.parametrize("seed", range(12))
def test_fed_in_chunks_it_invokes_as_process_does(seed):
    rng = random.Random(seed)
    records = [record(100 + index, rng.choice(["INSERT", "MODIFY", "REMOVE"])) for index in range(30)]
    raise_on = {100 + rng.randrange(30): rng.randrange(1, 5) for _ in range(3)}
    report = {100 + rng.randrange(30): rng.randrange(1, 5) for _ in range(3)}

    whole_function, whole_letters = ScriptedFunction(raise_on, report), []
    whole = StreamMapping(CONFIG, whole_function, whole_letters.append)
    whole.process(records)

    fed_function, fed_letters = ScriptedFunction(raise_on, report), []
    fed = StreamMapping(CONFIG, fed_function, fed_letters.append)
    feed = fed.shard(clock=None)
    feed.add(records)  # all at once, then stepped as the poller steps it
    while feed.pending:
        assert feed.ready(now=time.monotonic() + 60)
        feed.step()

    assert fed_function.calls == whole_function.calls
    assert [list(batch) for batch in fed_letters] == [list(batch) for batch in whole_letters]
    assert (fed.stats.invocations, fed.stats.retries) == (whole.stats.invocations, whole.stats.retries)
    for batch in fed_letters:
        assert batch.attempts >= CONFIG.maximum_retry_attempts + 1
        assert batch.condition == "RetryAttemptsExhausted"


def test_the_batching_window_holds_records_until_full_or_waited_out():
    config = StreamMappingConfig(batch_size=3, maximum_batching_window=1.0)
    calls = []
    feed = StreamMapping(config, lambda event: calls.append(len(event["Records"]))).shard()
    now = time.monotonic()
    feed.add([record(1)])
    assert not feed.ready(now + 0.5)
    assert feed.ready(now + 1.1)
    feed.add([record(2), record(3), record(4)])
    assert feed.ready(now)  # a full batch goes at once
    feed.step()
    assert calls == [3] and feed.pending == 1
    assert feed.ready(now)  # what is left was read earlier: no second window
    feed.step()
    assert calls == [3, 1] and not feed.ready(now + 10)


def test_records_older_than_the_maximum_age_go_to_the_destination_unsent():
    config = StreamMappingConfig(batch_size=10, maximum_record_age=60)
    calls, letters = [], []
    feed = StreamMapping(config, calls.append, letters.append).shard(clock=lambda: 1000.0)
    feed.add([record(1, created=900.0), record(2, created=930.0), record(3, created=990.0)])
    feed.step()
    assert calls == [] and [len(batch) for batch in letters] == [2]
    assert letters[0].condition == RECORD_AGE_EXCEEDED and letters[0].attempts == 0
    feed.step()
    assert [len(event["Records"]) for event in calls] == [1]


def test_an_abandoned_invocation_changes_nothing():
    def stopping(event):
        raise InvocationAbandoned()

    mapping = StreamMapping(StreamMappingConfig(batch_size=2, maximum_retry_attempts=0), stopping)
    feed = mapping.shard()
    feed.add([record(1), record(2)])
    with pytest.raises(InvocationAbandoned):
        feed.step()
    assert feed.pending == 2 and feed.attempts == 0
    assert (mapping.stats.invocations, mapping.stats.retries, mapping.stats.sent_to_destination) == (0, 0, [])
