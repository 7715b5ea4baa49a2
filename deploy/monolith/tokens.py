"""How the stand-in monolith verifies a bearer token on its own routes, as the real monolith
would: PyJWT against its own issuer's keys (deploy/monolith/issuer.py; the key the token's
`kid` names, the issuer's one algorithm, `iss` its URL), or, when MONOLITH_JWT_SECRET is set,
HS256 with that secret (the secret the issuer shares with coach's COACH_JWT_SECRET in
development and tests: what `coach token` and `coach rollout compare` sign with). So every
token coach accepts from this issuer is accepted here too.

`exp` and `sub` are required (`sub` a non-empty string), 30 s of leeway as coach's default,
tokens over 4,096 bytes refused. Every failure is a `TokenRefused` with a fixed sentence
(never text taken from the token), which the app answers with a 401 JSON body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt

from deploy.monolith.issuer import Issuer

LEEWAY_SECONDS = 30
MAX_TOKEN_BYTES = 4096
SECRET_ALGORITHM = "HS256"  # nosec B105 (an algorithm name)


class TokenRefused(Exception):
    """The request's token is missing or not acceptable (a fixed sentence)."""


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    zoneinfo: object
    """The token's `zoneinfo` claim as it came (None when absent): checked by the caller."""


class Verifier:
    def __init__(self, issuer: Issuer, *, secret: str | None = None) -> None:
        self.issuer = issuer
        self.secret = secret or None

    def verify_header(self, authorization: str | None) -> Principal:
        """The principal of an `Authorization: Bearer <token>` header, else TokenRefused."""
        if not authorization:
            raise TokenRefused("missing Authorization header")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            raise TokenRefused("Authorization must be 'Bearer <token>'")
        if len(token.encode("utf-8", "surrogatepass")) > MAX_TOKEN_BYTES:
            raise TokenRefused("token too large")
        try:
            claims = self._decode(token)
        except TokenRefused:
            raise
        except Exception:  # any failure of PyJWT or of a hostile value in it: refused
            raise TokenRefused("invalid token") from None
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise TokenRefused("invalid token: 'sub' must be a non-empty string")
        return Principal(sub, claims.get("zoneinfo"))

    def _decode(self, token: str) -> dict[str, Any]:
        header = jwt.get_unverified_header(token)
        alg = header.get("alg")
        options: Any = {"require": ["exp", "sub"]}
        if alg == SECRET_ALGORITHM and self.secret is not None:
            return jwt.decode(
                token,
                self.secret,
                algorithms=[SECRET_ALGORITHM],
                options=options,
                leeway=LEEWAY_SECONDS,
            )
        if alg != self.issuer.algorithm:
            raise TokenRefused("invalid token: algorithm not allowed")
        kid = header.get("kid")
        key = self.issuer.public_key(kid) if isinstance(kid, str) else None
        if key is None:
            raise TokenRefused("invalid token: unknown signing key")
        return jwt.decode(
            token,
            key,
            algorithms=[self.issuer.algorithm],
            issuer=self.issuer.url,
            options={"require": ["exp", "sub", "iss"]},
            leeway=LEEWAY_SECONDS,
        )
