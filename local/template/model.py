"""template.yaml as the local stack runs it: functions (code, handler, layers, timeout, environment with
local names) and HTTP routes (path, method, function, authorizer). Nothing here is retyped from the
template; this module only decides what the template's references mean locally."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import sysconfig
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.template import (
    PSEUDO_PARAMETERS,
    ROOT,
    TemplateError,
    Unresolvable,
    function_properties,
    http_api_auth,
    http_api_events,
    load_template,
    parameter_values,
    resolve,
    resources_of_type,
    route_authorizer,
    stream_events,
)

REGION = PSEUDO_PARAMETERS["AWS::Region"]
ACCOUNT = PSEUDO_PARAMETERS["AWS::AccountId"]
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
}
# Names the UUIDs of the stack's emulated event source mappings (StreamSubscription.mapping_uuid).
MAPPING_NAMESPACE = uuid.UUID("6f1c2a52-3b0e-5d8f-9a41-1d0c7e5b2f30")
# Resource types whose `!Ref` is an ARN (else: a name, which locally is the logical id).
_REF_IS_ARN = {"AWS::SecretsManager::Secret", "AWS::Serverless::LayerVersion", "AWS::SNS::Topic"}
_ARN_SERVICE = {
    "AWS::DynamoDB::Table": ("dynamodb", "table/{}"),
    "AWS::Serverless::Function": ("lambda", "function:{}"),
    "AWS::Events::EventBus": ("events", "event-bus/{}"),
    "AWS::SQS::Queue": ("sqs", "{}"),
    "AWS::SNS::Topic": ("sns", "{}"),
    "AWS::SecretsManager::Secret": ("secretsmanager", "secret:{}"),
    "AWS::Serverless::LayerVersion": ("lambda", "layer:{}:1"),
    "AWS::Logs::LogGroup": ("logs", "log-group:{}"),
    "AWS::Events::Archive": ("events", "archive/{}"),
}
S3_BUCKET_NAME_LIMIT = 63


def s3_bucket_name(logical_id: str, stack_name: str = PSEUDO_PARAMETERS["AWS::StackName"]) -> str:
    """The local name of a bucket the template does not name: CloudFormation's `<stack>-<logical id>-<random>`
    without the random part (stable across restarts), lower case as S3 requires, at most 63 characters."""
    name = re.sub(r"[^a-z0-9.-]+", "-", f"{stack_name}-{logical_id}".lower())
    return name[:S3_BUCKET_NAME_LIMIT].strip("-.") or "bucket"


def _arn(resource_type: str, name: str) -> str:
    service, resource = _ARN_SERVICE.get(resource_type, (resource_type.split("::")[1].lower(), "{}"))
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource.format(name)}"


@dataclass(frozen=True)
class LocalResources:
    """What `!Ref` and `!GetAtt` mean locally, for every resource of the template."""

    template: dict[str, Any]
    parameters: dict[str, Any]
    physical_ids: dict[str, str]
    attributes: dict[tuple[str, str], str]
    secrets: dict[str, str] = field(default_factory=dict)  # logical id of a secret → local value
    base_dir: Path = ROOT  # the template's folder: CodeUri and ContentUri are relative to it

    def resolve(self, value: Any) -> Any:
        return resolve(value, self.template, self.physical_ids, self.attributes, self.parameters)

    def resolve_for(self, where: str, value: Any) -> Any:
        """`resolve`, with a failure reported as a TemplateError naming `where` (resource and property)."""
        try:
            return self.resolve(value)
        except Unresolvable as error:
            raise TemplateError(f"{where}: {error}") from None
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise TemplateError(f"{where}: cannot evaluate {_short(value)} ({error!r})") from None


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def local_resources(
    template: dict[str, Any], secret_values: dict[str, str] | None = None, base_dir: Path | None = None
) -> LocalResources:
    parameters = parameter_values(template)
    physical_ids: dict[str, str] = {}
    attributes: dict[tuple[str, str], str] = {}
    resources = template.get("Resources") or {}
    # Names first (a resource's name may be a !Sub of a parameter), then ARNs and other attributes.
    for logical_id, resource in resources.items():
        resource_type = resource.get("Type", "")
        properties = resource.get("Properties") or {}
        name = logical_id
        explicit = next(
            (
                properties[key]
                for key in (
                    "TableName",
                    "Name",
                    "QueueName",
                    "LogGroupName",
                    "ArchiveName",
                    "BucketName",
                    "RoleName",
                )
                if key in properties
            ),
            None,
        )
        if explicit is not None:
            with contextlib.suppress(ValueError):
                name = str(resolve(explicit, template, {}, {}, parameters))
        arn = _arn(resource_type, name)
        physical_ids[logical_id] = arn if resource_type in _REF_IS_ARN else name
        attributes[(logical_id, "Arn")] = arn
        if resource_type == "AWS::DynamoDB::Table":
            attributes[(logical_id, "StreamArn")] = f"{arn}/stream/local"
        if resource_type == "AWS::S3::Bucket":
            # S3's names are global and lower case: a logical id is not one.
            name = name if "BucketName" in properties else s3_bucket_name(logical_id)
            physical_ids[logical_id] = name
            attributes[(logical_id, "Arn")] = f"arn:aws:s3:::{name}"
            attributes[(logical_id, "DomainName")] = f"{name}.s3.amazonaws.com"
            attributes[(logical_id, "RegionalDomainName")] = f"{name}.s3.{REGION}.amazonaws.com"
        if resource_type == "AWS::IAM::Role":
            attributes[(logical_id, "Arn")] = f"arn:aws:iam::{ACCOUNT}:role/{name}"
            attributes[(logical_id, "RoleId")] = f"AROA{logical_id.upper()[:17]}"
        if resource_type == "AWS::SQS::Queue":
            physical_ids[logical_id] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
            attributes[(logical_id, "QueueName")] = name
            attributes[(logical_id, "QueueUrl")] = physical_ids[logical_id]
    secrets = {
        logical_id: (secret_values or {}).get(logical_id) or f"local-{logical_id}-secret-value-0123456789"
        for logical_id in resources_of_type(template, "AWS::SecretsManager::Secret")
    }
    return LocalResources(template, parameters, physical_ids, attributes, secrets, base_dir or ROOT)


# ---------------------------------------------------------------------------------------- functions
@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: Path
    handler: str
    layer_paths: tuple[Path, ...]  # each layer's `<ContentUri>/python`, when it exists locally
    timeout: float
    memory_mb: int
    environment: dict[str, str]
    description: str = ""

    @property
    def module(self) -> str:
        return self.handler.rpartition(".")[0]

    @property
    def function_name(self) -> str:
        return self.handler.rpartition(".")[2]


def _layer_paths(template: dict[str, Any], layers: list[Any], base_dir: Path = ROOT) -> tuple[Path, ...]:
    paths = []
    for layer in layers:
        if isinstance(layer, dict) and "Ref" in layer:
            resource = template["Resources"].get(layer["Ref"]) or {}
            content_uri = (resource.get("Properties") or {}).get("ContentUri")
            if isinstance(content_uri, str) and (base_dir / content_uri / "python").is_dir():
                paths.append((base_dir / content_uri / "python").resolve())
        # Layers built elsewhere (ARNs) or without a local python/ folder (the third-party layer) are
        # stood in for by the virtual environment's site-packages.
    return tuple(paths)


def site_packages() -> list[str]:
    """The running interpreter's site-packages (the project's virtual environment)."""
    paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    return [path for path in sys.path if path in paths] or sorted(paths)


def function_environment(
    resources: LocalResources, logical_id: str, properties: dict[str, Any], services: dict[str, str]
) -> dict[str, str]:
    """The environment Lambda would give the function, with the template's variables pointing at local
    resources: `!Ref` of a table → its local name; a `*_ARN` variable naming a Secrets Manager secret →
    the secret's value in the variable without `_ARN` (e.g. CURSOR_SECRET), since there is no Secrets
    Manager locally; `services` (e.g. DYNAMODB_ENDPOINT) are added last."""
    code_uri = (resources.base_dir / properties["CodeUri"]).resolve()
    memory = int(properties.get("MemorySize", 128))
    log_group = properties.get("LoggingConfig", {}).get("LogGroup")
    environment = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": str(code_uri),
        "_HANDLER": properties["Handler"],
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{properties.get('Runtime', 'python3.13')}",
        "AWS_LAMBDA_FUNCTION_NAME": logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": str(
            resources.resolve_for(f"{logical_id}: LoggingConfig.LogGroup", log_group)
        )
        if log_group
        else f"/aws/lambda/{logical_id}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "local",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        **FAKE_CREDENTIALS,
    }
    variables = (properties.get("Environment") or {}).get("Variables") or {}
    for name, value in variables.items():
        ref = value.get("Ref") if isinstance(value, dict) else None
        if ref in resources.secrets and name.endswith("_ARN"):
            environment[name.removesuffix("_ARN")] = resources.secrets[ref]
            continue
        resolved = resources.resolve_for(f"{logical_id}: Environment.Variables.{name}", value)
        if resolved == "" and name in environment:
            continue  # declared empty for AWS (e.g. CURSOR_SECRET), but already given a local value
        if resolved is not None:
            environment[name] = ",".join(map(str, resolved)) if isinstance(resolved, list) else str(resolved)
    environment.update(services)
    return environment


def check_function(resources: LocalResources, logical_id: str, properties: dict[str, Any]) -> None:
    """Raise a TemplateError (naming the function and the reason) if the local stack cannot run it."""
    if properties.get("PackageType") == "Image":
        raise TemplateError(f"{logical_id}: PackageType Image cannot run locally (zip functions only)")
    runtime = properties.get("Runtime")
    if not isinstance(runtime, str) or not runtime.startswith("python3"):
        raise TemplateError(
            f"{logical_id}: Runtime {runtime!r} cannot run locally (the local stack runs python3.x functions)"
        )
    code_uri = properties.get("CodeUri")
    if "InlineCode" in properties:
        raise TemplateError(f"{logical_id}: InlineCode is not supported locally (use a CodeUri folder)")
    if not isinstance(code_uri, str):
        raise TemplateError(f"{logical_id}: CodeUri must be a local folder, not {_short(code_uri)}")
    if not (resources.base_dir / code_uri).is_dir():
        raise TemplateError(f"{logical_id}: CodeUri {code_uri} is not a folder (under {resources.base_dir})")
    handler = properties.get("Handler")
    if not isinstance(handler, str) or "." not in handler.strip(".") or " " in handler:
        raise TemplateError(f"{logical_id}: Handler {handler!r} is not `module.function`")
    for layer in properties.get("Layers") or []:
        if isinstance(layer, dict) and "Ref" in layer and layer["Ref"] not in resources.template["Resources"]:
            raise TemplateError(f"{logical_id}: Layers: !Ref {layer['Ref']}: no such resource")


def function_spec(resources: LocalResources, logical_id: str, services: dict[str, str]) -> FunctionSpec:
    properties = function_properties(resources.template, logical_id)
    check_function(resources, logical_id, properties)
    return FunctionSpec(
        logical_id=logical_id,
        code_uri=(resources.base_dir / properties["CodeUri"]).resolve(),
        handler=properties["Handler"],
        layer_paths=_layer_paths(
            resources.template, list(properties.get("Layers") or []), resources.base_dir
        ),
        timeout=float(properties.get("Timeout", 3)),
        memory_mb=int(properties.get("MemorySize", 128)),
        environment=function_environment(resources, logical_id, properties, services),
        description=str(properties.get("Description") or ""),
    )


# ---------------------------------------------------------------------------------------- routes
@dataclass(frozen=True)
class JwtConfiguration:
    """A JWT authorizer of the template's HTTP API: its name and where the request carries the token. The
    stack checks its own issuer's tokens in place of the template's issuer and audience
    (local/aws/auth.py, `local_authorizer`)."""

    name: str
    identity_source: str = "$request.header.Authorization"


@dataclass(frozen=True)
class Route:
    method: str  # upper case, or ANY
    path: str  # as in the template: /api/orders/{id}
    function: str  # logical id
    authorizer: JwtConfiguration | None
    scopes: tuple[str, ...] = ()

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def pattern(self) -> re.Pattern[str]:
        return _compile(self.path)

    @property
    def specificity(self) -> tuple[int, int, int]:
        """API Gateway prefers the most specific route: more literal segments, no greedy variable,
        then an exact method over ANY."""
        segments = [part for part in self.path.split("/") if part]
        literal = sum(not part.startswith("{") for part in segments)
        greedy = any(part.endswith("+}") for part in segments)
        return (literal, 0 if greedy else 1, 0 if self.method == "ANY" else 1)


def _compile(path: str) -> re.Pattern[str]:
    if path == "$default":
        return re.compile(r"^/.*$")
    pattern = ""
    for part in path.strip("/").split("/") if path.strip("/") else []:
        if part.startswith("{") and part.endswith("+}"):
            pattern += f"/(?P<{_group(part[1:-2])}>.+)"
        elif part.startswith("{") and part.endswith("}"):
            pattern += f"/(?P<{_group(part[1:-1])}>[^/]+)"
        else:
            pattern += "/" + re.escape(part)
    return re.compile(f"^{pattern or '/'}$")


def _group(name: str) -> str:
    # Regex group names must be identifiers; keep a reversible mapping for names like `user-id`.
    return "p_" + "".join(char if char.isalnum() else f"_{ord(char):x}_" for char in name)


def ungroup(group: str) -> str:
    return re.sub(r"_([0-9a-f]+)_", lambda match: chr(int(match.group(1), 16)), group.removeprefix("p_"))


def _authorizers(resources: LocalResources, event_properties: dict[str, Any]) -> dict[str, JwtConfiguration]:
    """The API's JWT authorizers (the stack checks them with its own issuer and audience)."""
    authorizers = {}
    for name, definition in (
        http_api_auth(resources.template, event_properties).get("Authorizers") or {}
    ).items():
        if "JwtConfiguration" not in definition:
            continue  # Lambda authorizers are not emulated
        authorizers[name] = JwtConfiguration(
            name=name,
            identity_source=str(definition.get("IdentitySource", "$request.header.Authorization")),
        )
    return authorizers


