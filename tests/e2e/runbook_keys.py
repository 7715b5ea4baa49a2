"""Scenarios of docs/RUNBOOK.md's key rotation blocks (tests/e2e/test_runbook.py runs them):
the stand-in monolith's issuer (deploy/monolith/issuer.py) over real HTTP, and a real `coach
api` process verifying tokens with its key set (COACH_JWT_JWKS_URL) over a real projection.
Each scenario does the steps before its block as the RUNBOOK says, then runs the block."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest

from config.settings import Settings
from consumer.commit import commit_records
from consumer.handlers import Context
from consumer.records import Record
from store.db import connect
from store.instants import now_us
from tests.e2e.helpers import Service, free_port, wait_for
from tests.e2e.runbook_parts import Block, scenario
from tests.factories import key_of, upserted, value_of
from tests.issuer_server import IssuerServer
from tests.routing.conftest import call

MAX_AGE = 1
"""The issuer's Cache-Control max-age and COACH_JWT_JWKS_MAX_AGE_SECONDS: seconds."""


@dataclass
class Rotation:
    issuer: IssuerServer
    settings: Settings
    port: int
    old: str
    """The kid the issuer signs with at first."""

    @property
    def variables(self) -> dict[str, str]:
        return {"MONOLITH": self.issuer.url, "COACH_URL": f"http://127.0.0.1:{self.port}"}

    def coach_keys(self) -> float | None:
        """coach_jwks_keys on coach's /metrics."""
        text = call(self.port, "/metrics").body.decode()
        found = re.search(r"^coach_jwks_keys (\S+)$", text, re.MULTILINE)
        return float(found.group(1)) if found else None

    def publish(self) -> str:
        """Step 1, and step 2's wait: the new key in the set, and in coach's."""
        kid = str(self.issuer.post("/admin/keys/publish")["kid"])
        wait_for("coach's fetch of the new key", lambda: self.coach_keys() == 2.0, 30)
        return kid

    def wod(self, token: str) -> tuple[int, bytes]:
        answer = call(self.port, token=token)
        return answer.status, answer.body


@contextlib.contextmanager
def _rotation(request: pytest.FixtureRequest) -> Iterator[Rotation]:
    """A catalog in a projection file, the issuer (ES256) and `coach api` on its key set."""
    settings: Settings = request.getfixturevalue("settings")
    tmp_path: Path = request.getfixturevalue("tmp_path")
    conn = connect(settings.db_path)
    records = [
        Record("ex", 0, n, key_of(e), value_of(e))
        for n, e in enumerate(upserted(i) for i in range(1, 11))
    ]
    commit_records(conn, records, roles={"ex": "exercises"}, ctx=Context(now_us=now_us()))
    conn.close()
    issuer = IssuerServer(algorithm="ES256", max_age=MAX_AGE)
    api = None
    try:
        api_settings = Settings(
            db_path=settings.db_path,
            jwt_jwks_url=f"{issuer.url}/.well-known/jwks.json",
            jwt_issuer=issuer.url,
            jwt_algorithms=["ES256"],
            jwt_jwks_min_refresh_seconds=0.5,
            jwt_jwks_max_age_seconds=MAX_AGE,
        )
        port = free_port()
        api = Service(api_settings, tmp_path / "api.log", "api", "--port", str(port))
        wait_for("coach api", lambda: call(port, "/health").status == 200, service=api)
        yield Rotation(issuer, api_settings, port, str(issuer.issuer.active))
    finally:
        if api is not None:
            api.stop()
        issuer.stop()


def _kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


@scenario("key-publish")
def key_publish_procedure(request: pytest.FixtureRequest, block: Block) -> None:
    """The block prints the new kid; the issuer still signs with the old key; coach's set
    holds both within its lifetime, and the old key's tokens are still answered."""
    with _rotation(request) as rotation:
        result = block.run(rotation.settings, **rotation.variables)
        assert result.returncode == 0, result.stderr
        shown = json.loads(result.stdout)
        token = rotation.issuer.token("7")
        wait_for("coach's fetch", lambda: rotation.coach_keys() == 2.0, 30)
        status, _body = rotation.wod(token)
    assert shown["kid"] != rotation.old
    assert sorted(shown["keys"]) == sorted([rotation.old, shown["kid"]])
    assert _kid(token) == rotation.old and status == 200


@scenario("key-check")
def key_check_procedure(request: pytest.FixtureRequest, block: Block) -> None:
    """Before the publication the check shows one key; after it and the wait, two, a set
    younger than its lifetime, and no failing refresh."""
    with _rotation(request) as rotation:
        before = block.run(rotation.settings, **rotation.variables)
        rotation.publish()
        after = block.run(rotation.settings, **rotation.variables)
    assert before.returncode == 0 and after.returncode == 0, before.stderr + after.stderr
    assert "coach_jwks_keys 1.0" in before.stdout, before.stdout
    figures = dict(line.split() for line in after.stdout.splitlines())
    assert figures["coach_jwks_keys"] == "2.0" and figures["coach_jwks_refresh_failing"] == "0.0"
    assert float(figures["coach_jwks_age_seconds"]) <= MAX_AGE + 1, figures


@scenario("key-activate")
def key_activate_procedure(request: pytest.FixtureRequest, block: Block) -> None:
    """With the new key published and in coach's set: after the block the issuer's tokens
    carry the new kid and coach answers them at once, as it still answers the old key's."""
    with _rotation(request) as rotation:
        old_token = rotation.issuer.token("7")
        kid = rotation.publish()
        result = block.run(rotation.settings, KID=kid, **rotation.variables)
        assert result.returncode == 0, result.stderr
        new_token = rotation.issuer.token("8")
        new, old = rotation.wod(new_token), rotation.wod(old_token)
    assert json.loads(result.stdout)["active"] == kid
    assert _kid(new_token) == kid and new[0] == 200 and b'"exercises"' in new[1]
    assert old[0] == 200


@scenario("key-retire")
def key_retire_procedure(request: pytest.FixtureRequest, block: Block) -> None:
    """With the new key signing and a token of the old key valid for an hour (so the issuer
    would keep the key that long): after the block the old key is out of the set, and coach
    refuses that token (answered before) from its next fetch; the new key's are answered."""
    with _rotation(request) as rotation:
        kept = rotation.issuer.token("kept", ttl=3600)  # so the issuer keeps the old key an hour
        assert rotation.wod(kept)[0] == 200
        kid = rotation.publish()
        rotation.issuer.post(f"/admin/keys/{kid}/activate")
        result = block.run(rotation.settings, OLD_KID=rotation.old, **rotation.variables)
        assert result.returncode == 0, result.stderr
        wait_for("the old key refused", lambda: rotation.wod(kept)[0] == 401, 30)
        refused = rotation.wod(kept)
        new = rotation.wod(rotation.issuer.token("8"))
    assert json.loads(result.stdout)["keys"] == [kid]
    assert b"unknown signing key" in refused[1]
    assert new[0] == 200
