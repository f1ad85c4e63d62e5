"""The events the local stack builds have AWS's shape, checked against the samples AWS publishes rather than
against our own fixtures: SAM CLI's `sam local generate-event apigateway http-api-proxy` and
`sam local generate-event dynamodb update`, generated at test time (SAM CLI ships the templates, so this
works offline, and a SAM CLI upgrade updates them).

The events compared are captured from a running stack (the fixture template's `ShapesFunction`): an HTTP
request through the JWT authorizer, with a path parameter, a query string, cookies and a body, comes back
as the function's response; the stream records of an item put, overwritten and deleted (the sample's own
attributes, so the images can be compared value for value) are printed by the function to the stack's log.

For every key path AWS's sample has, ours has it too, with the same JSON type (recursively; an integer
where AWS has an integer). Maps whose keys are data (headers, parameters, claims, item attributes) are
compared by their values' types, not their example names. And Powertools' data classes, which the
functions use, read AWS's sample and ours alike: no exception and values of the same types.

The JWT authorizer's part (`requestContext.authorizer.jwt`): SAM CLI's http-api-proxy sample has it, as
`{"jwt": {"claims": {<name>: <string>}, "scopes": [<string>]}}`; AWS's "Create AWS Lambda proxy
integrations for HTTP APIs" page (docs.aws.amazon.com/apigateway/latest/developerguide/
http-api-develop-integrations-lambda.html) shows the same structure. `scopes` is null for a token without
`scope`/`scp`, which is why the request here uses a token with scopes (the null case: test_runtime.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2, DynamoDBStreamEvent
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecordEventName,
    StreamViewType,
)

from tests.e2e.harness import wait_for

pytestmark = pytest.mark.e2e

SAM = Path(sys.executable).with_name("sam")  # the project's venv has SAM CLI (a dev dependency)

# Keys of AWS's HTTP sample that API Gateway leaves out of some events, and why ours may lack them here
# (payload format 2.0, per AWS's HTTP API docs). `cookies`, `queryStringParameters`, `pathParameters` and
# `body` are also left out when the request has no cookie, no query string, a route without parameters or
# no body; the request below has all four, so all four must be there.
ABSENT_HERE = {
    # Only on a custom domain name with mutual TLS, which forwards the client certificate to the
    # integration ("How to turn on mutual TLS authentication for your HTTP APIs"); the local stack
    # serves plain HTTP, as the execute-api endpoint without mTLS does.
    "requestContext.authentication": "mutual TLS only",
    # Only when the stage defines stage variables; neither template declares any (`StageVariables`).
    "stageVariables": "no stage variables",
}

# Maps whose keys are data (AWS's sample names example headers, parameters, claims and attributes): ours
# must be a map whose values have the type of the sample's values.
HTTP_MAPS = {
    "headers",
    "queryStringParameters",
    "pathParameters",
    "stageVariables",
    "requestContext.authorizer.jwt.claims",
}
STREAM_MAPS = {"dynamodb.Keys", "dynamodb.NewImage", "dynamodb.OldImage"}

# DynamoDB's AttributeValue: one type descriptor and its value, in the wire format (numbers as strings,
# binary as base64).
ATTRIBUTE_VALUE_TYPES = {
    "S": "string",
    "N": "string",
    "B": "string",
    "BOOL": "boolean",
    "NULL": "boolean",
    "SS": "array",
    "NS": "array",
    "BS": "array",
    "M": "object",
    "L": "array",
}


# ------------------------------------------------------------------------------------------ comparison
def json_type(value: Any) -> str:
    """The JSON type a handler sees after `json.loads`; an integer is not a fraction (`SizeBytes: 26` and
    `SizeBytes: 26.0` differ for a handler)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(f"not a JSON value: {value!r}")


def shape_differences(
    aws: Any, ours: Any, *, maps: set[str], absent: dict[str, str] | None = None, path: str = ""
) -> list[str]:
    """Where `ours` lacks a key path of `aws` or has another JSON type there (empty: same shape)."""
    here = path or "<event>"
    if json_type(aws) != json_type(ours):
        return [f"{here}: AWS has {json_type(aws)} {aws!r:.60}, ours {json_type(ours)} {ours!r:.60}"]
    if path in maps:
        sample_types = {json_type(value) for value in aws.values()}
        assert len(sample_types) == 1, f"AWS's {here} mixes value types: {aws}"
        if not ours:
            return [f"{here}: empty"]
        return [
            f"{here}.{name}: AWS's values are {next(iter(sample_types))}, ours is {json_type(value)}"
            for name, value in ours.items()
            if json_type(value) not in sample_types
        ]
    differences = []
    if isinstance(aws, dict):
        for key, value in aws.items():
            inner = f"{path}.{key}" if path else key
            if key not in ours:
                if inner not in (absent or {}):
                    differences.append(f"{inner}: missing")
                continue
            differences += shape_differences(value, ours[key], maps=maps, absent=absent, path=inner)
    elif isinstance(aws, list) and aws:
        if not ours:
            differences.append(f"{here}: empty (AWS's has {len(aws)} elements)")
        for index, item in enumerate(ours):
            differences += shape_differences(aws[0], item, maps=maps, absent=absent, path=f"{here}[{index}]")
    return differences


