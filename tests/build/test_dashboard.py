"""The operators' dashboard (issue 21): one page with every function's invocations, errors, throttles and
p99 duration; the API's requests, 4xx, 5xx and latency; the stream consumer's iterator age, events and
failed batches; the table's throttles per operation and per index; and every alarm of the template, each
beside the metric it watches.

What must be on it is read from the template itself (its functions, APIs, stream consumers, buses, tables,
their indexes, the operations anything is granted on a table, its alarms), so adding one of those without
its dashboard line fails here. Each rule is also run on a broken copy of the template, so it cannot rot."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from local.template import PSEUDO_PARAMETERS, load_template, resources_of_type

STREAM_EVENT_TYPES = {"DynamoDB", "Kinesis"}
HTTP_API_TYPES = {"AWS::Serverless::HttpApi", "AWS::ApiGatewayV2::Api"}
# The `Operation` values of DynamoDB's ThrottledRequests a grant can make happen (control-plane and stream
# actions have no such line).
THROTTLED_OPERATIONS = {
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem",
    "TransactGetItems", "TransactWriteItems", "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction",
}  # fmt: skip
DEFAULT_STAT = "Average"  # what CloudWatch graphs when neither the line nor its widget names a stat
_SUB_VARIABLE = re.compile(r"\$\{(!?)([^}]*)\}")


@dataclass(frozen=True)
class Line:
    namespace: str
    name: str
    dimensions: frozenset[tuple[str, str]]
    stat: str


def placeholder(value: Any) -> str:
    """The stand-in for what CloudFormation puts where the template says `!Ref X`, `!GetAtt X.Attr` or a
    literal: `ref:X`, `att:X.Attr`, the literal itself."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return f"ref:{value['Ref']}"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return "att:" + (target if isinstance(target, str) else ".".join(target))
    raise AssertionError(f"no placeholder for {value!r}")


def substituted(value: Any, template: dict[str, Any]) -> str:
    """A `!Sub` string with each `${...}` replaced by its placeholder (`${Name}` -> `ref:Name`,
    `${Name.Attr}` -> `att:Name.Attr`, `${!Literal}` -> `${Literal}`). A name that is neither a resource,
    a parameter nor a pseudo parameter fails: CloudFormation would refuse the stack."""
    if isinstance(value, str):
        return value
    sub = value["Fn::Sub"]
    text, variables = (sub, {}) if isinstance(sub, str) else (sub[0], sub[1])
    known = set(template["Resources"]) | set(template.get("Parameters") or {}) | set(PSEUDO_PARAMETERS)

    def replace(match: re.Match[str]) -> str:
        literal, name = match.groups()
        if literal:
            return "${" + name + "}"
        if name in variables:
            return placeholder(variables[name])
        if name.split(".")[0] not in known:
            raise AssertionError(f"${{{name}}}: not a resource, parameter or pseudo parameter")
        return f"att:{name}" if "." in name else f"ref:{name}"

    return _SUB_VARIABLE.sub(replace, text)


def dashboard_body(template: dict[str, Any]) -> dict[str, Any]:
    dashboards = resources_of_type(template, "AWS::CloudWatch::Dashboard")
    assert len(dashboards) == 1, f"one operators' dashboard, found {sorted(dashboards)}"
    properties = next(iter(dashboards.values()))["Properties"]
    text = substituted(properties["DashboardBody"], template)
    try:
        body = json.loads(text)
    except json.JSONDecodeError as error:
        raise AssertionError(f"DashboardBody is not JSON once substituted: {error}") from None
    assert isinstance(body, dict) and isinstance(body.get("widgets"), list), "no widgets"
    return body


def metric_lines(body: dict[str, Any]) -> set[Line]:
    """Every metric a metric widget graphs, with its effective stat (CloudWatch's `"."` shorthand, which
    repeats the previous line's field, expanded; math expressions left out)."""
    lines = set()
    for widget in body["widgets"]:
        if widget.get("type") != "metric":
            continue
        properties = widget["properties"]
        previous: list[str] = []
        for row in properties.get("metrics") or []:
            options = row[-1] if row and isinstance(row[-1], dict) else {}
            fields = row[:-1] if options else row
            fields = [previous[i] if field == "." else field for i, field in enumerate(fields)]
            previous = fields
            if "expression" in options:
                continue
            namespace, name, *dimensions = fields
            lines.add(
                Line(
                    namespace,
                    name,
                    frozenset(zip(dimensions[::2], dimensions[1::2], strict=True)),
                    options.get("stat") or properties.get("stat") or DEFAULT_STAT,
                )
            )
    return lines


def missing(lines: set[Line], wanted: list[tuple[str, str, dict[str, str], str | None]]) -> list[str]:
    """Each wanted (namespace, metric, dimensions, stat or None for any) that no line graphs."""
    return [
        f"{namespace} {name} {dimensions}" + (f" ({stat})" if stat else "")
        for namespace, name, dimensions, stat in wanted
        if not any(
            (line.namespace, line.name, line.dimensions) == (namespace, name, frozenset(dimensions.items()))
            and stat in (None, line.stat)
            for line in lines
        )
    ]


