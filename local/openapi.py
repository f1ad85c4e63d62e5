"""One OpenAPI document for the whole API: each function's Powertools resolver describes its own route
(`app.get_openapi_json_schema()`, asked of the function's worker, so the stack never imports a function);
the template adds what only it knows: which routes need a token, and the routes of functions without a
resolver (such as /health)."""

from __future__ import annotations

import json
import re
from typing import Any

from local.model import StackModel

SWAGGER_UI = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title} (local)</title>
  <link rel="stylesheet" href="https://unpkg.com/swagger-ui-dist@5/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="https://unpkg.com/swagger-ui-dist@5/swagger-ui-bundle.js" crossorigin></script>
  <script>
    window.ui = SwaggerUIBundle({{url: "/_local/openapi.json", dom_id: "#swagger-ui", persistAuthorization: true}});
  </script>
</body>
</html>
"""


def _shape(path: str) -> str:
    """`/api/orders/{order_id}` and `/api/orders/{id}` are the same route."""
    return re.sub(r"\{[^}]+\}", "{}", path)


def merged_document(model: StackModel, schemas: dict[str, str | None], base_url: str) -> dict[str, Any]:
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "Order Service", "version": "local", "description": model.description},
        "servers": [{"url": base_url}],
        "paths": {},
        "components": {"schemas": {}, "securitySchemes": {}},
    }
    for text in schemas.values():
        if not text:
            continue
        schema = json.loads(text)
        for path, operations in (schema.get("paths") or {}).items():
            document["paths"].setdefault(path, {}).update(operations)
        for name, definition in ((schema.get("components") or {}).get("schemas") or {}).items():
            document["components"]["schemas"].setdefault(name, definition)
    shapes = {
        (_shape(path), method): (path, method) for path, ops in document["paths"].items() for method in ops
    }
    for route in model.routes:
        methods = (
            ["get", "post", "put", "patch", "delete"] if route.method == "ANY" else [route.method.lower()]
        )
        for method in methods:
            path, _ = shapes.get((_shape(route.path), method), (route.path, method))
            operation = (
                document["paths"]
                .setdefault(path, {})
                .setdefault(
                    method,
                    {
                        "summary": f"{route.method} {route.path}",
                        "description": model.functions[route.function].description,
                        "responses": {"200": {"description": "Successful Response"}},
                    },
                )
            )
            operation["x-function"] = route.function
            if route.authorizer is not None:
                name = route.authorizer.name
                document["components"]["securitySchemes"][name] = {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "Locally: `make -s token USER=<id> [ADMIN=1]`.",
                }
                operation["security"] = [{name: list(route.scopes)}]
                operation.setdefault("responses", {}).setdefault(
                    "401", {"description": "Missing or invalid bearer token (API Gateway's JWT authorizer)"}
                )
    return document
