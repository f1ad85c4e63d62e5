"""template.yaml as the local stack runs it: functions (code, handler, layers, timeout, environment with
local names) and HTTP routes (path, method, function, authorizer). Nothing here is retyped from the
template; this module only decides what the template's references mean locally."""

from __future__ import annotations

import os
import re
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local import auth
from local.template import (
    PSEUDO_PARAMETERS,
    ROOT,
    function_properties,
    http_api_auth,
    http_api_events,
    load_template,
    parameter_values,
    resolve,
    resources_of_type,
    route_authorizer,
)

REGION = PSEUDO_PARAMETERS["AWS::Region"]
ACCOUNT = PSEUDO_PARAMETERS["AWS::AccountId"]
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
}
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
}


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

    def resolve(self, value: Any) -> Any:
        return resolve(value, self.template, self.physical_ids, self.attributes, self.parameters)


def local_resources(template: dict[str, Any], secret_values: dict[str, str] | None = None) -> LocalResources:
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
                for key in ("TableName", "Name", "QueueName", "LogGroupName")
                if key in properties
            ),
            None,
        )
        if explicit is not None:
            try:
                name = str(resolve(explicit, template, {}, {}, parameters))
            except ValueError:
                pass
        arn = _arn(resource_type, name)
        physical_ids[logical_id] = arn if resource_type in _REF_IS_ARN else name
        attributes[(logical_id, "Arn")] = arn
        if resource_type == "AWS::DynamoDB::Table":
            attributes[(logical_id, "StreamArn")] = f"{arn}/stream/local"
        if resource_type == "AWS::SQS::Queue":
            physical_ids[logical_id] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
            attributes[(logical_id, "QueueName")] = name
            attributes[(logical_id, "QueueUrl")] = physical_ids[logical_id]
    secrets = {
        logical_id: (secret_values or {}).get(logical_id) or f"local-{logical_id}-secret-value-0123456789"
        for logical_id in resources_of_type(template, "AWS::SecretsManager::Secret")
    }
    return LocalResources(template, parameters, physical_ids, attributes, secrets)


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


def _layer_paths(template: dict[str, Any], layers: list[Any]) -> tuple[Path, ...]:
    paths = []
    for layer in layers:
        if isinstance(layer, dict) and "Ref" in layer:
            resource = template["Resources"].get(layer["Ref"]) or {}
            content_uri = (resource.get("Properties") or {}).get("ContentUri")
            if isinstance(content_uri, str) and (ROOT / content_uri / "python").is_dir():
                paths.append((ROOT / content_uri / "python").resolve())
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
    code_uri = (ROOT / properties["CodeUri"]).resolve()
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
        "AWS_LAMBDA_LOG_GROUP_NAME": str(resources.resolve(log_group))
        if log_group
        else f"/aws/lambda/{logical_id}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "local",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        **FAKE_CREDENTIALS,
        # No X-Ray daemon locally.
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    variables = (properties.get("Environment") or {}).get("Variables") or {}
    for name, value in variables.items():
        ref = value.get("Ref") if isinstance(value, dict) else None
        if ref in resources.secrets and name.endswith("_ARN"):
            environment[name.removesuffix("_ARN")] = resources.secrets[ref]
            continue
        resolved = resources.resolve(value)
        if resolved is not None:
            environment[name] = ",".join(map(str, resolved)) if isinstance(resolved, list) else str(resolved)
    environment.update(services)
    return environment


def function_spec(resources: LocalResources, logical_id: str, services: dict[str, str]) -> FunctionSpec:
    properties = function_properties(resources.template, logical_id)
    return FunctionSpec(
        logical_id=logical_id,
        code_uri=(ROOT / properties["CodeUri"]).resolve(),
        handler=properties["Handler"],
        layer_paths=_layer_paths(resources.template, list(properties.get("Layers") or [])),
        timeout=float(properties.get("Timeout", 3)),
        memory_mb=int(properties.get("MemorySize", 128)),
        environment=function_environment(resources, logical_id, properties, services),
        description=str(properties.get("Description") or ""),
    )


# ---------------------------------------------------------------------------------------- routes
@dataclass(frozen=True)
class Route:
    method: str  # upper case, or ANY
    path: str  # as in the template: /api/orders/{id}
    function: str  # logical id
    authorizer: auth.JwtAuthorizer | None
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


def _authorizers(
    resources: LocalResources, event_properties: dict[str, Any]
) -> dict[str, auth.JwtAuthorizer]:
    """The API's JWT authorizers, with the local issuer and audience in place of the template's."""
    authorizers = {}
    for name, definition in (
        http_api_auth(resources.template, event_properties).get("Authorizers") or {}
    ).items():
        if "JwtConfiguration" not in definition:
            continue  # Lambda authorizers are not emulated
        authorizers[name] = auth.JwtAuthorizer(
            name=name,
            issuer=auth.ISSUER,
            audiences=(auth.AUDIENCE,),
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
                raise ValueError(f"{logical_id}: authorizer {name!r} is not a JWT authorizer of its API")
        method = str(event.get("Method", "ANY")).upper()
        method = "ANY" if method in ("ANY", "X-AMAZON-APIGATEWAY-ANY-METHOD", "*") else method
        routes.append(
            Route(method, str(event.get("Path", "$default")), logical_id, authorizer, tuple(scopes))
        )
    return routes


@dataclass(frozen=True)
class StackModel:
    resources: LocalResources
    routes: list[Route]
    functions: dict[str, FunctionSpec]  # the functions behind routes, by logical id
    description: str


def stack_model(
    services: dict[str, str],
    template: dict[str, Any] | None = None,
    secret_values: dict[str, str] | None = None,
) -> StackModel:
    template = template or load_template()
    resources = local_resources(template, secret_values)
    routes = http_routes(resources)
    functions = {route.function: function_spec(resources, route.function, services) for route in routes}
    description = " ".join(str(template.get("Description") or "").split())
    return StackModel(resources, routes, functions, description)


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
