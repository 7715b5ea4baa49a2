"""The stand-in monolith's legacy GET /fitness/wod from its own tables on a real PostgreSQL
(deploy/monolith/wod.py): never yesterday's exercises (coach's definition of yesterday, at the
edges of the user's day in several zones), only the current catalog, the latest performance
as the suggestion, and its token verification (deploy/monolith/tokens.py): 401 JSON for every
bad or hostile token, never a 5xx."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization

from deploy.monolith.issuer import Issuer
from deploy.monolith.wod import done_between
from tests.cdc.monolith_server import database, served, workout
from tests.conftest import SECRET
from tests.hostile_corpus import NOBODY, probes
from tests.raw_http import Probe, send
from wod.day import from_us, yesterday
from wod.history import CompletedRow, History, WindowWorkout
from wod.instants import to_us

pytestmark = [pytest.mark.cdc]

ZONES = ["UTC", "Pacific/Auckland", "America/Los_Angeles", "Asia/Kolkata", "America/Santiago"]
ONE_US = timedelta(microseconds=1)


@pytest.fixture(autouse=True)
def no_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGACY_DELAY_MIN", "0")
    monkeypatch.setenv("LEGACY_DELAY_MAX", "0")
    monkeypatch.setenv("MONOLITH_JWT_SECRET", SECRET)


def test_the_wod_never_holds_yesterdays_exercises_at_the_edges_of_the_users_day(postgres):
    """For users in five zones, asked one second after their local midnight and one second
    before the next: exercises done at yesterday's first and last microsecond are excluded,
    those a microsecond before it and at today's midnight are not; the monolith's query
    agrees with coach's rule (wod.history) on the same workouts."""
    clock = [datetime.now(UTC)]
    with database(postgres) as url, served(url, now=lambda: clock[0]) as mono:
        for i in range(1, 9):
            mono.put_exercise(i)
        cases = []
        for zone_name in ZONES:
            zone = ZoneInfo(zone_name)
            today = datetime.now(zone).date()
            midnight = datetime.combine(today, datetime.min.time(), zone)
            for label, now in (("early", midnight + timedelta(seconds=1)),
                               ("late", midnight + timedelta(days=1, seconds=-1))):  # fmt: skip
                day = yesterday(now, zone)
                start, end = from_us(day.start_us), from_us(day.end_us)
                user = f"{zone_name}-{label}"
                edges = {1: start - ONE_US, 2: start, 3: end - ONE_US, 4: end}
                for exercise_id, at in edges.items():
                    mono.log(workout(user, at, exercise_id))
                mono.log(workout("someone else", start + timedelta(hours=1), 5))
                cases.append((user, zone_name, now, edges))
        with mono.app.config["engine"].connect() as conn:
            from sqlalchemy.orm import Session

            session = Session(bind=conn)
            for user, zone_name, now, edges in cases:
                clock[0] = now
                status, body = mono.wod(mono.token(user, zone_name))
                assert status == 200, body
                ids = sorted(e["id"] for e in body["exercises"])
                assert ids == [1, 4, 5, 6, 7, 8], (user, now, ids)
                history = History(
                    [WindowWorkout(to_us(at), str(i), [CompletedRow(i, 3, 5, 50.0)])
                     for i, at in edges.items()]
                )  # fmt: skip
                day = yesterday(now, ZoneInfo(zone_name))
                coach_rule = history.done_between(day.start_us, day.end_us)
                assert done_between(session, user, day) == coach_rule == {2, 3}


