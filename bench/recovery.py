"""Issue 19's recovery commands on a local stack of their own (`python -m local`, as `make dev` runs it):
`make redrive` and `make backfill` throughput (events/s on loopback), entries per PutEvents call (at most
10) and the read units a backfill spends per 1,000 orders.

1. With the bus refusing every PutEvents entry (`POST /_local/aws-faults`), the first `outage_orders`
   orders are created and moved through status changes over HTTP (not counted); the consumer gives up on
   every stream record and Lambda's failure records land in the failed-batch bucket (`GET
   /_local/dead-letters` then holds every record written).
2. The fault is cleared and `python -m ops redrive --rate 0 --json` (unbounded) delivers them: its JSON
   summary gives failure records, stream records, events sent and its seconds from its listing of the
   bucket to the summary; the wall clock of the process beside them.
3. The other orders are created as usual (their events published live, not counted), and `python -m ops
   backfill --all --rate 0 --json` publishes the past of every order again from the table: its JSON
   summary gives orders read, events sent, PutEvents calls, its seconds and read units (computed from item
   sizes under the local stack, DynamoDB's rule: moto reports a flat unit per request).
PutEvents calls per command are counted by the stack's IAM log (`GET /_local/iam`: every authorization with
its count, per principal; the commands act as EventsRedriveRole / EventsBackfillRole), so entries per call =
events sent ÷ calls. The bus's capture (`GET /_local/events`) must then hold every expected eventId twice.

Why not every order through the outage: the stack gives up on a record only after bisecting the batch
down to it and 5 retries, one invocation per poll of its stream reader, and the bisections start again
from the whole batch after each record given up on: 78 records took ~90 s here; with 260 pending, 49
were given up on in the first 130 s.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from loadtest.stack import ROOT, Stack, StackUnavailable

__all__ = ["StackUnavailable", "run"]

REDRIVE_ROLE = "EventsRedriveRole"
BACKFILL_ROLE = "EventsBackfillRole"
MAX_ENTRIES_PER_CALL = 10  # PutEvents' limit (orders.events.bus.MAX_ENTRIES_PER_CALL)
# What each order goes through (an admin moves it), in turn: 1 to 5 versions, 2.4 on average.
LIFECYCLES: tuple[tuple[str, ...], ...] = (
    ("confirmed", "shipped"),
    ("cancelled",),
    (),
    ("confirmed", "processing", "shipped", "delivered"),
    ("confirmed",),
)
CUSTOMER, ADMIN = "bench-recovery-1", "bench-ops-1"
ORDER_BODY = {
    "userId": CUSTOMER,
    "items": [{"productId": "prod-456", "quantity": 1, "price": 29.99}],
    "shippingAddress": {"street": "123 Main St", "city": "New York", "zipCode": "10001"},
}
REFUSE_EVERY_ENTRY = {"PutEvents": {"errorCode": "ThrottlingException", "entries": None}}
# The redrive's summary line (`redrive: N failure records, R stream records: ... (E events sent, S reservations
# settled) ...; T s`): each figure found by its own words, either side of the number.
COMMAND_TIMEOUT = 600  # seconds for one redrive or backfill (bounded; a full run takes seconds)
# Under a refusing bus each stream record takes several consumer invocations before the stack gives up on
# it (the batch bisected down to it, then 5 retries); ~1 s per record here. A bound, not an estimate.
DRAIN_SECONDS_PER_RECORD = 4.0
LIVE_EVENTS_TIMEOUT = 120.0  # seconds for the bus's capture to show the events expected


class RecoveryError(RuntimeError):
    """The stack or a command did not do what the row needs (the message says what)."""


def versions(index: int) -> int:
    """How many versions (stream records, events) order number `index` ends with."""
    return 1 + len(LIFECYCLES[index % len(LIFECYCLES)])


def run(orders: int, outage_orders: int, log_dir: Path, *, concurrency: int = 4) -> dict[str, Any]:
    """The row (see the module): the first `outage_orders` orders through an outage, dead-lettered and then
    redriven; the rest created as usual; then a backfill of all `orders`."""
    if not 0 < outage_orders <= orders:
        raise ValueError(f"outage_orders must be 1..orders, not {outage_orders} (orders: {orders})")
    keys_dir = Path(tempfile.mkdtemp(prefix="bench-recovery-keys-"))
    work = Path(tempfile.mkdtemp(prefix="bench-recovery-"))
    stack = Stack(log_dir / "local-stack-recovery.log", keys_dir)
    try:
        ready = stack.wait_ready()
        api = Api(stack.url, _tokens(keys_dir))
        outage_versions = sum(versions(index) for index in range(outage_orders))
        all_versions = sum(versions(index) for index in range(orders))

        # ------------------------------------------------------------ the outage (not counted)
        api.post("/_local/aws-faults", REFUSE_EVERY_ENTRY)
        started = time.monotonic()
        order_ids = api.lifecycles(range(outage_orders), concurrency)
        written_seconds = time.monotonic() - started
        letters = _wait_for_dead_letters(
            api, outage_versions, DRAIN_SECONDS_PER_RECORD * outage_versions + 60
        )
        drained_seconds = time.monotonic() - started
        api.post("/_local/aws-faults", {})
        if _captured(api):
            raise RecoveryError("events reached the bus during the outage: the fault plan did not hold")

        # ------------------------------------------------------------ redrive (timed)
        before = _put_events_calls(api)
        arguments = ["--url", stack.url, "--rate", "0", "--json"]
        redrive = _command("redrive", arguments, log_dir / "recovery-redrive.log")
        redrive_calls = _calls_since(api, before, REDRIVE_ROLE)
        still_there = sum(1 for letter in api.get("/_local/dead-letters") if letter.get("present"))
        if redrive["returncode"] != 0 or still_there:
            raise RecoveryError(
                f"redrive exited {redrive['returncode']} with {still_there} failure records left "
                f"(log: {log_dir / 'recovery-redrive.log'})"
            )
        summary = _last_json_line("redrive", [line for _, line in redrive["stdout"]])
        redriven = _row(summary["events"], summary["seconds"], redrive["seconds"], redrive_calls)
        redriven.update(
            failure_records=summary["objects"],
            stream_records=summary["records"],
            reservations_settled=summary["settled"],
        )
        _wait_for_events(api, _event_ids(order_ids, 0), LIVE_EVENTS_TIMEOUT)

        # ------------------------------------------------------------ the other orders, as usual (not counted)
        started = time.monotonic()
        usual_ids = api.lifecycles(range(outage_orders, orders), concurrency)
        usual_seconds = time.monotonic() - started
        _wait_for_events(api, _event_ids(usual_ids, outage_orders), LIVE_EVENTS_TIMEOUT)
        order_ids += usual_ids

        # ------------------------------------------------------------ backfill (timed)
        before = _put_events_calls(api)
        # Every create has landed (their live events are in): nothing in flight, no settling time needed.
        arguments = ["--url", stack.url, "--all", "--settle", "0", "--rate", "0", "--json"]
        arguments += ["--checkpoint", str(work / "checkpoint.json")]
        backfill = _command("backfill", arguments, log_dir / "recovery-backfill.log")
        if backfill["returncode"] != 0:
            raise RecoveryError(
                f"backfill exited {backfill['returncode']} (log: {log_dir / 'recovery-backfill.log'})"
            )
        result = _last_json_line("backfill", [line for _, line in backfill["stdout"]])
        backfill_calls = _calls_since(api, before, BACKFILL_ROLE)
        backfilled = _row(result["events_sent"], result["seconds"], backfill["seconds"], backfill_calls)
        backfilled.update(
            orders_read=result["orders"],
            scan_pages=result["pages"],
            put_events_calls_reported=result["put_events_calls"],
            read_units=result["read_units"],
            read_units_basis=result["read_units_basis"],
            read_units_per_1000_orders=result["read_units_per_1000_orders"],
        )

        # ------------------------------------------------------------ every event on the bus, again
        wanted = _event_ids(order_ids, 0)
        captured = _wait_for_events(api, wanted, LIVE_EVENTS_TIMEOUT, copies=2)
        return {
            "orders": orders,
            "order_versions": all_versions,
            "outage_orders": outage_orders,
            "outage_versions": outage_versions,
            "lifecycles": [list(statuses) for statuses in LIFECYCLES],
            "stack_startup_seconds": ready,
            "outage": {
                "writes_seconds": written_seconds,
                "seconds_until_all_dead_lettered": drained_seconds,
                "failure_records": len(letters),
                "stream_records": sum(_records_in(letter) for letter in letters),
            },
            "usual_writes_seconds": usual_seconds,
            "redrive": redriven,
            "backfill": backfilled,
            "bus_events_captured": sum(captured[event_id] for event_id in wanted),
            "max_entries_per_call": MAX_ENTRIES_PER_CALL,
        }
    finally:
        stack.stop()
        shutil.rmtree(keys_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def _event_ids(order_ids: list[str], first_index: int) -> set[str]:
    """The eventIds orders numbered from `first_index` end with (`<orderId>:<version>`)."""
    return {
        f"{order_id}:{version}"
        for index, order_id in enumerate(order_ids, start=first_index)
        for version in range(1, versions(index) + 1)
    }


def _captured(api: Api) -> Counter[str]:
    """The eventIds on the bus's capture (`GET /_local/events`), with how many times each arrived."""
    return Counter(
        event["detail"]["eventId"]
        for event in api.get("/_local/events")
        if isinstance(event.get("detail"), dict) and "eventId" in event["detail"]
    )