def http_routes(resources: LocalResources) -> list[Route]:
    routes = []
    for logical_id, _, event in http_api_events(resources.template):
        name, scopes = route_authorizer(resources.template, event)
        authorizer = None
        if name is not None:
            authorizer = _authorizers(resources, event).get(name)
            if authorizer is None:
                raise TemplateError(f"{logical_id}: authorizer {name!r} is not a JWT authorizer of its API")
        method = str(event.get("Method", "ANY")).upper()
        method = "ANY" if method in ("ANY", "X-AMAZON-APIGATEWAY-ANY-METHOD", "*") else method
        routes.append(
            Route(method, str(event.get("Path", "$default")), logical_id, authorizer, tuple(scopes))
        )
    return routes


# ---------------------------------------------------------------------------------------- table streams
# A `Type: DynamoDB` event's settings, as the emulated event source mapping (local/aws/event_source_mapping.py)
# applies them.
INFINITE_RETRIES = -1


def matches(pattern: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    """The subset of EventBridge/Lambda filter syntax the template uses: nested keys and value lists."""
    for key, expected in pattern.items():
        if key not in record:
            return False
        actual = record[key]
        if isinstance(expected, Mapping):
            if not isinstance(actual, Mapping) or not matches(expected, actual):
                return False
        elif actual not in expected:
            return False
    return True


@dataclass(frozen=True)
class StreamMappingConfig:
    """The event source mapping's settings from the event's properties, and which records its
    `FilterCriteria` lets through (`accepts`)."""

    batch_size: int = 100
    maximum_retry_attempts: int = INFINITE_RETRIES
    bisect_on_function_error: bool = False
    report_batch_item_failures: bool = False
    filter_patterns: tuple[Mapping[str, Any], ...] = ()
    maximum_batching_window: float = 0.0  # seconds
    maximum_record_age: int = INFINITE_RETRIES  # seconds; -1: no limit
    starting_position: str = "TRIM_HORIZON"

    @classmethod
    def from_event_properties(cls, properties: Mapping[str, Any]) -> StreamMappingConfig:
        filters = (properties.get("FilterCriteria") or {}).get("Filters") or []
        return cls(
            batch_size=int(properties.get("BatchSize", 100)),
            maximum_retry_attempts=int(properties.get("MaximumRetryAttempts", INFINITE_RETRIES)),
            bisect_on_function_error=bool(properties.get("BisectBatchOnFunctionError", False)),
            report_batch_item_failures="ReportBatchItemFailures"
            in (properties.get("FunctionResponseTypes") or []),
            filter_patterns=tuple(json.loads(item["Pattern"]) for item in filters),
            maximum_batching_window=float(properties.get("MaximumBatchingWindowInSeconds", 0)),
            maximum_record_age=int(properties.get("MaximumRecordAgeInSeconds", INFINITE_RETRIES)),
            starting_position=str(properties.get("StartingPosition", "TRIM_HORIZON")),
        )

    def accepts(self, record: Mapping[str, Any]) -> bool:
        return not self.filter_patterns or any(matches(pattern, record) for pattern in self.filter_patterns)


@dataclass(frozen=True)
class StreamSubscription:
    """A function's `Type: DynamoDB` event on a table of the template: what the stack polls and feeds it."""

    function: str  # logical id
    event: str  # the event's name in the template
    table: str  # the table's logical id
    table_name: str  # its local name
    config: StreamMappingConfig
    destination: str | None  # ARN of the on-failure destination (DestinationConfig.OnFailure)

    @property
    def name(self) -> str:
        return f"{self.function}.{self.event}"

    @property
    def mapping_uuid(self) -> str:
        """The event source mapping's UUID (Lambda's is random, fixed at creation): one per subscription,
        the same on every start, so that failed-batch keys of one mapping share their prefix."""
        return str(uuid.uuid5(MAPPING_NAMESPACE, f"{self.function}/{self.event}"))


def stream_subscriptions(resources: LocalResources) -> tuple[list[StreamSubscription], list[str]]:
    """The template's table-stream events the stack can feed, and a warning for each it cannot."""
    template = resources.template
    tables = resources_of_type(template, "AWS::DynamoDB::Table")
    stream_arns = {resources.attributes[(table, "StreamArn")]: table for table in tables}
    subscriptions, warnings = [], []
    for function, event, properties in stream_events(template):
        where = f"{function}: Events.{event}"
        if resources.resolve_for(f"{where}.Enabled", properties.get("Enabled", True)) in (False, "false"):
            continue
        try:
            stream = resources.resolve(properties.get("Stream"))
        except Unresolvable as error:
            warnings.append(f"{where}: its Stream ({error}) is not a table of this template; not polled")
            continue
        table = stream_arns.get(stream)
        if table is None:
            warnings.append(f"{where}: its Stream {stream!r} is not a table of this template; not polled")
            continue
        if not (tables[table].get("Properties") or {}).get("StreamSpecification"):
            raise TemplateError(f"{where}: table {table} has no StreamSpecification, so no stream to read")
        resolved = resources.resolve_for(where, properties)
        try:
            config = StreamMappingConfig.from_event_properties(resolved)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise TemplateError(f"{where}: {error}") from None
        if config.starting_position not in ("TRIM_HORIZON", "LATEST"):
            raise TemplateError(
                f"{where}: StartingPosition {config.starting_position!r} (TRIM_HORIZON or LATEST for a table)"
            )
        destination = ((resolved.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        subscriptions.append(
            StreamSubscription(function, event, table, resources.physical_ids[table], config, destination)
        )
    return subscriptions, warnings


@dataclass(frozen=True)
class StackModel:
    resources: LocalResources
    routes: list[Route]
    functions: dict[str, FunctionSpec]  # every function of the template, by logical id
    description: str
    streams: list[StreamSubscription] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what the stack will not do, one line each

    @property
    def api_functions(self) -> list[str]:
        """The functions behind routes, in route order, each once."""
        return list(dict.fromkeys(route.function for route in self.routes))


def stack_model(
    services: dict[str, str],
    template: dict[str, Any] | None = None,
    secret_values: dict[str, str] | None = None,
    base_dir: Path | None = None,
) -> StackModel:
    template = template or load_template()
    resources = local_resources(template, secret_values, base_dir)
    routes = http_routes(resources)
    functions = {
        logical_id: function_spec(resources, logical_id, services)
        for logical_id in resources_of_type(template, "AWS::Serverless::Function")
    }
    streams, warnings = stream_subscriptions(resources)
    description = " ".join(str(template.get("Description") or "").split())
    return StackModel(resources, routes, functions, description, streams, warnings)


def match_route(routes: list[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route API Gateway would pick for `method path`, with its path parameters."""
    candidates = []
    for route in routes:
        if route.method not in (method, "ANY"):
            continue
        match = route.pattern.match(path)
        if match:
            candidates.append((route.specificity, route, match))
    if not candidates:
        return None
    _, route, match = max(candidates, key=lambda candidate: candidate[0])
    return route, {ungroup(name): value for name, value in match.groupdict().items()}
