"""Verifying the bearer token. Every failure is an `AuthError`, which the api turns into 401."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.algorithms import HMACAlgorithm

from api.hmac_tokens import HmacFastPath


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


class _HMACKeyCheckedOnce(HMACAlgorithm):
    """PyJWT's HMAC, with its key check done once for the configured secret.

    PyJWT prepares the key on every decode, and for HMAC that means checking that the secret
    is not a PEM, SSH or DER public key (by trying to parse it as each): a quarter of a
    token's verification here. The result depends on the key alone, so for coach's one
    secret it is computed once, when the verifier is built; any other key is prepared (and
    checked) as PyJWT does."""

    def __init__(self, hash_alg: Any, secret: str | bytes) -> None:
        super().__init__(hash_alg)
        self._secret = secret
        self._prepared = super().prepare_key(secret)  # InvalidKeyError here, at start-up

    def prepare_key(self, key: str | bytes) -> bytes:
        if key is self._secret:
            return self._prepared
        return super().prepare_key(key)


_HMAC_HASHES = {
    "HS256": HMACAlgorithm.SHA256,
    "HS384": HMACAlgorithm.SHA384,
    "HS512": HMACAlgorithm.SHA512,
}


def _decoder(key: Any) -> jwt.PyJWT:
    """A PyJWT of this verifier's own: for an HMAC secret, with the key checked once."""
    decoder = jwt.PyJWT()
    if isinstance(key, str | bytes):
        jws = decoder._jws  # PyJWT builds its PyJWS here; algorithms are registered on it
        for name, hash_alg in _HMAC_HASHES.items():
            jws.unregister_algorithm(name)
            jws.register_algorithm(name, _HMACKeyCheckedOnce(hash_alg, key))
    return decoder


@dataclass(frozen=True)
class TokenVerifier:
    """Checks signature (one algorithm family), `exp` (required), `iss`/`aud` when set."""

    key: Any
    algorithms: tuple[str, ...]
    issuer: str | None = None
    audience: str | None = None
    leeway_seconds: int = 30
    max_bytes: int = 4096
    _decoder: jwt.PyJWT = field(init=False, repr=False, compare=False)
    _fast: HmacFastPath | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            decoder = _decoder(self.key)
        except jwt.InvalidKeyError as exc:
            raise BadKey(f"not usable as an HMAC secret ({exc})") from None
        object.__setattr__(self, "_decoder", decoder)
        fast = None
        if isinstance(self.key, bytes):  # an HMAC secret (from_secret_or_file encodes it)
            fast = HmacFastPath(
                self.key,
                self.algorithms,
                issuer=self.issuer,
                audience=self.audience,
                leeway_seconds=self.leeway_seconds,
            )
        object.__setattr__(self, "_fast", fast)

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

    def forget(self, users: Collection[str]) -> None:
        """Nothing to forget: no token is kept (see api/tokencache.py)."""

    def clear(self) -> None:
        """Nothing to forget: no token is kept."""

    def verify_token(self, token: str) -> Verified:
        """Check `token`; raise AuthError on any failure, whatever the input."""
        if len(token) > self.max_bytes:
            raise AuthError(TOO_LARGE)
        claims = self._fast_claims(token)
        if claims is None:
            claims = self._decode(token)
        return self._checked(claims)

    def _fast_claims(self, token: str) -> dict[str, Any] | None:
        """The claims if api/hmac_tokens.py accepts the token; None: PyJWT decides. The
        fast path only accepts, so any error of its own on hostile input is a "no" too."""
        if self._fast is None:
            return None
        try:
            return self._fast.claims(token)
        except Exception:
            return None

    def _decode(self, token: str) -> dict[str, Any]:
        """PyJWT's verdict, for every token the fast path does not accept."""
        try:
            claims: dict[str, Any] = self._decoder.decode(
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
    else:
        raise BadKey(f"unsupported key type {type(key).__name__} (RSA or EC keys only)")
    if not any(a.startswith(family) for a in algorithms):
        raise BadKey(f"an {family}-family key cannot verify {', '.join(algorithms)}")
    return key