def _wait_for_events(api: Api, wanted: set[str], timeout: float, copies: int = 1) -> Counter[str]:
    """The capture, once it holds each wanted eventId `copies` times (RecoveryError after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        captured = _captured(api)
        short = [event_id for event_id in wanted if captured[event_id] < copies]
        if not short:
            return captured
        if time.monotonic() > deadline:
            raise RecoveryError(
                f"after {timeout:.0f} s, {len(short)} of {len(wanted)} events are not on the bus "
                f"{copies} time(s), e.g. {sorted(short)[:3]}"
            )
        time.sleep(0.5)


def _row(events: int, own_seconds: float, wall_seconds: float, calls: int | None) -> dict[str, Any]:
    """One command's figures: events/s over its own time (its summary: the work, after start-up and the
    listing) and over its wall clock (process start to exit), entries per PutEvents call."""
    return {
        "events_sent": events,
        "seconds": own_seconds,
        "events_per_second": events / own_seconds if own_seconds > 0 else None,
        "wall_seconds": wall_seconds,
        "events_per_second_wall": events / wall_seconds if wall_seconds > 0 else None,
        "put_events_calls": calls,
        "entries_per_call": events / calls if calls else None,
    }


class Api:
    """The stack over HTTP (urllib; JSON in, JSON out; anything but 2xx raises RecoveryError)."""

    def __init__(self, url: str, tokens: dict[str, str]) -> None:
        self.url = url
        self.tokens = tokens

    def request(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise RecoveryError(f"{method} {path} -> {error.code}: {error.read()[:300]!r}") from None
        return json.loads(raw) if raw else None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)

    def lifecycles(self, indexes: range, concurrency: int) -> list[str]:
        """Orders numbered `indexes` through their lifecycles, `concurrency` at a time; their ids in order."""
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            return list(pool.map(self.lifecycle, indexes))

    def lifecycle(self, index: int) -> str:
        """Order number `index`: created by the customer, moved by the admin; its id."""
        order_id = self.request("POST", "/api/orders", ORDER_BODY, self.tokens["customer"])["id"]
        for status in LIFECYCLES[index % len(LIFECYCLES)]:
            self.request("PATCH", f"/api/orders/{order_id}/status", {"status": status}, self.tokens["admin"])
        return order_id


def _tokens(keys_dir: Path) -> dict[str, str]:
    """A customer's and an admin's token from this stack's issuer (what `make token` prints)."""
    env = {**os.environ, "LOCAL_KEYS_DIR": str(keys_dir)}

    def mint(*arguments: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "local.front.token", *arguments],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()

    return {"customer": mint("--user", CUSTOMER), "admin": mint("--user", ADMIN, "--admin")}


