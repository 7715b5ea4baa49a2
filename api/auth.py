"""Verifying the bearer token. Every failure is an `AuthError`, which the api turns into 401."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt


class AuthError(Exception):
    """The request's credentials are missing or not acceptable; the message says why."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who asks: the token's `sub`, and its `zoneinfo` claim when it has one."""

    user_id: str
    zoneinfo: str | None


@dataclass(frozen=True)
class TokenVerifier:
    """Checks signature (one algorithm family), `exp` (required), `iss`/`aud` when set."""

    key: Any
    algorithms: tuple[str, ...]
    issuer: str | None = None
    audience: str | None = None
    leeway_seconds: int = 30
    max_bytes: int = 4096

    @classmethod
    def from_secret_or_file(
        cls, *, secret: str | None, public_key_file: Path | None, **kwargs: Any
    ) -> TokenVerifier:
        if secret is not None:
            return cls(key=secret, **kwargs)
        if public_key_file is not None:
            return cls(key=public_key_file.read_text(), **kwargs)
        raise ValueError("a secret or a public key file is needed")

    def verify_header(self, authorization: str | None) -> Principal:
        """Verify an `Authorization: Bearer <token>` header value."""
        if not authorization:
            raise AuthError("missing Authorization header")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("Authorization must be 'Bearer <token>'")
        return self.verify(token.strip())

    def verify(self, token: str) -> Principal:
        if len(token) > self.max_bytes:
            raise AuthError("token too large")
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=list(self.algorithms),
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway_seconds,
                options={
                    "require": ["exp", "sub"],
                    "verify_aud": self.audience is not None,
                    "verify_iss": self.issuer is not None,
                },
            )
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {exc}") from None
        except (TypeError, ValueError, KeyError) as exc:  # malformed input PyJWT did not wrap
            raise AuthError(f"invalid token: {type(exc).__name__}") from None
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub.strip() or len(sub) > 256:
            raise AuthError("invalid token: 'sub' must be a non-empty string")
        zoneinfo = claims.get("zoneinfo")
        return Principal(sub, zoneinfo if isinstance(zoneinfo, str) else None)
