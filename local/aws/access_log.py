"""API Gateway's access log, kept in memory: one entry per request to the API (the stack's own `/_local/*`
endpoints are not the API), newest last, the oldest dropped past `limit` (the console's recent requests,
and the requests on an order's timeline).

An entry holds what an access log format built from `$context` variables would: method, path (never the
query string), route, status, latency, `requestId` (the correlation id functions log and echo as
`Apigw-Requestid`) and the caller's `sub` claim. Never a header, a token or a body: the log is shown on a
page, and a body may hold a shipping address.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_LIMIT = 1_000
# The path parameter that names the resource a route acts on (`/api/orders/{id}`): the id a request touched.
RESOURCE_PARAMETER = "id"


@dataclass(frozen=True)
class AccessLogEntry:
    received_at: float  # epoch seconds
    method: str
    path: str  # decoded, without the query string
    status: int
    latency_ms: float
    route_key: str | None = None  # None: no route matched
    function: str | None = None
    caller: str | None = None  # the verified token's `sub`; None on a route without auth or a refused token
    correlation_id: str | None = None  # API Gateway's requestId; None when no function was invoked
    resource_id: str | None = None  # the resource it named (`{id}`) or created (`Location`)


def resource_id(path_parameters: Mapping[str, str], location: str | None) -> str | None:
    """The id of the resource a request acted on: the one it created (the last segment of its `Location`,
    as a 201 says where the new resource lives), else the one its route names (`{id}`)."""
    if location:
        created = location.split("?", 1)[0].rstrip("/").rpartition("/")[2]
        if created:
            return created
    return path_parameters.get(RESOURCE_PARAMETER) or None


class AccessLog:
    """The last `limit` requests, oldest first. Safe to append to from the server's request threads."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._entries: deque[AccessLogEntry] = deque(maxlen=limit)
        self._lock = threading.Lock()

    @property
    def limit(self) -> int:
        return self._entries.maxlen or 0

    def append(self, entry: AccessLogEntry) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[AccessLogEntry]:
        with self._lock:
            return list(self._entries)
