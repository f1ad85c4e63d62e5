"""One OpenAPI 3.1 document for the whole API, assembled from what the code declares.

Each function describes its own routes: a Powertools resolver from its routes and validation models
(`app.get_openapi_json_schema()`: summaries, descriptions, parameters, bodies, success and problem
responses, declared with each route through `orders.http.docs.route` and `orders.http.problems`), and a
function without one by its module-level `OPENAPI` (such as /health). Each is asked of a worker process
that imports the function with its own sys.path and environment, so neither the stack nor this module
imports a function. The template adds what only it knows: the public paths, which routes need a bearer
token, and a stand-in for a route whose function says nothing. The layer adds the schemas and responses
routes refer to (`orders.http.problems`, `orders.http.docs`). This module only merges them, tidies what
Powertools writes (see `_without_null`, `_described_once`, `_is_powertools_default`) and serves or writes
the result.

`python -m local.front.openapi --write docs/openapi.json` (make openapi) writes the document without starting
the stack; `--check docs/openapi.json` exits 1 when the committed document and the code disagree. The
local stack serves the same document at /_local/openapi.json and Swagger UI at /_local/docs, with its
assets (PyPI's swagger-ui-bundle-v2) under /_local/docs/assets/, so the page works offline.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import json
import mimetypes
import re
import sys
import threading
import tomllib
from pathlib import Path
from typing import Any

from orders.http import docs, problems
from orders.http.docs import PARAMETER_DOCS

from local.template import ROOT, TEMPLATE_PATH, TemplateError, load_template
from local.template.model import StackModel, stack_model

DOCUMENT_PATH = ROOT / "docs" / "openapi.json"
# The committed document names `make dev`'s address; the running stack serves its own.
DEFAULT_SERVER = "http://localhost:3001"
JSON = "application/json"

# ---------------------------------------------------------------------------------------- Swagger UI
DOCS_ASSETS_PREFIX = "/_local/docs/assets/"
SWAGGER_UI = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title} (local)</title>
  <link rel="icon" type="image/png" href="/_local/docs/assets/favicon-32x32.png">
  <link rel="stylesheet" href="/_local/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/_local/docs/assets/swagger-ui-bundle.js"></script>
  <script>
    // "Try it out" calls the stack that served this page, by the name the browser reached it with
    // (http://127.0.0.1:3001 as well as the document's http://localhost:3001): no cross-origin request.
    const thisStack = () => ({{
      statePlugins: {{spec: {{wrapActions: {{
        updateJsonSpec: (update) => (spec) => update({{...spec, servers: [{{url: window.location.origin}}]}})
      }}}}}}
    }});
    window.ui = SwaggerUIBundle({{
      url: "/_local/openapi.json",
      dom_id: "#swagger-ui",
      plugins: [thisStack],
      deepLinking: true,
      persistAuthorization: true,
      validatorUrl: null
    }});
  </script>
</body>
</html>
"""


