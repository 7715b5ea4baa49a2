"""api/hmac_tokens.py only ever accepts what PyJWT accepts, with the same claims.

Every token of a fuzzed corpus (good tokens, and each way a token can be bent: headers,
claims, times, encodings, signatures, random byte flips) goes both ways, under several
verifier configurations: PyJWT's own `jwt.decode` with coach's options is the reference.
"""

from __future__ import annotations

import base64
import json
import random
import re
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from api.auth import AuthError, TokenVerifier
from api.hmac_tokens import HmacFastPath

SECRET = b"a-test-secret-of-more-than-32-bytes!"
OTHER = b"another-secret-of-more-than-32-bytes"
LEEWAY = 30


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_token(header: Any, payload: Any, key: bytes = SECRET, alg: str = "HS256") -> str:
    """A token of any header and payload (JSON-encoded unless bytes), signed with `alg`."""
    head = header if isinstance(header, bytes) else json.dumps(header).encode()
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signing_input = f"{b64(head)}.{b64(body)}"
    digest = {"HS256": "sha256", "HS384": "sha384", "HS512": "sha512"}[alg]
    import hmac

    signature = hmac.new(key, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64(signature)}"


def corpus(now: int) -> Iterator[str]:
    rng = random.Random(15)
    good = {"sub": "user-1", "exp": now + 3600}
    yield raw_token({"alg": "HS256", "typ": "JWT"}, good)
    for alg in ("HS256", "HS384", "HS512"):
        yield raw_token({"alg": alg}, good, alg=alg)
        yield raw_token({"alg": alg, "typ": "JWT", "kid": "k1"}, good, alg=alg)
        yield raw_token({"alg": alg}, good, key=OTHER, alg=alg)
    headers: list[Any] = [
        {"alg": "HS384"},  # signed with HS256 below: the header lies
        {"alg": "none"},
        {"alg": "RS256"},
        {},
        {"typ": "JWT"},
        {"alg": "HS256", "kid": 7},
        {"alg": "HS256", "typ": 1},
        {"alg": "HS256", "crit": ["b64"], "b64": False},
        {"alg": "HS256", "crit": ["exp"]},
        {"alg": "HS256", "b64": True, "crit": ["b64"]},
        {"alg": "HS256", "jku": "http://x"},
        {"alg": "HS256", "cty": "JWT"},
        {"alg": ["HS256"]},
        {"alg": {"HS256": 1}},
        {"alg": None},
        {"alg": "HS256", "kid": None},
        {"alg": "HS256", "kid": ["k"]},
        {"alg": "HS256", "typ": None},
        {"alg": "HS256", "typ": {"t": 1}},
        ["alg", "HS256"],
        "HS256",
        b'{"alg":"HS256","alg":"none"}',
        b'{"alg":"none","alg":"HS256"}',
        b'\xef\xbb\xbf{"alg":"HS256"}',
        b'{"alg":"HS256"',
    ]
    for header in headers:
        yield raw_token(header, good)
    times = [now - 1000, now - 40, now - 20, now + 20, now + 40, now + 3600]
    values: list[Any] = [None, True, "123", 1.5, 2**64, float(now + 3600), -1, [], {}]
    payloads: list[Any] = [{"sub": "u", "exp": t} for t in times]
    payloads += [{"sub": "u", "exp": v} for v in values]
    payloads += [
        {"sub": "u", "exp": now + 3600, claim: v}
        for claim in ("iat", "nbf")
        for v in times + values
    ]
    payloads += [{"sub": v, "exp": now + 3600} for v in (None, 5, "", " ", ["u"], "é")]
    payloads += [{"exp": now + 3600}, {"sub": "u"}, {}, [], "x", 5, None]
    payloads += [{"sub": "u", "exp": now + 3600, "jti": v} for v in ("j", 5, None)]
    payloads += [
        {"sub": "u", "exp": now + 3600, "iss": v} for v in ("issuer", "other", 5, None, ["issuer"])
    ]
    payloads += [
        {"sub": "u", "exp": now + 3600, "aud": v}
        for v in ("aud", "other", ["aud"], ["other", "aud"], ["other"], [5, "aud"], [], "", 5)
    ]
    payloads += [  # both, for the configuration that checks both
        {"sub": "u", "exp": now + 3600, "iss": iss, "aud": aud}
        for iss in ("issuer", "other", None)
        for aud in ("aud", ["other", "aud"], ["other"], [5, "aud"], None)
    ]
    payloads += [{"sub": "u", "exp": now + 3600, "zoneinfo": v} for v in ("Europe/Paris", 5)]
    for payload in payloads:
        yield raw_token({"alg": "HS256", "typ": "JWT"}, payload)
    yield raw_token({"alg": "HS256"}, b'{"sub":"u","exp":%d,"exp":1}' % (now + 3600))
    yield raw_token({"alg": "HS256"}, b'{"sub":"u","exp":%d,"x":NaN}' % (now + 3600))
    yield raw_token({"alg": "HS256"}, b'{"sub":"u","exp":%d,"x":1e400}' % (now + 3600))
    yield raw_token({"alg": "HS256"}, b'{"sub":"\\ud800","exp":%d}' % (now + 3600))
    yield raw_token({"alg": "HS256"}, b'  {"sub":"u","exp":%d}  ' % (now + 3600))
    base = raw_token({"alg": "HS256", "typ": "JWT"}, good)
    head, body, sig = base.split(".")
    yield f"{head}.{body}.{sig}="
    yield f"{head}=.{body}.{sig}"
    yield f"{head}.{body}."
    yield f"{head}..{sig}"
    yield f".{body}.{sig}"
    yield f"{head}.{body}.{sig}.{sig}"
    yield f"{head}.{body}"
    yield f"{head}.{body}.{sig[:-1]}"
    yield f"{head}.{body}.{sig}A"
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    unused_bit = alphabet[alphabet.index(sig[-1]) ^ 1]  # the same bytes, not canonical
    yield f"{head}.{body}.{sig[:-1]}{unused_bit}"
    yield f" {base}"
    yield base.replace("-", "+").replace("_", "/")
    yield f"{head}.{body}.{sig}\n"
    yield base.upper()
    yield ""
    for _ in range(3000):  # random flips, insertions and deletions
        chars = list(base)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(chars))
            op = rng.random()
            if op < 0.6:
                chars[at] = rng.choice("AZaz09-_.=+/ \x00é")
            elif op < 0.8:
                del chars[at]
            else:
                chars.insert(at, rng.choice("A-_.="))
        yield "".join(chars)


