"""Template rules an order service must keep: cfn-lint with the serverless rules clean, least-privilege
table access, a failure destination for every asynchronous consumer, a retained log group per function.
Each checker is also run on a broken copy of the template, so the rule itself cannot rot."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from local.template import load_template, resources_of_type

ROOT = Path(__file__).resolve().parents[2]
READ_ONLY_FUNCTIONS = {"GetOrderFunction": {"dynamodb:GetItem"}, "ListUserOrdersFunction": {"dynamodb:Query"}}
ASYNC_EVENT_TYPES = {"DynamoDB", "Kinesis", "SQS", "MSK"}


def _refers_to_table(value: Any) -> bool:
    return "OrdersTable" in repr(value)


def table_statements(function: dict[str, Any]) -> list[dict[str, Any]]:
    statements = []
    for declared in function["Properties"].get("Policies") or []:
        # A conditional policy counts by its true branch.
        policy = declared["Fn::If"][1] if isinstance(declared, dict) and "Fn::If" in declared else declared
        if not isinstance(policy, dict):
            continue
        if "Statement" in policy:
            statements.extend(s for s in policy["Statement"] if _refers_to_table(s.get("Resource")))
        elif any(name.startswith("DynamoDB") for name in policy):
            # A SAM policy template (DynamoDBCrudPolicy & co.) grants more than any one function needs.
            statements.append(
                {"Action": ["<policy template> " + next(iter(policy))], "Resource": "OrdersTable"}
            )
    return statements


def table_access_problems(template: dict[str, Any]) -> list[str]:
    problems = []
    for name, function in resources_of_type(template, "AWS::Serverless::Function").items():
        for statement in table_statements(function):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            problems += [f"{name}: {action}" for action in actions if "*" in action or "<policy" in action]
            if name in READ_ONLY_FUNCTIONS:
                problems += [f"{name} writes: {a}" for a in actions if a not in READ_ONLY_FUNCTIONS[name]]
    return problems


def consumers_without_failure_destination(template: dict[str, Any]) -> list[str]:
    missing = []
    for name, function in resources_of_type(template, "AWS::Serverless::Function").items():
        for event_name, event in (function["Properties"].get("Events") or {}).items():
            if event["Type"] in ASYNC_EVENT_TYPES:
                destination = (event["Properties"].get("DestinationConfig") or {}).get("OnFailure") or {}
                if not destination.get("Destination"):
                    missing.append(f"{name}.{event_name}")
    return missing


def functions_without_retained_log_group(template: dict[str, Any]) -> list[str]:
    retained = {
        repr(group["Properties"].get("LogGroupName"))
        for group in resources_of_type(template, "AWS::Logs::LogGroup").values()
        if group["Properties"].get("RetentionInDays")
    }
    return [
        name
        for name in resources_of_type(template, "AWS::Serverless::Function")
        if repr({"Fn::Sub": f"/aws/lambda/${{{name}}}"}) not in retained
    ]


def test_cfn_lint_with_the_serverless_rules_is_clean():
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("cfn-lint")),
            "--append-rules",
            "cfn_lint_serverless.rules",
            "--",
            "template.yaml",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_wildcard_or_policy_template_access_to_the_table_and_readers_only_read():
    template = load_template()
    assert table_access_problems(template) == []
    assert all(table_statements(template["Resources"][name]) for name in READ_ONLY_FUNCTIONS)


def test_every_asynchronous_consumer_has_a_failure_destination():
    assert consumers_without_failure_destination(load_template()) == []


def test_every_function_has_a_log_group_with_retention():
    assert functions_without_retained_log_group(load_template()) == []


@pytest.mark.parametrize(
    ("breakage", "checker"),
    [
        (
            lambda t: t["Resources"]["GetOrderFunction"]["Properties"]["Policies"][0]["Statement"][0].update(
                Action=["dynamodb:*"]
            ),
            table_access_problems,
        ),
        (
            lambda t: t["Resources"]["ListUserOrdersFunction"]["Properties"]["Policies"][0]["Statement"][
                0
            ].update(Action=["dynamodb:Query", "dynamodb:PutItem"]),
            table_access_problems,
        ),
        (
            lambda t: t["Resources"]["CreateOrderFunction"]["Properties"]["Policies"].append(
                {"DynamoDBCrudPolicy": {"TableName": {"Ref": "OrdersTable"}}}
            ),
            table_access_problems,
        ),
        (
            lambda t: t["Resources"]["OrderEventsFunction"]["Properties"]["Events"]["TableStream"][
                "Properties"
            ].pop("DestinationConfig"),
            consumers_without_failure_destination,
        ),
        (
            lambda t: t["Resources"]["HealthLogGroup"]["Properties"].pop("RetentionInDays"),
            functions_without_retained_log_group,
        ),
    ],
)
def test_the_rules_catch_a_broken_template(breakage, checker):
    broken = copy.deepcopy(load_template())
    breakage(broken)
    assert checker(broken) != []
