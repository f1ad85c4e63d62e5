"""One local stack for the whole session, on a free port, with its own key folder (so the first-run key
generation is exercised too). Tokens are minted with the same keys, as `make token` would."""

from __future__ import annotations

import os

import pytest

from tests.e2e.harness import RunningStack, free_port


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory):
    from local import auth

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
    from local import auth

    return auth.mint
