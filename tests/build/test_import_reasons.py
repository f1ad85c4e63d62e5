"""The check behind issue 20's import profile (bench/importprofile.py), on import trees written here: an
import our code makes that the baseline does not is flagged unless `REASONS` says which requests need it,
whatever its size; what a justified import brings along comes with it. The smoke run
(tests/bench/test_bench_smoke.py) applies it to every real function."""

from __future__ import annotations

from bench.importprofile import BASELINE_REASON, REASONS, entries, justification, parse, reason_for


def tree(*lines: tuple[int, int, int, str]) -> list[tuple[str, int, int, int]]:
    """(self us, cumulative us, depth, module) in `-X importtime`'s order: children before their parent."""
    text = "\n".join(
        f"import time: {self_us:>9} | {cumulative_us:>10} | {'  ' * depth} {module}"
        for self_us, cumulative_us, depth, module in lines
    )
    return parse("import time: self [us] | cumulative | imported package\n" + text)


COLD = tree(
    (900, 900, 3, "botocore"),
    (300, 1200, 2, "boto3"),
    (100, 1300, 1, "boto3.dynamodb.types"),
    (200, 200, 2, "asyncio"),
    (50, 8250, 1, "aws_lambda_powertools"),
    (7000, 7000, 3, "pydantic_core"),
    (500, 7500, 2, "pydantic"),
    (100, 7600, 1, "orders.domain.models"),
    (10, 17160, 0, "app"),
    (6000, 6000, 0, "simplejson"),
    (5500, 5500, 0, "asyncio.base_events"),
)
BASELINE = {"boto3", "botocore", "boto3.dynamodb.types", "asyncio"}


def test_entries_are_what_our_code_imports_with_what_they_add_beyond_the_baseline():
    found = entries(COLD, BASELINE)
    assert set(found) == {
        "boto3.dynamodb.types",
        "aws_lambda_powertools",
        "pydantic",
        "simplejson",
        "asyncio.base_events",
    }
    assert found["boto3.dynamodb.types"] == (1300, 0)  # all of it the baseline's too
    assert found["aws_lambda_powertools"] == (8250, 50)  # its asyncio is the baseline's
    assert found["pydantic"] == (7500, 7500)


def test_an_import_without_a_reason_is_flagged_whatever_its_size():
    report = justification("get_order", [COLD], BASELINE)
    # get_order validates nothing: pydantic has no reason there, nor an asyncio module nobody asked for.
    assert report["unjustified"] == ["pydantic", "asyncio.base_events"]
    listed = {item["module"]: item for item in report["over_5ms"]}
    assert listed["pydantic"]["reason"] is None and listed["pydantic"]["ms"] == 7.5
    assert listed["aws_lambda_powertools"]["reason"] == REASONS["get_order"]["aws_lambda_powertools"]
    assert listed["simplejson"]["reason"] == REASONS["get_order"]["simplejson"]
    assert "boto3.dynamodb.types" not in listed  # 1.3 ms: under the threshold, and the baseline's anyway


def test_a_function_whose_requests_use_an_import_has_it_justified():
    report = justification("create_order", [COLD], BASELINE | {"asyncio.base_events"})
    assert report["unjustified"] == []
    assert (
        reason_for("create_order", "pydantic._internal._model_construction")
        == REASONS["create_order"]["pydantic.*"]
    )
    assert justification("get_order", [COLD], set(entries(COLD)))["over_5ms"][0]["reason"] == BASELINE_REASON


def test_every_function_has_its_reasons_and_each_reason_says_something():
    from bench.infra import FUNCTIONS

    assert set(REASONS) == set(FUNCTIONS)
    for function, reasons in REASONS.items():
        for module, reason in reasons.items():
            assert len(reason.split()) >= 5, (function, module)
