"""Template security rules from issue 23: who may create an account in the stack's user pool, and which
streams the functions may read.

- The Cognito user pool takes no self sign-up unless the AllowSelfSignUp parameter says so (it is off by
  default, and no samconfig stage turns it on).
- No role of the stack holds a policy granting DynamoDB stream reads on `*` (what SAM's
  AWSLambdaDynamoDBExecutionRole grants), and a stream consumer's grant names only its own table's stream.
- The consumer's own role keeps everything SAM would have given it but that managed policy, and the
  template's roles are held to test_template_rules' table rule (no wildcard actions on the table).

The roles are checked as CloudFormation gets them: template.yaml through the SAM translator (offline), with
AWS managed policies' documents from moto's copy of them. Each check also runs on a copy of the template as
it was before (patched in the test), so that it cannot pass for nothing.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import tomllib
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

from local.aws.iam import sam_translate

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SAMCONFIG = ROOT / "samconfig.toml"
REGION, ACCOUNT = "us-east-1", "123456789012"

STREAM_READS = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")
READS = ", ".join(STREAM_READS)  # as the problems list them
STREAM_MANAGED_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole"
CONSUMER = "OrderEventsFunction"


@functools.cache
def _parsed() -> dict[str, Any]:
    from samcli.yamlhelper import yaml_parse

    return yaml_parse(TEMPLATE.read_text())


def template() -> dict[str, Any]:
    """template.yaml, parsed (a copy the caller may change)."""
    return copy.deepcopy(_parsed())


# ------------------------------------------------------------------------------ parameters and conditions
def parameter_values(document: dict[str, Any], overrides: dict[str, str] | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {
        name: spec.get("Default") for name, spec in (document.get("Parameters") or {}).items()
    }
    values.update(overrides or {})
    values.update({"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws"})
    return values


def evaluate(value: Any, document: dict[str, Any], values: dict[str, Any]) -> Any:
    """`value` with Ref (to parameters), Fn::If, Fn::Equals, Fn::Not, Fn::And, Fn::Or and Condition resolved,
    as CloudFormation would with these parameter values; anything else is left as it is."""

    def condition(name: str) -> bool:
        return bool(evaluate(document["Conditions"][name], document, values))

    if isinstance(value, list):
        return [evaluate(item, document, values) for item in value]
    if not isinstance(value, dict) or len(value) != 1:
        return value
    ((key, argument),) = value.items()
    if key == "Ref" and argument in values:
        return values[argument]
    if key == "Condition":
        return condition(argument)
    if key == "Fn::If":
        name, when_true, when_false = argument
        return evaluate(when_true if condition(name) else when_false, document, values)
    if key == "Fn::Equals":
        left, right = (evaluate(item, document, values) for item in argument)
        return str(left) == str(right)
    if key == "Fn::Not":
        return not evaluate(argument[0], document, values)
    if key == "Fn::And":
        return all(evaluate(item, document, values) for item in argument)
    if key == "Fn::Or":
        return any(evaluate(item, document, values) for item in argument)
    return value


# ------------------------------------------------------------------------------------------- user pool
def admin_create_user_only(document: dict[str, Any], overrides: dict[str, str] | None = None) -> Any:
    """What AllowAdminCreateUserOnly of every user pool resolves to with these parameters (Cognito's
    default, when it is unset, is false: anyone may sign up), keyed by pool; pools not created are left out."""
    values = parameter_values(document, overrides)
    found = {}
    for name, resource in document["Resources"].items():
        if resource.get("Type") != "AWS::Cognito::UserPool":
            continue
        if resource.get("Condition") and not evaluate({"Condition": resource["Condition"]}, document, values):
            continue
        config = (resource.get("Properties") or {}).get("AdminCreateUserConfig") or {}
        resolved = evaluate(config.get("AllowAdminCreateUserOnly", False), document, values)
        found[name] = resolved if isinstance(resolved, bool) else str(resolved).lower() == "true"
    return found


def sign_up_problems(document: dict[str, Any]) -> list[str]:
    """Empty when every user pool refuses self sign-up by default and AllowSelfSignUp=true (only) opens it."""
    problems = []
    parameter = (document.get("Parameters") or {}).get("AllowSelfSignUp")
    if parameter is None:
        problems.append("no AllowSelfSignUp parameter")
    elif (parameter.get("Default"), sorted(parameter.get("AllowedValues") or [])) != (
        "false",
        ["false", "true"],
    ):
        problems.append('AllowSelfSignUp is not "true"/"false" with "false" by default')
    by_default = admin_create_user_only(document)
    if not by_default:
        problems.append("no user pool with the default parameters")
    for pool, admin_only in by_default.items():
        if admin_only is not True:
            problems.append(f"{pool}: anyone may sign up with the default parameters")
    if parameter is not None:
        for pool, admin_only in admin_create_user_only(document, {"AllowSelfSignUp": "true"}).items():
            if admin_only is not False:
                problems.append(f"{pool}: AllowSelfSignUp=true does not open sign-up")
    return problems


def samconfig_sign_up_problems(text: str) -> list[str]:
    """Every samconfig command section whose parameter_overrides turn self sign-up on."""
    problems = []
    for environment, commands in tomllib.loads(text).items():
        if not isinstance(commands, dict):
            continue
        for command, section in commands.items():
            overrides = str((section.get("parameters") or {}).get("parameter_overrides", ""))
            if re.search(r"""(^|\s)["']?AllowSelfSignUp=["']?true""", overrides):
                problems.append(f"[{environment}.{command}.parameters] sets AllowSelfSignUp=true")
    return problems


def test_the_user_pool_refuses_self_sign_up_unless_the_parameter_allows_it():
    document = template()
    assert admin_create_user_only(document) == {"UserPool": True}
    assert admin_create_user_only(document, {"AllowSelfSignUp": "true"}) == {"UserPool": False}
    assert admin_create_user_only(document, {"AllowSelfSignUp": "false"}) == {"UserPool": True}
    # With an issuer of one's own there is no pool at all.
    assert admin_create_user_only(document, {"JwtIssuer": "https://issuer.example"}) == {}
    assert sign_up_problems(document) == []


def test_the_sign_up_check_fails_on_the_template_before_the_parameter():
    old = template()
    del old["Parameters"]["AllowSelfSignUp"]
    del old["Conditions"]["SelfSignUp"]
    del old["Resources"]["UserPool"]["Properties"]["AdminCreateUserConfig"]
    assert admin_create_user_only(old) == {"UserPool": False}
    assert sign_up_problems(old) == [
        "no AllowSelfSignUp parameter",
        "UserPool: anyone may sign up with the default parameters",
    ]
    # A pool closed for good, or a parameter that does nothing, is caught too.
    closed = template()
    closed["Resources"]["UserPool"]["Properties"]["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] = True
    assert sign_up_problems(closed) == ["UserPool: AllowSelfSignUp=true does not open sign-up"]
    open_by_default = template()
    open_by_default["Parameters"]["AllowSelfSignUp"]["Default"] = "true"
    assert sign_up_problems(open_by_default) == [
        'AllowSelfSignUp is not "true"/"false" with "false" by default',
        "UserPool: anyone may sign up with the default parameters",
    ]


def test_no_samconfig_stage_opens_sign_up():
    text = SAMCONFIG.read_text()
    assert samconfig_sign_up_problems(text) == []
    opened = text.replace(
        'parameter_overrides = "Stage=prod', 'parameter_overrides = "AllowSelfSignUp=true Stage=prod', 1
    )
    assert opened != text
    assert samconfig_sign_up_problems(opened) == ["[prod.deploy.parameters] sets AllowSelfSignUp=true"]


# ------------------------------------------------------------------------------------------------- roles
def translate(document: dict[str, Any]) -> dict[str, Any]:
    """The template as CloudFormation gets it from the SAM translator, offline (code locations become
    placeholders, as `sam validate` makes them): the local stack's own translation, which its IAM uses."""
    return sam_translate(document, {})


@functools.cache
def _translated_template() -> dict[str, Any]:
    return translate(template())


def render(value: Any) -> Any:
    """Intrinsics written out for comparison: `<Logical.Attribute>` for a GetAtt (or `${Logical.Attribute}`
    in a Sub), `<Logical>` for a Ref; the partition is `aws`."""
    if isinstance(value, list):
        return [render(item) for item in value]
    if not isinstance(value, dict) or len(value) != 1:
        return value
    ((key, argument),) = value.items()
    if key == "Ref":
        return "aws" if argument == "AWS::Partition" else f"<{argument}>"
    if key == "Fn::GetAtt":
        target = argument if isinstance(argument, str) else ".".join(argument)
        return f"<{target}>"
    if key == "Fn::Join":
        separator, items = argument
        return separator.join(str(render(item)) for item in items)
    if key == "Fn::Sub":
        text, variables = (argument, {}) if isinstance(argument, str) else argument

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(render(variables[name]))
            return "aws" if name == "AWS::Partition" else f"<{name}>"

        return re.sub(r"\$\{([^}!]+)\}", substitute, text)
    return {key: render(argument)}


@functools.cache
def _aws_managed_policies() -> dict[str, Any]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return json.loads(aws_managed_policies_data)


def managed_document(arn: str) -> dict[str, Any]:
    name = arn.rpartition("/")[2]
    entry = _aws_managed_policies().get(name)
    assert entry is not None, f"moto has no copy of {arn}"
    assert f"arn:aws:iam::aws:policy{entry.get('Path', '/')}{name}" == arn, arn
    return entry["Document"]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_statements(role: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, statement) for every statement of the role's inline policies (both branches of a
    conditional one) and of its AWS managed policies."""
    properties = role.get("Properties") or {}
    found = []
    for policy in properties.get("Policies") or []:
        branches = policy["Fn::If"][1:] if isinstance(policy, dict) and "Fn::If" in policy else [policy]
        for branch in branches:
            if isinstance(branch, dict) and "PolicyDocument" in branch:
                for statement in _listed(branch["PolicyDocument"].get("Statement") or []):
                    found.append((f"inline policy {branch.get('PolicyName')}", statement))
    for arn in managed_policy_arns(role):
        for statement in _listed(managed_document(arn).get("Statement") or []):
            found.append((arn.rpartition("/")[2], statement))
    return found


def managed_policy_arns(role: dict[str, Any]) -> list[str]:
    return [str(render(arn)) for arn in (role.get("Properties") or {}).get("ManagedPolicyArns") or []]


def grants(statement: dict[str, Any], action: str) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    if "NotAction" in statement:
        return not any(fnmatchcase(action.lower(), p.lower()) for p in _listed(statement["NotAction"]))
    return any(fnmatchcase(action.lower(), str(p).lower()) for p in _listed(statement.get("Action")))


def names_one_table(resource: Any) -> bool:
    """A resource that names one table's streams (or one stream): no wildcard before `/stream/`."""
    text = str(render(resource))
    return bool(
        re.fullmatch(
            r"(arn:[^*]+:table/[^*/]+|<[A-Za-z0-9]+\.Arn>)/stream/[^/]+|<[A-Za-z0-9]+\.StreamArn>", text
        )
    )


def stream_reads_on_everything(translated: dict[str, Any]) -> list[str]:
    """Every role statement granting a stream read on `*`, or on the streams of every table."""
    problems = []
    for name, role in translated["Resources"].items():
        if role.get("Type") != "AWS::IAM::Role":
            continue
        for where, statement in role_statements(role):
            actions = [action for action in STREAM_READS if grants(statement, action)]
            broad = [r for r in _listed(statement.get("Resource")) if not names_one_table(r)]
            if actions and broad:
                problems.append(
                    f"{name}: {where} grants {', '.join(actions)} on {', '.join(map(str, broad))}"
                )
    return problems


def function_role(translated: dict[str, Any], function: str) -> tuple[str, dict[str, Any]]:
    reference = translated["Resources"][function]["Properties"]["Role"]
    role_id = reference["Fn::GetAtt"][0]
    return role_id, translated["Resources"][role_id]


def consumer_stream_problems(document: dict[str, Any], translated: dict[str, Any]) -> list[str]:
    """Each table-stream consumer's role grants the stream reads on its own tables' streams, and on
    nothing else."""
    problems = []
    for name, function in document["Resources"].items():
        if function.get("Type") != "AWS::Serverless::Function":
            continue
        events = (function.get("Properties") or {}).get("Events") or {}
        tables = {
            render(event["Properties"]["Stream"]).strip("<>").split(".")[0]
            for event in events.values()
            if event.get("Type") == "DynamoDB"
        }
        if not tables:
            continue
        own = {f"<{table}.StreamArn>" for table in tables} | {f"<{table}.Arn>/stream/*" for table in tables}
        role_id, role = function_role(translated, name)
        granted: set[str] = set()
        for where, statement in role_statements(role):
            actions = [action for action in STREAM_READS if grants(statement, action)]
            if not actions:
                continue
            resources = [str(render(resource)) for resource in _listed(statement.get("Resource"))]
            others = [resource for resource in resources if resource not in own]
            if others:
                problems.append(f"{name} ({role_id}, {where}): {', '.join(actions)} on {', '.join(others)}")
            else:
                granted.update(actions)
        missing = [action for action in STREAM_READS if action not in granted]
        if missing:
            problems.append(f"{name}: cannot {', '.join(missing)} on its table's stream")
    return problems


def before_the_fix(document: dict[str, Any]) -> dict[str, Any]:
    """The template as it was: SAM generates the consumer's role (and adds the stream managed policy)."""
    old = copy.deepcopy(document)
    del old["Resources"][CONSUMER]["Properties"]["Role"]
    del old["Resources"][f"{CONSUMER}Role"]
    return old


def test_no_role_holds_stream_reads_on_every_stream():
    translated = _translated_template()
    assert stream_reads_on_everything(translated) == []
    for name, resource in translated["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            assert STREAM_MANAGED_POLICY not in managed_policy_arns(resource), name


def test_the_consumer_reads_its_own_tables_stream_and_no_other():
    assert consumer_stream_problems(template(), _translated_template()) == []


def test_the_stream_checks_fail_on_the_template_before_the_fix():
    old = before_the_fix(template())
    translated = translate(old)
    assert STREAM_MANAGED_POLICY in managed_policy_arns(translated["Resources"][f"{CONSUMER}Role"])
    assert stream_reads_on_everything(translated) == [
        f"{CONSUMER}Role: AWSLambdaDynamoDBExecutionRole grants {READS} on *"
    ]
    assert consumer_stream_problems(old, translated) == [
        f"{CONSUMER} ({CONSUMER}Role, AWSLambdaDynamoDBExecutionRole): {READS} on *",
        f"{CONSUMER}: cannot {READS} on its table's stream",
    ]


@pytest.mark.parametrize(
    ("resource", "flagged_by_both"),
    [
        ("*", True),
        ("arn:aws:dynamodb:*:*:table/*/stream/*", True),
        (
            {"Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/T/stream/*"},
            False,
        ),
    ],
)
def test_the_stream_checks_catch_a_broader_or_other_grant(resource, flagged_by_both):
    broken = template()
    role = broken["Resources"][f"{CONSUMER}Role"]["Properties"]
    stream = next(p for p in role["Policies"] if p.get("PolicyName") == "table-stream")
    stream["PolicyDocument"]["Statement"][0]["Resource"] = resource
    translated = translate(broken)
    assert bool(stream_reads_on_everything(translated)) is flagged_by_both
    problems = consumer_stream_problems(broken, translated)
    assert len(problems) == 2, problems
    assert problems[0].startswith(f"{CONSUMER} ({CONSUMER}Role, inline policy table-stream): {READS} on ")
    assert problems[1] == f"{CONSUMER}: cannot {READS} on its table's stream"


# ------------------------------------------------------------------ the consumer's role loses nothing else
def _grant_pairs(role: dict[str, Any]) -> set[tuple[str, str]]:
    pairs = set()
    for _, statement in role_statements(role):
        if statement.get("Effect") == "Allow":
            for action in _listed(statement.get("Action")):
                for resource in _listed(statement.get("Resource")):
                    pairs.add((str(action), str(render(resource))))
    return pairs


def lost_from_sam_role(document: dict[str, Any], translated: dict[str, Any]) -> list[str]:
    """What the role SAM would generate for the consumer (from its Policies, Tracing and DestinationConfig)
    grants that the consumer's own role does not, AWSLambdaDynamoDBExecutionRole aside; and a trust policy
    other than SAM's."""
    generated = translate(before_the_fix(document))["Resources"][f"{CONSUMER}Role"]
    _, own = function_role(translated, CONSUMER)
    problems = []
    trust = render(own["Properties"]["AssumeRolePolicyDocument"])
    if trust != generated["Properties"]["AssumeRolePolicyDocument"]:
        problems.append("trusts other than lambda.amazonaws.com")
    problems += [
        f"lacks {arn}"
        for arn in managed_policy_arns(generated)
        if arn != STREAM_MANAGED_POLICY and arn not in managed_policy_arns(own)
    ]
    managed = {arn.rpartition("/")[2] for arn in managed_policy_arns(generated)}
    own_pairs = _grant_pairs(own)
    for where, statement in role_statements(generated):
        if where in managed or statement.get("Effect") != "Allow":
            continue
        for action in _listed(statement.get("Action")):
            for resource in _listed(statement.get("Resource")):
                if (str(action), str(render(resource))) not in own_pairs:
                    problems.append(f"lacks {action} on {render(resource)} ({where})")
    return problems


def with_sam_policies(document: dict[str, Any]) -> dict[str, Any]:
    """The template with the consumer's inline grants also written as the function's Policies (as they
    were before it had a role of its own), for SAM to generate the role it would."""
    document = copy.deepcopy(document)
    role = document["Resources"][f"{CONSUMER}Role"]["Properties"]
    policies = []
    for policy in role["Policies"]:
        if isinstance(policy, dict) and "Fn::If" in policy:
            name, when_true, when_false = policy["Fn::If"]
            policies.append({"Fn::If": [name, when_true["PolicyDocument"], when_false]})
        elif policy["PolicyName"] not in ("table-stream", "failed-batches"):
            policies.append(policy["PolicyDocument"])
    document["Resources"][CONSUMER]["Properties"]["Policies"] = policies
    return document


def test_the_consumers_role_keeps_what_sam_gives_it_but_the_stream_policy():
    assert lost_from_sam_role(with_sam_policies(template()), _translated_template()) == []


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (
            lambda role: role["ManagedPolicyArns"].pop(0),
            "lacks arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        ),
        (
            lambda role: role["Policies"].pop(
                next(i for i, p in enumerate(role["Policies"]) if p.get("PolicyName") == "failed-batches")
            ),
            "lacks s3:PutObject on <OrderEventsFailedBatchBucket.Arn>/*",
        ),
        (
            lambda role: role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"].update(
                Service=["lambda.amazonaws.com", "ec2.amazonaws.com"]
            ),
            "trusts other than lambda.amazonaws.com",
        ),
    ],
)
def test_the_keeps_check_catches_a_role_that_lost_something(breakage, expected):
    broken = template()
    breakage(broken["Resources"][f"{CONSUMER}Role"]["Properties"])
    problems = lost_from_sam_role(with_sam_policies(template()), translate(broken))
    assert any(problem.startswith(expected) for problem in problems), problems


# ----------------------------------------------------- the table rule (test_template_rules) for own roles
def role_table_wildcards(document: dict[str, Any]) -> list[str]:
    """Wildcard actions on the table in the inline policies of the template's own roles: what
    test_template_rules holds functions' `Policies` to (the consumer's grants now live in its role)."""
    problems = []
    for name, resource in document["Resources"].items():
        if resource.get("Type") != "AWS::IAM::Role":
            continue
        for where, statement in role_statements(resource):
            if "OrdersTable" in repr(statement.get("Resource")):
                problems += [f"{name} ({where}): {a}" for a in _listed(statement.get("Action")) if "*" in a]
    return problems


def test_no_role_of_the_template_grants_wildcard_actions_on_the_table():
    assert role_table_wildcards(template()) == []
    broken = template()
    role = broken["Resources"][f"{CONSUMER}Role"]["Properties"]
    reservations = next(p for p in role["Policies"] if p.get("PolicyName") == "reservations")
    reservations["PolicyDocument"]["Statement"][0]["Action"].append("dynamodb:*")
    assert role_table_wildcards(broken) == [f"{CONSUMER}Role (inline policy reservations): dynamodb:*"]