def _records_in(letter: dict[str, Any]) -> int:
    payload = (letter.get("message") or {}).get("payload")
    event = json.loads(payload) if isinstance(payload, str) else payload or {}
    return len(event.get("Records") or [])


def _wait_for_dead_letters(api: Api, expected: int, timeout: float) -> list[dict[str, Any]]:
    """The failure records, once they carry every stream record written (RecoveryError after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        letters = api.get("/_local/dead-letters")
        held = sum(_records_in(letter) for letter in letters)
        if held >= expected:
            if held > expected:
                raise RecoveryError(f"{held} stream records dead-lettered, {expected} written")
            return letters
        if time.monotonic() > deadline:
            raise RecoveryError(
                f"after {timeout:.0f} s the failed-batch bucket holds {held} of {expected} stream records"
            )
        time.sleep(0.5)


def _put_events_calls(api: Api) -> Counter[str] | None:
    """PutEvents authorizations so far, per principal (None when the stack does not enforce IAM)."""
    iam = api.get("/_local/iam")
    if not iam.get("enforced"):
        return None
    counts: Counter[str] = Counter()
    for entry in iam.get("authorizations") or []:
        if entry.get("action") == "events:PutEvents":
            counts[entry["function"]] += int(entry["count"])
    return counts


def _calls_since(api: Api, before: Counter[str] | None, role: str) -> int | None:
    after = _put_events_calls(api)
    if before is None or after is None:
        return None
    return after[role] - before[role]


def _command(name: str, arguments: list[str], log_path: Path) -> dict[str, Any]:
    """`python -m ops <name> ...` as an operator runs it, timed from start to exit; each line of its output
    with the second it arrived (the commands flush every line), all of it kept in the log."""
    command = [sys.executable, "-m", "ops", name, *arguments]
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
    )
    lines: dict[str, list[tuple[float, str]]] = {"stdout": [], "stderr": []}

    def read(stream: Any, into: list[tuple[float, str]]) -> None:
        for line in stream:
            into.append((time.monotonic() - started, line.rstrip("\n")))

    readers = [
        threading.Thread(target=read, args=(process.stdout, lines["stdout"]), daemon=True),
        threading.Thread(target=read, args=(process.stderr, lines["stderr"]), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        returncode = process.wait(timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise RecoveryError(f"`python -m ops {name}` did not finish in {COMMAND_TIMEOUT} s") from None
    finally:
        for reader in readers:
            reader.join(timeout=10)
    seconds = time.monotonic() - started
    with log_path.open("w") as log:
        log.write(f"$ {' '.join(command)}\n# exit {returncode} after {seconds:.3f} s\n")
        for stream, timed in lines.items():
            log.write(f"--- {stream}\n")
            log.writelines(f"{at:8.3f} {line}\n" for at, line in timed)
    return {"returncode": returncode, "seconds": seconds, **lines}


def _last_json_line(command: str, stdout: list[str]) -> dict[str, Any]:
    """The command's summary (`--json`: one JSON line on stdout)."""
    for line in reversed(stdout):
        if line.startswith("{"):
            return json.loads(line)
    raise RecoveryError(f"no JSON summary on the {command}'s stdout: {stdout[-3:]!r}")
