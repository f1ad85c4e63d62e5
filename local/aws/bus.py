"""The events the local stack has seen put to its event buses, oldest first (`GET /_local/events`), and
the batches its stream mappings gave up on (`GET /_local/dead-letters`).

Capture: every bus (the template's and `default`) gets a rule matching every event of the account whose
target is one SQS queue of the stack's own; a thread drains that queue into the `EventLog` and prints one
line per event. So whatever a function puts with `PutEvents`, through any client, is seen as EventBridge
delivers it (envelope and all), without knowing anything of the function.
"""

from __future__ import annotations

import json
import threading
import time
import time as clock  # `append` takes a parameter named `time`
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from local.template.model import ACCOUNT

CAPTURE_QUEUE = "local-stack-event-capture"
CAPTURE_RULE = "local-stack-capture-all"


class EventLog:
    """The events put to the buses, oldest first, the oldest dropped past `limit`; each with when the stack
    saw it (`timed_entries`: the envelope's `time` has whole seconds only, too coarse to order an order's
    timeline by)."""

    def __init__(self, limit: int = 10_000) -> None:
        self._entries: deque[tuple[float, dict[str, Any]]] = deque(maxlen=limit)
        self._lock = threading.Lock()

    def append(
        self, detail_type: str, source: str, detail: Any, time: str | None = None, **extra: Any
    ) -> None:
        entry = {
            "detail-type": detail_type,
            "source": source,
            "detail": detail,
            "time": time or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            **extra,
        }
        with self._lock:
            self._entries.append((clock.time(), entry))

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [entry for _, entry in self._entries]

    def timed_entries(self) -> list[tuple[float, dict[str, Any]]]:
        """(epoch seconds the stack saw it, entry), oldest first."""
        with self._lock:
            return list(self._entries)


class DeadLetterLog:
    """What the stream mappings sent to their on-failure destinations, oldest first."""

    def __init__(self, limit: int = 1_000) -> None:
        self._entries: list[dict[str, Any]] = []
        self._limit = limit
        self._lock = threading.Lock()

    def append(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries.append(entry)
            del self._entries[: max(0, len(self._entries) - self._limit)]

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)


def event_line(event: dict[str, Any]) -> str:
    """One readable line: `[event] OrderStatusChanged order=<id> pending→shipped v2 (bus orders-dev)`.

    Read generically from the detail: the first `<thing>Id` field, `previousStatus`/`status`, `version`;
    any other event shows its source and detail keys."""
    detail = event.get("detail")
    parts = [f"[event] {event.get('detail-type')}"]
    if isinstance(detail, dict):
        key = next((name for name in detail if name.endswith("Id") and name not in ("eventId",)), None)
        if key is not None:
            parts.append(f"{key[:-2] or 'id'}={detail[key]}")
        status, previous = detail.get("status"), detail.get("previousStatus")
        if status is not None:
            parts.append(f"{previous}→{status}" if previous else str(status))
        if detail.get("version") is not None:
            parts.append(f"v{detail['version']}")
        if key is None and status is None:
            parts.append(f"from {event.get('source')} {{{', '.join(list(detail)[:6])}}}")
    else:
        parts.append(f"from {event.get('source')}")
    return " ".join(parts)


class EventCapture:
    """Rules on the buses → one SQS queue → `EventLog`, drained by a thread: right after `nudge()` (the
    stack calls it when an invocation ends) and every `interval` seconds for `busy_for` seconds after,
    else every `idle_interval` seconds (events put by functions running elsewhere, e.g. under
    `sam local`, or by hand)."""

    def __init__(
        self,
        endpoint: str,
        buses: list[str],
        log: EventLog,
        say: Callable[[str], None],
        *,
        interval: float = 0.1,
        idle_interval: float = 1.0,
        busy_for: float = 5.0,
    ) -> None:
        from local.aws.moto_server import aws_client

        self._events = aws_client("events", endpoint)
        self._sqs = aws_client("sqs", endpoint)
        self.buses = list(buses)
        self._log = log
        self._say = say
        self._interval = interval
        self._idle_interval = idle_interval
        self._busy_for = busy_for
        self._busy_until = 0.0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.queue_url: str | None = None

    def setup(self) -> None:
        self.queue_url = self._sqs.create_queue(QueueName=CAPTURE_QUEUE)["QueueUrl"]
        queue_arn = self._sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        for bus in self.buses:
            self._events.put_rule(
                Name=CAPTURE_RULE,
                EventBusName=bus,
                # Every event put to this bus: they all carry the account.
                EventPattern=json.dumps({"account": [ACCOUNT]}),
                State="ENABLED",
                Description="The local stack's capture of every event (GET /_local/events)",
            )
            self._events.put_targets(
                Rule=CAPTURE_RULE, EventBusName=bus, Targets=[{"Id": "local-stack", "Arn": queue_arn}]
            )

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="event-capture", daemon=True)
        self._thread.start()

    def nudge(self) -> None:
        """Something may just have put events: drain now, and often for a while."""
        self._busy_until = time.monotonic() + self._busy_for
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                drained = self.drain()
            except Exception as error:  # noqa: BLE001 - keep capturing; say what went wrong
                if self._stop.is_set():
                    return
                self._say(f"[event] capture failed: {error!r}")
                drained = 0
            if not drained:
                busy = time.monotonic() < self._busy_until
                self._wake.wait(self._interval if busy else self._idle_interval)
                self._wake.clear()

    def drain(self) -> int:
        """Move what the queue holds into the log; how many events that was."""
        messages = self._sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        for message in messages:
            try:
                event = json.loads(message["Body"])
            except ValueError:
                continue
            # A replayed event says so (`replay-name`, EventBridge's envelope field): kept with the others.
            extra = {
                name: event[name]
                for name in ("id", "account", "region", "resources", "replay-name")
                if name in event
            }
            self._log.append(
                event.get("detail-type"), event.get("source"), event.get("detail"), event.get("time"), **extra
            )
            self._say(event_line(event))
        if messages:
            self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(messages)
                ],
            )
        return len(messages)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
