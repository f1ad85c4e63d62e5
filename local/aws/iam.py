"""Each function runs as its own execution role, as on AWS, and moto enforces what the role allows.

The roles are built as SAM builds them: template.yaml goes through the SAM translator that ships with
aws-sam-cli (`samtranslator`), so policy templates (`AWSSecretsManagerGetSecretValuePolicy`, ...) and the managed
policies SAM attaches (`AWSLambdaBasicExecutionRole`, X-Ray, `AWSLambdaDynamoDBExecutionRole` for a
stream event) expand exactly as in a deployment; the translated roles' intrinsics are then resolved as the
stack resolves the template's (local names and ARNs). Managed policy documents come from moto's copy of
AWS's managed policies (`moto/iam/aws_managed_policies.py`); none is typed here.

In moto's IAM the stack creates one admin user for its own set-up calls (tables, queues, the event
capture), the roles with their inline and managed policies, then turns authorization on. Each function's
workers get credentials from `sts:AssumeRole` on its role (session `function`), refreshed before they
expire; what the Lambda service does with the role (the event source mapping reading the table's stream,
the on-failure destination) runs with the same role (session `lambda-service`). Roles are assumed inside
this process, as the Lambda service does under the role's trust policy.

moto authorizes DynamoDB, DynamoDB Streams and EventBridge requests against resource `*` only; here their
resources are named (table or index ARN, stream ARN, event bus ARN) as AWS evaluates them, and a denied
call of a JSON-protocol service answers as AWS does (`AccessDeniedException`, naming the action and the
resource), not with moto's XML 403. Every authorization moto makes is recorded per function
(`GET /_local/iam`; `LOCAL_IAM_RECORD_DIR` keeps it in a file when the stack stops).
"""

from __future__ import annotations

import copy
import fnmatch
import functools
import json
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.template import TemplateError, Unresolvable, resolve, resources_of_type
from local.template.model import ACCOUNT, REGION, LocalResources

ADMIN_USER = "local-stack"
FUNCTION_SESSION = "function"  # the function's own code
SERVICE_SESSION = "lambda-service"  # the Lambda service acting with the function's role
SESSION_SECONDS = 3600
_PLACEHOLDER_URI = "s3://local-stack-placeholder/{}.zip"  # what `sam validate` puts in place of local code
_DENIED = re.compile(r"User: (?P<principal>[^\s<]+) is not authorized to perform: (?P<action>[^\s<]+)")


# ---------------------------------------------------------------------------------------- policies
@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> list[Statement]:
        raw = document.get("Statement") or []
        statements = []
        for item in [raw] if isinstance(raw, dict) else raw:
            statements.append(
                cls(
                    str(item.get("Effect", "Allow")),
                    _strings(item.get("Action")),
                    _strings(item.get("Resource")),
                )
            )
        return statements

    def names_action(self, action: str) -> bool:
        """An `Action` pattern matches it (IAM compares action names case-insensitively)."""
        return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in self.actions)

    def names_resource(self, resource: str) -> bool:
        return any(fnmatch.fnmatchcase(resource, pattern) for pattern in self.resources)

    def matches(self, action: str, resource: str) -> bool:
        return self.names_action(action) and self.names_resource(resource)


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(str(item) for item in (value if isinstance(value, list) else [value]))


def allows(statements: Iterable[Statement], action: str, resource: str) -> bool:
    """IAM's identity-policy evaluation without conditions: an explicit Deny wins, else an Allow."""
    allowed = False
    for statement in statements:
        if statement.matches(action, resource):
            if statement.effect == "Deny":
                return False
            allowed = True
    return allowed


@functools.cache
def _aws_managed_policies() -> dict[str, dict[str, Any]]:
    """moto's copy of AWS's managed policies (name → path, versions, document), parsed once."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return json.loads(aws_managed_policies_data)


def _aws_managed_policy(arn: str) -> dict[str, Any] | None:
    """The entry of moto's copy for an AWS managed policy ARN, if it has that policy at that path."""
    name = arn.rpartition("/")[2]
    entry = _aws_managed_policies().get(name)
    if entry is None or f"arn:aws:iam::aws:policy{entry.get('Path', '/')}{name}" != arn:
        return None
    return entry


