"""A template the local stack cannot run is one clear line (which resource, why) and exit code 2, not a
traceback or a stack that fails at the first request."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from local.template import TemplateError, load_template
from local.template.model import stack_model
from tests.e2e.harness import ROOT, free_port, stack_environment

pytestmark = pytest.mark.e2e

BASE = {
    "Transform": "AWS::Serverless-2016-10-31",
    "Globals": {"Function": {"Runtime": "python3.13", "Handler": "app.lambda_handler"}},
    "Resources": {
        "Fn": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "CodeUri": "fn/",
                "Events": {"Get": {"Type": "HttpApi", "Properties": {"Method": "GET", "Path": "/x"}}},
            },
        },
        "Table": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "PK", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}],
            },
        },
    },
}


def _function(template: dict) -> dict:
    return template["Resources"]["Fn"]["Properties"]


def _lambda_authorizer(template: dict) -> None:
    template["Resources"]["Api"] = {
        "Type": "AWS::Serverless::HttpApi",
        "Properties": {"Auth": {"DefaultAuthorizer": "Lam", "Authorizers": {"Lam": {"FunctionArn": "arn"}}}},
    }
    _function(template)["Events"]["Get"]["Properties"]["ApiId"] = {"Ref": "Api"}


CASES = {
    "runtime": (
        lambda t: _function(t).update(Runtime="nodejs20.x"),
        "Fn: Runtime 'nodejs20.x' cannot run locally",
    ),
    "code uri": (lambda t: _function(t).update(CodeUri="nowhere/"), "Fn: CodeUri nowhere/ is not a folder"),
    "handler": (lambda t: _function(t).update(Handler="app"), "Fn: Handler 'app' is not `module.function`"),
    "image": (lambda t: _function(t).update(PackageType="Image"), "Fn: PackageType Image cannot run locally"),
    "import value": (
        lambda t: _function(t).update(Environment={"Variables": {"X": {"Fn::ImportValue": "shared"}}}),
        "Fn: Environment.Variables.X: Fn::ImportValue is not supported locally",
    ),
    "unknown ref": (
        lambda t: _function(t).update(Environment={"Variables": {"X": {"Ref": "Missing"}}}),
        "Fn: Environment.Variables.X: !Ref Missing: no local value",
    ),
    "layer": (
        lambda t: _function(t).update(Layers=[{"Ref": "NoLayer"}]),
        "Fn: Layers: !Ref NoLayer: no such resource",
    ),
    "stream without specification": (
        lambda t: _function(t)["Events"].update(
            S={"Type": "DynamoDB", "Properties": {"Stream": {"Fn::GetAtt": ["Table", "StreamArn"]}}}
        ),
        "Fn: Events.S: table Table has no StreamSpecification",
    ),
    "lambda authorizer": (_lambda_authorizer, "Fn: authorizer 'Lam' is not a JWT authorizer of its API"),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bad-templates")
    (folder / "fn").mkdir()
    (folder / "fn" / "app.py").write_text("def lambda_handler(event, context):\n    return {}\n")
    return folder


@pytest.mark.parametrize("case", list(CASES))
def test_what_cannot_run_is_named(folder, case):
    change, expected = CASES[case]
    template = copy.deepcopy(BASE)
    change(template)
    with pytest.raises(TemplateError) as raised:
        stack_model({}, template, base_dir=folder)
    assert expected in str(raised.value) and "\n" not in str(raised.value)


def test_a_stream_of_another_stack_is_a_warning_not_an_error(folder):
    template = copy.deepcopy(BASE)
    stream = "arn:aws:dynamodb:us-east-1:123456789012:table/Other/stream/2026-01-01T00:00:00.000"
    _function(template)["Events"]["S"] = {"Type": "DynamoDB", "Properties": {"Stream": stream}}
    model = stack_model({}, template, base_dir=folder)
    assert model.streams == []
    assert model.warnings == [
        f"Fn: Events.S: its Stream {stream!r} is not a table of this template; not polled"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Resources: [", "not valid YAML"),
        ("Outputs: {}", "no Resources section"),
        ("Resources: {A: {}}", "A: a resource needs a Type"),
    ],
)
def test_unreadable_templates(folder, text, expected):
    path = folder / f"unreadable-{abs(hash(text))}.yaml"
    path.write_text(text)
    with pytest.raises(TemplateError, match=expected):
        load_template(path)


def run_stack(keys_dir: Path, template: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "local", "--template", str(template)],
        cwd=ROOT,
        env=stack_environment(free_port(), keys_dir),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_command_prints_one_line_and_exits_2(keys_dir, folder):
    template = copy.deepcopy(BASE)
    _function(template)["Runtime"] = "nodejs20.x"
    path = folder / "node.yaml"
    path.write_text(yaml.safe_dump(template))
    result = run_stack(keys_dir, path)
    assert result.returncode == 2, result
    assert result.stderr.strip().splitlines() == [
        f"error: {path}: Fn: Runtime 'nodejs20.x' cannot run locally (the local stack runs python3.x functions)"
    ]
    assert "Ready" not in result.stdout

    missing = run_stack(keys_dir, folder / "missing.yaml")
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        f"error: {folder / 'missing.yaml'}: no template at {folder / 'missing.yaml'}"
    ]


def test_a_table_moto_refuses_is_named(keys_dir, folder):
    template = copy.deepcopy(BASE)
    template["Resources"]["Table"]["Properties"]["KeySchema"] = [{"AttributeName": "Nope", "KeyType": "HASH"}]
    path = folder / "table.yaml"
    path.write_text(yaml.safe_dump(template))
    result = run_stack(keys_dir, path)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"error: {path}: Table: cannot create the table locally: "
    ), lines
