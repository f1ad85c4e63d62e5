"""orders.events.bus: why EventBridge refused a publish is kept and logged, not thrown away (the consumer
retries either way; an operator needs the reason to tell throttling from a missing grant or bus)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from botocore.exceptions import ClientError
from orders.events.bus import EventBusPublisher, Pending
from orders.events.notifications import OrderEvent


def _pending(count: int) -> list[Pending]:
    return [
        Pending(
            key=str(n), event=OrderEvent("OrderCreated", f"o{n}", {"eventId": f"o{n}:1", "orderId": f"o{n}"})
        )
        for n in range(count)
    ]


class EventBridge:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (
            ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, "PutEvents"
            ),
            "AccessDeniedException: not authorized",
        ),
        (
            {
                "FailedEntryCount": 1,
                "Entries": [
                    {"EventId": "e0"},
                    {"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"},
                ],
            },
            "ThrottlingException: slow down",
        ),
        (ConnectionError("connection reset"), "ConnectionError: connection reset"),
    ],
    ids=["call refused", "entry refused", "no answer"],
)
def test_a_refused_publish_keeps_and_logs_why(answer, reason, caplog):
    publisher = EventBusPublisher(EventBridge(answer), "orders-test")
    with caplog.at_level(logging.WARNING, logger="orders.events.bus"):
        failed = publisher.publish_in_order(_pending(3))
    assert failed == ({"1", "2"} if isinstance(answer, dict) else {"0", "1", "2"})
    assert publisher.last_refusal == reason
    assert any(getattr(record, "reason", None) == reason for record in caplog.records)


def test_a_publish_that_goes_through_has_no_refusal():
    publisher = EventBusPublisher(
        EventBridge({"FailedEntryCount": 0, "Entries": [{"EventId": "e"}] * 2}), "b"
    )
    assert publisher.publish_in_order(_pending(2)) == set()
    assert publisher.last_refusal is None
