"""Handlers as `sam local start-api` runs them: `AWS_SAM_LOCAL=true`, no authorizer context. They must
verify the bearer token themselves (the SamLocalAuth layer, `sam_local_auth`) against the issuer's JWKS,
before anything else, and never trust an unverified token. Also: the template `sam local` builds gets that
layer, the deployed one never does."""

from __future__ import annotations

import base64
import functools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
import sam_local_auth
from cryptography.hazmat.primitives.asymmetric import rsa

from local.aws import auth
from tests.support.lambda_runtime import http_event, invoke
from tests.support.tokens import raw_token

FUNCTIONS_WITH_AUTH = ["create_order", "get_order", "update_order_status", "list_user_orders"]


@pytest.fixture(scope="module")
def jwks_url(tmp_path_factory):
    """The local issuer's keys (in a temporary key folder), served over HTTP as the stack serves them."""
    keys = tmp_path_factory.mktemp("keys")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LOCAL_KEYS_DIR", str(keys))
        auth.signing_key.cache_clear()
        jwks_document = json.dumps(auth.jwks()).encode()

        class Jwks(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(jwks_document)

            def log_message(self, *_):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{server.server_port}/jwks.json"
        server.shutdown()
        auth.signing_key.cache_clear()


@pytest.fixture
def sam_local_env(jwks_url, monkeypatch, table):
    """SAM CLI's environment for the functions (`AWS_SAM_LOCAL=true`), pointed at the JWKS."""
    monkeypatch.setenv("AWS_SAM_LOCAL", "true")
    monkeypatch.setenv("SAM_LOCAL_JWKS_URL", jwks_url)
    sam_local_auth._jwks.cache_clear()
    yield
    sam_local_auth._jwks.cache_clear()


def sam_event(function: str, token: str | None, **changes) -> dict:
    event = http_event(function, user=None, **changes)
    event["headers"].pop("authorization", None)
    if token is not None:
        event["headers"]["authorization"] = f"Bearer {token}"
    return event


@functools.cache
def stranger_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def forged(claims: dict, kid: str) -> str:
    """Signed by someone else's key, under the issuer's key id."""
    return jwt.encode(claims, stranger_key(), algorithm="RS256", headers={"kid": kid})


def unsigned(claims: dict, kid: str) -> str:
    part = lambda data: base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'none', 'kid': kid, 'typ': 'JWT'})}.{part(claims)}."


def test_a_minted_token_is_verified_and_becomes_the_caller(sam_local_env):
    created = invoke("create_order", sam_event("create_order", auth.mint("user-123")))
    assert created.status == 201 and created.body["userId"] == "user-123"
    order_id = created.body["id"]
    got = invoke("get_order", sam_event("get_order", auth.mint("user-123"), path=f"/api/orders/{order_id}"))
    assert got.status == 200
    # Admin rights come from the verified token's groups, flattened as API Gateway flattens them.
    shipped = invoke(
        "update_order_status",
        sam_event(
            "update_order_status",
            auth.mint("ops-1", admin=True),
            path=f"/api/orders/{order_id}/status",
            body={"status": "shipped"},
        ),
    )
    assert shipped.status == 200 and shipped.body["statusHistory"][-1]["by"] == "ops-1"
    listed = invoke("list_user_orders", sam_event("list_user_orders", auth.mint("user-123")))
    assert [order["id"] for order in listed.body["items"]] == [order_id]


@pytest.mark.parametrize("function", FUNCTIONS_WITH_AUTH)
@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda: None, id="no-token"),
        pytest.param(lambda: auth.mint("user-123", expires_in=-10), id="expired"),
        pytest.param(lambda: auth.mint("user-123", now=time.time() + 600), id="not-yet-valid"),
        pytest.param(
            lambda: auth.mint("user-123", extra_claims={"aud": "someone-else"}), id="wrong-audience"
        ),
        pytest.param(
            lambda: auth.mint("user-123", extra_claims={"iss": "https://evil.example"}), id="wrong-issuer"
        ),
        pytest.param(
            lambda: forged(
                jwt.decode(auth.mint("user-123"), options={"verify_signature": False}), auth.signing_key().kid
            ),
            id="forged-signature",
        ),
        pytest.param(
            lambda: unsigned(
                jwt.decode(auth.mint("user-123"), options={"verify_signature": False}), auth.signing_key().kid
            ),
            id="alg-none",
        ),
        pytest.param(lambda: auth.mint("user-123").replace(".", ".x", 1), id="garbled"),
    ],
)
def test_tokens_the_authorizer_would_refuse_are_401(sam_local_env, function, make_token):
    response = invoke(function, sam_event(function, make_token()))
    assert response.status == 401 and response.content_type == "application/problem+json"


