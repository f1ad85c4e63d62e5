"""`make reindex` (`python -m ops reindex`): give every order the status-index key (GSI3PK) its status and
the deployment's shard count call for, so the admin listing (GET /api/orders, which reads GSI3) sees it.

Orders written before the status index existed have no GSI3PK, and are missing from the listing until
their next status change; after StatusIndexShards is raised, orders keep their old shard until then (a
listing reads shards 0..N-1 only, so those beyond the old count were never missed, but the spread is
uneven). Run it after upgrading a stage that has orders, and after raising StatusIndexShards.

Orders are read by a parallel, strongly consistent Scan (`--segments` threads; only `id`, `status` and
`GSI3PK` of each); an order whose key is missing, names another status or another shard gets one
conditional UpdateItem (`OrderRepository.set_status_index_key`): written only while the order is still
in the status it was read in and does not hold the key already. A status change racing the reindex wrote
its own key and is never overwritten with the stale status: the failed condition is counted "changed
meanwhile", not an error. Writes go at most `--rate` a second.

Safe to kill and rerun: each write is complete on its own, and a rerun reads everything again and writes
only what is still missing (no checkpoint: the table itself is the record of what is done). The stream
consumer ignores these writes (the status is unchanged): no event, no reservation settlement.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ops.cli import (
    Progress,
    RateLimit,
    add_stage_arguments,
    add_sweep_arguments,
    check_sweep_arguments,
    run_command,
    say,
    stage_from,
    summarized,
)
from ops.stage import StageError

if TYPE_CHECKING:
    from orders.storage.repository import ItemPage, OrderRepository

ROLE = "OrdersReindexRole"
DEFAULT_RATE = 200.0
DEFAULT_SEGMENTS = 4
PAGE_ITEMS = 100
MAX_FAILURES = 100  # failed writes (not conditions) before the run stops: a missing grant fails them all
INDEX_ATTRIBUTES = ("id", "status", "GSI3PK")


class ReindexError(Exception):
    """A request that cannot be carried out (bad arguments, a shard count the stage does not give)."""


@dataclass(frozen=True)
class Decision:
    """What one order item needs: `wanted` is the GSI3PK it should hold, `current` what it holds."""

    order_id: str
    status: str
    current: str | None
    wanted: str

    @property
    def indexed(self) -> bool:
        return self.current == self.wanted

    @property
    def reason(self) -> str:
        """Why it is rewritten: no key, a stale status, or another shard count."""
        if self.current is None:
            return "missing"
        current_status, _, current_shard = self.current.removeprefix("STATUS#").rpartition("#")
        if current_status != self.status:
            return "other status"
        if current_shard != self.wanted.rpartition("#")[2]:
            return "other shard"
        return "malformed"


def decide(image: Mapping[str, Any], key_for: Callable[[str, str], str]) -> Decision:
    """The decision for one order item (as the Scan decodes it); `key_for(order_id, status)` is the
    deployment's GSI3PK (`OrderRepository.status_index_key`). ValueError for an item that names no order id
    or no known status: it is reported, never guessed at."""
    from orders.domain.status import OrderStatus

    order_id, status, current = image.get("id"), image.get("status"), image.get("GSI3PK")
    if not isinstance(order_id, str) or not order_id:
        raise ValueError("no order id")
    if not isinstance(status, str) or status not in {str(known) for known in OrderStatus}:
        raise ValueError(f"status {status!r} is not an order status")
    return Decision(
        order_id=order_id,
        status=status,
        current=current if isinstance(current, str) else None,
        wanted=key_for(order_id, status),
    )


@dataclass
class Summary:
    scanned: int = 0  # order items read
    updated: int = 0  # written (or, in a dry run, that would be)
    already_indexed: int = 0
    changed_meanwhile: int = 0  # the condition failed: its status (and key) moved since it was read
    failed: list[str] = field(default_factory=list)  # "<id or ?> (<why>)": unreadable items, failed writes
    reasons: dict[str, int] = field(default_factory=dict)  # why the updated ones needed it
    pages: int = 0
    seconds: float = 0.0
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed

    def line(self) -> str:
        updated = "would update" if self.dry_run else "updated"
        why = ", ".join(f"{count} {reason}" for reason, count in sorted(self.reasons.items()))
        rate = self.updated / self.seconds if self.seconds > 0 and not self.dry_run else 0.0
        return (
            f"reindex: {self.scanned} orders scanned, {self.updated} {updated}"
            f"{f' ({why})' if why else ''}, {self.already_indexed} already indexed, "
            f"{self.changed_meanwhile} changed meanwhile, {len(self.failed)} failed in {self.seconds:.1f} s"
            f"{f' ({rate:.1f} writes/s)' if rate else ''}"
        )

    def as_dict(self) -> dict[str, Any]:
        described = asdict(self)
        described["failed"] = len(self.failed)
        described["failures"] = self.failed[:20]
        return described


class Reindex:
    """The run itself, given the repository (tests pass one on moto)."""

    def __init__(
        self,
        repository: OrderRepository,
        *,
        segments: int = DEFAULT_SEGMENTS,
        rate: RateLimit | None = None,
        progress: Progress | None = None,
        dry_run: bool = False,
        page_items: int = PAGE_ITEMS,
        out: Callable[[str], None] = print,
    ) -> None:
        self._repository = repository
        self._segments = segments
        self._rate = rate or RateLimit(None)
        self._progress = progress
        self._dry_run = dry_run
        self._page_items = page_items
        self._out = out
        self._lock = threading.Lock()
        self.stop = threading.Event()  # set (Ctrl-C, too many failures): segments stop after their item
        self.summary = Summary(dry_run=dry_run)

    def run(self) -> Summary:
        started = time.monotonic()
        pool = ThreadPoolExecutor(max_workers=self._segments, thread_name_prefix="reindex")
        try:
            futures = [pool.submit(self._run_segment, segment) for segment in range(self._segments)]
            while not all(future.done() for future in futures):
                if any(future.done() and future.exception() for future in futures):
                    self.stop.set()  # a Scan failed: the other segments stop too
                time.sleep(0.05)  # a waiting main thread still takes Ctrl-C
            for future in futures:
                future.result()
        except BaseException:
            self.stop.set()
            raise
        finally:
            pool.shutdown(wait=True)
            self.summary.seconds = time.monotonic() - started
        return self.summary

    def _read_page(self, segment: int, start: Mapping[str, Any] | None) -> ItemPage:
        return self._repository.scan_orders_page(
            segment=segment,
            total_segments=self._segments,
            start_key=start,
            limit=self._page_items,
            attributes=INDEX_ATTRIBUTES,
        )

    def _run_segment(self, segment: int) -> None:
        start: Mapping[str, Any] | None = None
        while not self.stop.is_set():
            page = self._read_page(segment, start)
            with self._lock:
                self.summary.pages += 1
                self.summary.scanned += len(page.images)
            for image in page.images:
                if self.stop.is_set():
                    return
                self._one(image)
            if page.next_key is None:
                return
            start = page.next_key

    def _one(self, image: Mapping[str, Any]) -> None:
        try:
            decision = decide(image, self._repository.status_index_key)
        except ValueError as error:
            self._fail(f"{image.get('id', '?')} ({error})")
            return
        outcome = "already indexed"
        if not decision.indexed:
            outcome = self._write(decision)
        with self._lock:
            summary = self.summary
            if outcome == "updated":
                summary.updated += 1
                summary.reasons[decision.reason] = summary.reasons.get(decision.reason, 0) + 1
            elif outcome == "already indexed":
                summary.already_indexed += 1
            elif outcome == "changed meanwhile":
                summary.changed_meanwhile += 1
            note = f"{summary.updated} {'to update' if self._dry_run else 'updated'}"
        if self._progress is not None:
            self._progress.advance(1, note)

    def _write(self, decision: Decision) -> str:
        if self._dry_run:
            self._out(
                f"{decision.order_id} {decision.current or '-'} -> {decision.wanted} ({decision.reason})"
            )
            return "updated"
        self._rate.take(1)
        try:
            written = self._repository.set_status_index_key(decision.order_id, decision.status)
        except (BotoCoreError, ClientError) as error:
            self._fail(f"{decision.order_id} ({error})")
            return "failed"
        return "updated" if written else "changed meanwhile"

    def _fail(self, text: str) -> None:
        with self._lock:
            self.summary.failed.append(text)
            too_many = len(self.summary.failed) >= MAX_FAILURES
        self._line(f"  failed: {text}")
        if too_many and not self.stop.is_set():
            self.stop.set()
            self._line(f"  {MAX_FAILURES} failures: stopping (fix the cause and run it again)")

    def _line(self, text: str) -> None:
        if self._progress is not None:
            self._progress.line(text)
        else:
            say(text)


def shards_of(parameters: Mapping[str, str]) -> int:
    """The stage's StatusIndexShards (the functions' STATUS_INDEX_SHARDS); the template's default if the
    stack predates the parameter."""
    from orders.storage.repository import DEFAULT_STATUS_SHARDS

    text = parameters.get("StatusIndexShards") or str(DEFAULT_STATUS_SHARDS)
    try:
        shards = int(text)
    except ValueError:
        raise ReindexError(f"the stage's StatusIndexShards is not a number: {text!r}") from None
    if shards < 1:
        raise ReindexError(f"the stage's StatusIndexShards is {shards}: at least 1")
    return shards


def parser() -> argparse.ArgumentParser:
    described = argparse.ArgumentParser(
        prog="python -m ops reindex",
        description="Give every order the status-index key (GSI3PK) its status and the stage's "
        "StatusIndexShards call for: orders written before the index existed, or before the shard count was "
        "raised. Each write is conditional on the order's status being unchanged.",
    )
    add_stage_arguments(described)
    add_sweep_arguments(
        described,
        rate=DEFAULT_RATE,
        rate_unit="WRITES_PER_SECOND",
        segments=DEFAULT_SEGMENTS,
        page_items=PAGE_ITEMS,
        dry_run="print the orders that would be rewritten; write nothing",
    )
    return described


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return run_command(
        "reindex",
        lambda: _main(args),
        (ReindexError, StageError),
        rerun="what was written stays, the same command does the rest",
    )


def _main(args: argparse.Namespace) -> int:
    check_sweep_arguments(args, ReindexError)
    stage = stage_from(args, role=ROLE)
    shards = shards_of(stage.parameters)

    from orders.storage.repository import OrderRepository

    say(
        f"reindex: orders of {stage.table_name} ({args.segments} Scan segments) -> GSI3PK over {shards} "
        f"shards, at most {args.rate:g} writes/s{' (dry run)' if args.dry_run else ''}"
    )
    progress = Progress("reindex", None)
    run = Reindex(
        OrderRepository(stage.client("dynamodb"), stage.table_name, status_shards=shards),
        segments=args.segments,
        rate=RateLimit(args.rate),
        progress=progress,
        dry_run=args.dry_run,
        page_items=args.page_size,
    )
    summary = summarized(run, progress, as_json=args.json)
    if not summary.ok:
        say(f"reindex: {len(summary.failed)} failed: {', '.join(summary.failed[:20])}")
        say("reindex: run the same command again once the cause is fixed (what was written stays)")
        return 1
    if args.dry_run:
        say("reindex: dry run, nothing was written")
    return 0
