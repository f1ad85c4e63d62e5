"""The local stack as its own token issuer, and an emulation of API Gateway's HTTP API JWT authorizer.

One RSA key pair, generated on first use into `local/.keys/` (git-ignored; `LOCAL_KEYS_DIR` overrides),
signs the tokens `python -m local.front.token` mints; the server publishes its public half at
`/.well-known/jwks.json` and checks bearer tokens the way API Gateway does: RS256 signature by the JWKS
key named by `kid`, then `iss`, `aud` (or `client_id`), `exp`, `nbf`, `iat`, with PyJWT
(`sam_local_auth.jwt_verifier`, shared with the functions under `sam local`). The issuer does not depend
on the port, so a token minted without knowing where the server listens is accepted by it.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from sam_local_auth import jwt_verifier
from sam_local_auth.jwt_verifier import api_gateway_claims, token_scopes  # noqa: F401 - the stack's public names

if TYPE_CHECKING:
    from local.template.model import JwtConfiguration

ISSUER = "http://localhost/local-issuer"
AUDIENCE = "orders-local"
ALGORITHM = "RS256"  # API Gateway's JWT authorizer accepts RSA signatures only
DEFAULT_EXPIRES_IN = 3600
ADMIN_GROUP = "admin"
KEY_FILE = "signing-key.pem"
DEFAULT_KEYS_DIR = Path(__file__).resolve().parents[1] / ".keys"  # local/.keys


def keys_dir() -> Path:
    return Path(os.environ.get("LOCAL_KEYS_DIR") or DEFAULT_KEYS_DIR)


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    @property
    def public_jwk(self) -> dict[str, Any]:
        jwk = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": ALGORITHM}


def _thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638 JWK thumbprint: a stable `kid` derived from the key itself."""
    import base64
    import hashlib

    jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
    canonical = json.dumps(
        {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True
    )
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def _create_key_file(path: Path) -> None:
    """Write a new key to `path` unless one is there: written aside then hard-linked, so a server and a
    token command starting together on first run end up with the same key."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".tmp-", delete=False) as handle:
        handle.write(pem)
    temporary = Path(handle.name)
    try:
        os.chmod(temporary, 0o600)
        os.link(temporary, path)
    except FileExistsError:
        pass  # someone else won the race: use theirs
    finally:
        temporary.unlink(missing_ok=True)


@cache
def signing_key(directory: Path | None = None) -> SigningKey:
    path = (directory or keys_dir()) / KEY_FILE
    if not path.exists():
        _create_key_file(path)
    private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise TypeError(f"{path} does not hold an RSA private key")
    return SigningKey(kid=_thumbprint(private_key.public_key()), private_key=private_key)


def jwks() -> dict[str, Any]:
    return {"keys": [signing_key().public_jwk]}


def mint(
    user: str,
    *,
    admin: bool = False,
    scopes: Iterable[str] = (),
    expires_in: int = DEFAULT_EXPIRES_IN,
    extra_claims: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> str:
    """A token as the local issuer signs it, shaped like a Cognito ID token (with `scope` when asked)."""
    issued_at = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "sub": user,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + expires_in,
        "jti": str(uuid.uuid4()),
        "token_use": "id",
        "cognito:username": user,
    }
    if admin:
        claims["cognito:groups"] = [ADMIN_GROUP]
    if scope := " ".join(scopes):
        claims["scope"] = scope
    claims.update(extra_claims or {})
    key = signing_key()
    return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})


# ---------------------------------------------------------------------------------------- the authorizer
class Unauthorized(Exception):
    """→ 401 `{"message":"Unauthorized"}`. The text goes to the server log and `WWW-Authenticate`: always one
    of the verifier's fixed reasons, never anything the request carried."""


class Forbidden(Exception):
    """→ 403 `{"message":"Forbidden"}`: a valid token without any of the route's required scopes."""


@dataclass(frozen=True)
class JwtAuthorizer:
    """One `JwtConfiguration` of the template, pointed at the local issuer."""

    name: str
    issuer: str
    audiences: tuple[str, ...]
    identity_source: str = "$request.header.Authorization"

    def token_from(self, headers: Mapping[str, str]) -> str:
        header = self.identity_source.removeprefix("$request.header.").lower()
        try:
            # API Gateway takes the token with or without the `Bearer` prefix.
            return jwt_verifier.bearer_token(headers, header)
        except jwt_verifier.InvalidToken as error:
            raise Unauthorized(error.reason) from None

    def verify(
        self, token: str, jwks_document: Mapping[str, Any], required_scopes: Iterable[str] = ()
    ) -> dict:
        """The token's claims, checked as API Gateway checks them; raises Unauthorized / Forbidden."""
        try:
            claims = jwt_verifier.verify(
                token, jwks=jwks_document, issuer=self.issuer, audiences=self.audiences
            )
        except jwt_verifier.InvalidToken as error:
            raise Unauthorized(error.reason) from None
        required = set(required_scopes)
        if required and not required & set(token_scopes(claims) or []):
            raise Forbidden("token lacks the route's scopes")
        return claims


@cache
def local_authorizer(configuration: JwtConfiguration) -> JwtAuthorizer:
    """A JWT authorizer of the template (a route's `authorizer`) as the stack runs it: checking the local
    issuer's tokens and audience in place of the template's."""
    return JwtAuthorizer(
        name=configuration.name,
        issuer=ISSUER,
        audiences=(AUDIENCE,),
        identity_source=configuration.identity_source,
    )


def public_keys() -> dict[str, Any]:
    """The JWKS the stack serves, as the authorizer reads it."""
    return jwks()


def local_secret(name: str) -> str:
    """A stable per-machine value for a secret the template generates (e.g. the cursor signing key):
    derived from the local signing key, so it survives restarts and is never committed."""
    import hashlib
    import hmac

    key = signing_key().private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return hmac.new(key, f"local-secret:{name}".encode(), hashlib.sha256).hexdigest()
