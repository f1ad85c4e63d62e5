"""The stack's log in the terminal: one line at a time, whole, whatever thread says it."""

from __future__ import annotations

import sys
import threading

_print_lock = threading.Lock()


def say(line: str, stream=None) -> None:
    with _print_lock:
        print(line, file=stream or sys.stdout, flush=True)


def function_log(function: str, line: str) -> None:
    say(f"[{function}] {line}")
