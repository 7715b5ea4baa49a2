"""The issuer's key set: which JWKs coach keeps, and how long a fetched set lives. Pure."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from api.jwks import EMPTY, JwksError, cache_lifetime, parse_key_set
from deploy.monolith.issuer import Issuer

ALL = ("RS256", "ES256", "EdDSA")


def jwks_of(*keys: dict[str, Any]) -> bytes:
    return json.dumps({"keys": list(keys)}).encode()


@pytest.fixture(scope="module")
def jwks_by_alg() -> dict[str, dict[str, Any]]:
    """One published JWK of each algorithm (kid, use, alg as an issuer publishes them)."""
    return {a: Issuer("http://i", algorithm=a).jwks()["keys"][0] for a in ALL}


@pytest.mark.parametrize("alg", ALL)
def test_each_allowed_algorithm_gives_a_key_bound_to_it(jwks_by_alg, alg):
    """RS256, ES256 and EdDSA keys are kept by kid, each bound to its own algorithm."""
    jwk = jwks_by_alg[alg]
    keys = parse_key_set(jwks_of(jwk), ALL)
    assert list(keys) == [jwk["kid"]] and keys[jwk["kid"]].algorithm_name == alg


@pytest.mark.parametrize(
    "change",
    [
        {"kid": None},  # no kid: a token could not name it
        {"kid": ""},
        {"kid": 7},
        {"use": "enc"},  # an encryption key never verifies a signature
        {"alg": "HS256"},  # an algorithm outside the allow-list
        {"alg": "RS512"},
        {"kty": "oct", "k": "c2VjcmV0"},  # a shared secret in a public set
        {"kty": []},  # unhashable values (a TypeError once), from the network
        {"alg": {}},
        {"use": ["sig"]},
        {"n": 12345},
    ],
)
def test_unusable_keys_are_skipped(jwks_by_alg, change):
    """A key coach must not verify with is left out; a set with no other key is an error."""
    good = jwks_by_alg["ES256"]
    bad = {k: v for k, v in {**jwks_by_alg["RS256"], **change}.items() if v is not None}
    assert list(parse_key_set(jwks_of(bad, good), ALL)) == [good["kid"]]
    with pytest.raises(JwksError, match="no usable signing key"):
        parse_key_set(jwks_of(bad), ALL)


def test_an_ec_key_of_another_curve_than_its_alg_s_is_skipped(jwks_by_alg):
    """A P-384 key published as ES256 could verify nothing (PyJWT checks the curve when
    it verifies): it is left out when the set is read."""
    public = ec.generate_private_key(ec.SECP384R1()).public_key()
    jwk = {**ECAlgorithm.to_jwk(public, as_dict=True), "kid": "p384", "alg": "ES256"}
    keys = parse_key_set(jwks_of(jwk, jwks_by_alg["ES256"]), ALL)
    assert "p384" not in keys and len(keys) == 1


def test_a_key_outside_the_allow_list_is_skipped(jwks_by_alg):
    """With COACH_JWT_ALGORITHMS=ES256 an RSA key (RS256 by its kty) is not kept."""
    keys = parse_key_set(jwks_of(jwks_by_alg["RS256"], jwks_by_alg["ES256"]), ("ES256",))
    assert list(keys) == [jwks_by_alg["ES256"]["kid"]]


def test_a_key_without_alg_gets_the_one_its_type_implies(jwks_by_alg):
    """No `alg`: PyJWT binds an EC P-256 key to ES256, and only ES256."""
    jwk = {k: v for k, v in jwks_by_alg["ES256"].items() if k != "alg"}
    assert parse_key_set(jwks_of(jwk), ALL)[jwk["kid"]].algorithm_name == "ES256"


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[]", b'{"keys": 1}', b'{"keys": [1, "x", null]}', b"[" * 100_000],
)
def test_a_broken_document_is_an_error(body):
    with pytest.raises(JwksError):
        parse_key_set(body, ALL)


def test_a_token_cannot_choose_how_its_key_is_used(jwks_by_alg):
    """Algorithm confusion: an HS256 token "signed" with the RSA key's public JWK text, and an
    RS256 token against an EC key, are refused by PyJWT with the key bound to its algorithm."""
    rsa_jwk, ec_jwk = jwks_by_alg["RS256"], jwks_by_alg["ES256"]
    keys = parse_key_set(jwks_of(rsa_jwk, ec_jwk), ALL)
    claims = {"sub": "7", "exp": int(time.time()) + 60}
    forged = hs256(claims, json.dumps(rsa_jwk).encode(), rsa_jwk["kid"])
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(forged, keys[rsa_jwk["kid"]], algorithms=["HS256", *ALL])
    other = Issuer("http://i", algorithm="RS256")
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(other.sign("7"), keys[ec_jwk["kid"]], algorithms=list(ALL))


def hs256(claims: dict[str, Any], secret: bytes, kid: str) -> str:
    """An HS256 token made by hand (PyJWT refuses a JWK as an HMAC secret, as an attacker
    would not)."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def test_the_generation_grows_when_a_key_leaves_or_changes(jwks_by_alg):
    """A new key keeps the generation; a key gone, or changed under its kid, grows it."""
    a, b = jwks_by_alg["ES256"], jwks_by_alg["RS256"]
    first = EMPTY.replaced_by(parse_key_set(jwks_of(a), ALL), 1.0)
    added = first.replaced_by(parse_key_set(jwks_of(a, b), ALL), 2.0)
    assert added.generation == first.generation
    removed = added.replaced_by(parse_key_set(jwks_of(b), ALL), 3.0)
    assert removed.generation == added.generation + 1
    swapped = {**jwks_by_alg["RS256"], "kid": a["kid"], "alg": "RS256"}
    changed = first.replaced_by(parse_key_set(jwks_of(swapped), ALL), 4.0)
    assert changed.generation == first.generation + 1


@pytest.mark.parametrize(
    ("header", "lifetime"),
    [
        (None, 600.0),
        ("", 600.0),
        ("public, max-age=120", 120.0),
        ('max-age="90", must-revalidate', 90.0),
        ("max-age=1", 30.0),  # not sooner than the rate limit
        ("max-age=999999999", 600.0),  # not longer than the cap
        ("no-cache", 30.0),
        ("private, no-store", 30.0),
        ("s-maxage=5", 600.0),
        ("max-age=-5", 600.0),
        ("max-age=abc", 600.0),
    ],
)
def test_cache_lifetime_is_the_max_age_within_bounds(header, lifetime):
    assert cache_lifetime(header, shortest=30.0, longest=600.0) == lifetime


def test_the_issuer_rotates_in_three_steps():
    """The stand-in issuer: a published key stays until activated; the old key stays while
    a token it signed is valid, then leaves the set."""
    issuer = Issuer("http://i", algorithm="ES256", token_ttl=60)
    old = issuer.active
    issuer.sign("7")
    new = issuer.publish()
    assert issuer.retire_expired() == [] and set(issuer.kids()) == {old, new}
    issuer.activate(new)
    assert issuer.retire_expired() == []  # the old key's token is valid for 60 s
    assert issuer.retire_expired(now=time.time() + 61) == [old]
    assert [k["kid"] for k in issuer.jwks()["keys"]] == [new]
