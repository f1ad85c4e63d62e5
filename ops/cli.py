"""What every operator command shares: choosing the stage, a bounded rate, and progress that a person can
follow (a progress bar on a terminal, plain lines otherwise) ending in one summary line."""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO

from ops.stage import DEFAULT_LOCAL_URL, LOCAL, Stage, resolve


def add_stage_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stage",
        default=LOCAL,
        help="`local` (make dev's stack, the default) or a samconfig.toml environment: dev, prod",
    )
    parser.add_argument("--url", default=DEFAULT_LOCAL_URL, help="the local stack (default %(default)s)")
    parser.add_argument(
        "--no-assume-role",
        action="store_true",
        help="deployed stages: act with your own credentials instead of assuming the command's role",
    )


def add_sweep_arguments(
    parser: argparse.ArgumentParser,
    *,
    rate: float,
    rate_unit: str,
    segments: int,
    page_items: int,
    dry_run: str,
) -> None:
    """The options of a command that Scans the table in parallel segments and writes at a bounded rate
    (backfill, reindex): --rate, --segments, --page-size (hidden), --dry-run and --json."""
    parser.add_argument("--rate", type=float, default=rate, metavar=rate_unit, help="default %(default)g")
    parser.add_argument(
        "--segments",
        type=int,
        default=segments,
        metavar="N",
        help="parallel Scan segments (default %(default)s)",
    )
    parser.add_argument("--page-size", type=int, default=page_items, metavar="N", help=argparse.SUPPRESS)
    parser.add_argument("--dry-run", action="store_true", help=dry_run)
    parser.add_argument(
        "--json", action="store_true", help="also print the summary as one JSON line on stdout"
    )


def check_sweep_arguments(args: argparse.Namespace, error: type[Exception]) -> None:
    if args.segments < 1 or args.page_size < 1:
        raise error("--segments and --page-size must be at least 1")
    if refusal := rate_refusal(args.rate, "units"):
        raise error(refusal)


def rate_refusal(rate: float, units: str) -> str | None:
    """Why `--rate` (`units` a second; 0: unbounded, as RateLimit takes it) cannot be used, or None."""
    if math.isfinite(rate) and rate >= 0:
        return None
    return f"--rate must be a number of {units} a second, 0 or more (0: unbounded), not {rate:g}"


def run_command(
    name: str, body: Callable[[], int], refusals: tuple[type[Exception], ...], *, rerun: str
) -> int:
    """`body()`'s exit code; a refusal (bad arguments, no such stage) is 2, an interruption 130 and an AWS
    error 1, each said in one line ending with what running the command again does (`rerun`)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return body()
    except refusals as error:
        say(f"{name}: {error}")
        return 2
    except KeyboardInterrupt:
        say(f"{name}: interrupted; {rerun}")
        return 130
    except (BotoCoreError, ClientError) as error:
        say(f"{name}: stopped by AWS: {error}; {rerun}")
        return 1


class SweepSummary(Protocol):
    def line(self) -> str: ...

    def as_dict(self) -> dict[str, Any]: ...


class Sweep[S: SweepSummary](Protocol):
    """A command's run (backfill's, reindex's): `run()` gives its summary, `summary` is it so far."""

    @property
    def summary(self) -> S: ...

    def run(self) -> S: ...


def summarized[S: SweepSummary](sweep: Sweep[S], progress: Progress, *, as_json: bool) -> S:
    """`sweep.run()`, then `progress` closed and the summary said (with --json also as one JSON line on
    stdout). On Ctrl-C the summary of what was done until then is said too, marked interrupted, before the
    interruption goes on to `run_command` (exit 130)."""
    try:
        try:
            summary = sweep.run()
        finally:
            progress.close()
    except KeyboardInterrupt:
        _say_summary(sweep.summary, as_json=as_json, interrupted=True)
        raise
    _say_summary(summary, as_json=as_json, interrupted=False)
    return summary


def _say_summary(summary: SweepSummary, *, as_json: bool, interrupted: bool) -> None:
    say(f"{summary.line()} (interrupted)" if interrupted else summary.line())
    if as_json:
        described = summary.as_dict() | ({"interrupted": True} if interrupted else {})
        print(json.dumps(described), flush=True)


def stage_from(args: argparse.Namespace, role: str) -> Stage:
    stage = resolve(args.stage, role=role, local_url=args.url, assume_role=not args.no_assume_role)
    where = args.url if stage.name == LOCAL else f"stage {stage.name} ({stage.region})"
    say(f"{where}: as {stage.role or 'your own credentials'}")
    for note in stage.notes:
        say(f"  note: {note}")
    return stage


def instant(text: str) -> datetime:
    """An ISO-8601 time for an argument (`2026-12-01T10:00:00Z`, or a date); naive means UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO-8601 time: {text!r} (e.g. 2026-12-01T10:00:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def say(line: str, stream: TextIO | None = None) -> None:
    print(line, file=stream or sys.stderr, flush=True)


class RateLimit:
    """At most `per_second` units a second on average (None or 0: unbounded), shared by threads: `take(n)`
    blocks until n more units may go."""

    def __init__(self, per_second: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = per_second or 0.0
        self._clock = clock
        self._next = clock()
        self._lock = threading.Lock()

    def take(self, units: int = 1) -> None:
        if self._rate <= 0 or units <= 0:
            return
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + units / self._rate
        if start > now:
            time.sleep(start - now)


class Progress:
    """Progress of a long piece of work: rich's bar on a terminal, else one plain line per `every` seconds
    (and at the end), so logs and tests can follow it too."""

    def __init__(self, label: str, total: int | None, *, stream: TextIO | None = None, every: float = 1.0):
        self._stream = stream or sys.stderr
        self._label = label
        self._total = total
        self._done = 0
        self._every = every
        self._last = 0.0
        self._lock = threading.Lock()
        self._bar: Any = None
        self._task: Any = None
        if self._stream.isatty():
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(transient=False)
            self._task = self._bar.add_task(label, total=total)
            self._bar.start()

    def advance(self, count: int = 1, note: str = "") -> None:
        with self._lock:
            self._done += count
            if self._bar is not None:
                self._bar.update(self._task, advance=count, description=f"{self._label} {note}".strip())
                return
            now = time.monotonic()
            if now - self._last >= self._every:
                self._last = now
                self._print(note)

    def line(self, text: str) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.console.print(text, markup=False, highlight=False)
            else:
                print(text, file=self._stream, flush=True)

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.stop()
            else:
                self._print("")

    def _print(self, note: str) -> None:
        of_total = f"/{self._total}" if self._total is not None else ""
        print(f"[{self._label}] {self._done}{of_total} {note}".rstrip(), file=self._stream, flush=True)