CONFIGS = [
    {"algorithms": ("HS256",), "issuer": None, "audience": None},
    {"algorithms": ("HS384", "HS512"), "issuer": None, "audience": None},
    {"algorithms": ("HS256",), "issuer": "issuer", "audience": "aud"},
]


def reference(token: str, config: dict[str, Any]) -> dict[str, Any] | None:
    """PyJWT's own verdict with coach's options: the claims, or None when it rejects."""
    try:
        return jwt.decode(  # type: ignore[no-any-return]
            token,
            SECRET,
            algorithms=list(config["algorithms"]),
            issuer=config["issuer"],
            audience=config["audience"],
            leeway=LEEWAY,
            options={
                "require": ["exp", "sub"],
                "verify_aud": config["audience"] is not None,
                "verify_iss": config["issuer"] is not None,
            },
        )
    except Exception:
        return None


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("config", CONFIGS, ids=["HS256", "HS384+HS512", "iss+aud"])
def test_accepts_only_what_pyjwt_accepts_with_the_same_claims(config: dict[str, Any]) -> None:
    now = int(time.time())
    fast = HmacFastPath(
        SECRET,
        config["algorithms"],
        issuer=config["issuer"],
        audience=config["audience"],
        leeway_seconds=LEEWAY,
    )
    accepted = rejected_by_both = deferred = 0
    for token in corpus(now):
        mine = fast.claims(token)
        theirs = reference(token, config)
        if mine is not None:
            assert theirs is not None, f"accepted what PyJWT rejects: {token!r}"
            assert mine == theirs and list(mine) == list(theirs), token
            accepted += 1
        elif theirs is None:
            rejected_by_both += 1
        else:
            deferred += 1
    # Not vacuous: the ordinary tokens of each configuration go the fast way.
    assert accepted >= 2, (accepted, deferred)
    assert rejected_by_both > 2000


