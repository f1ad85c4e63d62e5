"""The template: what template.yaml says (document.py) and what it means for the local stack (model.py), and
the derived template `sam local` runs (sam_local.py). Imports no other room of `local`.

The reading of template.yaml is this package's own API (`from local.template import load_template, ...`):
the tests, the bench and the operations tools read the template through it."""

from local.template.document import (
    PSEUDO_PARAMETERS,
    ROOT,
    TEMPLATE_PATH,
    TemplateError,
    Unresolvable,
    create_table_request,
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

__all__ = [
    "PSEUDO_PARAMETERS",
    "ROOT",
    "TEMPLATE_PATH",
    "TemplateError",
    "Unresolvable",
    "create_table_request",
    "function_properties",
    "http_api_auth",
    "http_api_events",
    "load_template",
    "parameter_values",
    "resolve",
    "resources_of_type",
    "route_authorizer",
    "stream_events",
]
