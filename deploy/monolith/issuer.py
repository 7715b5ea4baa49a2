"""The stand-in monolith as the token issuer: its own signing keys, published as a JWKS.

An OpenID Connect issuer in miniature, what coach's COACH_JWT_JWKS_URL (or COACH_JWT_ISSUER
and discovery) reads:

- `GET /.well-known/openid-configuration`: `issuer`, `jwks_uri`, `token_endpoint`.
- `GET /.well-known/jwks.json`: the public keys (`kid`, `use: sig`, `alg`), with
  `Cache-Control: max-age=<MONOLITH_JWKS_MAX_AGE>`.
- `POST /oauth/token` (JSON: `sub`, optional `zoneinfo`, `ttl`): a token for that user, signed
  with the active key. A stand-in's login: no password (never expose it).
- Rotation in three steps, each an admin endpoint (and a method of `Issuer`):
  `POST /admin/keys/publish` (a new key in the set, not signing yet: resource servers fetch
  it within their cache lifetime), `POST /admin/keys/<kid>/activate` (sign with it from
  now on), and removal: a key that no longer signs leaves the set once the last token it
  signed has expired (checked on each read of the set), or at once with
  `POST /admin/keys/<kid>/retire`.

Keys are generated with `cryptography` and exported as JWKs by PyJWT; tokens are signed by
PyJWT. Keys live in memory: a restart starts a new key (tokens of the old one are refused).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from flask import Blueprint, Flask, jsonify, request

ALGORITHMS = ("RS256", "ES256", "EdDSA")


def _new_private_key(algorithm: str) -> Any:
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unsupported algorithm {algorithm!r} (one of {', '.join(ALGORITHMS)})")


@dataclass
class SigningKey:
    kid: str
    private_key: Any
    last_expiry: float = 0.0
    """The `exp` of the last token signed with it (0: none)."""
    has_signed: bool = False
    """It has been the active key: once another is, it leaves when its tokens expired
    (a key only published, waiting to be activated, stays)."""


class Issuer:
    """Signing keys and their rotation; thread-safe (Flask serves requests on threads)."""

    def __init__(
        self, url: str, *, algorithm: str = "ES256", token_ttl: int = 300, jwks_max_age: int = 60
    ) -> None:
        self.url = url.rstrip("/")
        self.algorithm = algorithm
        self.token_ttl = token_ttl
        self.jwks_max_age = jwks_max_age
        self._lock = threading.Lock()
        self._keys: dict[str, SigningKey] = {}
        self.active = self.publish()
        self._keys[self.active].has_signed = True

    def publish(self) -> str:
        """Step 1 of a rotation: a new key in the set; the active key still signs."""
        kid = f"{self.algorithm}-{uuid.uuid4().hex[:12]}"
        key = SigningKey(kid, _new_private_key(self.algorithm))
        with self._lock:
            self._keys[key.kid] = key
        return key.kid

    def activate(self, kid: str) -> None:
        """Step 2: sign with `kid` (published earlier) from now on."""
        with self._lock:
            if kid not in self._keys:
                raise KeyError(kid)
            self._keys[kid].has_signed = True
            self.active = kid

    def retire(self, kid: str) -> bool:
        """Remove `kid` from the set now (never the active key); False if it was not there."""
        with self._lock:
            if kid == self.active:
                raise ValueError("the active key cannot be retired: activate another first")
            return self._keys.pop(kid, None) is not None

    def retire_expired(self, now: float | None = None) -> list[str]:
        """Step 3, automatic: remove the keys that no longer sign and whose tokens expired."""
        now = time.time() if now is None else now
        with self._lock:
            gone = [
                k.kid
                for k in self._keys.values()
                if k.has_signed and k.kid != self.active and k.last_expiry < now
            ]
            for kid in gone:
                del self._keys[kid]
        return gone

    def kids(self) -> list[str]:
        with self._lock:
            return list(self._keys)

    def public_key(self, kid: str) -> Any | None:
        """The public key of `kid` while it is in the set (what a resource server finds in
        the published JWKS); None for a key it does not hold."""
        self.retire_expired()
        with self._lock:
            key = self._keys.get(kid)
        return None if key is None else key.private_key.public_key()

    def jwks(self) -> dict[str, Any]:
        """The published set, after removing the keys whose tokens all expired."""
        self.retire_expired()
        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        with self._lock:
            keys = list(self._keys.values())
        published = []
        for key in keys:
            jwk: dict[str, Any] = algorithm.to_jwk(key.private_key.public_key(), as_dict=True)
            published.append({**jwk, "kid": key.kid, "use": "sig", "alg": self.algorithm})
        return {"keys": published}

    def sign(self, sub: str, *, ttl: int | None = None, **claims: Any) -> str:
        """A token for `sub` signed with the active key."""
        now = int(time.time())
        exp = now + (self.token_ttl if ttl is None else ttl)
        with self._lock:
            key = self._keys[self.active]
            key.last_expiry = max(key.last_expiry, exp)
        payload = {"sub": sub, "iss": self.url, "iat": now, "exp": exp, **claims}
        return jwt.encode(payload, key.private_key, self.algorithm, headers={"kid": key.kid})


def blueprint(issuer: Issuer) -> Blueprint:
    """The issuer's routes, to register on the monolith's Flask app."""
    routes = Blueprint("issuer", __name__)

    @routes.get("/.well-known/openid-configuration")
    def discovery() -> Any:
        return jsonify(
            {
                "issuer": issuer.url,
                "jwks_uri": f"{issuer.url}/.well-known/jwks.json",
                "token_endpoint": f"{issuer.url}/oauth/token",
                "id_token_signing_alg_values_supported": [issuer.algorithm],
            }
        )

    @routes.get("/.well-known/jwks.json")
    def jwks() -> Any:
        return jsonify(issuer.jwks()), 200, {"Cache-Control": f"max-age={issuer.jwks_max_age}"}

    @routes.post("/oauth/token")
    def token() -> Any:
        body = request.get_json(force=True)
        sub, zone, ttl = body.get("sub"), body.get("zoneinfo"), body.get("ttl")
        if not isinstance(sub, str) or not sub:
            return jsonify({"detail": "'sub' must be a non-empty string"}), 422
        claims = {"zoneinfo": zone} if isinstance(zone, str) else {}
        lifetime = ttl if isinstance(ttl, int) and 0 < ttl <= 86_400 else None
        access = issuer.sign(sub, ttl=lifetime, **claims)
        expires_in = issuer.token_ttl if lifetime is None else lifetime
        return jsonify({"access_token": access, "token_type": "Bearer", "expires_in": expires_in})

    @routes.post("/admin/keys/publish")
    def publish() -> Any:
        return jsonify({"kid": issuer.publish(), "keys": issuer.kids()}), 201

    @routes.post("/admin/keys/<kid>/activate")
    def activate(kid: str) -> Any:
        if kid not in issuer.kids():
            return jsonify({"detail": "no such key"}), 404
        issuer.activate(kid)
        return jsonify({"active": kid, "keys": issuer.kids()})

    @routes.post("/admin/keys/<kid>/retire")
    def retire(kid: str) -> Any:
        if kid == issuer.active:
            return jsonify({"detail": "the active key cannot be retired"}), 409
        if not issuer.retire(kid):
            return jsonify({"detail": "no such key"}), 404
        return jsonify({"active": issuer.active, "keys": issuer.kids()})

    return routes


def issuer_app(issuer: Issuer) -> Flask:
    """A Flask app with the issuer's routes only (no database): for tests and local runs."""
    app = Flask("issuer")
    app.register_blueprint(blueprint(issuer))
    return app


def from_env(environ: dict[str, str]) -> Issuer:
    """MONOLITH_ISSUER_URL (its `iss` and base URL; default http://MONOLITH_HOST:PORT),
    MONOLITH_ISSUER_ALGORITHM (ES256), MONOLITH_TOKEN_TTL (300 s), MONOLITH_JWKS_MAX_AGE (60 s)."""
    host = environ.get("MONOLITH_HOST", "127.0.0.1")
    port = environ.get("MONOLITH_PORT", "8090")
    return Issuer(
        environ.get("MONOLITH_ISSUER_URL", f"http://{host}:{port}"),
        algorithm=environ.get("MONOLITH_ISSUER_ALGORITHM", "ES256"),
        token_ttl=int(environ.get("MONOLITH_TOKEN_TTL", "300")),
        jwks_max_age=int(environ.get("MONOLITH_JWKS_MAX_AGE", "60")),
    )