def test_the_wod_covers_only_the_current_catalog_after_an_edit_and_a_delete(postgres):
    """A renamed exercise comes with its new name, a deleted one never; fewer exercises when
    fewer remain; the suggestion is the user's latest performance, else the defaults; an
    erased user has no history."""
    with database(postgres) as url, served(url) as mono:
        for i in range(1, 10):
            mono.put_exercise(i)
        mono.put_exercise(4, "Renamed Row")
        assert mono.client.delete("/exercises/2").status_code == 204
        assert mono.client.delete("/exercises/7").status_code == 204
        token = mono.token("7")
        names = {i: f"Exercise {i}" for i in (1, 3, 5, 6, 8, 9)} | {4: "Renamed Row"}
        for _ in range(20):
            status, body = mono.wod(token)
            assert status == 200, body
            got = {e["id"]: e["name"] for e in body["exercises"]}
            assert len(got) == 6 and got.items() <= names.items(), got

        assert mono.client.delete("/exercises/9").status_code == 204
        now = datetime.now(UTC)
        mono.log(workout("7", now - timedelta(days=1), 1, 3))  # yesterday in UTC, always
        mono.log(workout("7", now - timedelta(minutes=1), 5, weight=77.5))  # ...and today
        status, body = mono.wod(token)
        assert sorted(e["id"] for e in body["exercises"]) == [4, 5, 6, 8], body
        suggested = {e["id"]: e["suggested_weight"] for e in body["exercises"]}
        assert suggested == {4: 14.0, 5: 77.5, 6: 16.0, 8: 18.0}

        assert mono.client.post("/users/7/erase").status_code == 200
        status, body = mono.wod(token)
        assert sorted(e["id"] for e in body["exercises"]) == [1, 3, 4, 5, 6, 8]
        assert {e["suggested_weight"] for e in body["exercises"] if e["id"] == 5} == {15.0}


def test_bad_and_hostile_tokens_get_a_401_json_never_a_5xx(postgres):
    """Over real HTTP: the issuer's token and one signed with coach's secret are served;
    expired, foreign-key, algorithm-confused, unsigned and missing tokens are 401 JSON; the
    hostile corpus (tests/hostile_corpus.py) gets no 5xx and JSON bodies, and each of its
    tokens signed by nobody a 401."""
    with database(postgres) as url, served(url) as mono:
        mono.put_exercise(1)

        def status_of(token: str | bytes) -> int:
            raw = token.encode() if isinstance(token, str) else token
            probe = Probe("t", headers=((b"authorization", b"Bearer " + raw),))
            reply = send(mono.port, probe)
            assert reply.headers.get(b"content-type") == b"application/json", reply
            assert isinstance(orjson.loads(reply.body)["detail" if reply.status != 200
                              else "exercises"], str | list)  # fmt: skip
            return reply.status

        now = int(time.time())
        issuer = mono.issuer
        assert status_of(mono.token("7")) == 200
        assert status_of(jwt.encode({"sub": "7", "exp": now + 60}, SECRET)) == 200
        stranger = Issuer(issuer.url, algorithm=issuer.algorithm)
        pem = issuer.public_key(issuer.active).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        refused = {
            "expired": issuer.sign("7", ttl=-120),
            "no exp": jwt.encode({"sub": "7"}, SECRET),
            "empty sub": issuer.sign(""),
            "another issuer's key": stranger.sign("7"),
            "another issuer's key, our kid": jwt.encode(
                {"sub": "7", "iss": issuer.url, "exp": now + 60},
                stranger._keys[stranger.active].private_key,
                algorithm=issuer.algorithm,
                headers={"kid": issuer.active},
            ),
            "wrong iss": issuer.sign("7", iss="http://elsewhere"),
            "HS256 with the public key": jwt.encode(
                {"sub": "7", "exp": now + 60}, NOBODY, headers={"kid": issuer.active}
            ),
            "HS256 signed by nobody": jwt.encode({"sub": "7", "exp": now + 60}, NOBODY),
            "alg none": jwt.encode({"sub": "7", "exp": now + 60}, None, algorithm="none"),
            "RS256 of the public key": pem.decode(),
        }
        got = {name: status_of(token) for name, token in refused.items()}
        assert got == dict.fromkeys(refused, 401)
        assert send(mono.port, Probe("no header")).status == 401

        problems = []
        for probe in probes(SECRET.encode()):
            reply = send(mono.port, probe)
            where = f"{probe.name}: {reply.status}"
            if reply.status >= 500 or reply.status == 0:
                problems.append(where)
            elif reply.status >= 400 and b"application/json" not in reply.headers.get(
                b"content-type", b""
            ):
                problems.append(f"{where} not JSON")
            elif probe.name.startswith("unsigned") and reply.status != 401:
                problems.append(where)
        assert not problems, problems