# ---------------------------------------------------------------------------------------------- rules
def body_problems(template: dict[str, Any]) -> list[str]:
    """CloudWatch refuses a metric widget without a region; every widget is one of the kinds used here."""
    problems = []
    for index, widget in enumerate(dashboard_body(template)["widgets"]):
        kind = widget.get("type")
        if kind not in {"metric", "alarm", "text"}:
            problems.append(f"widget {index}: type {kind!r}")
        elif kind == "metric" and not (
            widget["properties"].get("region") and widget["properties"].get("metrics")
        ):
            problems.append(f"widget {index} ({widget['properties'].get('title')}): no region or no metrics")
    return problems


def alarm_problems(template: dict[str, Any]) -> list[str]:
    """Every alarm is on the alarm widget, and the metric it watches is graphed."""
    body = dashboard_body(template)
    shown = {
        arn
        for widget in body["widgets"]
        if widget.get("type") == "alarm"
        for arn in widget["properties"]["alarms"]
    }
    lines = metric_lines(body)
    problems = []
    for name, alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").items():
        if f"att:{name}.Arn" not in shown:
            problems.append(f"{name}: not on the alarm widget")
        properties = alarm["Properties"]
        if "MetricName" in properties:  # a metric-math alarm (Metrics) has no single metric to graph
            dimensions = {d["Name"]: placeholder(d["Value"]) for d in properties.get("Dimensions") or []}
            wanted = [(properties["Namespace"], properties["MetricName"], dimensions, None)]
            problems += [f"{name} watches {what}: not graphed" for what in missing(lines, wanted)]
    return problems


def function_problems(template: dict[str, Any]) -> list[str]:
    """Each function's invocations, errors, throttles and p99 duration; a stream consumer's iterator age."""
    wanted = []
    for name, function in resources_of_type(template, "AWS::Serverless::Function").items():
        dimensions = {"FunctionName": f"ref:{name}"}
        wanted += [
            ("AWS/Lambda", metric, dimensions, None) for metric in ("Invocations", "Errors", "Throttles")
        ]
        wanted.append(("AWS/Lambda", "Duration", dimensions, "p99"))
        events = (function["Properties"].get("Events") or {}).values()
        if any(event["Type"] in STREAM_EVENT_TYPES for event in events):
            wanted.append(("AWS/Lambda", "IteratorAge", dimensions, "Maximum"))
    return missing(metric_lines(dashboard_body(template)), wanted)


def api_problems(template: dict[str, Any]) -> list[str]:
    """Each HTTP API's requests, 4xx and 5xx, and its p99 latency."""
    wanted = []
    for resource_type in HTTP_API_TYPES:
        for name in resources_of_type(template, resource_type):
            dimensions = {"ApiId": f"ref:{name}"}
            wanted += [("AWS/ApiGateway", metric, dimensions, "Sum") for metric in ("Count", "4xx", "5xx")]
            wanted.append(("AWS/ApiGateway", "Latency", dimensions, "p99"))
    return missing(metric_lines(dashboard_body(template)), wanted)


def event_problems(template: dict[str, Any]) -> list[str]:
    """The events reaching each bus, and the entries PutEvents took and refused (EventBridge counts those
    per account and Region only)."""
    wanted: list[tuple[str, str, dict[str, str], str | None]] = [
        ("AWS/Events", "PutEventsEntriesCount", {}, "Sum"),
        ("AWS/Events", "PutEventsFailedEntriesCount", {}, "Sum"),
    ]
    wanted += [
        ("AWS/Events", "MatchedEvents", {"EventBusName": f"ref:{name}"}, "Sum")
        for name in resources_of_type(template, "AWS::Events::EventBus")
    ]
    return missing(metric_lines(dashboard_body(template)), wanted)


def granted_table_operations(template: dict[str, Any], table: str) -> set[str]:
    """The DynamoDB operations any statement of the template allows on the table or its indexes."""
    operations: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("Effect") == "Allow" and table in repr(node.get("Resource")):
                actions = node.get("Action") or []
                for action in [actions] if isinstance(actions, str) else actions:
                    service, _, operation = action.partition(":")
                    if service == "dynamodb" and operation in THROTTLED_OPERATIONS:
                        operations.add(operation)
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(template["Resources"])
    return operations


def table_problems(template: dict[str, Any]) -> list[str]:
    """Each table's throttled requests for every operation granted on it, and its read and write throttle
    events, the table's and each global secondary index's."""
    wanted: list[tuple[str, str, dict[str, str], str | None]] = []
    for name, table in resources_of_type(template, "AWS::DynamoDB::Table").items():
        table_name = {"TableName": f"ref:{name}"}
        wanted += [
            ("AWS/DynamoDB", "ThrottledRequests", {**table_name, "Operation": operation}, "Sum")
            for operation in sorted(granted_table_operations(template, name))
        ]
        indexes = [{}] + [
            {"GlobalSecondaryIndexName": index["IndexName"]}
            for index in table["Properties"].get("GlobalSecondaryIndexes") or []
        ]
        wanted += [
            ("AWS/DynamoDB", metric, {**table_name, **index}, "Sum")
            for index in indexes
            for metric in ("ReadThrottleEvents", "WriteThrottleEvents")
        ]
    return missing(metric_lines(dashboard_body(template)), wanted)


