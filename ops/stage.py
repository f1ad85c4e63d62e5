"""Where an operator command acts: `make dev`'s local stack or a deployed stage, described the same way
(the stack's outputs and parameters, and credentials of the command's role).

- Local: `GET <url>/_local/operator?role=<RoleLogicalId>` on the running stack: its outputs resolved
  locally, the endpoints of its emulated AWS, and fresh credentials of that role (IAM enforced by the stack
  as for the functions).
- Deployed: CloudFormation `DescribeStacks` of the stage's stack (name and region from samconfig.toml's
  `[<stage>.global.parameters]`), with the caller's credentials; then, unless `assume_role` is off, the
  command's role (`<Role>Arn` output) through STS AssumeRole, so the command can do no more than its role.
"""

from __future__ import annotations

import json
import os
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMCONFIG = ROOT / "samconfig.toml"
LOCAL = "local"
DEFAULT_LOCAL_URL = f"http://localhost:{os.environ.get('PORT') or 3001}"


class StageError(Exception):
    """The stage cannot be described (no stack answering, unknown stage, missing output): said plainly."""


@dataclass(frozen=True)
class Stage:
    name: str  # "local" or the samconfig environment
    region: str
    outputs: dict[str, str]
    parameters: dict[str, str]
    credentials: dict[str, str] | None = None  # AWS_* names; None: the default credential chain
    endpoint: str | None = None  # the emulated AWS (local only)
    dynamodb_endpoint: str | None = None
    role: str | None = None  # the role the credentials are of, when known
    notes: list[str] = field(default_factory=list)

    def output(self, key: str) -> str:
        try:
            return self.outputs[key]
        except KeyError:
            raise StageError(
                f"the {self.name} stack has no output {key!r}: deploy the current template.yaml first"
            ) from None

    @property
    def table_name(self) -> str:
        return self.output("OrdersTableName")

    @property
    def table_arn(self) -> str:
        """The table's ARN, from its stream's (`<table arn>/stream/<label>`)."""
        return self.output("OrdersTableStreamArn").split("/stream/", 1)[0]

    @property
    def bus_name(self) -> str:
        return self.output("EventBusName")

    def client(self, service: str) -> Any:
        """A boto3 client for this stage, with its credentials and (locally) its endpoint."""
        import boto3
        from botocore.config import Config

        endpoint = self.dynamodb_endpoint if service == "dynamodb" else self.endpoint
        credentials = self.credentials or {}
        return boto3.client(
            service,
            region_name=self.region,
            endpoint_url=endpoint,
            aws_access_key_id=credentials.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=credentials.get("AWS_SECRET_ACCESS_KEY"),
            aws_session_token=credentials.get("AWS_SESSION_TOKEN"),
            config=Config(
                retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=30
            ),
        )

    def function_environment(self) -> dict[str, str]:
        """What `orders.wiring` reads to build the stream consumer's publisher and reservation keeper, as
        the template gives it to OrderEventsFunction."""
        environment = {
            "TABLE_NAME": self.table_name,
            "EVENT_BUS_NAME": self.bus_name,
            "INVENTORY_API_URL": self.parameters.get("InventoryApiUrl", ""),
            "UPSTREAM_CREDENTIAL_PARAMETER": self.parameters.get("UpstreamCredentialParameter", ""),
            "UPSTREAM_READ_TIMEOUT_SECONDS": self.parameters.get("UpstreamReadTimeoutSeconds", "3"),
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "DYNAMODB_ENDPOINT": self.dynamodb_endpoint or "",
            "EVENTS_ENDPOINT": self.endpoint or "",
        }
        if self.credentials:
            environment.update(self.credentials)
        return environment


def resolve(stage: str, *, role: str, local_url: str | None = None, assume_role: bool = True) -> Stage:
    """The stage named `stage` (`local`, or a samconfig environment such as dev or prod), with credentials
    of `role` (a role's logical id in template.yaml, e.g. EventsRedriveRole)."""
    if stage == LOCAL:
        return _local(local_url or DEFAULT_LOCAL_URL, role)
    return _deployed(stage, role, assume_role)


def _local(url: str, role: str) -> Stage:
    target = f"{url.rstrip('/')}/_local/operator?role={role}"
    try:
        with urllib.request.urlopen(target, timeout=10) as response:
            described = json.load(response)
    except urllib.error.HTTPError as error:
        raise StageError(f"{target} answered {error.code}: {error.read().decode(errors='replace')}") from None
    except OSError as error:
        raise StageError(
            f"no local stack answers at {url} ({error}): start it with `make dev` (or name a deployed stage "
            "with ENV=dev|prod)"
        ) from None
    notes = [] if described.get("iamEnforced", True) else ["IAM is off in this stack: nothing is enforced"]
    return Stage(
        name=LOCAL,
        region=described["region"],
        outputs={key: str(value) for key, value in (described.get("outputs") or {}).items()},
        parameters={key: str(value) for key, value in (described.get("parameters") or {}).items()},
        credentials=described.get("credentials"),
        endpoint=described.get("endpoint"),
        dynamodb_endpoint=described.get("dynamodbEndpoint") or described.get("endpoint"),
        role=role,
        notes=notes,
    )


def samconfig_stack(stage: str, config: Path = SAMCONFIG) -> tuple[str, str]:
    """(stack name, region) of a samconfig.toml environment."""
    settings = tomllib.loads(config.read_text())
    try:
        parameters = settings[stage]["global"]["parameters"]
        return parameters["stack_name"], parameters["region"]
    except KeyError:
        known = sorted(name for name in settings if name != "version")
        raise StageError(f"no stage {stage!r} in {config.name} (known: {', '.join(known)})") from None


def _deployed(stage: str, role: str, assume_role: bool) -> Stage:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    stack_name, region = samconfig_stack(stage)
    try:
        described = boto3.client("cloudformation", region_name=region).describe_stacks(StackName=stack_name)
    except (BotoCoreError, ClientError) as error:
        raise StageError(f"cannot describe stack {stack_name} in {region}: {error}") from None
    stack = described["Stacks"][0]
    outputs = {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs") or []}
    parameters = {
        item["ParameterKey"]: item.get("ParameterValue", "") for item in stack.get("Parameters") or []
    }
    credentials = None
    notes = []
    if assume_role:
        role_arn = outputs.get(f"{role}Arn")
        if role_arn is None:
            raise StageError(f"stack {stack_name} has no output {role}Arn: deploy the current template.yaml")
        try:
            assumed = boto3.client("sts", region_name=region).assume_role(
                RoleArn=role_arn, RoleSessionName=f"ops-{role}"[:64]
            )["Credentials"]
        except (BotoCoreError, ClientError) as error:
            raise StageError(
                f"cannot assume {role_arn}: {error} (or run with --no-assume-role and your own credentials)"
            ) from None
        credentials = {
            "AWS_ACCESS_KEY_ID": assumed["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": assumed["SecretAccessKey"],
            "AWS_SESSION_TOKEN": assumed["SessionToken"],
        }
    else:
        notes.append("running with your own credentials, not the command's role")
    return Stage(
        name=stage,
        region=region,
        outputs=outputs,
        parameters=parameters,
        credentials=credentials,
        role=role if assume_role else None,
        notes=notes,
    )
