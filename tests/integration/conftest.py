"""Fixtures of the integration tests: moto for AWS, the upstream stubs on loopback, cold process state."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.conftest import TEST_ENV
from tests.support.dynamo import fresh_table, moto_as_run_locally
from tests.support.lambda_runtime import reset_process_state
from tests.support.servers import ServerProcess
from tests.support.stubs import StubControl

UPSTREAM_VARIABLES = ("USERS_API_URL", "INVENTORY_API_URL")


@pytest.fixture(scope="session")
def upstream() -> Iterator[StubControl]:
    """The user and inventory stubs (DESIGN.md's contract) in a child process, for the whole session.

    The functions find them through `USERS_API_URL` / `INVENTORY_API_URL`, read lazily, so setting
    them here, before any handler runs, is what a deployment's environment does."""
    servers = ServerProcess("stub")
    saved = {name: os.environ.get(name) for name in UPSTREAM_VARIABLES}
    for name in UPSTREAM_VARIABLES:
        os.environ[name] = servers.urls["upstream"]
    try:
        yield StubControl(servers.urls["upstream"])
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        servers.stop()


@pytest.fixture(scope="module")
def moto_dynamodb(upstream: StubControl) -> Iterator[Any]:
    """moto as the local stack runs it, started once per module (starting it, and the first client after it, cost
    ~0.1 s)."""
    with moto_as_run_locally():
        yield boto3.client("dynamodb", region_name=TEST_ENV["AWS_DEFAULT_REGION"])


@pytest.fixture
def api(moto_dynamodb: Any, upstream: StubControl) -> Iterator[Any]:
    """A fresh table built from template.yaml's definition (the previous test's is deleted), fresh
    stubs and cold process state. The value is a boto3 DynamoDB client on the same mock."""
    fresh_table(moto_dynamodb)
    upstream.reset()
    reset_process_state()
    yield moto_dynamodb
    reset_process_state()


@pytest.fixture
def table(api: Any) -> Any:
    return api
