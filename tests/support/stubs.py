"""Driving the upstream stubs (local/stubs/upstream.py) over their control endpoints, from tests whose
stubs run in a child process (the concurrency tests fork, so the test process runs no server thread)."""

from __future__ import annotations

import json
from typing import Any

import urllib3

_http = urllib3.PoolManager()


class StubControl:
    def __init__(self, url: str) -> None:
        self.url = url

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = _http.request(
            method,
            self.url + path,
            body=None if body is None else json.dumps(body),
            headers={"Content-Type": "application/json"},
            retries=False,
            timeout=5,
        )
        assert response.status < 300, (path, response.status, response.data[:200])
        return json.loads(response.data) if response.data else None

    def reset(self) -> None:
        self._call("POST", "/_stubs/reset")

    def set_faults(self, **plan: Any) -> None:
        self._call("POST", "/_stubs/faults", plan)

    def fail_next(self, method: str, path_prefix: str, count: int = 1, kind: str = "error") -> None:
        self._call(
            "POST",
            "/_stubs/fail-next",
            {"method": method, "pathPrefix": path_prefix, "count": count, "kind": kind},
        )

    def snapshot(self) -> dict[str, Any]:
        return self._call("GET", "/_stubs/state")

    def live_reservations(self) -> dict[str, dict]:
        return {rid: r for rid, r in self.snapshot()["reservations"].items() if r["state"] == "held"}

    def calls_to(self, method: str, path_prefix: str) -> int:
        return sum(
            1
            for call_method, path in self.snapshot()["calls"]
            if call_method == method and path.startswith(path_prefix)
        )

    @property
    def faults_injected(self) -> int:
        return self.snapshot()["faultsInjected"]
