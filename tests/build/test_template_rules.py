"""Template rules an order service must keep: cfn-lint with the serverless rules clean, least-privilege
table access, a failure destination for every asynchronous consumer that keeps the records themselves
(a bucket that is encrypted, private, TLS-only, retained, with a retention and an alarm within 5 minutes),
an archive of every event bus, a retained log group per function.
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


ALARM_WITHIN_SECONDS = 300


def _resource_of_arn(destination: Any) -> str | None:
    """The logical id of the resource a `!GetAtt <Resource>.Arn` names (None for anything else)."""
    target = destination.get("Fn::GetAtt") if isinstance(destination, dict) else None
    if isinstance(target, str):
        target = target.split(".")
    return target[0] if isinstance(target, list) and target[1:] == ["Arn"] else None


def failed_batch_problems(template: dict[str, Any]) -> list[str]:
    """Every stream consumer's failed batches are kept whole (an S3 destination) in a bucket that is
    encrypted, private, TLS-only, retained with the stack, expires after a retention parameter, and alarms
    within ALARM_WITHIN_SECONDS of a write."""
    resources = template["Resources"]
    problems = []
    for name, function in resources_of_type(template, "AWS::Serverless::Function").items():
        for event_name, event in (function["Properties"].get("Events") or {}).items():
            if event["Type"] not in ("DynamoDB", "Kinesis"):
                continue
            on_failure = (event["Properties"].get("DestinationConfig") or {}).get("OnFailure") or {}
            bucket_id = _resource_of_arn(on_failure.get("Destination"))
            where = f"{name}.{event_name}"
            if on_failure.get("Type") != "S3" or bucket_id not in resources:
                problems.append(f"{where}: the on-failure destination is not a bucket of this template")
                continue
            bucket = resources[bucket_id]
            properties = bucket.get("Properties") or {}
            if (bucket.get("DeletionPolicy"), bucket.get("UpdateReplacePolicy")) != ("Retain", "Retain"):
                problems.append(f"{bucket_id}: not retained when the stack goes")
            if not properties.get("BucketEncryption"):
                problems.append(f"{bucket_id}: not encrypted")
            block = properties.get("PublicAccessBlockConfiguration") or {}
            flags = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
            if not all(block.get(flag) is True for flag in flags):
                problems.append(f"{bucket_id}: public access not blocked")
            expirations = [
                rule.get("ExpirationInDays")
                for rule in (properties.get("LifecycleConfiguration") or {}).get("Rules") or []
                if rule.get("ExpirationInDays")
            ]
            retention = next((e["Ref"] for e in expirations if isinstance(e, dict) and "Ref" in e), None)
            if retention not in (template.get("Parameters") or {}):
                problems.append(f"{bucket_id}: objects do not expire after a retention parameter")
            if not any(
                policy["Properties"]["Bucket"] == {"Ref": bucket_id}
                and any(
                    s.get("Effect") == "Deny"
                    and (s.get("Condition") or {}).get("Bool", {}).get("aws:SecureTransport") == "false"
                    for s in policy["Properties"]["PolicyDocument"]["Statement"]
                )
                for policy in resources_of_type(template, "AWS::S3::BucketPolicy").values()
            ):
                problems.append(
                    f"{bucket_id}: TLS is not enforced (no bucket policy denying aws:SecureTransport false)"
                )
            filters = {item.get("Id") for item in properties.get("MetricsConfigurations") or []}
            if not any(
                alarm["Properties"].get("Namespace") == "AWS/S3"
                and alarm["Properties"].get("MetricName") == "PutRequests"
                and {"Name": "BucketName", "Value": {"Ref": bucket_id}} in alarm["Properties"]["Dimensions"]
                and any(
                    d["Name"] == "FilterId" and d["Value"] in filters
                    for d in alarm["Properties"]["Dimensions"]
                )
                and alarm["Properties"]["Period"] * alarm["Properties"]["EvaluationPeriods"]
                <= ALARM_WITHIN_SECONDS
                for alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").values()
            ):
                problems.append(
                    f"{bucket_id}: no alarm within {ALARM_WITHIN_SECONDS} s of a failed batch written"
                )
    return problems


def buses_without_archive(template: dict[str, Any]) -> list[str]:
    archived = {
        _resource_of_arn(archive["Properties"].get("SourceArn"))
        for archive in resources_of_type(template, "AWS::Events::Archive").values()
        if isinstance((archive["Properties"].get("RetentionDays") or {}), dict)  # a parameter, not a literal
    }
    return [name for name in resources_of_type(template, "AWS::Events::EventBus") if name not in archived]


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


def test_failed_batches_are_kept_whole_in_a_private_retained_alarmed_bucket():
    assert failed_batch_problems(load_template()) == []


def test_every_event_bus_is_archived_for_a_retention_parameter():
    assert buses_without_archive(load_template()) == []


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
        (
            lambda t: t["Resources"]["OrderEventsFunction"]["Properties"]["Events"]["TableStream"][
                "Properties"
            ]["DestinationConfig"]["OnFailure"].update(Type="SQS"),
            failed_batch_problems,
        ),
        (
            lambda t: t["Resources"]["OrderEventsFailedBatchBucket"].pop("DeletionPolicy"),
            failed_batch_problems,
        ),
        (
            lambda t: t["Resources"]["OrderEventsFailedBatchBucket"]["Properties"].pop("BucketEncryption"),
            failed_batch_problems,
        ),
        (
            lambda t: t["Resources"]["OrderEventsFailedBatchBucket"]["Properties"][
                "PublicAccessBlockConfiguration"
            ].update(RestrictPublicBuckets=False),
            failed_batch_problems,
        ),
        (
            lambda t: t["Resources"]["OrderEventsFailedBatchBucket"]["Properties"]["LifecycleConfiguration"][
                "Rules"
            ][0].update(ExpirationInDays=90),
            failed_batch_problems,
        ),
        (lambda t: t["Resources"].pop("OrderEventsFailedBatchBucketPolicy"), failed_batch_problems),
        (
            lambda t: t["Resources"]["OrderEventsFailedBatchAlarm"]["Properties"].update(EvaluationPeriods=6),
            failed_batch_problems,
        ),
        (lambda t: t["Resources"].pop("OrderEventArchive"), buses_without_archive),
    ],
)
def test_the_rules_catch_a_broken_template(breakage, checker):
    broken = copy.deepcopy(load_template())
    breakage(broken)
    assert checker(broken) != []
