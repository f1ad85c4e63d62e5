"""Hot reload: an edit under a function's CodeUri or one of its layers takes effect on the next request,
without restarting the stack; other functions keep their warm workers."""

from __future__ import annotations

import os

import pytest

from tests.e2e.harness import alive, wait_for

pytestmark = pytest.mark.e2e


def test_edits_to_a_function_and_its_layer_apply_on_the_next_request(fixture_process, fixture_dir):
    first = fixture_process.request("GET", "/reload").json()
    assert (first["app"], first["layer"]) == ("app-1", "layer-1")
    assert fixture_process.request("GET", "/reload").json()["pid"] == first["pid"]  # warm
    other = fixture_process.request("GET", "/state").json()["pid"]

    # Same size, and most likely within the same second as the bytecode cached at import: the case
    # where Python would otherwise keep running the old code.
    app = fixture_dir / "functions" / "reload" / "app.py"
    app.write_text(app.read_text().replace('VERSION = "app-1"', 'VERSION = "app-2"'))
    second = fixture_process.request("GET", "/reload").json()
    assert (second["app"], second["layer"]) == ("app-2", "layer-1")
    assert second["pid"] != first["pid"]  # a fresh (cold) worker
    wait_for(lambda: not alive(first["pid"]), timeout=5)  # the stale one is gone

    # The worker just compiled app.py to bytecode, which records the source's mtime in whole seconds
    # and its size: an edit of the same size within the same second would look like the cached code.
    compiled_from = app.stat().st_mtime_ns
    app.write_text(app.read_text().replace('VERSION = "app-2"', 'VERSION = "app-3"'))
    os.utime(app, ns=(compiled_from, compiled_from + 1))
    assert fixture_process.request("GET", "/reload").json()["app"] == "app-3"

    layer = fixture_dir / "layers" / "shared" / "python" / "shared_value.py"
    layer.write_text('VALUE = "layer-2"\n')
    third = fixture_process.request("GET", "/reload").json()
    assert (third["app"], third["layer"]) == ("app-3", "layer-2")
    assert third["pid"] != second["pid"]

    # A new module in the function's folder counts as a change too.
    (fixture_dir / "functions" / "reload" / "helper.py").write_text("X = 1\n")
    assert fixture_process.request("GET", "/reload").json()["pid"] != third["pid"]

    assert fixture_process.request("GET", "/state").json()["pid"] == other  # untouched function: still warm
    assert "[ReloadFunction] [reload] " in fixture_process.log
    assert "[StateFunction] [reload]" not in fixture_process.log
