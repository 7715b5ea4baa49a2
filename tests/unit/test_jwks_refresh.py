"""Keeping the key set fresh off the request path, and verifying tokens with it.

The fetch is a function of the test (an issuer's JWKS as bytes): the logic under test is
the refresher's schedule, its rate limit and the verifier's lookups, not HTTP (that is
tests/integration/test_api_jwks.py's)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from api import auth
from api.auth import UNKNOWN_KEY, AuthError
from api.jwks import JwksError
from api.jwksfetch import Fetched
from api.jwksrefresh import JwksKeys
from api.jwksverify import JwksVerifier
from api.tokencache import CachedVerifier
from deploy.monolith.issuer import Issuer


class FakeIssuer:
    """An Issuer whose JWKS the refresher fetches by calling `fetch`; it counts fetches and
    can fail or block."""

    def __init__(self, cache_control: str | None = "max-age=3600") -> None:
        self.issuer = Issuer("http://issuer.test", algorithm="ES256")
        self.cache_control = cache_control
        self.fetched = 0
        self.failing = False
        self.gate: threading.Event | None = None

    def fetch(self) -> Fetched:
        self.fetched += 1
        if self.gate is not None:
            self.gate.wait(10)
        if self.failing:
            raise JwksError("GET http://issuer.test/jwks failed: connection refused")
        return Fetched(json.dumps(self.issuer.jwks()).encode(), self.cache_control)


def keys_of(issuer: FakeIssuer, min_refresh: float = 0.3, **kwargs) -> JwksKeys:  # type: ignore[no-untyped-def]
    keys = JwksKeys(
        fetch=issuer.fetch,
        algorithms=("ES256",),
        min_refresh_seconds=min_refresh,
        max_age_seconds=3600,
        **kwargs,
    )
    keys.load()
    return keys


def verifier_of(keys: JwksKeys) -> JwksVerifier:
    return JwksVerifier(key=None, algorithms=("ES256",), issuer="http://issuer.test", keys=keys)


def wait_for(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_a_token_of_a_published_key_is_verified():
    issuer = FakeIssuer()
    verifier = verifier_of(keys_of(issuer))
    assert verifier.verify(issuer.issuer.sign("7")).user_id == "7"


def test_an_unknown_kid_is_refused_at_once_and_asks_for_one_fetch():
    """The request does not wait for the issuer (its fetch is blocked here): 401 at once, and
    the refresher fetches in the background; once the key is there, the token passes."""
    issuer = FakeIssuer()
    keys = keys_of(issuer, min_refresh=0.1)
    verifier = verifier_of(keys)
    new = issuer.issuer.publish()
    issuer.issuer.activate(new)
    token = issuer.issuer.sign("7")
    issuer.gate = threading.Event()  # every fetch now hangs until the gate opens
    keys.start()
    try:
        with pytest.raises(AuthError) as refused:
            verifier.verify(token)
        assert str(refused.value) == UNKNOWN_KEY
        wait_for(lambda: issuer.fetched == 2)  # the refresh started, and hangs
        with pytest.raises(AuthError):
            verifier.verify(token)  # still answered at once, while the fetch hangs
        issuer.gate.set()
        wait_for(lambda: new in keys.current.keys)
        assert verifier.verify(token).user_id == "7"
    finally:
        issuer.gate.set()
        keys.stop()


def test_unknown_kids_cost_at_most_one_fetch_per_min_refresh():
    """Thousands of tokens of unknown kids in 1.2 s with a 0.5 s rate limit: the start-up
    fetch and at most 3 more, whatever the request rate."""
    issuer = FakeIssuer()
    keys = keys_of(issuer, min_refresh=0.5)
    verifier = verifier_of(keys)
    stranger = Issuer("http://issuer.test", algorithm="ES256")
    tokens = [stranger.sign(str(i)) for i in range(50)]
    keys.start()
    try:
        started = time.monotonic()
        while time.monotonic() - started < 1.2:
            for token in tokens:
                with pytest.raises(AuthError):
                    verifier.verify(token)
        elapsed = time.monotonic() - started
    finally:
        keys.stop()
    assert 2 <= issuer.fetched <= 1 + int(elapsed / 0.5) + 1


def test_while_the_issuer_is_down_the_keys_held_still_verify():
    issuer = FakeIssuer(cache_control="no-cache")
    keys = keys_of(issuer, min_refresh=0.1)
    verifier = verifier_of(keys)
    issuer.failing = True
    keys.start()
    try:
        wait_for(lambda: issuer.fetched >= 3)
        assert keys.last_error is not None and "connection refused" in keys.last_error
        assert verifier.verify(issuer.issuer.sign("7")).user_id == "7"
        issuer.failing = False
        wait_for(lambda: keys.last_error is None)
    finally:
        keys.stop()


def test_start_up_fails_without_the_set_or_a_cached_copy(tmp_path: Path):
    """No set and no copy: JwksError. With a copy written by an earlier fetch: its keys."""
    issuer = FakeIssuer()
    issuer.failing = True
    with pytest.raises(JwksError, match="connection refused"):
        keys_of(issuer, cache_file=tmp_path / "jwks.json")
    issuer.failing = False
    keys_of(issuer, cache_file=tmp_path / "jwks.json")  # writes the copy
    issuer.failing = True
    keys = keys_of(issuer, cache_file=tmp_path / "jwks.json")
    assert verifier_of(keys).verify(issuer.issuer.sign("7")).user_id == "7"
    assert keys.last_error is not None


def test_a_cached_token_of_a_removed_key_is_refused_after_the_refresh():
    """The token cache holds verified tokens until their `exp`: when their key leaves the
    set, they are verified again, and refused."""
    issuer = FakeIssuer()
    keys = keys_of(issuer)
    cached = CachedVerifier(verifier_of(keys), 100)
    old = issuer.issuer.active
    token = issuer.issuer.sign("7", ttl=3600)
    assert cached.verify(token).user_id == "7"
    issuer.issuer.activate(issuer.issuer.publish())
    issuer.issuer.retire(old)
    keys.refresh_now()
    with pytest.raises(AuthError) as refused:
        cached.verify(token)
    assert str(refused.value) == UNKNOWN_KEY
    assert cached.verify(issuer.issuer.sign("8")).user_id == "8"


def test_a_new_key_keeps_the_cached_tokens():
    """Publishing a key (step 1 of a rotation) removes none: held tokens stay held."""
    issuer = FakeIssuer()
    keys = keys_of(issuer)
    cached = CachedVerifier(verifier_of(keys), 100)
    cached.verify(issuer.issuer.sign("7"))
    issuer.issuer.publish()
    keys.refresh_now()
    assert len(cached) == 1


def test_hostile_tokens_are_each_a_401_with_a_key_set():
    """The hostile corpus's tokens (tests/hostile_corpus.py), as they are and naming the
    set's real `kid`: every one an AuthError with a fixed sentence, never another error."""
    from tests.hostile_corpus import HOSTILE_VALUES, NOBODY, _with, signed, token_probes

    issuer = FakeIssuer()
    verifier = verifier_of(keys_of(issuer))
    kid = issuer.issuer.active.encode()
    tokens = [dict(p.headers)[b"authorization"][7:] for p in token_probes(NOBODY)]
    es256 = b'{"alg":"ES256","kid":"' + kid + b'"}'
    claims = b'{"sub":"7","exp":99999999999}'
    for value in HOSTILE_VALUES.values():
        tokens.append(signed(es256, _with(claims, b"sub", value), NOBODY))
        tokens.append(signed(_with(es256, b"alg", value), claims, NOBODY))
        tokens.append(signed(_with(es256, b"crit", value), claims, NOBODY))
    sentences = {v for k, v in vars(auth).items() if k.isupper() and isinstance(v, str)}
    for token in tokens:
        with pytest.raises(AuthError) as refused:
            verifier.verify(token.decode("latin-1"))
        assert str(refused.value) in sentences, token
