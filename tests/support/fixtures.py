"""Fixtures shared by the integration test modules (import the ones a module uses)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.template import create_table_request
from tests.conftest import TEST_ENV
from tests.support.lambda_runtime import reset_process_state
from tests.support.servers import ServerProcess

__all__ = ["api", "moto_dynamodb", "upstream"]

UPSTREAM_VARIABLES = ("USERS_API_URL", "INVENTORY_API_URL")


@pytest.fixture(scope="session")
def upstream() -> Iterator[str]:
    """The user and inventory services (DESIGN.md's contract) on loopback, for the whole session.

    The functions find them through `USERS_API_URL` / `INVENTORY_API_URL`, read lazily, so setting
    them here, before any handler runs, is what a deployment's environment does."""
    servers = ServerProcess("stub")
    saved = {name: os.environ.get(name) for name in UPSTREAM_VARIABLES}
    for name in UPSTREAM_VARIABLES:
        os.environ[name] = servers.urls["upstream"]
    try:
        yield servers.urls["upstream"]
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        servers.stop()


@pytest.fixture(scope="module")
def moto_dynamodb(upstream: str) -> Iterator[Any]:
    """moto, started once per module (starting it, and the first client after it, cost ~0.1 s)."""
    with mock_aws():
        yield boto3.client("dynamodb", region_name=TEST_ENV["AWS_DEFAULT_REGION"])


@pytest.fixture
def api(moto_dynamodb: Any) -> Iterator[Any]:
    """What `tests/integration/conftest.py::table` gives, faster: a fresh table built from
    template.yaml's definition (the previous test's table is deleted), cold process state, and the
    upstream services. The value is a boto3 DynamoDB client on the same mock."""
    name = TEST_ENV["TABLE_NAME"]
    try:
        moto_dynamodb.delete_table(TableName=name)
    except moto_dynamodb.exceptions.ResourceNotFoundException:
        pass
    moto_dynamodb.create_table(**create_table_request(name))
    reset_process_state()
    yield moto_dynamodb
    reset_process_state()
