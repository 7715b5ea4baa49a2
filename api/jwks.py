"""The issuer's JSON Web Key Set, as coach holds it: parsed by PyJWT, checked, immutable.

Pure: no network here (api/jwksfetch.py fetches, api/jwksrefresh.py refreshes in the
background). PyJWT's `PyJWK` parses every key (no key parsing of coach's own) and binds it to
one algorithm: the JWK's `alg`, or the one its `kty`/`crv` imply (RSA: RS256, EC P-256: ES256,
OKP Ed25519: EdDSA). A key is kept only when

- it has a `kid` (the token's header names the key it was signed with),
- its `use`, when present, is `sig` (an encryption key never verifies a token),
- its `kty` is RSA, EC or OKP (never `oct`: a shared secret has no place in a public set),
- its algorithm is in the allow-list (COACH_JWT_ALGORITHMS).

PyJWT then refuses a token whose `alg` is not the key's algorithm, and an EC key whose curve is
not the algorithm's: a token cannot pick how its key is used (no algorithm confusion).
Unusable keys are skipped, not fatal (an issuer may publish keys for other audiences), but a
set with no usable key at all is an error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import jwt

PUBLIC_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})
MAX_KEYS = 100
"""More keys than this in one set is refused: a real issuer publishes a handful."""


class JwksError(Exception):
    """The key set cannot be fetched or holds no usable key; the message says why."""


@dataclass(frozen=True)
class KeySet:
    """The usable keys by `kid`, when they were fetched, and how many times a key has left."""

    keys: Mapping[str, jwt.PyJWK]
    fetched_at: float
    """Wall-clock seconds of the fetch (or of the cached copy's write)."""
    generation: int = 0
    """Grows each time a `kid` leaves the set or changes its key: verified tokens held since
    an older generation must be verified again (api/tokencache.py)."""
    jwks: Mapping[str, str] = field(default_factory=dict)
    """kid -> the key's JWK as canonical JSON (to see a key change under the same kid)."""

    def replaced_by(self, keys: dict[str, jwt.PyJWK], fetched_at: float) -> KeySet:
        """The next set: its generation grows when a key of this one is gone or changed."""
        jwks = {kid: _canonical(key) for kid, key in keys.items()}
        gone = any(jwks.get(kid) != text for kid, text in self.jwks.items())
        return KeySet(
            keys=MappingProxyType(dict(keys)),
            fetched_at=fetched_at,
            generation=self.generation + 1 if gone else self.generation,
            jwks=MappingProxyType(jwks),
        )


EMPTY = KeySet(keys=MappingProxyType({}), fetched_at=0.0)


def _canonical(key: jwt.PyJWK) -> str:
    return json.dumps(key._jwk_data, sort_keys=True, separators=(",", ":"))


def parse_key_set(body: bytes, algorithms: tuple[str, ...]) -> dict[str, jwt.PyJWK]:
    """The usable keys of a JWKS document (see the module's docstring); JwksError if none."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise JwksError("the key set is not JSON") from None
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise JwksError("the key set has no 'keys' list")
    if len(keys) > MAX_KEYS:
        raise JwksError(f"the key set has more than {MAX_KEYS} keys")
    usable: dict[str, jwt.PyJWK] = {}
    for jwk in keys:
        key = usable_key(jwk, algorithms)
        if key is not None and key.key_id not in usable:
            usable[str(key.key_id)] = key
    if not usable:
        raise JwksError(
            "the key set has no usable signing key (each needs a kid, use 'sig' if any, "
            f"kty RSA, EC or OKP, and an algorithm among {', '.join(algorithms)})"
        )
    return usable


def usable_key(jwk: Any, algorithms: tuple[str, ...]) -> jwt.PyJWK | None:
    """The PyJWK of one JWK if coach may verify tokens with it, else None (whatever the JWK
    holds: it comes from the network)."""
    if not isinstance(jwk, dict):
        return None
    kid, kty, alg, use = (jwk.get(name) for name in ("kid", "kty", "alg", "use"))
    if not isinstance(kid, str) or not kid or len(kid) > 256:
        return None
    if use not in (None, "sig") or not isinstance(kty, str) or kty not in PUBLIC_KEY_TYPES:
        return None
    if alg is not None and (not isinstance(alg, str) or alg not in algorithms):
        return None
    try:
        key = jwt.PyJWK(jwk)
        if key.algorithm_name not in algorithms:
            return None
        # PyJWT checks an EC key's curve against its algorithm when it prepares the key
        # (at each verification): a P-384 key published as ES256 is refused here, once.
        key.Algorithm.prepare_key(key.key)
    except Exception:  # PyJWT's InvalidKeyError, or hostile values it did not wrap
        return None
    return key


_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,10})\"?\s*(?:,|$)", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|,)\s*(?:no-cache|no-store)\s*(?:,|$)", re.IGNORECASE)


def cache_lifetime(cache_control: str | None, *, shortest: float, longest: float) -> float:
    """How long to keep a fetched set: the response's `Cache-Control: max-age`, within
    [shortest, longest]; `no-cache`/`no-store` give `shortest`; no max-age gives `longest`."""
    if cache_control:
        if _NO_CACHE.search(cache_control):
            return shortest
        found = _MAX_AGE.search(cache_control)
        if found:
            return min(max(float(found.group(1)), shortest), longest)
    return longest
