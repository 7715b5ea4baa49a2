"""Bearer token verification: every failure is an AuthError (a 401), never a crash."""

from __future__ import annotations

import time

import jwt
import pytest

from api.auth import AuthError, Principal, TokenVerifier

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
        "Basic {good}",  # {good}: a valid token, made when the test runs
        "Token {good}",
        "{good}",
        "Bearer{good}",
        "Bearer not.a.jwt",
        "Bearer " + "a" * 10_000,
    ],
)
def test_malformed_headers_are_rejected(verifier, header):
    """Each is refused for its own fault: with a valid token, another scheme (or none) is
    still refused, while `Bearer <the same token>` passes."""
    good = token()
    assert verifier.verify_header(f"Bearer {good}").user_id == "7"
    with pytest.raises(AuthError):
        verifier.verify_header(None if header is None else header.format(good=good))


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": None},  # exp is required
        {"sub": None},  # sub is required
        {"sub": ""},
        {"sub": 7},  # sub must be text
        {"exp": int(time.time()) - 10},  # expired
        {"nbf": int(time.time()) + 3600},  # not yet valid
        {"sub": "\ud800"},  # not encodable as UTF-8
        {"sub": "a\x00b"},  # control characters
        {"sub": "a\x7f"},
        {"zoneinfo": "\udc00"},
        {"zoneinfo": "UTC\n"},
        {"zoneinfo": 5},  # not a string
        {"zoneinfo": ["UTC"]},
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


# -- hostile tokens that PyJWT does not wrap: still an AuthError ---------------------------------


