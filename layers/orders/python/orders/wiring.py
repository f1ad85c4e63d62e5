"""Every process-wide object, built lazily on first use and kept for the life of the process: settings
read from the environment, AWS clients, the repository, the use cases, the stream consumer's publisher and
reservation keeper, the upstream clients, the idempotency store.

Nothing here runs at import: tests set the environment before first use, and a SnapStart snapshot holds
no client or credential. Imports of our own rooms happen inside the builders, so a function loads only
what it uses (the read path never loads pydantic). `reset()` forgets every one of them (tests only: what a
fresh execution environment would not carry over).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    from botocore.config import Config
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_events.client import EventBridgeClient

    from orders.domain.models import Order
    from orders.events.bus import EventBusPublisher
    from orders.events.reservations import ReservationKeeper
    from orders.service import OrderService
    from orders.storage.idempotency import IdempotencyStore, KeyedCreate
    from orders.storage.repository import OrderRepository
    from orders.upstream.clients import InventoryClient, UpstreamHttp, UserServiceClient

DEFAULT_CURRENCY = "USD"
# Threads for calls made side by side: botocore's default connection pool (10), so none waits for a socket
# and none is opened only to be discarded.
BACKGROUND_THREADS = 10
_BUILT: list[Callable[[], None]] = []  # every cached builder's cache_clear, for `reset()`


def _once[T](builder: Callable[[], T]) -> Callable[[], T]:
    cached = cache(builder)
    _BUILT.append(cached.cache_clear)
    return cached


def reset() -> None:
    """Forget every process-wide object: the next use builds it again from the current environment."""
    for cache_clear in _BUILT:
        cache_clear()


# ---------------------------------------------------------------------------------------- settings
@_once
def table_name() -> str:
    return os.environ["TABLE_NAME"]


@_once
def currency() -> str:
    return os.environ.get("CURRENCY", DEFAULT_CURRENCY)


@_once
def event_bus_name() -> str:
    return os.environ["EVENT_BUS_NAME"]


@_once
def cursor_secret() -> bytes:
    """`CURSOR_SECRET` (local and tests) or the Secrets Manager secret named by `CURSOR_SECRET_ARN`."""
    if secret := os.environ.get("CURSOR_SECRET"):
        return secret.encode()
    from aws_lambda_powertools.utilities.parameters import get_secret

    from orders import tracing

    # Powertools' parameters build their own client, so the call is a span here.
    with tracing.span("SecretsManager.GetSecretValue", {"rpc.system": "aws-api"}, kind="CLIENT"):
        return str(get_secret(os.environ["CURSOR_SECRET_ARN"], max_age=3600)).encode()


@_once
def upstream_credential() -> str | None:
    """Optional bearer credential for the user and inventory services: `UPSTREAM_CREDENTIAL` (local),
    or the SSM SecureString parameter named by `UPSTREAM_CREDENTIAL_PARAMETER` (cached, re-read hourly)."""
    if credential := os.environ.get("UPSTREAM_CREDENTIAL"):
        return credential
    if not (parameter := os.environ.get("UPSTREAM_CREDENTIAL_PARAMETER")):
        return None
    from aws_lambda_powertools.utilities.parameters import get_parameter

    from orders import tracing

    with tracing.span("SSM.GetParameter", {"rpc.system": "aws-api"}, kind="CLIENT"):
        return str(get_parameter(parameter, decrypt=True, max_age=3600))


def upstream_http(service: str, url_variable: str) -> UpstreamHttp:
    """The HTTP client of one upstream service; its timeouts are read when it is built (and so cached
    with it)."""
    from orders.upstream.clients import UpstreamHttp

    return UpstreamHttp(
        service,
        os.environ[url_variable],
        credential=upstream_credential,
        connect_timeout=float(os.environ.get("UPSTREAM_CONNECT_TIMEOUT_SECONDS", "1")),
        read_timeout=float(os.environ.get("UPSTREAM_READ_TIMEOUT_SECONDS", "3")),
        connections=BACKGROUND_THREADS,  # the consumer settles that many orders at once (and botocore's pool is 10)
    )


# ---------------------------------------------------------------------------------------- AWS clients
def _endpoint(service_variable: str) -> str | None:
    # The local stack (and `sam local` against it) points clients at its embedded services.
    return os.environ.get(service_variable) or None


def _client_config() -> Config:
    from botocore.config import Config

    # Bounded: a slow dependency fails fast and is retried by botocore (standard mode, with jitter).
    return Config(
        connect_timeout=2,
        read_timeout=5,
        retries={"mode": "standard", "max_attempts": 3},
        tcp_keepalive=True,
    )


@_once
def dynamodb_client() -> DynamoDBClient:
    import boto3

    from orders import tracing

    client = boto3.client("dynamodb", endpoint_url=_endpoint("DYNAMODB_ENDPOINT"), config=_client_config())
    return tracing.instrument(client)


@_once
def events_client() -> EventBridgeClient:
    import boto3

    from orders import tracing

    client = boto3.client("events", endpoint_url=_endpoint("EVENTS_ENDPOINT"), config=_client_config())
    return tracing.instrument(client)


# ---------------------------------------------------------------------------------------- upstream
@_once
def users_client() -> UserServiceClient:
    from orders.upstream.clients import UserServiceClient

    return UserServiceClient(upstream_http("user", "USERS_API_URL"))


@_once
def inventory_client() -> InventoryClient:
    from orders.upstream.clients import InventoryClient

    return InventoryClient(upstream_http("inventory", "INVENTORY_API_URL"))


class Lazy:
    """Stands in for a client until first used, so functions that never call upstream never build
    (or import) its HTTP client."""

    def __init__(self, factory: Any) -> None:
        self._factory = factory

    def __getattr__(self, name: str) -> Any:
        return getattr(self._factory(), name)


# ---------------------------------------------------------------------------------------- storage, use cases
def status_index_shards() -> int:
    """The status index's shard count (template parameter StatusIndexShards); the repository's default
    where the variable is unset (tests, operator commands that never write the index)."""
    from orders.storage.repository import DEFAULT_STATUS_SHARDS

    return int(os.environ.get("STATUS_INDEX_SHARDS") or DEFAULT_STATUS_SHARDS)


@_once
def repository() -> OrderRepository:
    from orders.storage.repository import OrderRepository

    return OrderRepository(
        dynamodb_client(), table_name(), status_shards=status_index_shards(), run_all=side_by_side
    )


@_once
def order_service() -> OrderService:
    """One per process: the client and its connection pool are reused across warm invocations."""
    from orders.domain.cursor import CursorCodec
    from orders.service import OrderService

    return OrderService(
        repository(),
        users=Lazy(users_client),
        inventory=Lazy(inventory_client),
        currency=currency(),
        cursors=CursorCodec(cursor_secret),
    )


@_once
def idempotency_store() -> IdempotencyStore:
    from orders.storage.idempotency import IdempotencyStore

    return IdempotencyStore(dynamodb_client(), table_name())


@_once
def _background() -> ThreadPoolExecutor:
    """Threads for a request's calls made side by side (a keyed create's claim, while the buyer is checked)."""
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=BACKGROUND_THREADS, thread_name_prefix="orders")


def concurrently[T](function: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
    """`function(*args, **kwargs)` on a background thread, in this request's context (its trace)."""
    import contextvars

    return _background().submit(contextvars.copy_context().run, function, *args, **kwargs)


