"""The local stack's own endpoints, beside the API: `/_local/*` (events, dead letters, streams, IAM,
services, workers, routes, the OpenAPI document and its docs page, the upstream stubs' state, faults and
reset) and the issuer's `/.well-known/*` (JWKS, OpenID configuration). README lists them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import simplejson

from local import apigw, auth
from local.console import say
from local.openapi import docs_endpoint

if TYPE_CHECKING:
    from local.server import LocalStack


def endpoint(stack: LocalStack, method: str, path: str, body: bytes = b"") -> apigw.OutgoingResponse | None:
    """The answer of the stack's own endpoint at `path`, or None when there is none (the API's, then)."""
    if path.startswith("/_local/stubs/"):
        return stubs_endpoint(stack, method, path.removeprefix("/_local/stubs/"), body)
    if method not in ("GET", "HEAD"):
        return None
    if path == "/.well-known/jwks.json":
        return apigw.json_response(200, auth.jwks())
    if path == "/.well-known/openid-configuration":
        return apigw.json_response(
            200,
            {
                "issuer": auth.ISSUER,
                "jwks_uri": f"{stack.base_url}/.well-known/jwks.json",
                "id_token_signing_alg_values_supported": [auth.ALGORITHM],
            },
        )
    if path == "/_local/events":
        return apigw.json_response(200, stack.events.entries())
    if path == "/_local/dead-letters":
        return apigw.json_response(200, stack.dead_letters.entries())
    if path == "/_local/streams":
        return apigw.json_response(200, [poller.describe() for poller in stack.pollers])
    if path == "/_local/iam":
        iam = stack.services.iam if stack.services is not None else None
        return apigw.json_response(200, iam.describe() if iam is not None else {"enforced": False})
    if path == "/_local/services":
        return apigw.json_response(200, stack.services.describe() if stack.services else {})
    if path == "/_local/workers":
        return apigw.json_response(200, {name: pool.describe() for name, pool in stack.pools.items()})
    if path == "/_local/routes":
        return apigw.json_response(200, [_route_row(route) for route in stack.model.routes])
    if path == "/_local/openapi.json":
        return apigw.json_response(200, stack.openapi())
    if path == "/_local/docs" or path.startswith("/_local/docs/"):
        return docs_endpoint(path)  # the page and its assets (Swagger UI, served locally)
    return None


def stubs_endpoint(stack: LocalStack, method: str, action: str, body: bytes) -> apigw.OutgoingResponse | None:
    """`POST /_local/stubs/faults` (the stubs' fault plan), `GET /_local/stubs/state`,
    `POST /_local/stubs/reset` (reload the seed)."""
    stubs = stack.services.stubs if stack.services is not None else None
    known = {("POST", "faults"), ("GET", "state"), ("HEAD", "state"), ("POST", "reset")}
    if (method, action) not in known:
        return None
    if stubs is None:
        return apigw.json_response(
            404, {"message": "no upstream stubs here: USERS_API_URL and INVENTORY_API_URL are external"}
        )
    if action == "faults":
        try:
            plan = json.loads(body or b"{}")
            if not isinstance(plan, dict):
                raise TypeError("the fault plan is a JSON object")
            stubs.stubs.set_faults(**plan)
        except (ValueError, TypeError) as error:
            return apigw.json_response(400, {"message": str(error)})
        say(f"[stubs] fault plan: {json.dumps(stubs.stubs.faults.describe())}")
        return apigw.json_response(200, stubs.stubs.faults.describe())
    if action == "reset":
        stubs.stubs.reset()
        say("[stubs] reset to the seed")
        return apigw.OutgoingResponse(204, [], b"")
    state = {**stubs.stubs.snapshot(), "faults": stubs.stubs.faults.describe()}
    # The stubs keep prices as Decimals: written exactly, as the stubs themselves answer (never as floats).
    body = simplejson.dumps(state, use_decimal=True, separators=(",", ":")).encode()
    return apigw.OutgoingResponse(200, [("Content-Type", "application/json")], body)


def _route_row(route) -> dict[str, Any]:
    return {
        "method": route.method,
        "path": route.path,
        "function": route.function,
        "auth": route.authorizer.name if route.authorizer else None,
        "scopes": list(route.scopes),
    }
