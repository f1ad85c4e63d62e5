"""Least privilege, both ways: what each function did against what its execution role grants, and what
each of the template's other roles (the operators': make redrive/replay/backfill, credentials from the
stack's `/_local/operator`) did against what it grants.

What functions did comes from two places:
- in-process runs (the integration suite): a botocore `before-parameter-build` hook, installed for every
  session the tests create, records each call made from a frame under `functions/<name>/`;
- local stacks (the e2e suite): every authorization moto made, per role (local.aws.iam), read live from
  `/_local/iam` or from the file a stopped stack left in `LOCAL_IAM_RECORD_DIR`.
What roles grant comes from local.aws.iam.execution_roles (the template through the SAM translator), keyed by
function, or by the role's own logical id for the other roles.

A granted action that no test performs stays only if the function's (or role's) resource block in
template.yaml says why, in a comment of the form `# untested grant: <action> [<action> ...] - <reason>`.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.aws.iam import Statement

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
FUNCTIONS_DIR = ROOT / "functions"
_EXEMPTION = re.compile(r"#\s*untested grant:\s*(?P<actions>[A-Za-z0-9:*\s]+?)\s+-\s+(?P<reason>\S.*)$")


@dataclass(frozen=True)
class Call:
    function: str  # logical id
    action: str  # service:Operation, as IAM names it
    # None in-process: the tests name their own tables and buses, so only the action is compared there.
    resource: str | None
    allowed: bool | None = None  # moto's decision (local stacks); None in-process (nothing enforced)
    origin: str = "in-process"


# ---------------------------------------------------------------------------------------- in-process
class InProcessRecorder:
    """Counts the AWS calls made by function code in this process (the tests' own calls are not)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[tuple[str, str]] = Counter()
        self._folders = _function_folders()

    def install(self) -> None:
        import botocore.handlers

        entry = ("before-parameter-build", self._before_parameter_build)
        if entry not in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.append(entry)

    def _before_parameter_build(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        function = self._calling_function()
        if function is None:
            return
        from local.aws.iam import TRANSACTIONS, transaction_authorizations

        service = model.service_model.signing_name
        if service == "dynamodb" and model.name in TRANSACTIONS:
            # IAM authorizes a transaction item by item (e.g. dynamodb:PutItem), as the local stack does.
            actions = [f"{service}:{action}" for action, _ in transaction_authorizations(params)]
        else:
            actions = [f"{service}:{model.name}"]
        with self._lock:
            for action in actions:
                self.calls[(function, action)] += 1

    def _calling_function(self) -> str | None:
        frame = sys._getframe(2)
        while frame is not None:
            folder = Path(frame.f_code.co_filename).parent
            if folder.parent == FUNCTIONS_DIR:
                return self._folders.get(folder.name)
            frame = frame.f_back
        return None

    def recorded(self) -> list[Call]:
        with self._lock:
            return [Call(function, action, None) for function, action in self.calls]


def _function_folders() -> dict[str, str]:
    """`functions/<folder>` → the logical id of the function whose CodeUri it is."""
    from local.template import function_properties, load_template, resources_of_type

    template = load_template(TEMPLATE)
    folders = {}
    for logical_id in resources_of_type(template, "AWS::Serverless::Function"):
        code_uri = str(function_properties(template, logical_id).get("CodeUri", ""))
        folders[Path(code_uri.rstrip("/")).name] = logical_id
    return folders


RECORDER = InProcessRecorder()


# ---------------------------------------------------------------------------------------- local stacks
def stack_calls(authorizations: list[dict[str, Any]], origin: str) -> list[Call]:
    """A stack's authorizations (local.aws.iam.AccessLog.entries) made with a function's role."""
    return [
        Call(entry["function"], entry["action"], entry["resource"], bool(entry["allowed"]), origin)
        for entry in authorizations
        if entry["function"] != "stack"
    ]


def recorded_stack_calls(directory: Path, template: Path = TEMPLATE) -> list[Call]:
    """What the stopped stacks on `template` left in `directory`."""
    calls = []
    for path in sorted(directory.glob("stack-*.json")):
        record = json.loads(path.read_text())
        if Path(record["template"]) == template.resolve():
            calls += stack_calls(record["authorizations"], path.name)
    return calls


# ---------------------------------------------------------------------------------------- the check
def exemptions(template_text: str) -> dict[str, dict[str, str]]:
    """function logical id → {action: reason} from `# untested grant:` comments in its resource block."""
    found: dict[str, dict[str, str]] = {}
    current = None
    for line in template_text.splitlines():
        header = re.match(r"^  ([A-Za-z0-9]+):\s*$", line)
        if header:
            current = header.group(1)
            continue
        if re.match(r"^\S", line):
            current = None
        match = _EXEMPTION.search(line)
        if match and current is not None:
            for action in match.group("actions").split():
                found.setdefault(current, {})[action] = match.group("reason").strip()
    return found


def _granted(role: Any, call: Call) -> bool:
    if call.resource is not None:
        return role.allows(call.action, call.resource)
    return any(
        statement.effect == "Allow" and statement.names_action(call.action) for statement in role.statements
    )


def _uses(call: Call, statement: Statement) -> bool:
    """The call is one the statement grants (in-process calls name no resource: any of its resources)."""
    return statement.names_action(call.action) and (
        call.resource is None or statement.names_resource(call.resource)
    )


def problems(roles: dict[str, Any], calls: list[Call], exempt: dict[str, dict[str, str]]) -> list[str]:
    """Every way `calls` and the roles disagree, one line each (empty: least privilege holds)."""
    from local.aws.iam import Statement

    found = []
    for call in sorted(set(calls), key=lambda c: (c.function, c.action, c.resource or "")):
        role = roles.get(call.function)
        if role is None:
            found.append(f"{call.function}: performed {call.action} on {call.resource}, but has no role")
        elif call.allowed is False or not _granted(role, call):
            where = f" on {call.resource}" if call.resource is not None else ""
            found.append(
                f"{call.function}: performed {call.action}{where} ({call.origin}), which its role does not grant"
            )
    for function, role in roles.items():
        performed = [call for call in calls if call.function == function]
        reasons = exempt.get(function, {})
        for statement in role.declared_statements:
            if statement.effect != "Allow":
                continue
            for action in statement.actions:
                granting = Statement(statement.effect, (action,), statement.resources)
                used = any(_uses(call, granting) for call in performed)
                if used and action in reasons:
                    found.append(f"{function}: {action} is performed; drop its `# untested grant:` comment")
                elif not used and action not in reasons:
                    found.append(
                        f"{function}: grants {action} on {', '.join(statement.resources)}, which no test "
                        "performs: remove it, or say why it stays (`# untested grant: <action> - <reason>`)"
                    )
    return found