def swagger_ui_folder() -> Path | None:
    """The Swagger UI distribution of the dev dependency swagger-ui-bundle-v2 (None without it)."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    return Path(str(swagger_ui_path))


def docs_endpoint(path: str, title: str = "Order Service"):
    """GET /_local/docs (the page) and /_local/docs/assets/<file> (Swagger UI's files); None: no such page."""
    from local.aws.apigw import OutgoingResponse

    if path in ("/_local/docs", "/_local/docs/"):
        page = SWAGGER_UI.format(title=title).encode()
        return OutgoingResponse(200, [("Content-Type", "text/html; charset=utf-8")], page)
    if path.startswith(DOCS_ASSETS_PREFIX):
        asset = docs_asset(path.removeprefix(DOCS_ASSETS_PREFIX))
        if asset is not None:
            headers = [("Content-Type", asset[0]), ("Cache-Control", "public, max-age=3600")]
            return OutgoingResponse(200, headers, asset[1])
    return None


def docs_asset(name: str) -> tuple[str, bytes] | None:
    """(content type, bytes) of one file of the Swagger UI distribution, by plain file name."""
    folder = swagger_ui_folder()
    if folder is None or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        return None
    path = folder / name
    if not path.is_file():
        return None
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if name.endswith(".map"):
        content_type = JSON
    if content_type.startswith("text/") or content_type in ("application/javascript", JSON):
        content_type += "; charset=utf-8"
    return content_type, path.read_bytes()


# ---------------------------------------------------------------------------------------- generation
def function_schemas(model: StackModel, log: Any = None) -> dict[str, str | None]:
    """Each API function's own OpenAPI document (JSON text, or None for a function without a resolver),
    from a worker process per function, as the stack would ask its workers; in parallel."""
    from local.runtime.workers import Worker

    def quiet(function: str, line: str) -> None:
        if log is not None:
            log(function, line)

    schemas: dict[str, str | None] = {}
    errors: dict[str, BaseException] = {}

    def ask(name: str) -> None:
        worker = Worker(model.functions[name], quiet)
        try:
            worker.init()
            schemas[name] = worker.openapi()
        except BaseException as error:  # noqa: BLE001 - reported below, with the function's name
            errors[name] = error
        finally:
            worker.stop()

    threads = [threading.Thread(target=ask, args=(name,)) for name in model.api_functions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        name, error = next(iter(errors.items()))
        raise RuntimeError(f"{name}: no OpenAPI schema: {error!r}")
    return {name: schemas.get(name) for name in model.api_functions}


def generate(template_path: Path = TEMPLATE_PATH, server_url: str = DEFAULT_SERVER, log: Any = None):
    """The document for a template, without starting the stack."""
    template = load_template(template_path.resolve())
    model = stack_model({}, template, None, template_path.resolve().parent)
    return merged_document(model, function_schemas(model, log), server_url)


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------- merging
def _shape(path: str) -> str:
    """`/api/orders/{order_id}` and `/api/orders/{id}` are the same route."""
    return re.sub(r"\{[^}]+\}", "{}", path)


def _path_parameters(path: str) -> list[str]:
    return [name.rstrip("+") for name in re.findall(r"\{([^}]+)\}", path)]


def _project_version() -> str:
    try:
        return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "0.0.0"


def _at_template_path(operation: dict[str, Any], code_path: str, template_path: str) -> dict[str, Any]:
    """The code's operation under the template's path: path parameters renamed to the template's names
    (`{order_id}` in the code is `{id}` in API Gateway's route), in order. First, what a route declares
    of its parameters without pydantic (`orders.http.docs.route`'s `x-parameter-docs`, by the code's
    names) goes into them."""
    declared = operation.pop(PARAMETER_DOCS, None) or {}
    renames = dict(zip(_path_parameters(code_path), _path_parameters(template_path), strict=False))
    for parameter in operation.get("parameters") or []:
        for key, value in (declared.get(parameter.get("name")) or {}).items():
            parameter.setdefault(key, value)
        if parameter.get("in") == "path" and parameter.get("name") in renames:
            parameter["name"] = renames[parameter["name"]]
    return operation


def _without_null(parameter: dict[str, Any]) -> dict[str, Any]:
    """Powertools documents an optional header or query parameter as `anyOf: [<schema>, null]`; but a
    header or query string has no null (a client would send the text "null"): absent is how it is left out."""
    schema = parameter.get("schema") or {}
    branches = schema.get("anyOf")
    if parameter.get("in") != "body" and isinstance(branches, list):
        kept = [branch for branch in branches if branch != {"type": "null"}]
        if len(kept) == 1:
            rest = {key: value for key, value in schema.items() if key != "anyOf"}
            parameter["schema"] = {**kept[0], **rest}
        elif len(kept) != len(branches):
            schema["anyOf"] = kept
    return parameter


def _described_once(parameter: dict[str, Any]) -> dict[str, Any]:
    """Powertools repeats a parameter's `description` in its schema (pydantic's JSON Schema of the field):
    the document says it once, on the parameter."""
    schema = parameter.get("schema") or {}
    if "description" in parameter and schema.get("description") == parameter["description"]:
        del schema["description"]
    return parameter


def _is_powertools_default(status: str, response: dict[str, Any]) -> bool:
    """Responses Powertools adds to every operation that declares none: a 200 without a schema, and a 422
    `HTTPValidationError` (FastAPI's shape, which `orders.http.api` never sends: invalid requests are 400
    problems)."""
    content = response.get("content") or {}
    if status == "422":
        return "HTTPValidationError" in json.dumps(content)
    if status == "200":
        return response.get("description") == "Successful Response" and all(
            not media.get("schema") for media in content.values()
        )
    return False


def _referenced(value: Any, kind: str = "schemas") -> set[str]:
    text = json.dumps(value)
    return set(re.findall(rf'"#/components/{kind}/([^"]+)"', text))


def _drop_unreferenced(document: dict[str, Any]) -> None:
    """Components no operation needs: shared responses of routes this template lacks, schemas of no body."""
    responses = document["components"]["responses"]
    for name in set(responses) - _referenced(document["paths"], "responses"):
        del responses[name]
    schemas = document["components"]["schemas"]
    outside = {key: value for key, value in document.items() if key != "components"}
    outside["components"] = {key: value for key, value in document["components"].items() if key != "schemas"}
    wanted = _referenced(outside)
    pending = list(wanted)
    while pending:
        name = pending.pop()
        for other in _referenced(schemas.get(name, {})) - wanted:
            wanted.add(other)
            pending.append(other)
    for name in list(schemas):
        if name not in wanted:
            del schemas[name]


def _shared(response: dict[str, Any]) -> dict[str, Any]:
    """A route's response equal to one every route shares (`problems.SHARED_RESPONSES`, such as the 500 of
    `orders.http.docs.route`) is written once, as a reference."""
    for name, definition in problems.SHARED_RESPONSES.items():
        if response == definition:
            return {"$ref": f"#/components/responses/{name}"}
    return response


def merged_document(model: StackModel, schemas: dict[str, str | None], base_url: str) -> dict[str, Any]:
    """One document from the functions' own documents (`schemas`, JSON text by function) and the
    template's routes; `base_url` is the document's server."""
    documents = [json.loads(text) for text in (schemas.get(name) for name in model.api_functions) if text]
    # The API's title and description: those a function's resolver was given (`app.configure_openapi`, as in
    # `orders.http.api.build_resolver`); Powertools' default info has no description.
    info = next((d["info"] for d in documents if (d.get("info") or {}).get("description")), {})
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": info.get("title", "Local stack"),
            "version": _project_version(),
            "description": info.get("description", model.description),
        },
        "servers": [{"url": base_url}],
        "paths": {},
        "components": {"schemas": {}, "responses": {}, "securitySchemes": {}},
    }
    code_operations: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    for code_document in documents:
        for path, operations in (code_document.get("paths") or {}).items():
            for method, operation in operations.items():
                code_operations[(_shape(path), method)] = (path, operation)
        for schema_name, definition in ((code_document.get("components") or {}).get("schemas") or {}).items():
            document["components"]["schemas"].setdefault(schema_name, definition)

    for route in model.routes:
        methods = (
            ["get", "post", "put", "patch", "delete"] if route.method == "ANY" else [route.method.lower()]
        )
        for method in methods:
            found = code_operations.get((_shape(route.path), method))
            if found is not None:
                operation = _at_template_path(copy.deepcopy(found[1]), found[0], route.path)
                # The template's description of the function, where the code gives none (as for /health).
                if model.functions[route.function].description:
                    operation.setdefault("description", model.functions[route.function].description)
            else:
                operation = {
                    "summary": f"{route.method} {route.path}",
                    "description": model.functions[route.function].description,
                    "responses": {"200": {"description": "Successful Response"}},
                }
            responses = operation.setdefault("responses", {})
            for status in list(responses):
                if _is_powertools_default(status, responses[status]):
                    del responses[status]
                else:
                    responses[status] = _shared(responses[status])
            operation["parameters"] = [
                _ordered_parameter(_described_once(_without_null(parameter)))
                for parameter in operation.get("parameters") or []
            ]
            if not operation["parameters"]:
                del operation["parameters"]
            if not responses:
                responses["200"] = {"description": "Successful Response"}
            operation["x-function"] = route.function
            if route.authorizer is not None:
                scheme = route.authorizer.name
                document["components"]["securitySchemes"][scheme] = {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": (
                        "API Gateway's JWT authorizer checks the token (issuer, audience, expiry) before the "
                        "function runs. Locally: `make -s token USER=<id> [ADMIN=1]`."
                    ),
                }
                operation["security"] = [{scheme: list(route.scopes)}]
                responses.setdefault("401", {"$ref": "#/components/responses/Unauthorized"})
            document["paths"].setdefault(route.path, {})[method] = _ordered(operation)

    # What the layer describes beside the routes: the shapes of problems and of answered orders, and the
    # responses every route shares. Those no operation of this template refers to are dropped below.
    for schema_name, definition in {**problems.SCHEMAS, **docs.SCHEMAS}.items():
        document["components"]["schemas"].setdefault(schema_name, copy.deepcopy(definition))
    document["components"]["responses"].update(copy.deepcopy(problems.SHARED_RESPONSES))
    _drop_unreferenced(document)
    document["components"]["schemas"] = dict(sorted(document["components"]["schemas"].items()))
    document["components"] = {key: value for key, value in document["components"].items() if value}
    return document


