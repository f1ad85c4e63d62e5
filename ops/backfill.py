"""`make backfill` (`python -m ops backfill`): publish the past events of existing orders from the table, for
a subscriber that needs history older than the bus's archive.

Each order item holds its whole past (`statusHistory`, one entry per version, and the correlation id of
each version): `orders.events.history.past_events` rebuilds the image the stream carried at every version
and runs the live path's own `event_for` on it, so `OrderCreated` and every `OrderStatusChanged` come out
with the same `eventId`s (`<orderId>:<version>`) and the same details as when they happened. An order's
events go out in version order, never two of one order in one PutEvents call (at most 10 per call).

Orders are chosen by creation time (`--from`/`--to`, or `--all`), read by a parallel, strongly consistent
Scan (`--segments` threads), or for one user (`--user`) by a Query of the user index. Each order is read
once, as it stands at that moment: its versions 1..k are all sent, none invented; changes made later reach
subscribers through the live stream as usual.

Safe to kill and rerun: after each page is published, the segment's position is written to a checkpoint
(`.ops/backfill-<stage>-<hash of the arguments>.json`, replaced atomically); the same command continues
from there, sending the page it was killed in again (same `eventId`s: subscribers drop duplicates). A
finished run marks its checkpoint done and a rerun says so (`--restart` runs it again, replacing it). A file
at the checkpoint's path that is another backfill's checkpoint (`--checkpoint PATH`), or no checkpoint, is
refused, with `--restart` too: never replaced. EventBridge refusing entries (after retries) stops that segment
where it was: the command names what was refused, keeps the checkpoint and exits 1.

Read units: DynamoDB reports them (ReturnConsumedCapacity=TOTAL). moto, under the local stack, reports a
flat 1 unit per request instead, so locally the figure is computed as DynamoDB computes it for a Scan
page (the items' sizes summed, rounded up to 4 KB, 1 unit per 4 KB strongly consistent, 0.5 eventually);
that computation sees only the items the filter kept, so it is a lower bound where other items are mixed
in (idempotency records, reservation states).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ops.cli import (
    Progress,
    RateLimit,
    add_stage_arguments,
    add_sweep_arguments,
    check_sweep_arguments,
    instant,
    run_command,
    say,
    stage_from,
    summarized,
)
from ops.stage import LOCAL, ROOT, StageError

if TYPE_CHECKING:
    from orders.events.bus import EventBusPublisher, Pending
    from orders.storage.repository import ItemPage, OrderRepository

ROLE = "EventsBackfillRole"
CHECKPOINT_DIR = ROOT / ".ops"
DEFAULT_RATE = 500.0
DEFAULT_SEGMENTS = 4
DEFAULT_SETTLE_SECONDS = 15.0  # over CreateOrderFunction's 10 s timeout
PAGE_ITEMS = 100  # orders per Scan/Query page: one checkpoint per page, so a rerun repeats at most this many
PUBLISH_ATTEMPTS = 3  # refused entries are tried again (same eventIds) before the segment stops
USER_SEGMENT = "user"


class BackfillError(Exception):
    """A request that cannot be carried out (bad dates, inverted window): said plainly, no traceback."""


@dataclass(frozen=True)
class Window:
    """Orders created in [created_from, created_before); None is an open end."""

    created_from: str | None
    created_before: str | None

    def describe(self) -> str:
        return f"created from {self.created_from or 'the beginning'} to {self.created_before or 'now'}"


def timestamp(text: str, option: str) -> str:
    """An ISO-8601 date or time as the table writes createdAt (UTC, milliseconds, `Z`), so that text
    comparison is time comparison. A time without an offset is UTC."""
    try:
        moment = instant(text.strip())
    except argparse.ArgumentTypeError:
        raise BackfillError(
            f"{option} {text!r} is not an ISO-8601 date or time (e.g. 2026-01-31 or 2026-01-31T12:00:00Z)"
        ) from None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def window_from(args: argparse.Namespace, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Window:
    if args.all and args.created_from:
        raise BackfillError("--all and --from exclude each other")
    if not args.all and not args.created_from:
        raise BackfillError("name the orders' creation window: --from ISO [--to ISO], or --all")
    created_from = timestamp(args.created_from, "--from") if args.created_from else None
    # The end is fixed when the run starts (and kept in the checkpoint), so orders created while it runs
    # are left to the live stream and a resumed run reads the same window. It is never later than
    # `--settle` seconds before the start: an order is stamped createdAt before its write lands, and a write
    # still in flight at the start could land where the Scan has already been; after the create function's
    # timeout (10 s) none can be, so every order in the window is in the table before the Scan begins.
    if not math.isfinite(args.settle) or args.settle < 0:
        raise BackfillError(f"--settle must be a number of seconds, 0 or more (not {args.settle:g})")
    try:
        settled = timestamp((now() - timedelta(seconds=args.settle)).isoformat(), "")
    except OverflowError:
        raise BackfillError(f"--settle {args.settle:g} reaches before the year 1") from None
    created_before = min(timestamp(args.created_to, "--to"), settled) if args.created_to else settled
    if created_from is not None and created_from >= created_before:
        raise BackfillError(
            f"the window is empty or inverted: --from {created_from} is not before {created_before}"
        )
    return Window(created_from, created_before)


@dataclass
class Summary:
    orders: int = 0
    events_sent: int = 0
    events_refused: int = 0  # not sent: refused by EventBridge, or behind a refused one in their page
    unreadable: list[str] = field(default_factory=list)  # orders whose history could not be read
    refused: list[str] = field(
        default_factory=list
    )  # eventIds EventBridge refused (after retries), one a segment
    pages: int = 0
    put_events_calls: int = 0
    read_units_reported: float = 0.0
    read_units_computed: float = 0.0
    reported_every_page: bool = True
    seconds: float = 0.0
    local: bool = False

    @property
    def read_units(self) -> float:
        """DynamoDB's own figure; under the local stack (moto: a flat 1 unit per request) the computed one."""
        if self.local or not self.reported_every_page:
            return self.read_units_computed
        return self.read_units_reported

    @property
    def read_units_basis(self) -> str:
        if self.local or not self.reported_every_page:
            return "computed from item sizes (DynamoDB's rule; a lower bound)"
        return "reported by DynamoDB"

    @property
    def events_per_second(self) -> float:
        return self.events_sent / self.seconds if self.seconds > 0 else 0.0

    @property
    def read_units_per_1000_orders(self) -> float:
        return self.read_units * 1000 / self.orders if self.orders else 0.0

    @property
    def ok(self) -> bool:
        return not self.events_refused and not self.unreadable

    def line(self) -> str:
        return (
            f"backfill: {self.orders} orders read, {self.events_sent} events sent, "
            f"{self.events_refused + len(self.unreadable)} failures, {self.seconds:.1f} s, "
            f"{self.events_per_second:.1f} events/s, {self.read_units:g} read units "
            f"({self.read_units_per_1000_orders:.1f} per 1,000 orders; {self.read_units_basis})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "events_sent": self.events_sent,
            "events_refused": self.events_refused,
            "unreadable_orders": list(self.unreadable),
            "refused_event_ids": list(self.refused),
            "pages": self.pages,
            "put_events_calls": self.put_events_calls,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.events_per_second, 1),
            "read_units": self.read_units,
            "read_units_basis": self.read_units_basis,
            "read_units_reported": self.read_units_reported,
            "read_units_computed": self.read_units_computed,
            "read_units_per_1000_orders": round(self.read_units_per_1000_orders, 2),
        }


