"""One local stack for the whole session, on a free port, with its own key folder (so the first-run key
generation is exercised too). Tokens are minted with the same keys, as `make token` would. A second stack
serves a copy of the fixture template (tests/e2e/fixtures), which tests may edit (hot reload)."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.e2e.attacks import Cast, order_body
from tests.e2e.harness import ROOT, RunningStack, free_port

FIXTURES = ROOT / "tests" / "e2e" / "fixtures"


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory):
    from local.aws import auth

    directory = tmp_path_factory.mktemp("keys")
    previous = os.environ.get("LOCAL_KEYS_DIR")
    os.environ["LOCAL_KEYS_DIR"] = str(directory)
    auth.signing_key.cache_clear()
    yield directory
    auth.signing_key.cache_clear()
    if previous is None:
        os.environ.pop("LOCAL_KEYS_DIR", None)
    else:
        os.environ["LOCAL_KEYS_DIR"] = previous


@pytest.fixture(scope="session")
def stack(keys_dir, tmp_path_factory):
    running = RunningStack(free_port(), keys_dir, tmp_path_factory.mktemp("stack") / "stack.log")
    try:
        running.startup_seconds = running.wait_ready()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def mint(keys_dir):
    from local.aws import auth

    return auth.mint


@pytest.fixture(scope="session")
def fixture_dir(tmp_path_factory):
    """A copy of tests/e2e/fixtures (template, functions, layer), free to edit."""
    target = tmp_path_factory.mktemp("fixtures") / "app"
    shutil.copytree(FIXTURES, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture(scope="session")
def fixture_process(keys_dir, fixture_dir, tmp_path_factory):
    """`python -m local --template <copy>/template.yaml`: the fixture template, with its table stream."""
    log = tmp_path_factory.mktemp("fixture-stack") / "stack.log"
    running = RunningStack(free_port(), keys_dir, log, ("--template", str(fixture_dir / "template.yaml")))
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


# The attack tests' cast and victim (tests/e2e/test_attacks_*.py): fresh ones for each module.
@pytest.fixture(scope="module")
def cast(mint) -> Cast:
    return Cast(mint)


@pytest.fixture(scope="module")
def victim(stack, cast):
    """Customer A's orders: [0] the target, [1] a witness A cancels, [2] the one the admin moves, [3] stays
    pending (so that every listing of A's has pages). The first is created with an Idempotency-Key."""
    orders = []
    for index in range(4):
        headers = {"Idempotency-Key": f"a-key-{cast.a}"} if index == 0 else None
        created = stack.request("POST", "/api/orders", token=cast.token_a, body=order_body(), headers=headers)
        assert created.status == 201, created.text
        orders.append(created.json())
    return orders