def attribute_value_problems(image: dict[str, Any], where: str) -> list[str]:
    problems = []
    for name, value in image.items():
        if not (isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ATTRIBUTE_VALUE_TYPES):
            problems.append(f"{where}.{name}: not an AttributeValue: {value!r}")
            continue
        ((descriptor, inner),) = value.items()
        if json_type(inner) != ATTRIBUTE_VALUE_TYPES[descriptor]:
            problems.append(f"{where}.{name}.{descriptor}: {json_type(inner)}")
    return problems


def accessor_types(values: dict[str, Any]) -> dict[str, str]:
    return {name: type(value).__name__ for name, value in values.items()}


def test_the_comparison_sees_a_missing_key_a_wrong_type_and_a_wrong_map_value():
    aws = {"a": {"b": 1, "c": [{"d": "x"}]}, "m": {"k1": "v"}, "opt": {}}
    same = {"a": {"b": 2, "c": [{"d": "y", "extra": 0}]}, "m": {"other": "w"}, "more": 1}
    assert shape_differences(aws, same, maps={"m"}, absent={"opt": "why"}) == []
    assert shape_differences(aws, {**same, "a": {"c": [{"d": "y"}]}}, maps={"m"}, absent={"opt": ""}) == [
        "a.b: missing"
    ]
    assert shape_differences(aws, {**same, "a": {"b": 2.0, "c": [{}]}}, maps={"m"}, absent={"opt": ""}) == [
        "a.b: AWS has integer 1, ours number 2.0",
        "a.c[0].d: missing",
    ]
    assert shape_differences(aws, {**same, "m": {"k": 1}}, maps={"m"}, absent={"opt": ""}) == [
        "m.k: AWS's values are string, ours is integer"
    ]
    assert shape_differences(aws, same, maps={"m"}) == ["opt: missing"]
    assert attribute_value_problems({"a": {"N": 1}, "b": {"X": "1"}, "c": {"S": "s"}}, "i") == [
        "i.a.N: integer",
        "i.b: not an AttributeValue: {'X': '1'}",
    ]