def side_by_side[T](calls: Sequence[Callable[[], T]]) -> list[T]:
    """Each call on a background thread (the first raised error is raised); their results in order."""
    if len(calls) <= 1:
        return [call() for call in calls]
    futures = [concurrently(call) for call in calls]
    return [future.result() for future in futures]


def once_per_idempotency_key(
    create: Callable[[KeyedCreate], object],
    respond: Callable[[Order], dict[str, Any]],
    *,
    caller_id: str,
    key: str,
    body: Any,
    remaining_ms: int,
) -> dict[str, Any]:
    """A create once per caller and Idempotency-Key: its response, or the first one's
    (`orders.storage.idempotency.once_per_key`)."""
    from orders.storage.idempotency import once_per_key

    return once_per_key(
        create,
        respond,
        store=idempotency_store(),
        repository=repository(),
        submit=concurrently,
        caller_id=caller_id,
        key=key,
        body=body,
        remaining_ms=remaining_ms,
    )


# ---------------------------------------------------------------------------------------- stream consumer
@_once
def publisher() -> EventBusPublisher:
    from orders.events.bus import EventBusPublisher

    return EventBusPublisher(events_client(), event_bus_name())


@_once
def reservation_keeper() -> ReservationKeeper:
    from orders.events.reservations import ReservationKeeper

    return ReservationKeeper(repository(), Lazy(inventory_client))
