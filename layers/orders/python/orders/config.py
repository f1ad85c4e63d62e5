"""Configuration and AWS clients, read lazily and cached per process.

Nothing here runs at import: tests set the environment before first use, and a SnapStart snapshot holds
no client or credential. `reset()` clears the caches (tests only).
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

DEFAULT_CURRENCY = "USD"


@cache
def table_name() -> str:
    return os.environ["TABLE_NAME"]


@cache
def currency() -> str:
    return os.environ.get("CURRENCY", DEFAULT_CURRENCY)


def _endpoint(service_variable: str) -> str | None:
    # The local stack (and `sam local` against it) points clients at its embedded services.
    return os.environ.get(service_variable) or None


def _aws_client(service: str, endpoint_variable: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=_endpoint(endpoint_variable),
        # Bounded: a slow dependency fails fast and is retried by botocore (standard mode, with jitter).
        config=Config(
            connect_timeout=2,
            read_timeout=5,
            retries={"mode": "standard", "max_attempts": 3},
            tcp_keepalive=True,
        ),
    )


@cache
def dynamodb_client() -> Any:
    return _aws_client("dynamodb", "DYNAMODB_ENDPOINT")


@cache
def events_client() -> Any:
    return _aws_client("events", "EVENTS_ENDPOINT")


@cache
def cursor_secret() -> bytes:
    """`CURSOR_SECRET` (local and tests) or the Secrets Manager secret named by `CURSOR_SECRET_ARN`."""
    if secret := os.environ.get("CURSOR_SECRET"):
        return secret.encode()
    from aws_lambda_powertools.utilities.parameters import get_secret

    return str(get_secret(os.environ["CURSOR_SECRET_ARN"], max_age=3600)).encode()


@cache
def upstream_credential() -> str | None:
    """Optional bearer credential for the user and inventory services: `UPSTREAM_CREDENTIAL` (local),
    or the SSM SecureString parameter named by `UPSTREAM_CREDENTIAL_PARAMETER` (cached, re-read hourly)."""
    if credential := os.environ.get("UPSTREAM_CREDENTIAL"):
        return credential
    if not (parameter := os.environ.get("UPSTREAM_CREDENTIAL_PARAMETER")):
        return None
    from aws_lambda_powertools.utilities.parameters import get_parameter

    return str(get_parameter(parameter, decrypt=True, max_age=3600))


def upstream_timeouts() -> dict[str, float]:
    return {
        "connect_timeout": float(os.environ.get("UPSTREAM_CONNECT_TIMEOUT_SECONDS", "1")),
        "read_timeout": float(os.environ.get("UPSTREAM_READ_TIMEOUT_SECONDS", "3")),
    }


@cache
def users_client() -> Any:
    from orders.clients import UpstreamHttp, UserServiceClient

    return UserServiceClient(
        UpstreamHttp(
            "user", os.environ["USERS_API_URL"], credential=upstream_credential, **upstream_timeouts()
        )
    )


@cache
def inventory_client() -> Any:
    from orders.clients import InventoryClient, UpstreamHttp

    return InventoryClient(
        UpstreamHttp(
            "inventory",
            os.environ["INVENTORY_API_URL"],
            credential=upstream_credential,
            **upstream_timeouts(),
        )
    )


class Lazy:
    """Stands in for a client until first used, so functions that never call upstream never build
    (or import) its HTTP client."""

    def __init__(self, factory: Any) -> None:
        self._factory = factory

    def __getattr__(self, name: str) -> Any:
        return getattr(self._factory(), name)


def reset() -> None:
    for getter in (
        table_name,
        currency,
        dynamodb_client,
        events_client,
        cursor_secret,
        upstream_credential,
        users_client,
        inventory_client,
    ):
        getter.cache_clear()
