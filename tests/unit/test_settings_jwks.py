"""The key set settings: a bad value stops start-up naming its variable; which mode is used."""

from __future__ import annotations

import os

import pytest

from config.settings import ConfigError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("COACH_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://idp/jwks", "idp.example/jwks", "http://", "", "https:///x"],
)
def test_a_jwks_url_must_be_http_or_https(monkeypatch, url):
    monkeypatch.setenv("COACH_JWT_JWKS_URL", url)
    monkeypatch.setenv("COACH_JWT_ALGORITHMS", "RS256")
    with pytest.raises(ConfigError, match=r"COACH_JWT_JWKS_URL: .*http or https"):
        load_settings()


def test_a_jwks_url_with_hmac_algorithms_is_refused(monkeypatch):
    """A key set holds public keys: HS256 (the default allow-list) cannot go with it."""
    monkeypatch.setenv("COACH_JWT_JWKS_URL", "https://idp.example/jwks")
    with pytest.raises(ConfigError, match="COACH_JWT_ALGORITHMS must be public-key"):
        load_settings()


@pytest.mark.parametrize("other", ["COACH_JWT_SECRET", "COACH_JWT_PUBLIC_KEY_FILE"])
def test_one_way_of_verifying_at_a_time(monkeypatch, other):
    monkeypatch.setenv("COACH_JWT_JWKS_URL", "https://idp.example/jwks")
    monkeypatch.setenv("COACH_JWT_ALGORITHMS", "RS256")
    monkeypatch.setenv(other, "s" * 40)
    with pytest.raises(ConfigError, match=rf"set one of .*{other}"):
        load_settings()


def test_an_issuer_alone_means_discovery(monkeypatch):
    """COACH_JWT_ISSUER without a secret or key file: the key set of its discovery document;
    with a secret, only the `iss` check (as before)."""
    monkeypatch.setenv("COACH_JWT_ISSUER", "https://idp.example/realms/fit")
    monkeypatch.setenv("COACH_JWT_ALGORITHMS", "ES256,EdDSA")
    settings = load_settings()
    assert settings.uses_jwks
    settings.require_jwt_key()
    monkeypatch.setenv("COACH_JWT_ALGORITHMS", "HS256")
    monkeypatch.setenv("COACH_JWT_SECRET", "s" * 40)
    assert not load_settings().uses_jwks


def test_an_issuer_that_is_not_a_url_cannot_be_discovered(monkeypatch):
    monkeypatch.setenv("COACH_JWT_ISSUER", "monolith")
    monkeypatch.setenv("COACH_JWT_ALGORITHMS", "RS256")
    with pytest.raises(ConfigError, match="COACH_JWT_ISSUER: must be an http or https URL"):
        load_settings().require_jwt_key()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("COACH_JWT_JWKS_MIN_REFRESH_SECONDS", "0"),
        ("COACH_JWT_JWKS_MAX_AGE_SECONDS", "0.5"),
        ("COACH_JWT_JWKS_TIMEOUT_SECONDS", "0"),
        ("COACH_JWT_JWKS_TIMEOUT_SECONDS", "120"),
    ],
)
def test_refresh_bounds_are_checked(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings()