def test_outside_sam_local_a_bearer_token_alone_is_never_trusted(table):
    # On Lambda the authorizer's claims are the only source: a token in the header is not read.
    event = sam_event("get_order", auth.mint("user-123"))
    assert invoke("get_order", event).status == 401


def signed(claims: dict, **header) -> str:
    """Signed by the local issuer's own key (so only the claims or header can be wrong)."""
    key = auth.signing_key()
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid, **header})


def good_claims(**changes) -> dict:
    now = int(time.time())
    claims = {"sub": "user-123", "iss": auth.ISSUER, "aud": auth.AUDIENCE, "iat": now, "exp": now + 600}
    claims.update(changes)
    return claims


def with_signature(token: str, edit) -> str:
    head, body, signature = token.split(".")
    return f"{head}.{body}.{edit(signature)}"


def padded_standard_base64(signature: str) -> str:
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    return base64.b64encode(raw).decode()


def numeric_claims(exp: str) -> str:
    now = int(time.time())
    return (
        f'{{"sub": "user-123", "iss": "{auth.ISSUER}", "aud": "{auth.AUDIENCE}", "iat": {now}, "exp": {exp}}}'
    )


# Finding 6 (issue 12): the hand-written verifier took these; PyJWT plus the canonical/numeric checks refuse
# them, in the local stack's authorizer and under sam local alike.
LOOSE_TOKENS = {
    "junk after the signature": lambda: with_signature(auth.mint("user-123"), lambda s: s + "AAAA"),
    "junk bytes after the signature": lambda: with_signature(auth.mint("user-123"), lambda s: s + "!!"),
    "signature in padded standard base64": lambda: with_signature(
        auth.mint("user-123"), padded_standard_base64
    ),
    "claims with padding": lambda: ".".join(
        part + "=" * (-len(part) % 4) if index == 1 else part
        for index, part in enumerate(auth.mint("user-123").split("."))
    ),
    "exp NaN": lambda: raw_token(
        {"alg": "RS256", "kid": auth.signing_key().kid, "typ": "JWT"}, numeric_claims("NaN")
    ),
    "exp Infinity": lambda: raw_token(
        {"alg": "RS256", "kid": auth.signing_key().kid, "typ": "JWT"}, numeric_claims("Infinity")
    ),
    "exp 1e400": lambda: raw_token(
        {"alg": "RS256", "kid": auth.signing_key().kid, "typ": "JWT"}, numeric_claims("1e400")
    ),
    "exp as a string": lambda: signed(good_claims(exp=str(int(time.time()) + 600))),
    "exp true": lambda: signed(good_claims(exp=True)),
    "nbf as a string": lambda: signed(good_claims(nbf="0")),
    "iat null": lambda: signed(good_claims(iat=None)),
    "aud 5": lambda: signed(good_claims(aud=5)),
    "aud [{}]": lambda: signed(good_claims(aud=[{}])),
    "aud [5, orders-local]": lambda: signed(good_claims(aud=[5, auth.AUDIENCE])),
    "no aud, client_id 5": lambda: signed({k: v for k, v in good_claims(client_id=5).items() if k != "aud"}),
    "sub null": lambda: signed(good_claims(sub=None)),
    "sub true": lambda: signed(good_claims(sub=True)),
    "sub 123": lambda: signed(good_claims(sub=123)),
    "kid not a string": lambda: raw_token(
        {"alg": "RS256", "kid": ["x"]}, numeric_claims(str(int(time.time()) + 600))
    ),
    "kid not Latin-1": lambda: signed(good_claims(), kid="ключ-☃"),
    "alg RS512": lambda: jwt.encode(
        good_claims(),
        auth.signing_key().private_key,
        algorithm="RS512",
        headers={"kid": auth.signing_key().kid},
    ),
    "claims nested past 16": lambda: raw_token(
        {"alg": "RS256", "kid": auth.signing_key().kid},
        numeric_claims(str(int(time.time()) + 600)).replace(
            '"sub"', '"x": ' + "[" * 17 + "]" * 17 + ', "sub"'
        ),
    ),
    "deeply nested claims (a RecursionError in the stack once)": lambda: raw_token(
        {"alg": "RS256", "kid": auth.signing_key().kid},
        numeric_claims(str(int(time.time()) + 600)).replace(
            '"sub"', '"x": ' + "[" * 3000 + "]" * 3000 + ', "sub"'
        ),
    ),
    "deeply nested claims": lambda: raw_token(
        {"alg": "RS256", "kid": auth.signing_key().kid},
        numeric_claims("1").replace('"sub"', '"x": ' + "[" * 5000 + "]" * 5000 + ', "sub"'),
    ),
}


