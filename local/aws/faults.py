"""Faults in the emulated AWS, for failure tests (`POST /_local/aws-faults`): moto's EventBridge answers
PutEvents as AWS does when it cannot take entries, HTTP 200 with those entries failed
(`{"ErrorCode": "ThrottlingException", "ErrorMessage": ...}`, `FailedEntryCount`), and does not put them.

A plan per operation: `{"PutEvents": {"errorCode": "ThrottlingException", "entries": null}}` refuses every
entry until cleared; `"entries": N` refuses the next N entries (the first ones of each request) and then
lapses; `{}` clears. Authorization comes first, as on AWS: a denied request stays denied. moto's handler
is wrapped (once, in this process), so whatever calls PutEvents, through any client, meets the plan.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from local.common.log import say

OPERATIONS = ("PutEvents",)
DEFAULT_MESSAGES = {
    "ThrottlingException": "Rate exceeded",
    "InternalException": "Internal service error",
    "InternalFailure": "Internal service error",
}


@dataclass
class _Plan:
    error_code: str
    error_message: str
    remaining: int | None  # entries still to refuse; None: every entry until cleared


class AwsFaults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plans: dict[str, _Plan] = {}
        self._refused: dict[str, int] = dict.fromkeys(OPERATIONS, 0)  # since the stack started

    def set(self, plan: Any) -> None:
        """Replace the whole plan (ValueError/TypeError, naming the field, when it is not one)."""
        if not isinstance(plan, dict):
            raise TypeError(
                'the fault plan is a JSON object: {"PutEvents": {"errorCode": ..., "entries": ...}}'
            )
        unknown = sorted(set(plan) - set(OPERATIONS))
        if unknown:
            raise ValueError(f"no faults for {unknown}: only {list(OPERATIONS)}")
        plans = {}
        for operation, fault in plan.items():
            if not isinstance(fault, dict):
                raise TypeError(f"{operation}: a JSON object with errorCode and entries")
            extra = sorted(set(fault) - {"errorCode", "errorMessage", "entries"})
            if extra:
                raise ValueError(f"{operation}: unknown fields {extra}")
            code = fault.get("errorCode")
            if not isinstance(code, str) or not code.strip():
                raise ValueError(
                    f"{operation}: errorCode must be a non-empty string (e.g. ThrottlingException)"
                )
            entries = fault.get("entries")
            if entries is not None and (
                isinstance(entries, bool) or not isinstance(entries, int) or entries < 1
            ):
                raise ValueError(f"{operation}: entries must be a positive whole number, or null for all")
            message = fault.get("errorMessage") or DEFAULT_MESSAGES.get(code, f"{code} (local fault plan)")
            plans[operation] = _Plan(code, str(message), entries)
        with self._lock:
            self._plans = plans

    def take(self, operation: str, entries: int) -> tuple[int, str, str]:
        """How many of a request's `entries` (the first ones) to refuse, with the error code and message."""
        with self._lock:
            plan = self._plans.get(operation)
            if plan is None or entries <= 0:
                return 0, "", ""
            refused = entries if plan.remaining is None else min(entries, plan.remaining)
            if plan.remaining is not None:
                plan.remaining -= refused
                if plan.remaining <= 0:
                    del self._plans[operation]
            self._refused[operation] = self._refused.get(operation, 0) + refused
            return refused, plan.error_code, plan.error_message

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "plan": {
                    operation: {
                        "errorCode": plan.error_code,
                        "errorMessage": plan.error_message,
                        "entries": plan.remaining,
                    }
                    for operation, plan in self._plans.items()
                },
                "refused": dict(self._refused),
            }


FAULTS = AwsFaults()
_installed = threading.Event()
_install_lock = threading.Lock()


def install_fault_injection() -> None:
    """Wrap moto's PutEvents handler with FAULTS. Idempotent."""
    with _install_lock:
        if _installed.is_set():
            return
        from moto.events.responses import EventsHandler

        put_events = EventsHandler.put_events

        def put_events_with_faults(self: Any) -> Any:
            entries = self._get_param("Entries") or []
            refused, code, message = FAULTS.take("PutEvents", len(entries))
            if not refused:
                return put_events(self)
            answers: list[dict[str, Any]] = [{"ErrorCode": code, "ErrorMessage": message}] * refused
            if entries[refused:]:
                answers += self.events_backend.put_events(entries[refused:])
            failed = len([answer for answer in answers if "ErrorCode" in answer])
            say(f"[aws-faults] PutEvents: refused {refused} of {len(entries)} entries with {code}")
            return json.dumps({"FailedEntryCount": failed, "Entries": answers})

        EventsHandler.put_events = put_events_with_faults
        _installed.set()