class Checkpoint:
    """Where each segment got to, in a JSON file replaced atomically (temp file + rename) after every page:
    `{"arguments", "window", "segments": {name: {"next": LastEvaluatedKey|null, "done": bool}}, "done"}`."""

    def __init__(self, path: Path | None, arguments: Mapping[str, Any]) -> None:
        self.path = path  # None: nothing is kept (dry runs)
        self._lock = threading.Lock()
        self.state: dict[str, Any] = {"arguments": dict(arguments), "segments": {}, "done": False}

    def load(self, *, restart: bool = False) -> bool:
        """True when a checkpoint of these arguments was there (and is now the state). With `restart` it is
        only checked to be one of these arguments (damaged or not) and False: the run's first write replaces
        it. A file that is not a checkpoint of these arguments is never used nor replaced: BackfillError."""
        if self.path is None or not self.path.is_file():
            return False
        elsewhere = "name another --checkpoint PATH (or delete it)"
        try:
            state = json.loads(self.path.read_text())
        except (OSError, ValueError) as error:
            raise BackfillError(f"cannot read the checkpoint {self.path} ({error}): {elsewhere}") from None
        if not isinstance(state, dict) or "arguments" not in state:
            raise BackfillError(f"{self.path} is not a backfill checkpoint: {elsewhere}")
        if state["arguments"] != self.state["arguments"]:
            raise BackfillError(
                f"{self.path} is another backfill's checkpoint (other arguments), kept as it is, even with "
                f"--restart: {elsewhere}"
            )
        if restart:
            return False
        problem = _damage(state)
        if problem is not None:
            raise BackfillError(
                f"the checkpoint {self.path} is damaged ({problem}): --restart starts this backfill over"
            )
        self.state = state
        return True

    @property
    def done(self) -> bool:
        return bool(self.state.get("done"))

    @property
    def window(self) -> Window | None:
        window = self.state.get("window")
        return Window(window["from"], window["before"]) if window else None

    def start(self, window: Window, segments: Sequence[str]) -> None:
        self.state["window"] = {"from": window.created_from, "before": window.created_before}
        for name in segments:
            self.state["segments"].setdefault(name, {"next": None, "done": False})
        self._write()

    def position(self, segment: str) -> tuple[dict[str, Any] | None, bool]:
        entry = self.state["segments"].get(segment) or {"next": None, "done": False}
        return entry["next"], bool(entry["done"])

    def advance(self, segment: str, next_key: Mapping[str, Any] | None) -> None:
        """The segment's pages up to `next_key` are all published (None: the segment is finished)."""
        with self._lock:
            self.state["segments"][segment] = {"next": next_key, "done": next_key is None}
            self._write()

    def finish(self, summary: Summary) -> None:
        with self._lock:
            self.state.update(done=True, finishedAt=_now_text(), summary=summary.as_dict())
            self._write()

    def _write(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        temporary.write_text(json.dumps(self.state, indent=1, sort_keys=True))
        os.replace(temporary, self.path)  # atomic: a kill leaves the old checkpoint or the new, never half


def _damage(state: Mapping[str, Any]) -> str | None:
    """What is wrong in a checkpoint's structure (hand-edited, or written by another version), or None."""
    if not isinstance(state.get("done", False), bool):
        return "done is not true or false"
    window = state.get("window")
    if window is not None:
        if not isinstance(window, dict):
            return "window is not an object"
        if not isinstance(window.get("from"), str | None) or not isinstance(window.get("before"), str):
            return 'window needs "from" (a time or null) and "before" (a time)'
    segments = state.get("segments")
    if not isinstance(segments, dict):
        return "segments is not an object"
    for name, entry in segments.items():
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("next"), dict | None)
            or not isinstance(entry.get("done"), bool)
        ):
            return f'segment {name!r} needs "next" (a key or null) and "done" (true or false)'
    return None


