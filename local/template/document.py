"""template.yaml as data: the one definition of routes, functions and the table, for the local stack and
the tests (which create their table from it rather than retyping the schema)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"


class TemplateError(ValueError):
    """The local stack cannot run this template; the message names the resource and says why, on one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


@cache
def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    # SAM CLI's own loader knows CloudFormation's short-form tags (!Ref, !GetAtt, !Sub, ...).
    from samcli.yamlhelper import yaml_parse

    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise TemplateError(f"no template at {path}") from None
    except OSError as error:
        raise TemplateError(f"cannot read the template: {error.strerror}") from None
    try:
        template = yaml_parse(text)
    except Exception as error:  # noqa: BLE001 - yaml and json parse errors alike
        raise TemplateError(f"not valid YAML: {error}") from None
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise TemplateError("no Resources section")
    for logical_id, resource in template["Resources"].items():
        if not isinstance(resource, dict) or not isinstance(resource.get("Type"), str):
            raise TemplateError(f"{logical_id}: a resource needs a Type")
        if not isinstance(resource.get("Properties") or {}, dict):
            raise TemplateError(f"{logical_id}: Properties must be a map")
    return template


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == resource_type
    }


def create_table_request(
    table_name: str, logical_id: str = "OrdersTable", template: dict | None = None
) -> dict:
    """boto3 `create_table` arguments for the template's table (keys, indexes, stream)."""
    properties = (template or load_template())["Resources"][logical_id]["Properties"]
    request: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": [dict(definition) for definition in properties["AttributeDefinitions"]],
        "KeySchema": [dict(key) for key in properties["KeySchema"]],
        "BillingMode": properties.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if indexes := properties.get("GlobalSecondaryIndexes"):
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index["IndexName"],
                "KeySchema": [dict(key) for key in index["KeySchema"]],
                "Projection": dict(index["Projection"]),
            }
            for index in indexes
        ]
    if stream := properties.get("StreamSpecification"):
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    return request


# ---------------------------------------------------------------------------------------------------------
# Intrinsic functions, functions and HTTP routes, as the local stack needs them.

PSEUDO_PARAMETERS = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "orders-local",
    "AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/orders-local/local",
    "AWS::NoValue": None,
}


class Unresolvable(ValueError):
    """An intrinsic function the local resolver does not know how to evaluate."""


def parameter_values(template: dict[str, Any], overrides: dict[str, str] | None = None) -> dict[str, Any]:
    """Each template parameter's value: the override if given, else its default (lists split on commas)."""
    values: dict[str, Any] = {}
    for name, definition in (template.get("Parameters") or {}).items():
        value = (overrides or {}).get(name, definition.get("Default"))
        if definition.get("Type") == "CommaDelimitedList" and isinstance(value, str):
            value = [part.strip() for part in value.split(",")] if value else []
        values[name] = value
    return values


