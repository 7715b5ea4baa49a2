"""Bearer token verification: every failure is an AuthError (a 401), never a crash."""

from __future__ import annotations

import time

import jwt
import pytest

from api.auth import AuthError, TokenVerifier

SECRET = "k" * 40


@pytest.fixture
def verifier() -> TokenVerifier:
    return TokenVerifier(key=SECRET, algorithms=("HS256",), leeway_seconds=0)


def token(**claims) -> str:  # type: ignore[no-untyped-def]
    claims.setdefault("sub", "7")
    claims.setdefault("exp", int(time.time()) + 60)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, SECRET, algorithm="HS256")


def test_valid_token_gives_the_subject_and_zone(verifier):
    principal = verifier.verify_header(f"Bearer {token(zoneinfo='Asia/Tokyo')}")
    assert principal.user_id == "7" and principal.zoneinfo == "Asia/Tokyo"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token abc",
        "Bearer not.a.jwt",
        "Bearer " + "a" * 10_000,
    ],
)
def test_malformed_headers_are_rejected(verifier, header):
    with pytest.raises(AuthError):
        verifier.verify_header(header)


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": None},  # exp is required
        {"sub": None},  # sub is required
        {"sub": ""},
        {"sub": 7},  # sub must be text
        {"exp": int(time.time()) - 10},  # expired
        {"nbf": int(time.time()) + 3600},  # not yet valid
    ],
)
def test_bad_claims_are_rejected(verifier, claims):
    with pytest.raises(AuthError):
        verifier.verify(token(**claims))


def test_alg_none_is_rejected(verifier):
    unsigned = jwt.encode({"sub": "7", "exp": int(time.time()) + 60}, None, algorithm="none")
    with pytest.raises(AuthError):
        verifier.verify(unsigned)


def test_other_secret_is_rejected(verifier):
    forged = jwt.encode({"sub": "7", "exp": int(time.time()) + 60}, "x" * 40, algorithm="HS256")
    with pytest.raises(AuthError):
        verifier.verify(forged)


def test_issuer_and_audience_enforced_when_configured():
    strict = TokenVerifier(
        key=SECRET, algorithms=("HS256",), issuer="https://id.example", audience="coach"
    )
    good = token(iss="https://id.example", aud="coach")
    assert strict.verify(good).user_id == "7"
    for bad in (
        token(iss="https://id.example.evil", aud="coach"),
        token(iss="https://id.example", aud="other"),
        token(),
    ):
        with pytest.raises(AuthError):
            strict.verify(bad)
