"""A signing key rotation while clients keep asking for WODs through nginx.

Real parts: the stand-in monolith's issuer (deploy/monolith/issuer.py) over HTTP, a real
`coach api` process (two uvicorn workers, each refreshing its own key set) configured with
COACH_JWT_JWKS_URL, over a real projection file, behind the real nginx template. The
rotation follows docs/RUNBOOK.md ("Rotating the signing key"): publish the new key, wait
for the key set's cache lifetime, sign with it, and the old key leaves the set once its
tokens have expired.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from config.settings import Settings
from tests.e2e.helpers import Service, free_port, wait_for
from tests.factories import upserted
from tests.integration.conftest import project  # noqa: F401 (a fixture)
from tests.issuer_server import IssuerServer
from tests.routing.conftest import Backend, call
from tests.routing.test_fallback import ALL_COACH

MAX_AGE = 1
"""The issuer's Cache-Control max-age and COACH_JWT_JWKS_MAX_AGE_SECONDS: seconds."""
TOKEN_TTL = 3


@pytest.fixture
def issuer() -> Iterator[IssuerServer]:
    server = IssuerServer(algorithm="ES256", max_age=MAX_AGE, token_ttl=TOKEN_TTL)
    yield server
    server.stop()


@pytest.fixture
def coach_api(settings: Settings, project, issuer: IssuerServer, tmp_path: Path):  # type: ignore[no-untyped-def]  # noqa: F811
    project([upserted(i) for i in range(1, 11)])
    port = free_port()
    api_settings = Settings(
        db_path=settings.db_path,
        jwt_jwks_url=f"{issuer.url}/.well-known/jwks.json",
        jwt_issuer=issuer.url,
        jwt_algorithms=["ES256"],
        jwt_jwks_min_refresh_seconds=0.5,
        jwt_jwks_max_age_seconds=MAX_AGE,
    )
    service = Service(
        api_settings, tmp_path / "api.log", "api", "--port", str(port), "--workers", "2"
    )
    wait_for("coach api", lambda: call(port, "/health").status == 200, service=service)
    yield port
    service.stop()


class Clients:
    """Threads that keep asking for WODs through nginx, each with a token of the issuer's
    token endpoint, renewed before it expires (as an app renews its access token)."""

    def __init__(self, port: int, issuer: IssuerServer, count: int = 4) -> None:
        self.port, self.issuer = port, issuer
        self.answers: Counter[tuple[int, str]] = Counter()
        self.kids: Counter[str] = Counter()
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(str(i),), daemon=True) for i in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def _run(self, user: str) -> None:
        token, expires = "", 0.0
        while not self._stop.is_set():
            if expires - time.time() < 1.5:
                token = self.issuer.token(user)
                expires = jwt.decode(token, options={"verify_signature": False})["exp"]
            kid = jwt.get_unverified_header(token)["kid"]
            answer = call(self.port, token=token)
            served = "coach" if b'"exercises"' in answer.body else "other"
            with self._lock:
                self.answers[(answer.status, served)] += 1
                self.kids[kid] += 1
                if (answer.status, served) != (200, "coach"):
                    self.failures.append(f"{answer.status} {served} {kid}: {answer.body[:200]!r}")

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)


def test_a_key_rotation_under_load_refuses_no_valid_token(
    start_nginx, coach_api: int, legacy: Backend, issuer: IssuerServer
):
    """No request with a valid token fails at any moment of the rotation, none falls back to
    the monolith; a token of the old key (kept past its key's removal) is refused once the
    key has left the set, by both workers, although coach had accepted and cached it."""
    nginx = start_nginx(coach=f"127.0.0.1:{coach_api}", legacy=legacy.address, percent=ALL_COACH)
    old = issuer.issuer.active
    old_key = issuer.issuer._keys[old].private_key
    kept = jwt.encode(  # signed with the old key outside the issuer: its removal ignores it
        {"sub": "kept", "iss": issuer.url, "exp": int(time.time()) + 3600},
        old_key,
        "ES256",
        headers={"kid": old},
    )
    assert call(nginx.port, token=kept).status == 200
    clients = Clients(nginx.port, issuer)
    try:
        time.sleep(1.0)
        published = time.monotonic()
        new = issuer.post("/admin/keys/publish")["kid"]  # 1. publish
        # 2. wait until both api processes (uvicorn workers) have fetched the set since
        wait_for("both workers' fetch", lambda: len(issuer.fetchers_since(published)) == 2, 30)
        issuer.post(f"/admin/keys/{new}/activate")  # 3. sign with the new key
        # 4. the old key leaves the set once the last token it signed has expired
        wait_for("the old key's removal", lambda: old not in issuer.published_kids(), 30)
        assert issuer.published_kids() == [new]
        refused = wait_for(
            "the kept token's refusal", lambda: call(nginx.port, token=kept).status == 401, 30
        )
        assert refused
        time.sleep(1.0)
    finally:
        clients.stop()
    answers = [call(nginx.port, token=kept) for _ in range(10)]  # both workers
    assert {(a.status, b"unknown signing key" in a.body) for a in answers} == {(401, True)}
    assert clients.failures == []
    assert set(clients.answers) == {(200, "coach")}
    assert clients.kids[old] > 0 and clients.kids[new] > 0, clients.kids
    assert legacy.count() == 0
