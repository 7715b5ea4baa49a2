"""The api verifying tokens with a real issuer's key set, fetched over HTTP.

The issuer is the stand-in monolith's (deploy/monolith/issuer.py), served by werkzeug on a
free port; the api is the real app over a real projection file."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi.testclient import TestClient

from api import auth
from api.app import create_app
from config.settings import ConfigError, Settings
from deploy.monolith.issuer import Issuer
from tests.conftest import env_of
from tests.e2e.helpers import COACH
from tests.factories import upserted
from tests.issuer_server import IssuerServer


@pytest.fixture
def issuer() -> Iterator[IssuerServer]:
    server = IssuerServer()
    yield server
    server.stop()


def jwks_settings(db_path: Path, issuer: IssuerServer, **more: Any) -> Settings:
    """Discovery: the issuer alone, as an OpenID Connect resource server is configured."""
    values: dict[str, Any] = {
        "db_path": db_path,
        "jwt_issuer": issuer.url,
        "jwt_algorithms": ["ES256", "RS256", "EdDSA"],
        "jwt_jwks_min_refresh_seconds": 0.2,
        "status_cache_seconds": 0,
        **more,
    }
    return Settings(**values)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_for(condition, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture
def catalog(project) -> None:  # type: ignore[no-untyped-def]
    project([upserted(i) for i in range(1, 9)])


def test_a_token_of_the_issuer_gets_a_wod(db_path, issuer, catalog):
    """Found through discovery; the WOD is the token's user's; /ready and /metrics show the
    key set's age."""
    with TestClient(create_app(jwks_settings(db_path, issuer))) as client:
        answer = client.get("/fitness/wod", headers=bearer(issuer.token("7")))
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["exercises"]) == 6
        checks = {c["name"]: c for c in client.get("/ready").json()["checks"]}
        keys = checks["signing_keys"]
        assert keys["ok"] and "key set fetched" in keys["detail"]
        metrics = client.get("/metrics").text
        assert "coach_jwks_age_seconds " in metrics and "coach_jwks_keys 1.0" in metrics


def test_a_token_of_an_unknown_key_is_a_401_until_its_key_is_seen(db_path, catalog):
    """The issuer signs with a new key coach has not fetched (its set is cached for an hour):
    401 at once, and the refresh that 401 asked for brings the key."""
    server = IssuerServer(max_age=3600)
    try:
        with TestClient(create_app(jwks_settings(db_path, server))) as client:
            kid = server.issuer.publish()
            server.issuer.activate(kid)
            token = server.token("7")
            refused = client.get("/fitness/wod", headers=bearer(token))
            assert refused.status_code == 401
            assert refused.json()["detail"] == auth.UNKNOWN_KEY
            wait_for(lambda: client.get("/fitness/wod", headers=bearer(token)).status_code == 200)
    finally:
        server.stop()


def test_a_stranger_s_key_is_refused(db_path, issuer, catalog):
    """A token signed by another issuer's key (an unknown kid) and one naming a known kid
    but signed by another key: 401, fixed sentences."""
    stranger = Issuer(issuer.url, algorithm="ES256")
    with TestClient(create_app(jwks_settings(db_path, issuer))) as client:
        unknown = client.get("/fitness/wod", headers=bearer(stranger.sign("7")))
        assert unknown.status_code == 401 and unknown.json()["detail"] == auth.UNKNOWN_KEY
        forged_key = stranger._keys[stranger.active].private_key
        forged = jwt.encode(
            {"sub": "7", "iss": issuer.url, "exp": int(time.time()) + 60},
            forged_key,
            "ES256",
            headers={"kid": issuer.issuer.active},
        )
        bad = client.get("/fitness/wod", headers=bearer(forged))
        assert bad.status_code == 401 and bad.json()["detail"] == auth.BAD_SIGNATURE