def test_the_ordinary_token_is_accepted_without_pyjwt(monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = TokenVerifier(key=SECRET, algorithms=("HS256",))
    token = jwt.encode(
        {
            "sub": "u1",
            "exp": int(time.time()) + 60,
            "iat": int(time.time()),
            "zoneinfo": "Asia/Tokyo",
        },
        SECRET,
        algorithm="HS256",
    )

    def no_pyjwt(self: TokenVerifier, token: str) -> dict[str, Any]:
        raise AssertionError("PyJWT was asked")

    monkeypatch.setattr(TokenVerifier, "_decode", no_pyjwt)
    verified = verifier.verify_token(token)
    assert (verified.principal.user_id, verified.principal.zoneinfo) == ("u1", "Asia/Tokyo")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"sub": "u", "exp": 1}, "Signature has expired"),
        ({"sub": "u"}, 'Token is missing the "exp" claim'),
        ({"sub": "u", "exp": 2**40, "nbf": 2**40}, "The token is not yet valid (nbf)"),
    ],
)
def test_what_the_fast_path_leaves_gets_pyjwt_s_error(
    payload: dict[str, Any], message: str
) -> None:
    verifier = TokenVerifier(key=SECRET, algorithms=("HS256",))
    with pytest.raises(AuthError, match=re.escape(f"invalid token: {message}")):
        verifier.verify_token(jwt.encode(payload, SECRET, algorithm="HS256"))


def test_a_wrong_signature_gets_pyjwt_s_error() -> None:
    verifier = TokenVerifier(key=SECRET, algorithms=("HS256",))
    token = jwt.encode({"sub": "u", "exp": 2**40}, OTHER, algorithm="HS256")
    with pytest.raises(AuthError, match="Signature verification failed"):
        verifier.verify_token(token)


def test_a_public_key_verifier_has_no_fast_path() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    assert TokenVerifier(key=key, algorithms=("ES256",))._fast is None


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("value", [["HS256"], {"HS256": 1}, None, 256, True, 1.5])
def test_a_header_value_of_any_json_type_gets_pyjwt_s_verdict_never_a_500(value: Any) -> None:
    """An unhashable `alg` once reached a dict lookup in the fast path: a TypeError, a 500."""
    config = CONFIGS[0]
    verifier = TokenVerifier(key=SECRET, algorithms=config["algorithms"], leeway_seconds=LEEWAY)
    for header in ({"alg": value}, {"alg": "HS256", "kid": value}, {"alg": "HS256", "typ": value}):
        token = raw_token(header, {"sub": "u", "exp": 2**40})
        if reference(token, config) is None:
            with pytest.raises(AuthError):
                verifier.verify_token(token)
        else:
            assert verifier.verify_token(token).principal.user_id == "u"


def test_an_error_inside_the_fast_path_leaves_the_token_to_pyjwt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(self: HmacFastPath, token: str) -> None:
        raise RuntimeError("a bug of the fast path")

    monkeypatch.setattr(HmacFastPath, "claims", broken)
    verifier = TokenVerifier(key=SECRET, algorithms=("HS256",))
    good = jwt.encode({"sub": "u2", "exp": 2**40}, SECRET, algorithm="HS256")
    assert verifier.verify_token(good).principal.user_id == "u2"
    with pytest.raises(AuthError, match="Signature verification failed"):
        verifier.verify_token(jwt.encode({"sub": "u", "exp": 2**40}, OTHER, algorithm="HS256"))
