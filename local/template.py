"""template.yaml as data: the one definition of routes, functions and the table, for the local stack and
the tests (which create their table from it rather than retyping the schema)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"


@cache
def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    # SAM CLI's own loader knows CloudFormation's short-form tags (!Ref, !GetAtt, !Sub, ...).
    from samcli.yamlhelper import yaml_parse

    return yaml_parse(path.read_text())


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == resource_type
    }


def create_table_request(table_name: str, logical_id: str = "OrdersTable", template: dict | None = None) -> dict:
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