@pytest.mark.parametrize("case", sorted(LOOSE_TOKENS))
def test_loose_tokens_are_refused_by_the_verifier(sam_local_env, case):
    with pytest.raises(sam_local_auth.TokenRefused) as refused:
        sam_local_auth.verified_claims({"authorization": f"Bearer {LOOSE_TOKENS[case]()}"})
    # The reason is one of the verifier's fixed texts: nothing of the token is echoed.
    assert refused.value.reason in VERIFIER_REASONS


VERIFIER_REASONS = {
    value
    for name, value in vars(sam_local_auth.jwt_verifier).items()
    if name.isupper() and isinstance(value, str) and name not in ("ALGORITHM",)
}


@pytest.mark.parametrize(
    "case", ["exp NaN", "aud [{}]", "sub null", "junk after the signature", "kid not Latin-1"]
)
def test_loose_tokens_are_a_401_problem_under_sam_local(sam_local_env, case):
    response = invoke("get_order", sam_event("get_order", LOOSE_TOKENS[case]()))
    assert response.status == 401 and response.content_type == "application/problem+json"


def test_the_verifier_still_accepts_good_tokens_in_every_allowed_shape(sam_local_env):
    for token in (
        auth.mint("user-123"),
        signed(good_claims(aud=["someone-else", auth.AUDIENCE])),
        signed({k: v for k, v in good_claims(client_id=auth.AUDIENCE).items() if k != "aud"}),
        signed(good_claims(exp=time.time() + 600.5, nbf=time.time() - 1)),
    ):
        assert sam_local_auth.verified_claims({"authorization": f"Bearer {token}"})["sub"] == "user-123"


# Finding 2 (issue 12): `sub: null` became the user "None" when claims were flattened.
def test_a_null_subject_never_becomes_the_user_none(sam_local_env):
    body = {
        "items": [{"productId": "prod-456", "quantity": 1}],
        "shippingAddress": {"street": "1 Main St", "city": "Springfield", "zipCode": "12345"},
    }
    created = invoke("create_order", sam_event("create_order", signed(good_claims(sub=None)), body=body))
    assert created.status == 401
    listed = invoke(
        "list_user_orders",
        sam_event(
            "list_user_orders",
            auth.mint("None"),
            path="/api/users/None/orders",
            path_parameters={"userId": "None"},
        ),
    )
    assert listed.status == 200 and listed.body["items"] == []