def _b64(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _signed(header: bytes, payload: bytes, key: str = SECRET) -> str:
    import hashlib
    import hmac

    signing_input = f"{_b64(header)}.{_b64(payload)}"
    signature = hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


HS256 = b'{"alg":"HS256","typ":"JWT"}'


@pytest.mark.parametrize(
    "payload",
    [
        b'{"sub":"7","exp":1e400}',  # infinite exp
        b'{"sub":"7","exp":"NaN"}',
        b'{"sub":"7","exp":"99999999999"}',  # a string is not a NumericDate
        b'{"sub":"7","exp":[1]}',
        b'{"sub":"7","exp":99999999999,"nbf":1e400}',
        b'{"sub":"7","exp":99999999999,"iat":"yesterday"}',
        b'{"sub":"7","exp":99999999999,"x":' + b"[" * 1400 + b"]" * 1400 + b"}",  # too deep
        b'"just a string"',
        b"\xff\xfe not utf-8",
    ],
)
def test_signed_but_hostile_payloads_are_rejected(verifier, payload):
    """Correctly signed tokens whose claims are nonsense: a 401, never a crash."""
    with pytest.raises(AuthError):
        verifier.verify(_signed(HS256, payload))


@pytest.mark.parametrize(
    "header",
    [b'{"alg":"HS256","crit":["exp"]}', b'{"typ":"JWT"}', b"not json", b'{"alg":["HS256"]}'],
)
def test_hostile_headers_are_rejected(verifier, header):
    with pytest.raises(AuthError):
        verifier.verify(_signed(header, b'{"sub":"7","exp":99999999999}'))


def token_of_length(length: int, secret: str = SECRET) -> str:
    """A valid token of exactly `length` characters (a padding claim, and a `kid` in the
    header to reach lengths the payload's base64 alone skips)."""
    for kid in range(4):
        for pad in range(length):
            made = jwt.encode(
                {"sub": "7", "exp": int(time.time()) + 60, "p": "p" * pad},
                secret,
                algorithm="HS256",
                headers={"kid": "k" * kid},
            )
            if len(made) == length:
                return made
            if len(made) > length:
                break
    raise AssertionError(f"no token of {length} characters")


@pytest.mark.parametrize("max_bytes", [256, 300, 4096])
def test_the_size_cap_is_exact(max_bytes):
    """A token of exactly `max_bytes` passes; one character more is refused as too large."""
    capped = TokenVerifier(key=SECRET, algorithms=("HS256",), max_bytes=max_bytes)
    assert capped.verify(token_of_length(max_bytes)).user_id == "7"
    with pytest.raises(AuthError, match="too large"):
        capped.verify(token_of_length(max_bytes + 1))


def test_an_audience_claim_is_not_checked_when_none_is_configured():
    """No COACH_JWT_AUDIENCE: a token's `aud` (any value) is not checked (PyJWT alone would
    refuse it); configured: it must match."""
    carrying = token(aud="someone-else")
    assert TokenVerifier(key=SECRET, algorithms=("HS256",)).verify(carrying).user_id == "7"
    with pytest.raises(AuthError, match="wrong audience"):
        TokenVerifier(key=SECRET, algorithms=("HS256",), audience="coach").verify(carrying)


def test_the_size_cap_counts_the_whole_token():
    small = TokenVerifier(key=SECRET, algorithms=("HS256",), max_bytes=256)
    assert small.verify(token()).user_id == "7"
    with pytest.raises(AuthError, match="too large"):
        small.verify(token(padding="p" * 300))


def test_leeway_accepts_a_token_just_expired():
    """A small clock skew is tolerated: expired 10 s ago passes with 30 s of leeway."""
    lenient = TokenVerifier(key=SECRET, algorithms=("HS256",), leeway_seconds=30)
    assert lenient.verify(token(exp=int(time.time()) - 10)).user_id == "7"
    with pytest.raises(AuthError):
        lenient.verify(token(exp=int(time.time()) - 60))


# -- public keys --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_pair() -> tuple[object, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public_pem


def test_public_key_file_is_parsed_once_and_verifies_rs256(tmp_path, rsa_pair):
    private, public_pem = rsa_pair
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(public_pem)
    verifier = TokenVerifier.from_secret_or_file(
        secret=None, public_key_file=key_file, algorithms=("RS256",)
    )
    assert not isinstance(verifier.key, str | bytes)  # a key object, not PEM text
    good = jwt.encode({"sub": "7", "exp": int(time.time()) + 60}, private, algorithm="RS256")
    assert verifier.verify(good).user_id == "7"


def test_a_public_key_verifier_applies_issuer_audience_leeway_and_size(tmp_path, rsa_pair):
    """The settings given with a key file reach the verifier, as they do with a secret: a
    wrong issuer or audience, an expiry past the leeway and a token over the cap are refused,
    and a token 90 s expired passes with 120 s of leeway (the defaults: none, none, 30 s and
    4,096 characters)."""
    private, public_pem = rsa_pair
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(public_pem)
    verifier = TokenVerifier.from_secret_or_file(
        secret=None,
        public_key_file=key_file,
        algorithms=("RS256",),
        issuer="https://id.example",
        audience="coach",
        leeway_seconds=120,
        max_bytes=1024,
    )
    now = int(time.time())

    def signed(**claims: object) -> str:
        base = {"sub": "7", "exp": now + 60, "iss": "https://id.example", "aud": "coach"}
        return jwt.encode({**base, **claims}, private, algorithm="RS256")

    assert verifier.verify(signed(exp=now - 90)).user_id == "7"
    for claims, message in (
        ({"iss": "https://evil.example"}, "wrong issuer"),
        ({"aud": "other"}, "wrong audience"),
        ({"exp": now - 200}, "expired"),
        ({"padding": "p" * 600}, "too large"),  # about 1,300 characters: over 1,024
    ):
        with pytest.raises(AuthError, match=message):
            verifier.verify(signed(**claims))


def test_hmac_signed_with_the_public_key_is_rejected(tmp_path, rsa_pair):
    """Algorithm confusion: an HS256 token whose secret is the RS256 public key's PEM."""
    import hashlib
    import hmac

    _, public_pem = rsa_pair
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(public_pem)
    verifier = TokenVerifier.from_secret_or_file(
        secret=None, public_key_file=key_file, algorithms=("RS256",)
    )
    claims = b'{"sub":"7","exp":99999999999}'
    signing_input = f"{_b64(HS256)}.{_b64(claims)}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(AuthError):
        verifier.verify(f"{signing_input}.{_b64(signature)}")


@pytest.mark.parametrize(
    "content,algorithms",
    [(b"not a key", ("RS256",)), (None, ("ES256",))],  # None: the RSA key, for ES256
)
def test_unusable_public_keys_are_refused(tmp_path, rsa_pair, content, algorithms):
    from api.auth import BadKey

    key_file = tmp_path / "key.pem"
    key_file.write_bytes(content if content is not None else rsa_pair[1])
    with pytest.raises(BadKey):
        TokenVerifier.from_secret_or_file(
            secret=None, public_key_file=key_file, algorithms=algorithms
        )


def test_a_public_key_given_as_the_hmac_secret_is_refused_at_start(rsa_pair):
    """PyJWT refuses a PEM (or SSH, or DER) public key as an HMAC secret; coach checks its
    secret once, when the verifier is built, so a misconfigured key stops start-up instead
    of answering 401 to every request."""
    from api.auth import BadKey

    with pytest.raises(BadKey, match="HMAC secret"):
        TokenVerifier.from_secret_or_file(
            secret=rsa_pair[1].decode(), public_key_file=None, algorithms=("HS256",)
        )


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
def test_each_hmac_algorithm_verifies_with_the_secret(algorithm):
    verifier = TokenVerifier(key=SECRET, algorithms=(algorithm,))
    good = jwt.encode({"sub": "7", "exp": int(time.time()) + 60}, SECRET, algorithm=algorithm)
    assert verifier.verify(good).user_id == "7"
    forged = jwt.encode(
        {"sub": "7", "exp": int(time.time()) + 60}, SECRET + "x", algorithm=algorithm
    )
    with pytest.raises(AuthError):
        verifier.verify(forged)


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
def test_pyjwt_decides_every_token(monkeypatch, algorithm):
    """No hand-written verifier in front of PyJWT (issue 26): even an ordinary HMAC token of
    the plainest shape is decoded by PyJWT itself."""
    decoded: list[str] = []
    original = jwt.PyJWT.decode_complete

    def counting(self, token, *args, **kwargs):  # type: ignore[no-untyped-def]
        decoded.append(token)
        return original(self, token, *args, **kwargs)

    monkeypatch.setattr(jwt.PyJWT, "decode_complete", counting)
    verifier = TokenVerifier(key=SECRET.encode(), algorithms=(algorithm,))
    good = jwt.encode({"sub": "7", "exp": int(time.time()) + 60}, SECRET, algorithm=algorithm)
    assert verifier.verify(good).user_id == "7"
    assert decoded == [good]


# -- the cache of verified tokens ----------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def counting(verifier: TokenVerifier) -> tuple[TokenVerifier, list[str]]:
    calls: list[str] = []

    class Counting(TokenVerifier):
        def verify_token(self, token):  # type: ignore[no-untyped-def]
            calls.append(token)
            return super().verify_token(token)

    return Counting(key=verifier.key, algorithms=verifier.algorithms, leeway_seconds=30), calls


def test_cache_verifies_a_token_once(verifier):
    from api.tokencache import CachedVerifier

    inner, calls = counting(verifier)
    cached = CachedVerifier(inner, size=10)
    good = token(zoneinfo="Europe/Berlin")
    for _ in range(3):
        assert cached.verify_header(f"Bearer {good}").zoneinfo == "Europe/Berlin"
    assert len(calls) == 1


def test_cache_never_answers_at_or_past_exp(verifier):
    """Even inside the verifier's leeway, a cached principal is not used after `exp`."""
    from api.tokencache import CachedVerifier

    clock = Clock()
    inner, calls = counting(verifier)
    cached = CachedVerifier(inner, size=10, clock=clock)
    exp = int(clock.now) + 5
    good = token(exp=exp)
    cached.verify(good)
    clock.now = exp  # at exp: verified again (the verifier's leeway may still accept it)
    cached.verify(good)
    assert len(calls) == 2
    clock.now = exp + 1
    cached.verify(good)
    assert len(calls) == 3  # past exp, accepted by leeway, and not cached again


def test_cache_stores_no_failure(verifier):
    """A token that fails is verified (and fails) every time: no bypass through the cache."""
    from api.tokencache import CachedVerifier

    inner, calls = counting(verifier)
    cached = CachedVerifier(inner, size=10)
    forged = jwt.encode({"sub": "7", "exp": int(time.time()) + 60}, "x" * 40, algorithm="HS256")
    for _ in range(3):
        with pytest.raises(AuthError):
            cached.verify(forged)
    assert len(calls) == 3 and len(cached) == 0


def test_cache_is_bounded_and_evicts_the_least_recently_used(verifier):
    from api.tokencache import CachedVerifier

    inner, calls = counting(verifier)
    cached = CachedVerifier(inner, size=2)
    a, b, c = (token(sub=s) for s in "abc")
    cached.verify(a)
    cached.verify(b)
    cached.verify(a)  # a is now the most recent
    cached.verify(c)  # evicts b
    assert len(cached) == 2
    calls.clear()
    cached.verify(a)
    cached.verify(b)
    assert calls == [b]


def test_cache_keys_on_the_exact_token(verifier):
    """A token differing by one character is verified on its own, and fails if tampered."""
    from api.tokencache import CachedVerifier

    cached = CachedVerifier(verifier, size=10)
    good = token()
    cached.verify(good)
    header, payload, signature = good.split(".")
    flipped = "A" if signature[-2] != "A" else "B"
    tampered = f"{header}.{payload}.{signature[:-2]}{flipped}{signature[-1]}"
    with pytest.raises(AuthError):
        cached.verify(tampered)


def test_cached_tokens_add_nothing_to_the_garbage_collectors_work(verifier):
    """Each cached token is a plain tuple (user, zoneinfo, exp) of atomic values, which the
    collector stops tracking: a cache of 10,000 tokens must not lengthen every full
    collection (see api/tokencache.py)."""
    import gc

    from api.tokencache import CachedVerifier

    cached = CachedVerifier(verifier, size=100)
    tokens = [token(sub=f"u{n}", zoneinfo="Asia/Tokyo" if n % 2 else None) for n in range(50)]
    for t in tokens:
        cached.verify(t)
    gc.collect()
    assert not any(gc.is_tracked(entry) for entry in cached._entries.values())
    assert cached.verify(tokens[1]) == Principal("u1", "Asia/Tokyo")


# -- what a rejection says: a fixed sentence, never the request's own text -----------------------


def _fixed_messages() -> set[str]:
    import api.auth

    return {v for k, v in vars(api.auth).items() if k.isupper() and isinstance(v, str)}


HOSTILE_HEADERS = [
    b'{"alg":"HS256","crit":["\\ud800"]}',  # PyJWT: "Unsupported critical extension: \ud800"
    b'{"alg":"HS256","crit":["x\\u0000y"]}',
    b'{"alg":"\\ud800"}',  # PyJWT: "The specified alg value is not allowed"
    b'{"alg":"HS256","kid":"\\ud800"}',
    b'{"alg":"HS256","typ":"\\ud800"}',
    b'{"alg":"HS256","b64":false,"crit":["b64"]}',
]


@pytest.mark.parametrize("header", HOSTILE_HEADERS)
def test_a_rejection_says_a_fixed_sentence(verifier, header):
    """A token nobody signed with a hostile header: the AuthError's message is one of
    api/auth.py's fixed sentences, never PyJWT's (which quotes the header)."""
    with pytest.raises(AuthError) as caught:
        verifier.verify(_signed(header, b'{"sub":"7","exp":99999999999}', key="nobody " * 6))
    assert str(caught.value) in _fixed_messages()
    str(caught.value).encode("utf-8")  # and JSON-encodable text


# -- each rejection's own sentence (the 401's body), and the edges of coach's own checks ------


@pytest.mark.parametrize(
    "header,message",
    [
        (None, "missing Authorization header"),
        ("", "missing Authorization header"),
        ("Basic dXNlcjpwYXNz", "Authorization must be 'Bearer <token>'"),
        ("Bearer ", "Authorization must be 'Bearer <token>'"),
    ],
)
def test_a_bad_authorization_header_says_which_fault(verifier, header, message):
    with pytest.raises(AuthError) as caught:
        verifier.verify_header(header)
    assert str(caught.value) == message


def test_the_scheme_is_the_first_word_and_the_token_the_rest_stripped(verifier):
    """`Bearer  <token>` (two spaces) is the token: the scheme ends at the first space."""
    assert verifier.verify_header(f"Bearer  {token()} ").user_id == "7"


@pytest.mark.parametrize(
    "claims,message",
    [
        ({"sub": ""}, "invalid token: 'sub' must be a non-empty string"),
        ({"sub": "  "}, "invalid token: 'sub' must be a non-empty string"),
        ({"sub": "a" * 257}, "invalid token: 'sub' must be a non-empty string"),
        ({"sub": "a\x00b"}, "invalid token: bad claims"),
        ({"zoneinfo": 5}, "invalid token: bad claims"),
        ({"zoneinfo": "UTC\n"}, "invalid token: bad claims"),
        ({"exp": None}, "invalid token: a required claim is missing"),
        ({"sub": None}, "invalid token: a required claim is missing"),
        ({"exp": 1e400}, "invalid token: malformed"),  # inf: PyJWT's int() overflows
    ],
)
def test_a_bad_claim_says_which_fault(verifier, claims, message):
    with pytest.raises(AuthError) as caught:
        if claims.get("exp") == 1e400:
            verifier.verify(_signed(HS256, b'{"sub":"7","exp":1e400}', key=SECRET))
        else:
            verifier.verify(token(**claims))
    assert str(caught.value) == message


@pytest.mark.parametrize("where", ["end", "start"])
def test_a_token_that_is_not_utf_8_text_is_malformed(verifier, where):
    """A lone surrogate in the token (PyJWT's encode to UTF-8 raises, unwrapped): rejected
    as malformed, with the fixed sentence, never a 500."""
    good = token()
    bad = good + "\ud800" if where == "end" else "\ud800" + good
    with pytest.raises(AuthError) as caught:
        verifier.verify(bad)
    assert str(caught.value) == "invalid token: malformed"


def test_a_sub_of_256_characters_is_accepted(verifier):
    assert verifier.verify(token(sub="a" * 256)).user_id == "a" * 256


@pytest.mark.parametrize("exp", [True, "soon", float("nan"), None])
def test_coach_s_own_check_refuses_an_exp_that_is_not_a_number(exp):
    """PyJWT reads `exp` itself first (a bool passes it as 1); coach's check refuses it."""
    with pytest.raises(AuthError) as caught:
        TokenVerifier._checked({"sub": "7", "exp": exp})
    assert str(caught.value) == "invalid token: 'exp' must be a number"


def test_a_far_exp_is_held_as_2_to_the_62(verifier):
    assert verifier.verify_token(token(exp=2**63)).expires_at == float(2**62)
    assert verifier.verify_token(token(exp=2**62 - 1)).expires_at == float(2**62 - 1)


def test_a_verifier_needs_a_secret_or_a_public_key_file():
    with pytest.raises(ValueError) as caught:
        TokenVerifier.from_secret_or_file(secret=None, public_key_file=None, algorithms=("HS256",))
    assert str(caught.value) == "a secret or a public key file is needed"


def _public_pem(private) -> bytes:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import serialization

    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_an_ed25519_key_verifies_eddsa_tokens(tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(_public_pem(private))
    verifier = TokenVerifier.from_secret_or_file(
        secret=None, public_key_file=key_file, algorithms=("EdDSA",)
    )
    signed = jwt.encode({"sub": "7", "exp": int(time.time()) + 60}, private, algorithm="EdDSA")
    assert verifier.verify(signed).user_id == "7"


def test_an_unusable_public_key_is_refused_naming_why(rsa_pair):
    """The start-up error says what is wrong with the configured key."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from api.auth import BadKey, load_public_key

    with pytest.raises(BadKey) as caught:
        load_public_key(_public_pem(X25519PrivateKey.generate()), ("EdDSA",))
    assert str(caught.value) == "unsupported key type X25519PublicKey (RSA, EC or Ed25519 keys)"
    with pytest.raises(BadKey) as caught:
        load_public_key(rsa_pair[1], ("ES256", "ES384"))
    assert str(caught.value) == "an RS-family key cannot verify ES256, ES384"
    with pytest.raises(BadKey) as caught:
        load_public_key(b"not a key", ("RS256",))
    assert str(caught.value).startswith("not a PEM public key (")
