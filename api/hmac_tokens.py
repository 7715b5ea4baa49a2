"""A quick acceptance of the HS256/384/512 tokens PyJWT would accept: PyJWT decides the rest.

PyJWT 2.15 spends about 40 us on an HS256 token here (80-90 us inside a busy worker): most of
it in generic work (a Python loop over every character of the three base64url segments, the
standard library's JSON, merging option dicts, a key-length warning check) around an HMAC
that takes 3 us. For the day's first WOD every request brings a token not seen before, so
that was a third of coach's CPU per request (py-spy of bench/wod_inprocess.py's cold mix).

`HmacFastPath.claims` only ever *accepts*. It returns the claims of a token that passes every
check PyJWT makes with coach's options (signature with the configured secret and one of the
configured algorithms, `exp` and `sub` required, `iat`/`nbf`/`exp` against now with the
leeway, `iss`/`aud` when configured, `sub`/`jti`/`kid` strings), and only in the narrow
shape real issuers produce: a compact JWS of canonical unpadded base64url, a header of
`alg` (and `typ`, `kid`) alone, integer times. For anything else, a bad signature
included, it returns None and the caller asks PyJWT, whose answer (and error message)
stands. So it can never accept what PyJWT rejects: tests/unit/test_hmac_tokens.py checks
that on a fuzzed corpus, token by token, against PyJWT itself.

The signature is checked before the payload is parsed: nothing unsigned reaches orjson.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import time
from collections.abc import Callable, Collection
from typing import Any

import orjson

HASHES = {"HS256": "sha256", "HS384": "sha384", "HS512": "sha512"}
"""JWS algorithm -> the digest's name (`hmac.digest` takes OpenSSL's one-shot path for a
name: 2.6 us against 4.2 for `hmac.new(...).digest()`)."""

# Three unpadded base64url segments; PyJWT also takes '=' padding, which it then handles.
_COMPACT = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)")
_HEADER_KEYS = frozenset({"alg", "typ", "kid"})


def _segment(text: str) -> bytes | None:
    """The bytes of an unpadded base64url segment, or None unless it is canonical (PyJWT
    rejects a segment whose unused trailing bits are not zero)."""
    if len(text) % 4 == 1:
        return None
    raw = text.encode("ascii")
    try:
        decoded = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        return None
    if base64.urlsafe_b64encode(decoded).rstrip(b"=") != raw:
        return None
    return decoded


def _json_object(data: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class HmacFastPath:
    """Accepts the tokens of one HMAC secret that PyJWT would accept; None means "ask PyJWT"."""

    def __init__(
        self,
        secret: bytes,
        algorithms: Collection[str],
        *,
        issuer: str | None,
        audience: str | None,
        leeway_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self._hashes = {name: HASHES[name] for name in algorithms if name in HASHES}
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds
        self._clock = clock

    def claims(self, token: str) -> dict[str, Any] | None:
        match = _COMPACT.fullmatch(token)
        if match is None:
            return None
        header_text, payload_text, signature_text = match.groups()
        header_bytes = _segment(header_text)
        header = None if header_bytes is None else _json_object(header_bytes)
        if header is None or not _HEADER_KEYS.issuperset(header):
            return None
        alg, typ, kid = header.get("alg"), header.get("typ", ""), header.get("kid", "")
        if not (isinstance(alg, str) and isinstance(typ, str) and isinstance(kid, str)):
            return None  # (an `alg` of a JSON list or object is not even hashable)
        digest = self._hashes.get(alg)
        if digest is None:
            return None
        signature = _segment(signature_text)
        signing_input = token[: len(header_text) + 1 + len(payload_text)].encode("ascii")
        expected = hmac.digest(self._secret, signing_input, digest)
        if signature is None or not hmac.compare_digest(signature, expected):
            return None
        payload_bytes = _segment(payload_text)
        payload = None if payload_bytes is None else _json_object(payload_bytes)
        if payload is None or not self._claims_pass(payload):
            return None
        return payload

    def _claims_pass(self, payload: dict[str, Any]) -> bool:
        """PyJWT's claim checks with coach's options, for integer times only."""
        now, leeway = self._clock(), self._leeway
        exp: Any = payload.get("exp")
        if not _is_int(exp) or exp <= now - leeway or not isinstance(payload.get("sub"), str):
            return False
        for name in ("iat", "nbf"):
            if name in payload and (not _is_int(payload[name]) or payload[name] > now + leeway):
                return False
        if "jti" in payload and not isinstance(payload["jti"], str):
            return False
        if self._issuer is not None and payload.get("iss") != self._issuer:
            return False
        if self._audience is not None:
            aud = payload.get("aud")
            if aud != self._audience and not (
                isinstance(aud, list)
                and all(isinstance(a, str) for a in aud)
                and self._audience in aud
            ):
                return False
        return True