def test_a_token_whose_alg_is_not_its_key_s_is_refused(db_path, catalog):
    """Algorithm confusion: an RS256 issuer's kid in an ES256 token, with both algorithms
    allowed, is refused (the key is bound to RS256)."""
    rsa_issuer = IssuerServer(algorithm="RS256")
    try:
        with TestClient(create_app(jwks_settings(db_path, rsa_issuer))) as client:
            ec_key = Issuer("x", algorithm="ES256")._keys
            private = next(iter(ec_key.values())).private_key
            token = jwt.encode(
                {"sub": "7", "iss": rsa_issuer.url, "exp": int(time.time()) + 60},
                private,
                "ES256",
                headers={"kid": rsa_issuer.issuer.active},
            )
            answer = client.get("/fitness/wod", headers=bearer(token))
            assert answer.status_code == 401
            assert answer.json()["detail"] == auth.BAD_ALGORITHM
            assert client.get("/fitness/wod", headers=bearer(rsa_issuer.token())).status_code == 200
    finally:
        rsa_issuer.stop()


def test_start_up_fails_naming_the_setting_when_the_set_cannot_be_fetched(db_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    settings = Settings(
        db_path=db_path,
        jwt_jwks_url=f"http://127.0.0.1:{port}/jwks.json",
        jwt_algorithms=["RS256"],
        jwt_jwks_timeout_seconds=2,
    )
    with pytest.raises(ConfigError, match="COACH_JWT_JWKS_URL: cannot get the issuer's key set"):
        create_app(settings)


def test_while_the_issuer_is_down_coach_keeps_verifying(db_path, catalog, tmp_path):
    """The issuer stops: tokens of the keys held still pass, /ready stays ready and says
    the refresh fails; a restart of coach then starts from the cached copy."""
    server = IssuerServer()
    cache = tmp_path / "jwks.json"
    settings = jwks_settings(db_path, server, jwt_jwks_cache_file=cache)
    token = server.token("7")
    with TestClient(create_app(settings)) as client:
        server.stop()
        wait_for(lambda: "refresh failed" in client.get("/ready").text)
        assert client.get("/fitness/wod", headers=bearer(token)).status_code == 200
        assert "coach_jwks_refresh_failing 1.0" in client.get("/metrics").text
    with TestClient(create_app(settings)) as client:
        assert client.get("/fitness/wod", headers=bearer(token)).status_code == 200


@pytest.mark.slow  # `make check` skips it
def test_coach_api_with_workers_stops_when_the_set_cannot_be_fetched(db_path, catalog):
    """`coach api --workers 2`: one message naming the setting and exit 1, not workers
    failing and restarted for ever by uvicorn's supervisor."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings(
        db_path=db_path,
        jwt_jwks_url=f"http://127.0.0.1:{port}/jwks.json",
        jwt_algorithms=["RS256"],
        jwt_jwks_timeout_seconds=2,
    )
    result = subprocess.run(
        [COACH, "api", "--port", str(port), "--workers", "2"],
        env=env_of(settings),
        capture_output=True,
        timeout=120,
    )
    stderr = result.stderr.decode(errors="replace")
    assert result.returncode == 1, stderr
    assert "COACH_JWT_JWKS_URL: cannot get the issuer's key set" in stderr
    assert "Traceback" not in stderr


def test_an_eddsa_public_key_file_verifies_eddsa_tokens(db_path, catalog, tmp_path):
    """EdDSA joined the allow-list: an Ed25519 PEM key file works as RSA and EC ones do."""
    private = ed25519.Ed25519PrivateKey.generate()
    key_file = tmp_path / "ed25519.pem"
    key_file.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    settings = Settings(db_path=db_path, jwt_public_key_file=key_file, jwt_algorithms=["EdDSA"])
    with TestClient(create_app(settings)) as client:
        claims = {"sub": "7", "exp": int(time.time()) + 60}
        good = jwt.encode(claims, private, "EdDSA")
        assert client.get("/fitness/wod", headers=bearer(good)).status_code == 200
        other = jwt.encode(claims, ed25519.Ed25519PrivateKey.generate(), "EdDSA")
        refused = client.get("/fitness/wod", headers=bearer(other))
        assert refused.status_code == 401 and refused.json()["detail"] == auth.BAD_SIGNATURE