def _now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def checkpoint_arguments(args: argparse.Namespace, stage_name: str) -> dict[str, Any]:
    """What makes two runs the same backfill (the rate, the page size and --dry-run do not)."""
    return {
        "stage": stage_name,
        "url": args.url if stage_name == LOCAL else None,
        "from": args.created_from,
        "to": args.created_to,
        "all": bool(args.all),
        "user": args.user,
        "bus": args.bus,
        "segments": 1 if args.user else args.segments,
    }


def default_checkpoint_path(arguments: Mapping[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(arguments, sort_keys=True).encode()).hexdigest()[:12]
    return CHECKPOINT_DIR / f"backfill-{arguments['stage']}-{digest}.json"


class Backfill:
    """The run itself, given where to read and where to publish (tests pass moto's clients)."""

    def __init__(
        self,
        repository: OrderRepository,
        publisher: EventBusPublisher,
        *,
        window: Window,
        user: str | None = None,
        segments: int = DEFAULT_SEGMENTS,
        rate: RateLimit | None = None,
        checkpoint: Checkpoint | None = None,
        progress: Progress | None = None,
        dry_run: bool = False,
        page_items: int = PAGE_ITEMS,
        local: bool = False,
        out: Callable[[str], None] = print,
        retry_pause: float = 0.5,
    ) -> None:
        self._repository = repository
        self._publisher = publisher
        self._window = window
        self._user = user
        self._segments = 1 if user else segments
        self._rate = rate or RateLimit(None)
        self._checkpoint = checkpoint or Checkpoint(None, {})
        self._progress = progress
        self._dry_run = dry_run
        self._page_items = page_items
        self._out = out
        self._retry_pause = retry_pause
        self._lock = threading.Lock()
        self.stop = threading.Event()  # set (Ctrl-C): segments stop after the page they are on
        self.summary = Summary(local=local)

    @property
    def segment_names(self) -> list[str]:
        return [USER_SEGMENT] if self._user else [str(segment) for segment in range(self._segments)]

    def run(self) -> Summary:
        started = time.monotonic()
        self._checkpoint.start(self._window, self.segment_names)
        pool = ThreadPoolExecutor(max_workers=self._segments, thread_name_prefix="backfill")
        try:
            futures = [pool.submit(self._run_segment, name) for name in self.segment_names]
            while not all(future.done() for future in futures):
                if any(future.done() and future.exception() for future in futures):
                    self.stop.set()  # a read or call failed: the other segments stop after their page too
                time.sleep(0.05)  # a waiting main thread still takes Ctrl-C
            for future in futures:
                future.result()
        except BaseException:
            self.stop.set()
            raise
        finally:
            pool.shutdown(wait=True)
            self.summary.seconds = time.monotonic() - started
        if self.summary.ok and not self.stop.is_set() and not self._dry_run:
            self._checkpoint.finish(self.summary)
        return self.summary

    def _read_page(self, segment: str, start: Mapping[str, Any] | None) -> ItemPage:
        window = self._window
        if self._user is not None:
            return self._repository.user_orders_page(
                self._user,
                start_key=start,
                created_from=window.created_from,
                created_before=window.created_before,
                limit=self._page_items,
            )
        return self._repository.scan_orders_page(
            segment=int(segment),
            total_segments=self._segments,
            start_key=start,
            created_from=window.created_from,
            created_before=window.created_before,
            limit=self._page_items,
        )

    def _run_segment(self, segment: str) -> None:
        start, done = self._checkpoint.position(segment)
        while not done and not self.stop.is_set():
            page = self._read_page(segment, start)
            pending = self._page_events(page)
            if self._dry_run:
                for item in pending:
                    self._out(f"{item.event.detail_type} {json.dumps(item.event.detail, default=str)}")
            elif not self._publish(pending):
                return  # the checkpoint stays before this page; the summary names what was refused
            self._checkpoint.advance(segment, page.next_key)
            if self._progress is not None:
                self._progress.advance(len(pending), f"{self.summary.orders} orders")
            start, done = page.next_key, page.next_key is None

    def _page_events(self, page: ItemPage) -> list[Pending]:
        from orders.events.bus import Pending
        from orders.events.history import past_events

        batch: list[tuple[int, int, Pending]] = []
        unreadable = []
        for position, image in enumerate(page.images):
            try:
                events = past_events(image)
            except (KeyError, TypeError, ValueError) as error:
                unreadable.append(f"{image.get('id', '?')} ({error})")
                continue
            batch.extend(
                (version, position, Pending(key=event.detail["eventId"], event=event))
                for version, event in enumerate(events, start=1)
            )
        # All first versions of the page, then all second ones, ...: each order's events stay in version
        # order, and PutEvents calls fill up to 10 (one order's events side by side would go one per call).
        batch.sort(key=lambda entry: (entry[0], entry[1]))
        with self._lock:
            summary = self.summary
            summary.pages += 1
            summary.orders += len(page.images) - len(unreadable)
            summary.unreadable.extend(unreadable)
            summary.read_units_computed += page.read_units_computed
            if page.read_units is None:
                summary.reported_every_page = False
            else:
                summary.read_units_reported += page.read_units
        for order in unreadable:
            self._line(f"  unreadable order {order}: its events are not sent")
        return [pending for _, _, pending in batch]

    def _publish(self, pending: Sequence[Pending]) -> bool:
        """Publish a page's events, chunk by chunk at the bounded rate; False when EventBridge kept refusing
        some (those and everything after them in the page are counted unsent)."""
        from orders.events.bus import chunks_in_order

        chunks = chunks_in_order(pending)
        for index, chunk in enumerate(chunks):
            self._rate.take(len(chunk))
            remaining = list(chunk)
            for attempt in range(PUBLISH_ATTEMPTS):
                with self._lock:
                    self.summary.put_events_calls += 1
                refused = self._publisher.publish_in_order(remaining)
                sent = len(remaining) - len(refused)
                with self._lock:
                    self.summary.events_sent += sent
                # publish_in_order refuses a suffix of what it was given (order kept).
                remaining = remaining[sent:]
                if not remaining:
                    break
                if attempt + 1 < PUBLISH_ATTEMPTS:
                    time.sleep(self._retry_pause * (attempt + 1))
            if remaining:
                # The first of them is the entry EventBridge refused; publishing stopped there (as the live
                # path does), so the rest of the page was not sent either.
                unsent = len(remaining) + sum(len(rest) for rest in chunks[index + 1 :])
                with self._lock:
                    self.summary.refused.append(remaining[0].key)
                    self.summary.events_refused += unsent
                # Why (orders.events.bus keeps EventBridge's code and message): throttling is worth a rerun, a
                # missing grant or bus is not.
                why = self._publisher.last_refusal
                self._line(
                    f"  EventBridge refused {remaining[0].key} ({PUBLISH_ATTEMPTS} attempts"
                    + (f"; {why}" if why else "")
                    + f"): this segment stops there, {unsent} events of its page unsent"
                )
                return False
        return True

    def _line(self, text: str) -> None:
        if self._progress is not None:
            self._progress.line(text)
        else:
            say(text)


def parser() -> argparse.ArgumentParser:
    described = argparse.ArgumentParser(
        prog="python -m ops backfill",
        description="Publish OrderCreated and every OrderStatusChanged of existing orders, regenerated from "
        "the table with the eventIds and details the live stream gave them.",
    )
    add_stage_arguments(described)
    described.add_argument(
        "--from", dest="created_from", metavar="ISO", help="orders created at or after this"
    )
    described.add_argument(
        "--to", dest="created_to", metavar="ISO", help="orders created before this (default: now)"
    )
    described.add_argument("--all", action="store_true", help="every order created until now")
    described.add_argument(
        "--settle",
        type=float,
        default=DEFAULT_SETTLE_SECONDS,
        metavar="SECONDS",
        help="the window ends at least this long before the start, past any create still being written "
        "(default %(default)s; newer orders reach subscribers live)",
    )
    described.add_argument("--user", metavar="USERID", help="only this user's orders (a Query, not a Scan)")
    described.add_argument("--bus", metavar="NAME", help="the bus to publish to (default: the stage's own)")
    add_sweep_arguments(
        described,
        rate=DEFAULT_RATE,
        rate_unit="EVENTS_PER_SECOND",
        segments=DEFAULT_SEGMENTS,
        page_items=PAGE_ITEMS,
        dry_run="print the events that would be sent; send nothing",
    )
    described.add_argument(
        "--checkpoint", type=Path, metavar="PATH", help="default .ops/backfill-<stage>-<hash>.json"
    )
    described.add_argument(
        "--restart",
        action="store_true",
        help="start this backfill over, replacing its checkpoint (never another backfill's: that is refused)",
    )
    return described


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return run_command(
        "backfill",
        lambda: _main(args),
        (BackfillError, StageError),
        rerun="the same command continues from the checkpoint",
    )


def _main(args: argparse.Namespace) -> int:
    check_sweep_arguments(args, BackfillError)
    window = window_from(args)  # before the stage: a typo is reported without reaching anything
    stage = stage_from(args, role=ROLE)
    arguments = checkpoint_arguments(args, stage.name)
    path = None if args.dry_run else (args.checkpoint or default_checkpoint_path(arguments))
    checkpoint = Checkpoint(path, arguments)
    if checkpoint.load(restart=args.restart):
        if checkpoint.done:
            say(
                f"backfill: already finished at {checkpoint.state.get('finishedAt')} (checkpoint {path}); "
                "--restart runs it again"
            )
            return 0
        window = checkpoint.window or window
        say(f"backfill: resuming from {path}")

    from orders.domain import jsonio
    from orders.events.bus import EventBusPublisher
    from orders.storage.repository import OrderRepository

    bus = args.bus or stage.bus_name
    target = f"user {args.user}'s orders" if args.user else f"orders ({args.segments} Scan segments)"
    say(f"backfill: {target} {window.describe()} -> bus {bus}, at most {args.rate:g} events/s")
    progress = Progress("backfill", None)
    run = Backfill(
        OrderRepository(stage.client("dynamodb"), stage.table_name),
        EventBusPublisher(stage.client("events"), bus, jsonio.dumps),
        window=window,
        user=args.user,
        segments=args.segments,
        rate=RateLimit(args.rate),
        checkpoint=checkpoint,
        progress=progress,
        dry_run=args.dry_run,
        page_items=args.page_size,
        local=stage.name == LOCAL,
    )
    summary = summarized(run, progress, as_json=args.json)
    if not summary.ok:
        if summary.refused:
            say(
                f"backfill: EventBridge refused {len(summary.refused)} events: {', '.join(summary.refused[:20])}"
            )
        if summary.unreadable:
            say(
                f"backfill: {len(summary.unreadable)} orders unreadable: {', '.join(summary.unreadable[:20])}"
            )
        say(f"backfill: the checkpoint {path} is kept; the same command retries from it")
        return 1
    if args.dry_run:
        say("backfill: dry run, nothing was sent")
    return 0