RULES = [body_problems, alarm_problems, function_problems, api_problems, event_problems, table_problems]


# ---------------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.__name__)
def test_the_dashboard_shows_it(rule: Callable[[dict[str, Any]], list[str]]):
    assert rule(load_template()) == []


def test_the_rules_see_what_the_template_has():
    """The derived expectations are not empty: a rule that expects nothing would pass any dashboard."""
    template = load_template()
    assert len(resources_of_type(template, "AWS::CloudWatch::Alarm")) >= 4
    assert len(resources_of_type(template, "AWS::Serverless::Function")) >= 7
    assert {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan"} <= granted_table_operations(
        template, "OrdersTable"
    )


def test_one_dashboard_per_stage_and_region():
    """Dashboard names are global to an account: two stages, or one stage in two Regions, must not share
    one."""
    template = load_template()
    (dashboard,) = resources_of_type(template, "AWS::CloudWatch::Dashboard").values()
    name = substituted(dashboard["Properties"]["DashboardName"], template)
    assert "ref:Stage" in name
    assert "ref:AWS::Region" in name


def _add_alarm(template: dict[str, Any]) -> None:
    template["Resources"]["ApiServerErrorsAlarm"] = {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "Namespace": "AWS/ApiGateway",
            "MetricName": "5xx",
            "Dimensions": [{"Name": "ApiId", "Value": {"Ref": "OrdersHttpApi"}}],
        },
    }


def _add_index(template: dict[str, Any]) -> None:
    indexes = template["Resources"]["OrdersTable"]["Properties"]["GlobalSecondaryIndexes"]
    indexes.append({**indexes[0], "IndexName": "ByRegion"})


def _add_function(template: dict[str, Any]) -> None:
    template["Resources"]["CancelOrderFunction"] = copy.deepcopy(template["Resources"]["GetOrderFunction"])


def _grant_batch_writes(template: dict[str, Any]) -> None:
    policies = template["Resources"]["UpdateOrderStatusFunction"]["Properties"]["Policies"]
    statement = policies[0]["Statement"][0]
    statement["Action"] = [*statement["Action"], "dynamodb:BatchWriteItem"]


def _edit_body(old: str, new: str) -> Callable[[dict[str, Any]], None]:
    def edit(template: dict[str, Any]) -> None:
        body = template["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]
        assert old in body["Fn::Sub"], old
        body["Fn::Sub"] = body["Fn::Sub"].replace(old, new, 1)

    return edit


@pytest.mark.parametrize(
    ("breakage", "rule"),
    [
        (_add_alarm, alarm_problems),
        (
            _edit_body('"${OrderEventsIteratorAgeAlarm.Arn}"', '"${OrderEventsErrorsAlarm.Arn}"'),
            alarm_problems,
        ),
        (_edit_body('"FilterId", "FailedBatches"', '"FilterId", "EntireBucket"'), alarm_problems),
        (_add_function, function_problems),
        (_edit_body('"stat": "p99", "metrics"', '"stat": "Average", "metrics"'), function_problems),
        (_edit_body('"IteratorAge", "FunctionName"', '"IteratorAgeX", "FunctionName"'), function_problems),
        (_edit_body('"5xx", "ApiId"', '"5XXError", "ApiId"'), api_problems),
        (_edit_body('"PutEventsFailedEntriesCount"', '"PutEventsApproximateFailedCount"'), event_problems),
        (_add_index, table_problems),
        (_grant_batch_writes, table_problems),
        (
            _edit_body('"GlobalSecondaryIndexName", "GSI2"', '"GlobalSecondaryIndexName", "GSI1"'),
            table_problems,
        ),
        (_edit_body('"region": "${AWS::Region}", ', ""), body_problems),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_the_rules_catch_a_broken_template(breakage, rule):
    broken = copy.deepcopy(load_template())
    breakage(broken)
    assert rule(broken) != []


@pytest.mark.parametrize(
    "edit",
    [
        _edit_body('"${OrdersTable}", "Operation", "Scan"]', '${OrdersTable}, "Operation", "Scan"]'),
        _edit_body("${OrdersHttpApi}", "${OrdersHttpApiTypo}"),
    ],
)
def test_a_body_cloudformation_or_cloudwatch_would_refuse_fails(edit):
    """An unquoted reference (not JSON once substituted) or one to nothing in the template fails."""
    broken = copy.deepcopy(load_template())
    edit(broken)
    with pytest.raises(AssertionError):
        dashboard_body(broken)
