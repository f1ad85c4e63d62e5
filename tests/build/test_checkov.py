"""checkov over template.yaml: no failed check, something really scanned, and every skip written beside
its resource with a reason. The scan is `make -s scan` with JSON output, the very command `make lint`
runs (it syncs checkov's own locked environment, tools/checkov/.venv, when missing), so the test and
lint cannot drift apart. A broken copy of the template shows the scan still catches what it should."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from local.template import load_template
from tests.build.conftest import ROOT, TEMPLATE

pytestmark = [pytest.mark.build, pytest.mark.xdist_group("checkov")]

CHECK_ID = re.compile(r"CKV2?_AWS_\d+")
# What `make lint` runs, with JSON output (which, unlike lint's, lists passed and skipped checks too).
MAKE_SCAN = ["make", "-s", "--no-print-directory", "scan", "SCAN_OUTPUT=-o json"]


def scan(template: Path = TEMPLATE) -> tuple[dict[str, Any], float]:
    """`make -s scan` on `template` with JSON output: the report and the seconds the run took."""
    env = {
        **{
            key: value for key, value in os.environ.items() if key not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}
        },
        "UV_PYTHON_DOWNLOADS": "never",
    }
    command = [*MAKE_SCAN, f"SCAN_TEMPLATE={template}"]
    started = time.monotonic()
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    seconds = time.monotonic() - started
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"no JSON from `{' '.join(command)}` (exit {result.returncode})\n"
                    f"{result.stdout}\n{result.stderr}", pytrace=False)  # fmt: skip
    # One framework gives one report; several would give a list of them.
    reports = report if isinstance(report, list) else [report]
    cloudformation = [r for r in reports if r.get("check_type") == "cloudformation"]
    assert len(cloudformation) == 1, f"expected one cloudformation report, got {report!r:.2000}"
    report = cloudformation[0]
    # checkov exits 1 exactly when a check failed, and make passes that on as 2; any other exit is wrong.
    failed = report["summary"]["failed"]
    assert result.returncode == (2 if failed else 0), result.stderr
    return report, seconds


def checks(report: dict[str, Any], outcome: str) -> set[tuple[str, str]]:
    """(check id, logical id) of the report's `passed`, `failed` or `skipped` checks."""
    return {
        (check["check_id"], check["resource"].split(".", 1)[1])
        for check in report["results"][f"{outcome}_checks"]
    }


def template_skips(template: dict[str, Any]) -> dict[tuple[str, str], Any]:
    """(check id, logical id) -> comment of every `Metadata: checkov: skip:` entry in the template."""
    skips = {}
    for logical_id, resource in template["Resources"].items():
        for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip") or []:
            skips[(skip.get("id"), logical_id)] = skip.get("comment")
    return skips


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    report, seconds = scan()
    return {**report, "seconds": seconds}


def test_template_has_no_failed_checkov_check(report: dict[str, Any], record_property: Any) -> None:
    summary = report["summary"]
    record_property(
        "build-report",
        f"checkov {summary['checkov_version']} over template.yaml: {summary['passed']} passed, "
        f"{summary['failed']} failed, {summary['skipped']} skipped ({summary['resource_count']} resources) "
        f"in {report['seconds']:.1f} s",
    )
    failed = sorted(checks(report, "failed"))
    assert not failed, (
        f"checkov failed {failed}: fix the template, or skip the check beside the resource with its reason "
        "(Metadata: checkov: skip: - id: ..., comment: ...)"
    )
    assert summary["parsing_errors"] == 0
    # A scan that read nothing, or nothing it understood, passes nothing.
    assert summary["resource_count"] > 0
    assert summary["passed"] > 0
    assert any(resource.startswith("AWS::Serverless::Function.") for resource in
               {check["resource"] for check in report["results"]["passed_checks"]})  # fmt: skip


def test_every_skip_carries_its_reason_and_matches_a_check(report: dict[str, Any]) -> None:
    skips = template_skips(load_template(TEMPLATE))
    assert skips, "no checkov skips in template.yaml: was this test meant to find some?"
    bad_ids = sorted(key for key in skips if not isinstance(key[0], str) or not CHECK_ID.fullmatch(key[0]))
    assert not bad_ids, f"skips without a checkov check id: {bad_ids}"
    unexplained = sorted(
        key for key, comment in skips.items() if not isinstance(comment, str) or not comment.strip()
    )
    assert not unexplained, f"skips without a reason (comment): {unexplained}"
    # A skip whose id is not a check on that resource (a typo, a check that moved) would hide nothing.
    assert set(skips) == checks(report, "skipped")


def test_scan_fails_a_copy_with_a_skip_removed_and_a_resource_made_insecure(tmp_path: Path) -> None:
    template = copy.deepcopy(load_template(TEMPLATE))  # load_template's value is shared (cached)
    bucket = template["Resources"]["OrderEventsFailedBatchBucket"]
    bucket["Metadata"]["checkov"]["skip"] = [
        s for s in bucket["Metadata"]["checkov"]["skip"] if s["id"] != "CKV_AWS_18"
    ]
    del template["Resources"]["OrdersTable"]["Properties"]["PointInTimeRecoverySpecification"]
    # The loader turns short-form tags (!Ref, !Sub) into their long form: JSON carries that as it is.
    written = tmp_path / "template.json"
    written.write_text(json.dumps(template, indent=1))

    report, _ = scan(written)

    assert checks(report, "failed") == {
        ("CKV_AWS_18", "OrderEventsFailedBatchBucket"),  # the skip removed (no access logging)
        ("CKV_AWS_28", "OrdersTable"),  # point-in-time recovery dropped
    }
