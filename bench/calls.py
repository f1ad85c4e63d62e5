"""Round trips per endpoint: one order's lifecycle, run in this process through the real handlers (and the
baselines), with botocore event hooks on every client they build.

- `provide-client-params.dynamodb.*` adds `ReturnConsumedCapacity=INDEXES` to every DynamoDB call (no
  domain code changes); moto answers it with canned numbers, so they are recorded but not used.
- `before-parameter-build.*` / `after-call.*` record each call; for writes, the item before and after is
  read on a side client (outside the hooks) so that `bench.capacity` can price the write, indexes
  included, and so that the lifecycle's table stream can be rebuilt exactly (INSERT/MODIFY images).
- upstream HTTP calls (user and inventory services) are counted at the stubs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

from bench import capacity
from bench.infra import BASELINE_ROOT, FUNCTIONS, LAYER_PATH, ROOT, Infra, create_table_request

_CAPACITY_OPERATIONS = {
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactGetItems",
    "TransactWriteItems",
}
_SINGLE_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
# Each item of a TransactWriteItems, as the single-item operation it is (and IAM authorizes it as).
_TRANSACTION_ITEMS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
TRANSACTIONAL_FACTOR = 2  # DynamoDB writes each item of a transaction twice (prepare, commit): 2 units per KB


@dataclass
class Call:
    service: str
    operation: str
    table: str | None = None
    consistent: bool = False
    succeeded: bool = True
    error: str | None = None
    old: dict | None = None
    new: dict | None = None
    read_sizes: list[int] = field(default_factory=list)
    moto_capacity: float | None = None
    entries: int = 0  # PutEvents
    writes: list[Call] = field(default_factory=list)  # TransactWriteItems: one per item, with its images

    @property
    def is_dynamodb(self) -> bool:
        return self.service == "dynamodb"


class Recorder:
    def __init__(self, side_client: Any, shapes: dict[str, capacity.TableShape]) -> None:
        self._side = side_client
        self._shapes = shapes
        self._local = threading.local()
        self.recording = False
        self.calls: list[Call] = []

    # ------------------------------------------------------------------ wiring
    def install(self) -> None:
        import botocore.session

        original = botocore.session.Session.create_client
        recorder = self

        def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
            client = original(session, *args, **kwargs)
            recorder.attach(client)
            return client

        botocore.session.Session.create_client = create_client

    def attach(self, client: Any) -> None:
        events_ = client.meta.events
        events_.register("provide-client-params.dynamodb", self._provide, unique_id="bench-capacity")
        events_.register("before-parameter-build", self._before, unique_id="bench-before")
        events_.register("after-call", self._after, unique_id="bench-after")

    @contextlib.contextmanager
    def record(self):
        self.calls = []
        self.recording = True
        try:
            yield self.calls
        finally:
            self.recording = False

    # ------------------------------------------------------------------ hooks
    def _active(self) -> bool:
        return self.recording and not getattr(self._local, "side", False)

    def _provide(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if self._active() and model.name in _CAPACITY_OPERATIONS:
            params.setdefault("ReturnConsumedCapacity", "INDEXES")

    def _side_get(self, table: str, key: dict[str, Any]) -> dict | None:
        self._local.side = True
        try:
            return self._side.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        finally:
            self._local.side = False

    def _key_of(self, table: str, params: dict[str, Any]) -> dict[str, Any] | None:
        if "Key" in params:
            return params["Key"]
        shape = self._shapes.get(table)
        item = params.get("Item") or {}
        if shape and all(name in item for name in shape.key_attributes):
            return {name: item[name] for name in shape.key_attributes}
        return None

    def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if not self._active():
            return
        call = Call(service=model.service_model.service_name, operation=model.name)
        call.table = params.get("TableName")
        call.consistent = bool(params.get("ConsistentRead"))
        if call.operation == "PutEvents":
            call.entries = len(params.get("Entries") or [])
        if call.is_dynamodb and call.operation in _SINGLE_WRITES and call.table:
            key = self._key_of(call.table, params)
            call.old = self._side_get(call.table, key) if key else None
            context["bench_key"] = key
        if call.is_dynamodb and call.operation == "TransactWriteItems":
            keys = []
            for entry in params.get("TransactItems") or []:
                ((kind, item_params),) = entry.items()
                write = Call(call.service, _TRANSACTION_ITEMS.get(kind, kind), item_params.get("TableName"))
                key = self._key_of(write.table, item_params) if write.table else None
                write.old = self._side_get(write.table, key) if key else None
                call.writes.append(write)
                keys.append(key)
            context["bench_keys"] = keys
        context["bench_call"] = call
        self.calls.append(call)

    def _after(
        self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        call = context.get("bench_call")
        if call is None or not self._active():
            return
        error = (parsed or {}).get("Error") or {}
        call.succeeded = (
            not error and getattr(http_response, "status_code", HTTPStatus.OK) < HTTPStatus.MULTIPLE_CHOICES
        )
        call.error = error.get("Code")
        consumed = (parsed or {}).get("ConsumedCapacity")
        if isinstance(consumed, dict):
            call.moto_capacity = consumed.get("CapacityUnits")
        elif isinstance(consumed, list):
            call.moto_capacity = sum(entry.get("CapacityUnits", 0) for entry in consumed)
        if call.operation == "GetItem":
            call.read_sizes = [capacity.item_size(parsed.get("Item"))]
        elif call.operation in ("Query", "Scan"):
            call.read_sizes = [capacity.item_size(item) for item in parsed.get("Items") or []]
        elif call.operation in _SINGLE_WRITES and call.table and context.get("bench_key"):
            call.new = self._side_get(call.table, context["bench_key"])
        elif call.operation == "TransactWriteItems":
            for write, key in zip(call.writes, context.get("bench_keys") or [], strict=True):
                write.succeeded, write.error = call.succeeded, call.error
                write.new = self._side_get(write.table, key) if key and call.succeeded else write.old
        if call.operation == "PutEvents" and isinstance(parsed, dict):
            call.entries -= int(parsed.get("FailedEntryCount") or 0)

    # ------------------------------------------------------------------ pricing
    def units(self, call: Call) -> dict[str, float]:
        """{"rru": x, "wru": y, "wru_indexes": z} for one call, per bench.capacity."""
        if not call.is_dynamodb:
            return {}
        if call.operation == "GetItem":
            return {"rru": capacity.read_units(call.read_sizes, consistent=call.consistent)}
        if call.operation in ("Query", "Scan"):
            return {"rru": capacity.read_units(call.read_sizes, consistent=call.consistent)}
        if call.operation in _SINGLE_WRITES:
            shape = self._shapes.get(call.table or "")
            if shape is None:
                return {"wru": 1.0}
            written = capacity.write_units(
                shape, call.old, call.new if call.succeeded else call.old, call.succeeded
            )
            table = written.pop("table")
            return {"wru": table + sum(written.values()), "wru_indexes": sum(written.values())}
        if call.operation == "TransactWriteItems" and call.writes:
            # Each item as its single write, its table units doubled (a transaction's indexes are written as usual).
            parts = [
                self.units(write) if write.operation in _SINGLE_WRITES else {"wru": 1.0}
                for write in call.writes
            ]
            indexes = sum(part.get("wru_indexes", 0.0) for part in parts)
            table = sum(part.get("wru", 0.0) for part in parts) - indexes
            return {"wru": TRANSACTIONAL_FACTOR * table + indexes, "wru_indexes": indexes}
        return {"wru": 1.0} if "Write" in call.operation else {"rru": 1.0}


def summarise(recorder: Recorder, calls: list[Call], upstream_calls: int) -> dict[str, Any]:
    dynamodb = [call for call in calls if call.is_dynamodb]
    units = [recorder.units(call) for call in calls]
    moto = [call.moto_capacity for call in dynamodb if call.moto_capacity is not None]
    return {
        "dynamodb_calls": len(dynamodb),
        "dynamodb_ops": [
            call.operation + ("" if call.succeeded else f" ({call.error})") for call in dynamodb
        ],
        "rru": sum(unit.get("rru", 0.0) for unit in units),
        "wru": sum(unit.get("wru", 0.0) for unit in units),
        "wru_indexes": sum(unit.get("wru_indexes", 0.0) for unit in units),
        "moto_reported_capacity_units": sum(moto) if moto else None,
        "other_aws_calls": dict(Counter(f"{c.service}:{c.operation}" for c in calls if not c.is_dynamodb)),
        "events_put": sum(call.entries for call in calls),
        "upstream_http_calls": upstream_calls,
    }


# ---------------------------------------------------------------------------------------- handlers
class FakeContext:
    def __init__(self, function: str) -> None:
        self.function_name = function
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function}"
        self.log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class InProcess:
    """The real functions and the baselines, imported into this process against one table."""

    def __init__(self, infra: Infra, table: str, log_path: Path) -> None:
        self.infra = infra
        self.table = table
        self._log = log_path.open("a")
        env: dict[str, str] = {}
        for function in FUNCTIONS:
            env.update(infra.function_env(function, table))
        for name in ("PATH", "LAMBDA_TASK_ROOT", "_HANDLER", "AWS_LAMBDA_FUNCTION_NAME", "LANG", "TZ"):
            env.pop(name, None)
        env["OTEL_SDK_DISABLED"] = "true"  # tracing changes no call; keep spans out of this process
        os.environ.update(env)
        shapes = {}
        self.side = infra.dynamodb()
        self.recorder = Recorder(self.side, shapes)
        self.recorder.install()
        self.shape = capacity.TableShape.from_create_request(create_table_request(table))
        shapes[table] = self.shape
        if str(LAYER_PATH) not in sys.path:
            sys.path.insert(0, str(LAYER_PATH))
        self.real: dict[str, Any] = {}
        self.baseline: dict[str, Any] = {}
        with self.quiet():
            for function in FUNCTIONS:
                self.real[function] = _load(
                    f"bench_real_{function}", ROOT / "functions" / function / "app.py"
                )
                self.baseline[function] = _load(
                    f"bench_baseline_{function}", BASELINE_ROOT / function / "app.py"
                )

    @contextlib.contextmanager
    def quiet(self):
        with contextlib.redirect_stdout(self._log), contextlib.redirect_stderr(self._log):
            yield

    def invoke(
        self, variant: str, function: str, event: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(response, call summary) of one recorded invocation."""
        module = (self.real if variant == "real" else self.baseline)[function]
        stub_calls_before = len(self.infra.stubs.stubs.calls)
        with self.quiet(), self.recorder.record() as calls:
            response = module.lambda_handler(event, FakeContext(function))
        upstream = len(self.infra.stubs.stubs.calls) - stub_calls_before
        return response, summarise(self.recorder, list(calls), upstream) | {"_calls": list(calls)}

    def close(self) -> None:
        self._log.close()
