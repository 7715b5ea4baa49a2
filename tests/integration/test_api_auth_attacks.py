"""JWT attacks on GET /fitness/wod: each is a 401 with `WWW-Authenticate: Bearer` and a JSON
`detail`, with the token cache on and off, for HS256 and RS256 configurations."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient

from config.settings import ConfigError, Settings
from tests.conftest import SECRET
from tests.factories import upserted
from tests.integration.conftest import make_token

ISSUER = "https://id.example"
AUDIENCE = "coach"
NOW = int(time.time())

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_PUBLIC_PEM = RSA_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hs256(header: dict, claims: dict, secret: bytes) -> str:  # type: ignore[type-arg]
    signing_input = f"{b64(orjson.dumps(header))}.{b64(orjson.dumps(claims))}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def good_claims(**extra: object) -> dict[str, object]:
    return {"sub": "7", "exp": NOW + 300, "iss": ISSUER, "aud": AUDIENCE, **extra}


def tampered(token: str) -> str:
    """The same header and signature over a payload naming another user."""
    header, payload, signature = token.split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "1"
    return f"{header}.{b64(orjson.dumps(claims))}.{signature}"


def unsigned(claims: dict[str, object]) -> str:
    header = b64(orjson.dumps({"alg": "none", "typ": "JWT"}))
    return f"{header}.{b64(orjson.dumps(claims))}."


# name -> the Authorization header value (None: no header at all)
HS_ATTACKS: dict[str, Callable[[], str | None]] = {
    "alg none": lambda: "Bearer " + unsigned(good_claims()),
    "alg none, empty signature stripped": lambda: "Bearer " + unsigned(good_claims())[:-1],
    "other secret": lambda: "Bearer " + make_token(key="y" * 40, iss=ISSUER, aud=AUDIENCE),
    "expired": lambda: "Bearer " + make_token(exp=NOW - 3600, iss=ISSUER, aud=AUDIENCE),
    "not yet valid": lambda: "Bearer " + make_token(nbf=NOW + 3600, iss=ISSUER, aud=AUDIENCE),
    "issued in the future": lambda: (
        "Bearer " + make_token(iat=NOW + 3600, iss=ISSUER, aud=AUDIENCE)
    ),
    "wrong issuer": lambda: "Bearer " + make_token(iss=ISSUER + ".evil", aud=AUDIENCE),
    "no issuer": lambda: "Bearer " + make_token(aud=AUDIENCE),
    "wrong audience": lambda: "Bearer " + make_token(iss=ISSUER, aud="other"),
    "no audience": lambda: "Bearer " + make_token(iss=ISSUER),
    "missing exp": lambda: "Bearer " + make_token(exp=None, iss=ISSUER, aud=AUDIENCE),
    "missing sub": lambda: "Bearer " + make_token(sub=None, iss=ISSUER, aud=AUDIENCE),  # type: ignore[arg-type]
    "empty sub": lambda: "Bearer " + make_token(sub="", iss=ISSUER, aud=AUDIENCE),
    "tampered payload": lambda: "Bearer " + tampered(make_token(iss=ISSUER, aud=AUDIENCE)),
    "malformed: one part": lambda: "Bearer abc",
    "malformed: bad base64": lambda: "Bearer @@@.@@@.@@@",
    "malformed: four parts": lambda: "Bearer a.b.c.d",
    "malformed: header not json": lambda: f"Bearer {b64(b'not json')}.{b64(b'{}')}.x",
    "oversized": lambda: "Bearer " + make_token(iss=ISSUER, aud=AUDIENCE, pad="p" * 5000),
    "Basic credentials": lambda: "Basic " + b64(b"user:password"),
    # A token that passes with Bearer (test_a_good_hs256_token_passes) under another scheme:
    "Basic instead of Bearer": lambda: "Basic " + make_token(iss=ISSUER, aud=AUDIENCE),
    "Token instead of Bearer": lambda: "Token " + make_token(iss=ISSUER, aud=AUDIENCE),
    "token without scheme": lambda: make_token(iss=ISSUER, aud=AUDIENCE),
    "Bearer without token": lambda: "Bearer ",
    "no Authorization header": lambda: None,
}

RS_ATTACKS: dict[str, Callable[[], str | None]] = {
    "HMAC signed with the public key": lambda: (
        "Bearer " + hs256({"alg": "HS256", "typ": "JWT"}, good_claims(), RSA_PUBLIC_PEM)
    ),
    "HMAC signed with the public key, PEM without its newline": lambda: (
        "Bearer " + hs256({"alg": "HS256", "typ": "JWT"}, good_claims(), RSA_PUBLIC_PEM.strip())
    ),
    "RS256 signed by another key": lambda: (
        "Bearer " + make_token(key=OTHER_RSA_KEY, algorithm="RS256", iss=ISSUER, aud=AUDIENCE)
    ),
    "alg none": lambda: "Bearer " + unsigned(good_claims()),
    "PS256 with the right key (not allowed)": lambda: (
        "Bearer " + make_token(key=RSA_KEY, algorithm="PS256", iss=ISSUER, aud=AUDIENCE)
    ),
    "expired": lambda: (
        "Bearer "
        + make_token(key=RSA_KEY, algorithm="RS256", exp=NOW - 3600, iss=ISSUER, aud=AUDIENCE)
    ),
    "tampered payload": lambda: (
        "Bearer " + tampered(make_token(key=RSA_KEY, algorithm="RS256", iss=ISSUER, aud=AUDIENCE))
    ),
    "wrong issuer": lambda: (
        "Bearer " + make_token(key=RSA_KEY, algorithm="RS256", iss=ISSUER + ".evil", aud=AUDIENCE)
    ),
    "no issuer": lambda: "Bearer " + make_token(key=RSA_KEY, algorithm="RS256", aud=AUDIENCE),
    "wrong audience": lambda: (
        "Bearer " + make_token(key=RSA_KEY, algorithm="RS256", iss=ISSUER, aud="other")
    ),
    "no audience": lambda: "Bearer " + make_token(key=RSA_KEY, algorithm="RS256", iss=ISSUER),
    "Basic instead of Bearer": lambda: (
        "Basic " + make_token(key=RSA_KEY, algorithm="RS256", iss=ISSUER, aud=AUDIENCE)
    ),
}


@pytest.fixture(params=[0, 100], ids=["no cache", "cache"])
def hs_client(request, api, project) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    project([upserted(1)])
    with api(jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwt_cache_size=request.param) as client:
        yield client


@pytest.fixture(params=[0, 100], ids=["no cache", "cache"])
def rs_client(request, api, project, tmp_path: Path) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    project([upserted(1)])
    key_file = tmp_path / "public.pem"
    key_file.write_bytes(RSA_PUBLIC_PEM)
    with api(
        jwt_secret=None,
        jwt_public_key_file=key_file,
        jwt_algorithms=["RS256"],
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        jwt_cache_size=request.param,
    ) as client:
        yield client


def assert_rejected(client: TestClient, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.get("/fitness/wod", headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/json"
    assert isinstance(response.json()["detail"], str) and response.json()["detail"]


def test_a_good_hs256_token_passes(hs_client):
    """The attacks below fail for what they change, not because nothing passes."""
    headers = {"Authorization": "Bearer " + make_token(iss=ISSUER, aud=AUDIENCE)}
    assert hs_client.get("/fitness/wod", headers=headers).status_code == 200


@pytest.mark.parametrize("attack", list(HS_ATTACKS))
def test_hs256_attacks_are_401(hs_client, attack):
    # A valid token of the same user is verified (and cached) first: no bypass through it.
    good = {"Authorization": "Bearer " + make_token(iss=ISSUER, aud=AUDIENCE)}
    assert hs_client.get("/fitness/wod", headers=good).status_code == 200
    assert_rejected(hs_client, HS_ATTACKS[attack]())


def test_a_good_rs256_token_passes(rs_client):
    token = make_token(key=RSA_KEY, algorithm="RS256", iss=ISSUER, aud=AUDIENCE)
    response = rs_client.get("/fitness/wod", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


@pytest.mark.parametrize("attack", list(RS_ATTACKS))
def test_rs256_attacks_are_401(rs_client, attack):
    assert_rejected(rs_client, RS_ATTACKS[attack]())


def test_es256_is_supported(api, project, tmp_path):
    private = ec.generate_private_key(ec.SECP256R1())
    key_file = tmp_path / "ec.pem"
    key_file.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    project([upserted(1)])
    with api(jwt_secret=None, jwt_public_key_file=key_file, jwt_algorithms=["ES256"]) as client:
        good = make_token(key=private, algorithm="ES256")
        response = client.get("/fitness/wod", headers={"Authorization": f"Bearer {good}"})
        assert response.status_code == 200
        assert_rejected(client, "Bearer " + make_token(key=RSA_KEY, algorithm="RS256"))


def test_the_ops_endpoints_and_docs_need_no_token(hs_client):
    for path in ("/health", "/lag", "/metrics", "/openapi.json", "/docs"):
        assert hs_client.get(path).status_code == 200, path


def test_api_refuses_a_public_key_file_that_is_not_a_key(db_path, tmp_path):
    from api.app import create_app

    key_file = tmp_path / "key.pem"
    key_file.write_text("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    settings = Settings(db_path=db_path, jwt_public_key_file=key_file, jwt_algorithms=["RS256"])
    with pytest.raises(ConfigError, match="COACH_JWT_PUBLIC_KEY_FILE"):
        create_app(settings)


def test_api_refuses_a_key_of_the_wrong_family(db_path, tmp_path):
    """An RSA key with ES256 as the only algorithm could verify nothing: refused at start."""
    from api.app import create_app

    key_file = tmp_path / "key.pem"
    key_file.write_bytes(RSA_PUBLIC_PEM)
    settings = Settings(db_path=db_path, jwt_public_key_file=key_file, jwt_algorithms=["ES256"])
    with pytest.raises(ConfigError, match="COACH_JWT_PUBLIC_KEY_FILE"):
        create_app(settings)


def forged(header: bytes, payload: bytes, secret: bytes = b"nobody's secret") -> str:
    """A token of raw header and payload JSON (escapes kept as written), HS256-signed."""
    signing_input = f"{b64(header)}.{b64(payload)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("via_fastapi", [False, True], ids=["fast path", "fastapi route"])
def test_a_crit_header_of_a_lone_surrogate_is_a_401(hs_client, method, via_fastapi):
    """Issue 26: PyJWT's message quotes the `crit` member; a lone surrogate there made the
    401's body unencodable, a 500 on both paths. Now a fixed sentence."""
    from tests.integration.test_api_fastpath import call

    token = forged(b'{"alg":"HS256","crit":["\\ud800"]}', b'{"sub":"7","exp":99999999999}')
    headers = [(b"authorization", f"Bearer {token}".encode())]
    status, response_headers, body = call(hs_client, method, b"", headers, via_fastapi=via_fastapi)
    assert status == 401, body
    assert (b"content-type", b"application/json") in response_headers
    if method == "GET":
        assert orjson.loads(body) == {"detail": "invalid token"}


def test_an_audience_is_not_checked_when_none_is_configured(api, project):
    """No COACH_JWT_AUDIENCE: a token carrying `aud` passes (the claim is not checked, as
    docs/API.md says); with one configured, the same token is refused."""
    project([upserted(1)])
    headers = {"Authorization": "Bearer " + make_token(aud="some-other-service")}
    with api() as client:
        assert client.get("/fitness/wod", headers=headers).status_code == 200
    with api(jwt_audience=AUDIENCE) as client:
        assert_rejected(client, headers["Authorization"])


@pytest.mark.parametrize("cache", [0, 100], ids=["no cache", "cache"])
def test_a_token_of_exactly_the_size_limit_passes_and_one_more_is_refused(api, project, cache):
    from tests.unit.test_auth import token_of_length

    project([upserted(1)])
    with api(jwt_max_bytes=1024, jwt_cache_size=cache) as client:
        exact = {"Authorization": f"Bearer {token_of_length(1024, SECRET)}"}
        assert client.get("/fitness/wod", headers=exact).status_code == 200
        assert_rejected(client, f"Bearer {token_of_length(1025, SECRET)}")
        assert client.get("/fitness/wod", headers=exact).status_code == 200
