"""`make replay FROM=... TO=...` (`python -m ops replay`): replay a time window of the bus's archive onto
the bus, for a subscriber that missed it (docs/events.md: the rule that matches replayed events).

`--rules` limits the replay to those rules of the bus (EventBridge's `FilterArns`): replay to the one
subscriber that needs it, and every other subscriber sees nothing. Waits for the replay to finish and
shows its progress (the time of the last event replayed); killing the command does not stop the replay
(EventBridge runs it), and a rerun starts a new one: the events carry their original `eventId`s.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ops.cli import add_stage_arguments, instant, say, stage_from
from ops.stage import StageError

ROLE = "EventsReplayRole"
FINAL_STATES = ("COMPLETED", "FAILED", "CANCELLED")


def replay_name(stage_parameter: str, now: datetime | None = None) -> str:
    """`orders-<Stage>-<UTC time>-<random>`: what EventsReplayRole may describe (replay/orders-<Stage>-*)."""
    moment = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S")
    return f"orders-{stage_parameter}-{moment}-{uuid.uuid4().hex[:6]}"[:64]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops replay", description=__doc__.split("\n\n")[0])
    add_stage_arguments(parser)
    parser.add_argument(
        "--from", dest="start", type=instant, required=True, help="start of the window (ISO-8601)"
    )
    parser.add_argument("--to", dest="end", type=instant, help="end of the window (default: now)")
    parser.add_argument("--rules", default="", help="comma-separated ARNs of the bus's rules to replay to")
    parser.add_argument("--no-wait", action="store_true", help="start the replay and return")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait (default %(default)s)")
    parser.add_argument(
        "--dry-run", action="store_true", help="say what would be replayed, and to where; start nothing"
    )
    args = parser.parse_args(argv)
    end = args.end or datetime.now(UTC)
    if end <= args.start:
        say(f"error: the window is empty or inverted: --from {args.start.isoformat()} --to {end.isoformat()}")
        return 2
    try:
        stage = stage_from(args, ROLE)
        archive_arn = stage.output("EventArchiveArn")
        bus_arn = stage.output("EventBusArn")
    except StageError as error:
        say(f"error: {error}")
        return 2
    destination: dict[str, Any] = {"Arn": bus_arn}
    rules = [rule.strip() for rule in args.rules.split(",") if rule.strip()]
    if rules:
        destination["FilterArns"] = rules
    if args.dry_run:
        say(
            f"replay (dry run): would replay {args.start.isoformat()} .. {end.isoformat()} from {archive_arn} "
            f"to {bus_arn}" + (f" (rules: {', '.join(rules)})" if rules else " (every rule of the bus)")
        )
        return 0
    events = stage.client("events")
    name = replay_name(stage.parameters.get("Stage", stage.name))
    try:
        started = events.start_replay(
            ReplayName=name,
            Description=f"make replay {args.start.isoformat()} .. {end.isoformat()}",
            EventSourceArn=archive_arn,
            EventStartTime=args.start,
            EventEndTime=end,
            Destination=destination,
        )
    except Exception as error:  # noqa: BLE001 - EventBridge's refusal, in one line
        say(f"error: StartReplay refused: {error}")
        return 1
    say(
        f"replay {name}: {args.start.isoformat()} .. {end.isoformat()} from {archive_arn} to {bus_arn}"
        + (f" (rules: {', '.join(rules)})" if rules else " (every rule of the bus)")
        + f"; {started.get('State')}"
    )
    if args.no_wait:
        return 0
    deadline = time.monotonic() + args.timeout
    state, described = started.get("State"), {}
    try:
        while state not in FINAL_STATES and time.monotonic() < deadline:
            time.sleep(2)
            described = events.describe_replay(ReplayName=name)
            state = described.get("State")
            last = described.get("EventLastReplayedTime")
            say(f"[replay] {state}" + (f", replayed up to {last.isoformat()}" if last else ""))
    except (KeyboardInterrupt, BotoCoreError, ClientError) as error:
        why = "interrupted" if isinstance(error, KeyboardInterrupt) else f"cannot follow it: {error}"
        say(
            f"replay {name}: {why}; it goes on in EventBridge (`aws events describe-replay --replay-name "
            f"{name}`; a rerun would start another)"
        )
        return 130 if isinstance(error, KeyboardInterrupt) else 1
    if state not in FINAL_STATES:
        say(f"replay {name}: still {state} after {args.timeout:.0f} s; it goes on in EventBridge")
        return 1
    reason = described.get("StateReason") if described else None
    say(f"replay {name}: {state}" + (f" ({reason})" if reason else ""))
    return 0 if state == "COMPLETED" else 1
