"""Verifying the bearer token. Every failure is an `AuthError`, which the api turns into 401."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.algorithms import HMACAlgorithm


class AuthError(Exception):
    """The request's credentials are missing or not acceptable; the message says why, in
    one of the fixed sentences below: never text taken from the request (a token's header
    can hold anything, a lone surrogate included, which no JSON encoder will write)."""


MISSING = "missing Authorization header"
BAD_SCHEME = "Authorization must be 'Bearer <token>'"
TOO_LARGE = "token too large"
MALFORMED = "invalid token: malformed"
BAD_SIGNATURE = "invalid token: bad signature"
BAD_ALGORITHM = "invalid token: algorithm not allowed"
EXPIRED = "invalid token: expired"
NOT_YET_VALID = "invalid token: not yet valid"
WRONG_ISSUER = "invalid token: wrong issuer"
WRONG_AUDIENCE = "invalid token: wrong audience"
MISSING_CLAIM = "invalid token: a required claim is missing"
BAD_CLAIMS = "invalid token: bad claims"
NO_KEY_ID = "invalid token: no key id"
UNKNOWN_KEY = "invalid token: unknown signing key"
BAD_SUB = "invalid token: 'sub' must be a non-empty string"
BAD_EXP = "invalid token: 'exp' must be a number"
INVALID = "invalid token"

_PYJWT_ERRORS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.exceptions.InvalidSignatureError, BAD_SIGNATURE),  # a DecodeError: before it
    (jwt.exceptions.DecodeError, MALFORMED),
    (jwt.exceptions.InvalidAlgorithmError, BAD_ALGORITHM),
    (jwt.exceptions.ExpiredSignatureError, EXPIRED),
    (jwt.exceptions.ImmatureSignatureError, NOT_YET_VALID),
    (jwt.exceptions.InvalidIssuerError, WRONG_ISSUER),
    (jwt.exceptions.InvalidAudienceError, WRONG_AUDIENCE),
    (jwt.exceptions.MissingRequiredClaimError, MISSING_CLAIM),
    (jwt.exceptions.InvalidIssuedAtError, BAD_CLAIMS),
    (jwt.exceptions.InvalidSubjectError, BAD_CLAIMS),
    (jwt.exceptions.InvalidJTIError, BAD_CLAIMS),
)


def message_of(exc: jwt.PyJWTError) -> str:
    """The fixed sentence for a PyJWT rejection (PyJWT's own message may quote the token)."""
    for kind, message in _PYJWT_ERRORS:
        if isinstance(exc, kind):
            return message
    return INVALID


class BadKey(ValueError):
    """The configured key cannot verify tokens of the configured algorithms."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who asks: the token's `sub`, and its `zoneinfo` claim when it has one."""

    user_id: str
    zoneinfo: str | None


@dataclass(frozen=True, slots=True)
class Verified:
    """A verified token: who it names and until when (its `exp`, epoch seconds)."""

    principal: Principal
    expires_at: float


def check_hmac_secret(secret: bytes) -> None:
    """Refuse, at start-up, a secret PyJWT would refuse on every request: a PEM, SSH or DER
    public key given as an HMAC secret (PyJWT's own public check, run once here; PyJWT
    still runs it on every decode)."""
    try:
        HMACAlgorithm(HMACAlgorithm.SHA256).prepare_key(secret)
    except jwt.InvalidKeyError as exc:
        raise BadKey(f"not usable as an HMAC secret ({exc})") from None


@dataclass(frozen=True)
class TokenVerifier:
    """Checks signature (one algorithm family), `exp` (required), `iss`/`aud` when set."""

    key: Any
    algorithms: tuple[str, ...]
    issuer: str | None = None
    audience: str | None = None
    leeway_seconds: int = 30
    max_bytes: int = 4096

    def __post_init__(self) -> None:
        if isinstance(self.key, str | bytes):
            check_hmac_secret(self.key.encode() if isinstance(self.key, str) else self.key)

    @classmethod
    def from_secret_or_file(
        cls,
        *,
        secret: str | None,
        public_key_file: Path | None,
        algorithms: tuple[str, ...],
        **kwargs: Any,
    ) -> TokenVerifier:
        """A verifier for an HMAC secret or a PEM public key file (parsed once, here)."""
        if secret is not None:
            return cls(key=secret.encode(), algorithms=algorithms, **kwargs)
        if public_key_file is not None:
            return cls(
                key=load_public_key(public_key_file.read_bytes(), algorithms),
                algorithms=algorithms,
                **kwargs,
            )
        raise ValueError("a secret or a public key file is needed")

    def verify_header(self, authorization: str | None) -> Principal:
        """Verify an `Authorization: Bearer <token>` header value."""
        return self.verify(bearer_token(authorization))

    def verify(self, token: str) -> Principal:
        return self.verify_token(token).principal

    @property
    def key_generation(self) -> int:
        """Grows when a key that verified tokens is withdrawn (never, for a static key):
        a cache of verified tokens must then verify them again (api/tokencache.py)."""
        return 0

    def forget(self, users: Collection[str]) -> None:
        """Nothing to forget: no token is kept (see api/tokencache.py)."""

    def clear(self) -> None:
        """Nothing to forget: no token is kept."""

    def verify_token(self, token: str) -> Verified:
        """Check `token`; raise AuthError on any failure, whatever the input."""
        if len(token) > self.max_bytes:
            raise AuthError(TOO_LARGE)
        return self._checked(self._decode(token))

    def _decode(self, token: str) -> dict[str, Any]:
        return self._decode_with(token, self.key)

    def _decode_with(self, token: str, key: Any) -> dict[str, Any]:
        """PyJWT's verdict on the token (every token: no check of coach's own)."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
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
            raise AuthError(message_of(exc)) from None
        except Exception:
            # Hostile input PyJWT did not wrap (bad base64 or UTF-8, JSON nested too deep, a
            # number too large for a date...): a rejection, never a 500.
            raise AuthError(MALFORMED) from None
        return claims

    @staticmethod
    def _checked(claims: dict[str, Any]) -> Verified:
        """coach's own rules on top of PyJWT's: `sub` usable as a user id, `exp` a number,
        `zoneinfo` (optional) a string; both strings valid text (see `is_clean_text`)."""
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub.strip() or len(sub) > 256:
            raise AuthError(BAD_SUB)
        if not is_clean_text(sub):
            raise AuthError(BAD_CLAIMS)
        exp = claims.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, int | float) or exp != exp:
            raise AuthError(BAD_EXP)
        zoneinfo = claims.get("zoneinfo")
        if zoneinfo is not None and not (isinstance(zoneinfo, str) and is_clean_text(zoneinfo)):
            raise AuthError(BAD_CLAIMS)
        return Verified(Principal(sub, zoneinfo), float(min(exp, 2**62)))


_UNCLEAN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def is_clean_text(value: str) -> bool:
    """Whether a claim coach uses is plain text: encodable as UTF-8 (no lone surrogate, which
    JSON's `\\ud800` escapes can carry and which SQLite's driver cannot bind), and free of
    control characters (NUL cuts strings short in C code and logs; none belongs in an id)."""
    return _UNCLEAN.search(value) is None


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header value."""
    if not authorization:
        raise AuthError(MISSING)
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError(BAD_SCHEME)
    return token


def load_public_key(pem: bytes, algorithms: tuple[str, ...]) -> Any:
    """Parse a PEM public key once, and check that it suits one of `algorithms`."""
    try:
        key = load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise BadKey(f"not a PEM public key ({exc})") from None
    if isinstance(key, RSAPublicKey):
        family = "RS"
    elif isinstance(key, EllipticCurvePublicKey):
        family = "ES"
    elif isinstance(key, Ed25519PublicKey):
        family = "EdDSA"
    else:
        raise BadKey(f"unsupported key type {type(key).__name__} (RSA, EC or Ed25519 keys)")
    if not any(a.startswith(family) for a in algorithms):
        raise BadKey(f"an {family}-family key cannot verify {', '.join(algorithms)}")
    return key
