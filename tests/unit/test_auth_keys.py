"""api/auth.py's keys and settings: an EC key verifies the ES family (and only it), and the
settings given with a secret reach the verifier as they do with a key file."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from api.auth import AuthError, BadKey, TokenVerifier, load_public_key

SECRET = "s" * 40


def _pem(private: ec.EllipticCurvePrivateKey) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize("curve,algorithm", [(ec.SECP256R1(), "ES256"), (ec.SECP384R1(), "ES384")])
def test_an_ec_key_verifies_es_tokens(tmp_path, curve, algorithm):
    private = ec.generate_private_key(curve)
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(_pem(private))
    verifier = TokenVerifier.from_secret_or_file(
        secret=None, public_key_file=key_file, algorithms=(algorithm,)
    )
    signed = jwt.encode({"sub": "7", "exp": int(time.time()) + 60}, private, algorithm=algorithm)
    assert verifier.verify(signed).user_id == "7"
    other = jwt.encode(
        {"sub": "7", "exp": int(time.time()) + 60},
        ec.generate_private_key(curve),
        algorithm=algorithm,
    )
    with pytest.raises(AuthError, match="bad signature"):
        verifier.verify(other)


def test_an_ec_key_for_other_algorithms_is_refused_naming_its_family():
    pem = _pem(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(BadKey) as caught:
        load_public_key(pem, ("RS256", "EdDSA"))
    assert str(caught.value) == "an ES-family key cannot verify RS256, EdDSA"


def test_a_secret_verifier_applies_issuer_audience_leeway_and_size():
    """The settings given with a secret reach the verifier (as with a key file: see
    test_auth.py): a wrong issuer or audience, an expiry past the leeway and a token over
    the cap are refused, and a token 90 s expired passes with 120 s of leeway."""
    verifier = TokenVerifier.from_secret_or_file(
        secret=SECRET,
        public_key_file=None,
        algorithms=("HS256",),
        issuer="https://id.example",
        audience="coach",
        leeway_seconds=120,
        max_bytes=512,
    )
    now = int(time.time())

    def signed(**claims: object) -> str:
        base = {"sub": "7", "exp": now + 60, "iss": "https://id.example", "aud": "coach"}
        return jwt.encode({**base, **claims}, SECRET, algorithm="HS256")

    assert verifier.verify(signed(exp=now - 90)).user_id == "7"
    for claims, message in (
        ({"iss": "https://evil.example"}, "wrong issuer"),
        ({"aud": "other"}, "wrong audience"),
        ({"exp": now - 200}, "expired"),
        ({"padding": "p" * 400}, "too large"),  # about 700 characters: over 512
    ):
        with pytest.raises(AuthError, match=message):
            verifier.verify(signed(**claims))
