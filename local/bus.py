"""The events the local stack has seen put to its event bus, oldest first (`GET /_local/events`).

Nothing appends yet: the table-stream consumer and the EventBridge emulation (later work) call
`EventLog.append` for every entry of a `PutEvents` they accept."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any


class EventLog:
    def __init__(self, limit: int = 10_000) -> None:
        self._entries: list[dict[str, Any]] = []
        self._limit = limit
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
            self._entries.append(entry)
            del self._entries[: max(0, len(self._entries) - self._limit)]

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)