def resolve(
    value: Any,
    template: dict[str, Any],
    physical_ids: dict[str, str],
    attributes: dict[tuple[str, str], str] | None = None,
    parameters: dict[str, Any] | None = None,
) -> Any:
    """Evaluate Ref / Fn::GetAtt / Fn::Sub / Fn::If / Fn::Join / Fn::Select / Fn::Split / conditions.

    `physical_ids` maps a resource's logical id to its local name (what `!Ref` returns); `attributes` maps
    `(logical id, attribute)` to a value (what `!GetAtt` returns); `parameters` defaults to the template's
    parameter defaults."""
    params = parameter_values(template) if parameters is None else parameters
    attrs = attributes or {}

    def ref(name: str) -> Any:
        if name in params:
            return params[name]
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        if name in physical_ids:
            return physical_ids[name]
        raise Unresolvable(f"!Ref {name}: no local value")

    def get_att(logical_id: str, attribute: str) -> Any:
        if (logical_id, attribute) in attrs:
            return attrs[(logical_id, attribute)]
        raise Unresolvable(f"!GetAtt {logical_id}.{attribute}: no local value")

    def sub(text: str, variables: dict[str, Any]) -> str:
        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and name.split(".", 1)[0] not in params:
                return str(get_att(*name.split(".", 1)))
            return str(ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def condition(name: str) -> bool:
        return bool(evaluate((template.get("Conditions") or {})[name]))

    def evaluate(node: Any) -> Any:
        if isinstance(node, list):
            return [evaluate(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, argument),) = node.items()
            if key == "Ref":
                return ref(argument)
            if key == "Fn::GetAtt":
                parts = argument.split(".", 1) if isinstance(argument, str) else argument
                return get_att(parts[0], evaluate(parts[1]))
            if key == "Fn::Sub":
                if isinstance(argument, str):
                    return sub(argument, {})
                text, variables = argument
                return sub(text, {name: evaluate(item) for name, item in variables.items()})
            if key == "Fn::If":
                name, when_true, when_false = argument
                return evaluate(when_true if condition(name) else when_false)
            if key == "Fn::Equals":
                left, right = (evaluate(item) for item in argument)
                return left == right
            if key == "Fn::Not":
                return not evaluate(argument[0])
            if key == "Fn::And":
                return all(evaluate(item) for item in argument)
            if key == "Fn::Or":
                return any(evaluate(item) for item in argument)
            if key == "Condition":
                return condition(argument)
            if key == "Fn::Join":
                separator, items = argument
                return separator.join(str(item) for item in evaluate(items))
            if key == "Fn::Select":
                index, items = argument
                return evaluate(items)[int(evaluate(index))]
            if key == "Fn::Split":
                separator, text = argument
                return str(evaluate(text)).split(separator)
            if key.startswith("Fn::"):
                raise Unresolvable(f"{key} is not supported locally")
        return {key: evaluate(item) for key, item in node.items()}

    return evaluate(value)


def function_properties(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    """A function's properties with `Globals.Function` applied the way SAM applies them: the function's
    own value wins, maps (Environment.Variables) merge, lists (Layers) are concatenated, globals first."""
    globals_ = dict((template.get("Globals") or {}).get("Function") or {})
    own = dict(template["Resources"][logical_id].get("Properties") or {})
    merged: dict[str, Any] = {**globals_, **own}
    if "Layers" in globals_ and "Layers" in own:
        merged["Layers"] = [*globals_["Layers"], *own["Layers"]]
    global_env = ((globals_.get("Environment") or {}).get("Variables")) or {}
    own_env = ((own.get("Environment") or {}).get("Variables")) or {}
    if global_env or own_env:
        merged["Environment"] = {"Variables": {**global_env, **own_env}}
    return merged


def http_api_events(template: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every `HttpApi` event of every `AWS::Serverless::Function`: (function logical id, event name,
    event properties), in template order."""
    events = []
    for logical_id in resources_of_type(template, "AWS::Serverless::Function"):
        properties = function_properties(template, logical_id)
        for event_name, event in (properties.get("Events") or {}).items():
            if event.get("Type") == "HttpApi":
                events.append((logical_id, event_name, dict(event.get("Properties") or {})))
    return events


def stream_events(template: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every `DynamoDB` (table stream) event of every `AWS::Serverless::Function`: (function logical id,
    event name, event properties), in template order."""
    events = []
    for logical_id in resources_of_type(template, "AWS::Serverless::Function"):
        properties = function_properties(template, logical_id)
        for event_name, event in (properties.get("Events") or {}).items():
            if event.get("Type") == "DynamoDB":
                events.append((logical_id, event_name, dict(event.get("Properties") or {})))
    return events


def http_api_auth(template: dict[str, Any], event_properties: dict[str, Any]) -> dict[str, Any]:
    """The `Auth` block of the HttpApi an event belongs to (its `ApiId`, else the implicit API, whose
    settings come from `Globals.HttpApi`)."""
    api_id = event_properties.get("ApiId")
    if isinstance(api_id, dict) and "Ref" in api_id:
        api = template["Resources"][api_id["Ref"]].get("Properties") or {}
    else:
        api = (template.get("Globals") or {}).get("HttpApi") or {}
    return dict(api.get("Auth") or {})


def route_authorizer(
    template: dict[str, Any], event_properties: dict[str, Any]
) -> tuple[str | None, list[str]]:
    """(authorizer name or None, required scopes) for one HttpApi event: the event's `Auth.Authorizer`
    (`NONE` means open), else the API's `DefaultAuthorizer`."""
    api_auth = http_api_auth(template, event_properties)
    event_auth = event_properties.get("Auth") or {}
    name = event_auth.get("Authorizer", api_auth.get("DefaultAuthorizer"))
    if name in (None, "NONE"):
        return None, []
    scopes = list(event_auth.get("AuthorizationScopes") or api_auth.get("DefaultAuthorizationScopes") or [])
    return name, scopes