def managed_policy_documents(arns: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The documents of AWS managed policies, by ARN, from moto's copy of them (those it has)."""
    return {arn: entry["Document"] for arn in arns if (entry := _aws_managed_policy(arn)) is not None}


# ---------------------------------------------------------------------------------------- roles
FUNCTION = "function"  # ExecutionRole.kind: a function's execution role
OPERATOR = "role"  # ExecutionRole.kind: any other role of the template (an operator's), assumed by people


@dataclass(frozen=True)
class ExecutionRole:
    function: str  # logical id of the function (of the role itself, for the template's other roles)
    name: str  # the role's name (SAM's logical id for it: <Function>Role; else its local name)
    trust_policy: dict[str, Any]
    managed_policy_arns: tuple[str, ...]
    inline_policies: dict[str, dict[str, Any]]  # policy name → document, intrinsics resolved
    managed_documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    kind: str = FUNCTION

    @property
    def declared_statements(self) -> list[Statement]:
        """What the template's own `Policies` grant (policy templates expanded)."""
        return [s for document in self.inline_policies.values() for s in Statement.from_document(document)]

    @property
    def statements(self) -> list[Statement]:
        managed = [
            s for document in self.managed_documents.values() for s in Statement.from_document(document)
        ]
        return self.declared_statements + managed

    def allows(self, action: str, resource: str) -> bool:
        return allows(self.statements, action, resource)

    def summary(self) -> str:
        """One line: the actions its own policies allow (and on what), then the managed policies."""
        parts = []
        for statement in self.declared_statements:
            if statement.effect != "Allow":
                continue
            targets = ", ".join(_short_resource(resource) for resource in statement.resources)
            parts.append(f"{' '.join(statement.actions)} on {targets}")
        managed = " ".join(arn.rpartition("/")[2] for arn in self.managed_policy_arns)
        return "; ".join(parts or ["nothing of its own"]) + (f" (+ {managed})" if managed else "")


def _short_resource(arn: str) -> str:
    return arn.split(":", 5)[-1] if arn.startswith("arn:") else arn


def sam_translate(template: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """template.yaml as CloudFormation, by the SAM translator (what `sam deploy` hands CloudFormation),
    offline: local code locations become placeholder S3 URIs, as `sam validate` does."""
    import boto3
    import samtranslator
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    sam_template = copy.deepcopy(template)
    for logical_id, resource in (sam_template.get("Resources") or {}).items():
        properties = resource.get("Properties")
        if not isinstance(properties, dict):
            continue
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(properties.get(key), str):
                properties[key] = _PLACEHOLDER_URI.format(logical_id)
    managed = json.loads(
        (Path(samtranslator.__file__).parent / "internal" / "data" / "aws_managed_policies.json").read_text()
    )["aws"]
    session = boto3.session.Session(
        region_name=REGION, aws_access_key_id="placeholder", aws_secret_access_key="placeholder"
    )
    translator = Translator(managed_policy_map=None, sam_parser=Parser(), plugins=[], boto_session=session)
    pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws"}
    string_parameters = {name: value for name, value in parameters.items() if isinstance(value, str)}
    try:
        return translator.translate(
            sam_template=sam_template,
            parameter_values={**string_parameters, **pseudo},
            get_managed_policy_map=lambda: managed,
        )
    except Exception as error:  # noqa: BLE001 - samtranslator's InvalidDocumentException and friends
        causes = getattr(error, "causes", None) or []
        detail = " ".join(str(cause) for cause in causes) or str(error)
        raise TemplateError(f"the SAM translator refused the template: {detail}") from None


def execution_roles(resources: LocalResources) -> tuple[dict[str, ExecutionRole], list[str]]:
    """Every function's execution role as SAM builds it (keyed by the function), then every other role of
    the translated template (the operators', keyed by the role's logical id), and a warning for each
    function whose role the stack cannot build (a role ARN from outside the template: it then runs
    unrestricted)."""
    translated = sam_translate(resources.template, resources.parameters)
    translated_resources = translated.get("Resources") or {}

    def evaluate(where: str, value: Any) -> Any:
        try:
            return resolve(
                value, translated, resources.physical_ids, resources.attributes, resources.parameters
            )
        except Unresolvable as error:
            raise TemplateError(f"{where}: {error}") from None

    def build(key: str, role_id: str, role: dict[str, Any], where: str, kind: str) -> ExecutionRole:
        properties = role.get("Properties") or {}
        inline = {}
        # A conditional policy (`!If [Cond, {...}, !Ref AWS::NoValue]`) resolves to None when it is off.
        for policy in evaluate(where, properties.get("Policies") or []):
            if isinstance(policy, dict) and policy.get("PolicyDocument"):
                inline[str(policy["PolicyName"])] = policy["PolicyDocument"]
        managed_arns = tuple(
            str(arn) for arn in evaluate(where, properties.get("ManagedPolicyArns") or []) if arn
        )
        documents = managed_policy_documents(managed_arns)
        for arn in managed_arns:
            if arn not in documents:
                warnings.append(f"{where}: managed policy {arn} is unknown locally; it grants nothing here")
        return ExecutionRole(
            function=key,
            name=str(resources.physical_ids.get(role_id, role_id)) if kind == OPERATOR else role_id,
            trust_policy=evaluate(where, properties.get("AssumeRolePolicyDocument") or {}),
            managed_policy_arns=managed_arns,
            inline_policies=inline,
            managed_documents=documents,
            kind=kind,
        )

    roles: dict[str, ExecutionRole] = {}
    warnings: list[str] = []
    function_roles = set()
    for function in resources_of_type(resources.template, "AWS::Serverless::Function"):
        lambda_function = translated_resources.get(function) or {}
        role_reference = (lambda_function.get("Properties") or {}).get("Role")
        role_id = None
        if isinstance(role_reference, dict) and "Fn::GetAtt" in role_reference:
            target = role_reference["Fn::GetAtt"]
            role_id = target.split(".")[0] if isinstance(target, str) else target[0]
        role = translated_resources.get(role_id or "") or {}
        if role.get("Type") != "AWS::IAM::Role":
            warnings.append(f"{function}: its role is not defined in the template; it runs unrestricted")
            continue
        function_roles.add(role_id)
        roles[function] = build(
            function, str(role_id), role, f"{function}: execution role {role_id}", FUNCTION
        )
    for role_id, role in translated_resources.items():
        if role.get("Type") != "AWS::IAM::Role" or role_id in function_roles or role_id in roles:
            continue
        if role.get("Condition") and not evaluate(role_id, {"Condition": role["Condition"]}):
            continue  # not created in this configuration
        roles[role_id] = build(role_id, role_id, role, f"{role_id}: role", OPERATOR)
    return roles, warnings


# ---------------------------------------------------------------------------------------- what happened
@dataclass(frozen=True)
class Authorization:
    principal: str  # function logical id, or `stack` for the stack's own calls
    session: str  # FUNCTION_SESSION, SERVICE_SESSION, or the IAM user's name
    action: str
    resource: str
    allowed: bool


class AccessLog:
    """Every authorization moto made, counted (bounded by the distinct calls a template can make)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[Authorization] = Counter()
        self.roles: dict[str, str] = {}  # role name → function

    def add(self, principal_arn: str, action: str, resource: str, allowed: bool) -> Authorization:
        principal, session = self.principal(principal_arn)
        entry = Authorization(principal, session, action, resource, allowed)
        with self._lock:
            self._counts[entry] += 1
        return entry

    def principal(self, arn: str) -> tuple[str, str]:
        if ":assumed-role/" in arn:
            role, _, session = arn.rpartition(":assumed-role/")[2].partition("/")
            return self.roles.get(role, role), session
        return "stack", arn.rpartition("/")[2]

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            counts = list(self._counts.items())
        return [
            {
                "function": entry.principal,
                "session": entry.session,
                "action": entry.action,
                "resource": entry.resource,
                "allowed": entry.allowed,
                "count": count,
            }
            for entry, count in sorted(counts, key=lambda item: (item[0].principal, item[0].action))
        ]


ACCESS_LOG = AccessLog()


# ---------------------------------------------------------------------------------------- moto
_patched = threading.Event()
_patch_lock = threading.Lock()


def _json_error_body(code: str, message: str) -> str:
    return json.dumps({"__type": f"com.amazonaws.local#{code}", "message": message})


def _json_body(handler: Any) -> dict[str, Any]:
    body = handler.body
    if isinstance(body, (str, bytes)):
        try:
            body = json.loads(body or b"{}")
        except ValueError:
            return {}
    return body if isinstance(body, dict) else {}


def dynamodb_resource(params: dict[str, Any]) -> str:
    """The ARN IAM evaluates a DynamoDB request against (`*` when the request names no table)."""
    table = params.get("TableName")
    if not table:
        items = params.get("RequestItems") or {}  # BatchGetItem / BatchWriteItem: the first table
        table = next(iter(items), None)
    if not table:
        return "*"
    arn = table if str(table).startswith("arn:") else f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"
    index = params.get("IndexName")
    return f"{arn}/index/{index}" if index else arn


# IAM has no action for a transaction: each of its items is authorized as the single-item action on its table.
TRANSACTIONS = ("TransactWriteItems", "TransactGetItems")
_TRANSACTION_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def transaction_authorizations(params: dict[str, Any]) -> list[tuple[str, str]]:
    """(action, resource) for each item of a TransactWriteItems or TransactGetItems request, as IAM authorizes
    them (e.g. a Put as `PutItem` on its table); each pair once."""
    found = []
    for entry in params.get("TransactItems") or []:
        for kind, operation in entry.items() if isinstance(entry, dict) else ():
            action = _TRANSACTION_ITEM_ACTIONS.get(kind, kind)
            found.append((action, dynamodb_resource(operation if isinstance(operation, dict) else {})))
    return list(dict.fromkeys(found))


def streams_resource(params: dict[str, Any]) -> str:
    """The stream ARN of a DynamoDB Streams request (`*` for ListStreams)."""
    arn = params.get("StreamArn")
    if arn:
        return str(arn)
    iterator = str(params.get("ShardIterator") or "")
    # moto's shard iterators start with the stream's ARN (`<stream arn>|1|...`); AWS's are opaque.
    match = re.match(r"(arn:aws:dynamodb:[^/]+:\d+:table/[^/]+/stream/[^/|]+)", iterator)
    return match.group(1) if match else "*"


_ARCHIVE_ACTIONS = ("CreateArchive", "DescribeArchive", "UpdateArchive", "DeleteArchive")
_REPLAY_ACTIONS = ("DescribeReplay", "CancelReplay")


def events_resource(params: dict[str, Any], action: str | None = None) -> str:
    """The ARN IAM evaluates an EventBridge request against: the archive of StartReplay (its
    EventSourceArn) and of the archive actions, the replay of DescribeReplay/CancelReplay, else the event
    bus (PutEvents: its first entry's bus); `*` for the listings and a request that names none."""
    if action == "StartReplay":
        return str(params.get("EventSourceArn") or "*")
    if action in _ARCHIVE_ACTIONS:
        name = params.get("ArchiveName")
        return f"arn:aws:events:{REGION}:{ACCOUNT}:archive/{name}" if name else "*"
    if action in _REPLAY_ACTIONS:
        name = params.get("ReplayName")
        return f"arn:aws:events:{REGION}:{ACCOUNT}:replay/{name}" if name else "*"
    if action in ("ListArchives", "ListReplays"):
        return "*"
    entries = params.get("Entries")
    bus = None
    if isinstance(entries, list) and entries and isinstance(entries[0], dict):
        bus = entries[0].get("EventBusName") or "default"
    bus = bus or params.get("EventBusName") or params.get("Name")
    if not bus:
        return "*"
    return bus if str(bus).startswith("arn:") else f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{bus}"


def _recorded(check: Callable[[Any, str], None]) -> Callable[[Any, str], None]:
    """moto's check of one request, with its decision recorded in ACCESS_LOG (it raises only to deny)."""

    def check_action_permitted(self: Any, resource: str) -> None:
        principal = getattr(self._access_key, "arn", "?")
        try:
            check(self, resource)
        except Exception:
            ACCESS_LOG.add(principal, self._action, resource, False)
            raise
        ACCESS_LOG.add(principal, self._action, resource, True)

    return check_action_permitted


def install_moto_authorization() -> None:
    """Name the resources of DynamoDB, Streams and EventBridge requests (archives and replays included),
    answer a denial of a JSON service as AWS does, and record every authorization (S3's too) in ACCESS_LOG.
    Idempotent."""
    with _patch_lock:
        if _patched.is_set():
            return
        from moto.core.authorization import ActionAuthenticatorMixin
        from moto.core.exceptions import AccessDeniedError
        from moto.dynamodb.responses import DynamoHandler
        from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
        from moto.events.responses import EventsHandler
        from moto.iam.access_control import IAMRequest, S3IAMRequest
        from werkzeug.exceptions import HTTPException

        DynamoHandler._determine_resource = lambda self: dynamodb_resource(_json_body(self))  # type: ignore[attr-defined]
        DynamoDBStreamsHandler._determine_resource = lambda self: streams_resource(_json_body(self))  # type: ignore[attr-defined]
        EventsHandler._determine_resource = lambda self: events_resource(_json_body(self), self._get_action())  # type: ignore[attr-defined]

        # S3 names its resources itself (arn:aws:s3:::bucket[/key]), through S3IAMRequest, whose denials are
        # S3's own errors (AccessDenied in XML): recorded the same way.
        for request_class in (IAMRequest, S3IAMRequest):
            request_class.check_action_permitted = _recorded(request_class.check_action_permitted)

        class JsonAccessDenied(HTTPException):
            code = 400

        authorize = ActionAuthenticatorMixin._authenticate_and_authorize_normal_action

        def authenticate_and_authorize(self: Any, resource: str = "*") -> None:
            try:
                authorize(self, resource)
            except AccessDeniedError as error:
                if not self.headers.get("X-Amz-Target"):
                    raise  # query/XML services: moto's XML answer is AWS's shape
                found = _DENIED.search(str(error.description or error))
                principal = found.group("principal") if found else "?"
                action = found.group("action") if found else "?"
                message = (
                    f"User: {principal} is not authorized to perform: {action} on resource: {resource} "
                    f"because no identity-based policy allows the {action} action"
                )
                raise JsonAccessDenied(
                    description=_json_error_body("AccessDeniedException", message)
                ) from None

        ActionAuthenticatorMixin._authenticate_and_authorize_normal_action = authenticate_and_authorize

        def authorize_dynamodb(self: Any, resource: str = "*") -> None:
            """A transaction is authorized item by item (`transaction_authorizations`), as on AWS."""
            items = transaction_authorizations(_json_body(self)) if self._get_action() in TRANSACTIONS else []
            if not items:
                authenticate_and_authorize(self, resource)
                return
            for action, item_resource in items:
                # moto's IAMRequest takes the action it checks from the handler's `_get_action`.
                self._get_action = lambda action=action: action
                try:
                    authenticate_and_authorize(self, item_resource)
                finally:
                    del self._get_action

        DynamoHandler._authenticate_and_authorize_normal_action = authorize_dynamodb  # type: ignore[method-assign]
        _patched.set()


def set_enforced(enforced: bool) -> None:
    """Turn moto's authorization on (every request from now on) or off."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0 if enforced else float("inf")
    ActionAuthenticatorMixin.request_count = 0


# ---------------------------------------------------------------------------------------- credentials
@dataclass(frozen=True)
class RoleCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expires_at: float  # epoch seconds

    @property
    def environment(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }

    def botocore_metadata(self) -> dict[str, str]:
        return {
            "access_key": self.access_key_id,
            "secret_key": self.secret_access_key,
            "token": self.session_token,
            "expiry_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.expires_at)),
        }


class IamEnforcement:
    """The template's execution roles in the embedded moto, and credentials for each."""

    def __init__(
        self,
        endpoint: str,
        roles: dict[str, ExecutionRole],
        session_seconds: int | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.roles = roles
        self.session_seconds = session_seconds or int(
            os.environ.get("LOCAL_IAM_SESSION_SECONDS") or SESSION_SECONDS
        )
        self.admin: dict[str, str] = {}
        self._role_arns: dict[str, str] = {}

    def setup(self) -> dict[str, str]:
        """Create the admin user and the roles (before authorization is on), then turn it on. The admin's
        credentials (for the stack's own clients)."""
        from local.aws.moto_server import aws_client

        install_moto_authorization()
        set_enforced(False)
        iam = aws_client("iam", self.endpoint)
        backend = _iam_backend()
        iam.create_user(UserName=ADMIN_USER)
        iam.put_user_policy(
            UserName=ADMIN_USER,
            PolicyName="local-stack-set-up",
            PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
            ),
        )
        key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]
        self.admin = {
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        }
        for function, role in self.roles.items():
            arn = iam.create_role(
                RoleName=role.name,
                AssumeRolePolicyDocument=json.dumps(role.trust_policy),
                MaxSessionDuration=max(3600, self.session_seconds),
            )["Role"]["Arn"]
            self._role_arns[function] = arn
            ACCESS_LOG.roles[role.name] = function
            for policy_name, document in role.inline_policies.items():
                # IAM reads a document without `Version` as 2008-10-17 (SAM writes none for `Statement`
                # policies); moto refuses those, and nothing here uses what the versions differ in.
                versioned = {"Version": "2012-10-17", **document}
                iam.put_role_policy(
                    RoleName=role.name, PolicyName=policy_name, PolicyDocument=json.dumps(versioned)
                )
            for policy_arn in role.managed_documents:
                _ensure_aws_managed_policy(backend, policy_arn)
                iam.attach_role_policy(RoleName=role.name, PolicyArn=policy_arn)
        set_enforced(True)
        return self.admin

    def credentials(self, function: str, session: str = FUNCTION_SESSION) -> RoleCredentials:
        """New credentials for the function's role (what the Lambda service gets under the role's trust
        policy), valid for `session_seconds`."""
        from moto.sts.models import sts_backends

        role = sts_backends[ACCOUNT]["aws"].assume_role(
            region_name=REGION,
            role_session_name=session,
            role_arn=self._role_arns[function],
            policy=None,
            duration=self.session_seconds,
            external_id=None,
        )
        return RoleCredentials(
            role.access_key_id, role.secret_access_key, role.session_token, time.time() + self.session_seconds
        )

    def provider(
        self, function: str, session: str = FUNCTION_SESSION
    ) -> Callable[[], RoleCredentials] | None:
        if function not in self._role_arns:
            return None
        return lambda: self.credentials(function, session)

    def describe(self) -> dict[str, Any]:
        return {
            "enforced": True,
            "roles": {
                function: {
                    "role": role.name,
                    "policies": role.inline_policies,
                    "managedPolicyArns": list(role.managed_policy_arns),
                    "summary": role.summary(),
                }
                for function, role in self.roles.items()
            },
            "authorizations": ACCESS_LOG.entries(),
        }


def _iam_backend() -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[ACCOUNT]["aws"]


def _ensure_aws_managed_policy(backend: Any, arn: str) -> None:
    """Put one AWS managed policy (from moto's copy) into moto's IAM, as moto does for all of them with
    MOTO_IAM_LOAD_MANAGED_POLICIES=true (2 s at start for about 1,400 policies; the stack needs 3)."""
    if arn in backend.managed_policies:
        return
    from moto.iam.models import AWSManagedPolicy

    policy = AWSManagedPolicy.from_data(arn.rpartition("/")[2], ACCOUNT, REGION, _aws_managed_policy(arn))
    backend.aws_managed_policies.append(policy)
    backend.managed_policies[policy.arn] = policy


def record_to_file(directory: str, template_path: str, roles: dict[str, ExecutionRole]) -> Path:
    """Write what this stack's functions were authorized to do (and denied) for the least-privilege test."""
    path = Path(directory) / f"stack-{os.getpid()}-{int(time.time() * 1000)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "template": str(Path(template_path).resolve()),
                "roles": sorted(roles),
                "authorizations": ACCESS_LOG.entries(),
            }
        )
    )
    return path
