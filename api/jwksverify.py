"""Verifying a token with the issuer's key set: the key is the one its header's `kid` names.

The request path only looks the `kid` up in the set held in memory (api/jwksrefresh.py):
an unknown `kid` asks the refresher for a fetch (rate-limited there) and is a 401 at once,
until the key appears. PyJWT decides the rest, as for a static key (api/auth.py), with the
`PyJWK` bound to its algorithm (api/jwks.py): a token whose `alg` is not its key's is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jwt

from api.auth import MALFORMED, NO_KEY_ID, UNKNOWN_KEY, AuthError, TokenVerifier
from api.jwksrefresh import JwksKeys


@dataclass(frozen=True)
class JwksVerifier(TokenVerifier):
    """A TokenVerifier whose key comes from the key set, by the token's `kid`."""

    keys: JwksKeys = field(kw_only=True)

    @property
    def key_generation(self) -> int:
        return self.keys.current.generation

    def _decode(self, token: str) -> dict[str, Any]:
        key = self.keys.current.keys.get(key_id(token))
        if key is None:
            self.keys.request_refresh()
            raise AuthError(UNKNOWN_KEY)
        return self._decode_with(token, key)


def key_id(token: str) -> str:
    """The `kid` of the token's (unverified) header: only ever used as a dictionary key."""
    try:
        header = jwt.get_unverified_header(token)
    except Exception:  # PyJWT's DecodeError, or hostile input it did not wrap
        raise AuthError(MALFORMED) from None
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise AuthError(NO_KEY_ID)
    return kid