# ------------------------------------------------------------------------------------------ AWS's samples
@pytest.fixture(scope="session")
def aws_samples() -> dict[str, dict]:
    """SAM CLI's samples, generated now (both at once: each is a second of SAM CLI start-up)."""
    assert SAM.exists(), f"SAM CLI is a dev dependency: {SAM} is missing (uv sync)"
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    wanted = {"http": ("apigateway", "http-api-proxy"), "stream": ("dynamodb", "update")}
    running = {
        name: subprocess.Popen(
            [str(SAM), "local", "generate-event", *arguments],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name, arguments in wanted.items()
    }
    samples = {}
    for name, process in running.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, f"sam local generate-event {' '.join(wanted[name])}: {err}"
        samples[name] = json.loads(out)
    return samples


# ------------------------------------------------------------------------------------------ HTTP API
@pytest.fixture(scope="module")
def our_http_event(fixture_process, mint) -> dict:
    """What the function received for a POST through the JWT authorizer, with everything optional there."""
    reply = fixture_process.request(
        "POST",
        "/shapes/a%20b?parameter1=value1&parameter1=value2&parameter2=value",
        token=mint("user-1", scopes=["scope1", "scope2"]),
        body='{"test": "body"}',
        headers={"Content-Type": "application/json", "Cookie": "cookie1=1; cookie2=2", "User-Agent": "agent"},
    )
    assert reply.status == 200, reply.text
    return json.loads(reply.raw)


def test_http_event_has_every_key_path_of_aws_sample_with_its_type(aws_samples, our_http_event):
    aws = aws_samples["http"]
    assert "jwt" in aws["requestContext"]["authorizer"]  # the sample has the JWT authorizer's part
    assert shape_differences(aws, our_http_event, maps=HTTP_MAPS, absent=ABSENT_HERE) == []
    # What the sample shows of the format that a shape does not: the version, the JWT authorizer's
    # claims and scopes (claims are strings: API Gateway flattens the token's), the time's format.
    assert our_http_event["version"] == aws["version"] == "2.0"
    jwt = our_http_event["requestContext"]["authorizer"]["jwt"]
    assert set(jwt) == set(aws["requestContext"]["authorizer"]["jwt"]) == {"claims", "scopes"}
    assert jwt["scopes"] == ["scope1", "scope2"] and jwt["claims"]["sub"] == "user-1"
    for event in (aws, our_http_event):
        time.strptime(event["requestContext"]["time"], "%d/%b/%Y:%H:%M:%S %z")
    # All header names are lower case in format 2.0 (AWS's docs; SAM CLI's sample says `Header1`).
    assert all(name == name.lower() for name in our_http_event["headers"])


def http_accessors(event: dict) -> dict[str, Any]:
    """What a handler reads through Powertools' APIGatewayProxyEventV2 (raises if it cannot)."""
    data = APIGatewayProxyEventV2(event)
    context = data.request_context
    return {
        "version": data.version,
        "route_key": data.route_key,
        "raw_path": data.raw_path,
        "raw_query_string": data.raw_query_string,
        "path": data.path,
        "http_method": data.http_method,
        "cookies": data.cookies,
        "headers": data.headers,
        "query_string_parameters": data.query_string_parameters,
        "resolved_query_string_parameters": data.resolved_query_string_parameters,
        "path_parameters": data.path_parameters,
        "body": data.body,
        "decoded_body": data.decoded_body,
        "json_body": data.json_body,
        "is_base64_encoded": data.is_base64_encoded,
        "account_id": context.account_id,
        "api_id": context.api_id,
        "domain_name": context.domain_name,
        "domain_prefix": context.domain_prefix,
        "request_id": context.request_id,
        "context.route_key": context.route_key,
        "stage": context.stage,
        "time": context.time,
        "time_epoch": context.time_epoch,
        "http.method": context.http.method,
        "http.path": context.http.path,
        "http.protocol": context.http.protocol,
        "http.source_ip": context.http.source_ip,
        "http.user_agent": context.http.user_agent,
        "authorizer.jwt_claim": context.authorizer.jwt_claim,
        "authorizer.jwt_scopes": context.authorizer.jwt_scopes,
    }


def test_powertools_reads_our_http_event_as_it_reads_aws_sample(aws_samples, our_http_event):
    aws, ours = http_accessors(aws_samples["http"]), http_accessors(our_http_event)
    assert accessor_types(ours) == accessor_types(aws)
    assert ours["json_body"] == aws["json_body"] == {"test": "body"}  # one base64, one text: both decoded
    assert (ours["http_method"], ours["path"], ours["http.path"]) == ("POST", "/shapes/a%20b", "/shapes/a b")
    assert ours["path_parameters"] == {"name": "a b"}
    assert ours["query_string_parameters"] == aws["query_string_parameters"]
    assert ours["cookies"] == ["cookie1=1", "cookie2=2"]
    assert ours["authorizer.jwt_claim"]["sub"] == "user-1"
    assert ours["authorizer.jwt_scopes"] == ["scope1", "scope2"]
    assert ours["http.source_ip"] == "127.0.0.1" and ours["http.user_agent"] == "agent"


# ------------------------------------------------------------------------------------------ table stream
def shape_records(stack, key: str) -> list[dict]:
    """The stream records for `key` the fixture's ShapesFunction received (from the stack's log)."""
    found = []
    for line in stack.log.splitlines():
        if line.startswith("[ShapesFunction] SHAPES "):
            for record in json.loads(line.removeprefix("[ShapesFunction] SHAPES "))["Records"]:
                if record["dynamodb"]["Keys"]["PK"]["S"] == key:
                    found.append(record)
    return found


@pytest.fixture(scope="module")
def our_stream_records(fixture_process, aws_samples) -> tuple[str, dict[str, dict]]:
    """AWS's sample replayed on the fixture table (its item put, overwritten, deleted, under a new key):
    the key and the three records the function received, by event name."""
    sample = {record["eventName"]: record["dynamodb"] for record in aws_samples["stream"]["Records"]}
    assert set(sample) == {"INSERT", "MODIFY", "REMOVE"}
    key = f"shape-{uuid.uuid4().hex[:8]}"
    ours = {"PK": {"S": key}, "kind": {"S": "shape"}}
    dynamodb = fixture_process.aws("dynamodb")
    dynamodb.put_item(TableName="Table", Item={**sample["INSERT"]["NewImage"], **ours})
    dynamodb.put_item(TableName="Table", Item={**sample["MODIFY"]["NewImage"], **ours})
    dynamodb.delete_item(TableName="Table", Key={"PK": {"S": key}})
    records = wait_for(lambda: len(found := shape_records(fixture_process, key)) >= 3 and found, timeout=15)
    assert [record["eventName"] for record in records] == ["INSERT", "MODIFY", "REMOVE"]
    return key, {record["eventName"]: record for record in records}


@pytest.mark.parametrize("event_name", ["INSERT", "MODIFY", "REMOVE"])
def test_stream_record_has_every_key_path_of_aws_sample_with_its_type(
    aws_samples, our_stream_records, event_name
):
    aws = next(record for record in aws_samples["stream"]["Records"] if record["eventName"] == event_name)
    ours = our_stream_records[1][event_name]
    assert shape_differences(aws, ours, maps=STREAM_MAPS) == []
    # The ones the brief names, spelled out (the comparison above covers them).
    assert isinstance(ours["dynamodb"]["ApproximateCreationDateTime"], int)  # whole seconds, like AWS's
    assert abs(ours["dynamodb"]["ApproximateCreationDateTime"] - time.time()) < 120
    assert isinstance(ours["dynamodb"]["SizeBytes"], int) and ours["dynamodb"]["SizeBytes"] > 0
    assert (
        isinstance(ours["dynamodb"]["SequenceNumber"], str) and ours["dynamodb"]["SequenceNumber"].isdigit()
    )
    # The constants of the format, as AWS's sample has them.
    for name in ("eventVersion", "eventSource", "awsRegion"):
        assert ours[name] == aws[name], name
    assert ours["dynamodb"]["StreamViewType"] == aws["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert ours["eventSourceARN"].startswith("arn:aws:dynamodb:us-east-1:123456789012:table/Table/stream/")
    # AttributeValues in the wire format, and the sample's own attributes back as they were written.
    for image in ("Keys", "NewImage", "OldImage"):
        assert (image in ours["dynamodb"]) == (image in aws["dynamodb"]), image
        if image in aws["dynamodb"]:
            assert attribute_value_problems(aws["dynamodb"][image], f"AWS's {image}") == []
            assert attribute_value_problems(ours["dynamodb"][image], image) == []
    for image in ("NewImage", "OldImage"):
        if image in aws["dynamodb"]:
            assert aws["dynamodb"][image].items() <= ours["dynamodb"][image].items(), image


def stream_accessors(record) -> dict[str, Any]:
    """What a handler reads through Powertools' DynamoDBRecord (raises if it cannot)."""
    stream = record.dynamodb
    return {
        "event_id": record.event_id,
        "event_name": record.event_name,
        "event_version": record.event_version,
        "event_source": record.event_source,
        "event_source_arn": record.event_source_arn,
        "aws_region": record.aws_region,
        "approximate_creation_date_time": stream.approximate_creation_date_time,
        "keys": stream.keys,
        "new_image": stream.new_image,
        "old_image": stream.old_image,
        "sequence_number": stream.sequence_number,
        "size_bytes": stream.size_bytes,
        "stream_view_type": stream.stream_view_type,
    }


def test_powertools_reads_our_stream_records_as_it_reads_aws_sample(aws_samples, our_stream_records):
    key, records = our_stream_records
    aws_records = list(DynamoDBStreamEvent(aws_samples["stream"]).records)
    our_records = list(DynamoDBStreamEvent({"Records": list(records.values())}).records)
    assert [record.event_name for record in our_records] == [record.event_name for record in aws_records]
    assert [record.event_name for record in our_records] == list(DynamoDBRecordEventName)
    for aws_record, our_record in zip(aws_records, our_records, strict=True):
        aws, ours = stream_accessors(aws_record), stream_accessors(our_record)
        assert accessor_types(ours) == accessor_types(aws)
        assert ours["event_name"] is aws["event_name"]
        assert ours["stream_view_type"] is aws["stream_view_type"] is StreamViewType.NEW_AND_OLD_IMAGES
        assert ours["size_bytes"] > 0 and abs(ours["approximate_creation_date_time"] - time.time()) < 120
        assert ours["sequence_number"].isdigit()
        # Deserialized as the sample's are (numbers as Decimal, a missing image as {}): the sample's
        # attributes and ours.
        assert ours["keys"] == {"PK": key}
        for image in ("new_image", "old_image"):
            assert ours[image] == ({**aws[image], "PK": key, "kind": "shape"} if aws[image] else {}), image