# Finding 7 (issue 12): with no authorizer, validation ran first (400 listing schema errors).
@pytest.mark.parametrize(
    "function, changes",
    [
        ("create_order", {"body": {"items": "not a list", "extra": 1}}),
        ("create_order", {"body": "{not json"}),
        ("create_order", {"body": "{}", "headers": {"content-type": "text/plain"}}),
        ("update_order_status", {"body": {"status": "nonsense"}, "headers": {"if-match": "garbage"}}),
        ("list_user_orders", {"query": {"limit": "0", "status": "nope", "cursor": "x"}}),
        ("get_order", {"path": "/api/orders/not-an-id"}),
    ],
)
@pytest.mark.parametrize("token", ["none", "forged"])
def test_authentication_comes_before_validation_under_sam_local(sam_local_env, function, changes, token):
    bearer = (
        None
        if token == "none"
        else forged(
            jwt.decode(auth.mint("user-123"), options={"verify_signature": False}), auth.signing_key().kid
        )
    )
    headers = changes.pop("headers", None)
    event = sam_event(function, bearer, **changes)
    if headers:
        event["headers"].update(headers)
    response = invoke(function, event)
    assert response.status == 401, response.body
    assert response.content_type == "application/problem+json"
    assert "errors" not in response.body


def test_without_the_sam_local_layer_sam_local_is_a_500_problem_that_says_how_to_fix_it(
    sam_local_env, monkeypatch
):
    import sys

    monkeypatch.setitem(sys.modules, "sam_local_auth", None)  # import fails, as without the layer
    response = invoke("get_order", sam_event("get_order", auth.mint("user-123")))
    assert response.status == 500 and response.content_type == "application/problem+json"
    assert "SamLocalAuth" in response.body["detail"]


# ------------------------------------------------------------------ the template sam local builds
def _function_layers(template_path, overrides=None) -> dict[str, list[str]]:
    from samcli.lib.providers.sam_function_provider import SamFunctionProvider
    from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

    stacks, _ = SamLocalStackProvider.get_stacks(str(template_path), parameter_overrides=overrides or {})
    provider = SamFunctionProvider(stacks, ignore_code_extraction_warnings=True)
    return {function.name: [layer.name for layer in function.layers] for function in provider.get_all()}


def test_sam_local_template_gives_every_function_the_auth_layer_and_template_yaml_none(tmp_path):
    from local.template import ROOT, TEMPLATE_PATH, load_template
    from local.template.sam_local import LAYER_ID, write_sam_local_template

    derived = write_sam_local_template(load_template(TEMPLATE_PATH), ROOT, tmp_path / "template.json")
    under_sam_local = _function_layers(derived)
    deployed = _function_layers(TEMPLATE_PATH)
    assert set(under_sam_local) == set(deployed) and len(deployed) >= 5
    assert all(layers[-1] == LAYER_ID for layers in under_sam_local.values()), under_sam_local
    assert not any(LAYER_ID in layers for layers in deployed.values()), deployed
    assert all("OrdersLayer" in layers and "DepsLayer" in layers for layers in under_sam_local.values())
    # The derived template points at the real sources, wherever it is written.
    content = json.loads(derived.read_text())
    assert content["Resources"][LAYER_ID]["Properties"]["ContentUri"] == str(ROOT / "layers/sam_local") + "/"
    assert "SamLocalAuth" not in TEMPLATE_PATH.read_text()


def test_sam_cli_skips_a_layer_given_by_fn_if(tmp_path):
    """Why the sam-local layer is not a parameter of template.yaml: SAM CLI's local function provider
    drops a layer written `!If [Cond, !Ref Layer, !Ref AWS::NoValue]`, even with the condition true."""
    from local.template import ROOT, TEMPLATE_PATH, load_template
    from local.template.sam_local import sam_local_template

    template = sam_local_template(load_template(TEMPLATE_PATH), ROOT)
    template["Parameters"]["SamLocalAuth"] = {"Type": "String", "Default": "true"}
    template.setdefault("Conditions", {})["UseSamLocalAuth"] = {
        "Fn::Equals": [{"Ref": "SamLocalAuth"}, "true"]
    }
    template["Resources"]["SamLocalAuthLayer"]["Condition"] = "UseSamLocalAuth"
    layers = template["Globals"]["Function"]["Layers"]
    layers[-1] = {"Fn::If": ["UseSamLocalAuth", {"Ref": "SamLocalAuthLayer"}, {"Ref": "AWS::NoValue"}]}
    path = tmp_path / "conditional.json"
    path.write_text(json.dumps(template))
    found = _function_layers(path, {"SamLocalAuth": "true"})
    assert not any("SamLocalAuthLayer" in names for names in found.values()), found