_OPERATION_KEYS = (
    "tags", "summary", "description", "operationId", "parameters", "requestBody", "responses",
    "security", "x-function",
)  # fmt: skip


# Powertools writes a parameter's keys in its models' order (description first); the document keeps one
# order of its own, so a Powertools upgrade does not reorder it.
_PARAMETER_KEYS = ("required", "schema", "name", "in", "description")


def _ordered_parameter(parameter: dict[str, Any]) -> dict[str, Any]:
    ordered = {key: parameter[key] for key in _PARAMETER_KEYS if key in parameter}
    ordered.update({key: value for key, value in parameter.items() if key not in ordered})
    return ordered


def _ordered(operation: dict[str, Any]) -> dict[str, Any]:
    ordered = {key: operation[key] for key in _OPERATION_KEYS if key in operation}
    ordered.update({key: value for key, value in operation.items() if key not in ordered})
    ordered["responses"] = dict(sorted(ordered["responses"].items()))
    return ordered


# ---------------------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.front.openapi",
        description="Generate the OpenAPI document from the code and template.yaml (no stack needed).",
    )
    parser.add_argument("-t", "--template", type=Path, default=TEMPLATE_PATH)
    parser.add_argument(
        "--server", default=DEFAULT_SERVER, help=f"the document's server (default {DEFAULT_SERVER})"
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", type=Path, metavar="PATH", help="write the document to PATH")
    group.add_argument("--check", type=Path, metavar="PATH", help="exit 1 if PATH differs from the code's")
    args = parser.parse_args(argv)

    def log(function: str, line: str) -> None:
        print(f"[{function}] {line}", file=sys.stderr)

    try:
        text = dumps(generate(args.template, args.server, log))
    except TemplateError as error:
        print(f"error: {args.template}: {error}", file=sys.stderr)
        return 2
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(text)
        print(f"wrote {args.write}", file=sys.stderr)
    elif args.check:
        committed = args.check.read_text() if args.check.exists() else ""
        if committed != text:
            sys.stderr.writelines(
                difflib.unified_diff(
                    committed.splitlines(True),
                    text.splitlines(True),
                    str(args.check),
                    "generated from the code",
                )
            )
            print(f"{args.check} is out of date: make openapi", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
