"""GET /fitness/wod over a real projection file built on the spot."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from config.settings import Settings
from tests.conftest import SECRET
from tests.factories import completed, upserted
from wod.instants import to_us


def bearer(sub: str = "7", **claims) -> dict[str, str]:  # type: ignore[no-untyped-def]
    body = {"sub": sub, "exp": int(time.time()) + 300, **claims}
    return {"Authorization": "Bearer " + jwt.encode(body, SECRET, algorithm="HS256")}


@pytest.fixture
def client(settings: Settings):
    # The status and catalog version are read on every request, so changes show at once.
    with TestClient(create_app(settings.model_copy(update={"status_cache_seconds": 0}))) as c:
        yield c


def yesterday_utc() -> datetime:
    return datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)


def test_wod_has_the_documented_shape(project, settings, client):
    project([upserted(i, weight=20.0 + i, reps=8) for i in range(1, 11)])
    response = client.get("/fitness/wod", headers=bearer())
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"exercises", "generated_at"}
    assert body["generated_at"].endswith("Z")
    assert len(body["exercises"]) == 6
    first = body["exercises"][0]
    assert set(first) == {
        "id",
        "name",
        "description",
        "difficulty",
        "muscle_groups",
        "suggested_weight",
        "suggested_reps",
    }
    assert set(first["muscle_groups"][0]) == {"id", "name", "body_part", "is_primary", "intensity"}
    assert first["suggested_weight"] == 20.0 + first["id"]  # the defaults: no history


def test_wod_leaves_out_what_the_user_did_yesterday(project, settings, client):
    """With 8 exercises and 2 done yesterday, the WOD is exactly the other 6."""
    project(
        [
            *(upserted(i) for i in range(1, 9)),
            completed("w1", "7", yesterday_utc(), [(3, 50.0, 5), (5, 10.0, 12)]),
        ],
    )
    for _ in range(5):
        body = client.get("/fitness/wod", headers=bearer(), params={"fresh": "true"}).json()
        assert sorted(e["id"] for e in body["exercises"]) == [1, 2, 4, 6, 7, 8]
    # Another user did nothing yesterday: all 8 are candidates.
    ids = set()
    for _ in range(20):
        body = client.get("/fitness/wod", headers=bearer("8"), params={"fresh": "true"}).json()
        ids |= {e["id"] for e in body["exercises"]}
    assert 3 in ids or 5 in ids


def test_suggestions_come_from_the_latest_performance(project, settings, client):
    project(
        [
            *(upserted(i, weight=20.0, reps=10) for i in range(1, 4)),
            completed("w1", "7", datetime.now(UTC) - timedelta(days=5), [(2, 72.5, 4)]),
        ],
    )
    body = client.get("/fitness/wod", headers=bearer()).json()
    by_id = {e["id"]: e for e in body["exercises"]}
    assert (by_id[2]["suggested_weight"], by_id[2]["suggested_reps"]) == (72.5, 4)
    assert (by_id[1]["suggested_weight"], by_id[1]["suggested_reps"]) == (20.0, 10)


def test_same_wod_through_the_day_unless_fresh(project, settings, client):
    project([upserted(i) for i in range(1, 41)])
    first = client.get("/fitness/wod", headers=bearer()).json()["exercises"]
    again = client.get("/fitness/wod", headers=bearer()).json()["exercises"]
    assert [e["id"] for e in first] == [e["id"] for e in again]
    fresh = [
        client.get("/fitness/wod", headers=bearer(), params={"fresh": "true"}).json()
        for _ in range(3)
    ]
    assert any([e["id"] for e in f["exercises"]] != [e["id"] for e in first] for f in fresh)


def test_time_zone_decides_yesterday(project, settings, client):
    """A workout at 23:30 UTC two days ago is 'yesterday' in Tokyo only at some hours;
    the tz parameter and the zoneinfo claim both choose the zone, and tz wins."""
    now = datetime.now(UTC)
    # An instant that is yesterday in Asia/Tokyo and not yesterday in America/Los_Angeles.
    tokyo_yesterday_noon = (now + timedelta(hours=9)).replace(
        hour=12, minute=0, second=0, microsecond=0
    ) - timedelta(days=1, hours=9)
    project(
        [
            *(upserted(i) for i in range(1, 8)),
            completed("w1", "7", tokyo_yesterday_noon, [(1, 5.0, 5)]),
        ],
    )
    from api.zones import zone
    from wod.day import yesterday

    la = yesterday(now, zone("America/Los_Angeles"))
    in_la_yesterday = la.start_us <= to_us(tokyo_yesterday_noon) < la.end_us

    def ids(**kw):  # type: ignore[no-untyped-def]
        params = {"fresh": "true", **kw.pop("params", {})}
        r = client.get("/fitness/wod", headers=bearer(**kw), params=params)
        assert r.status_code == 200
        return {e["id"] for e in r.json()["exercises"]}

    assert ids(params={"tz": "Asia/Tokyo"}) == {2, 3, 4, 5, 6, 7}
    assert ids(zoneinfo="Asia/Tokyo") == {2, 3, 4, 5, 6, 7}
    if not in_la_yesterday:
        assert 1 in set().union(*(ids(params={"tz": "America/Los_Angeles"}) for _ in range(10)))
        assert 1 in set().union(
            *(ids(zoneinfo="Asia/Tokyo", params={"tz": "America/Los_Angeles"}) for _ in range(10))
        )


@pytest.mark.parametrize("tz", ["Mars/Olympus", "../../etc/passwd", "UTC\x00", "x" * 64])
def test_unknown_zone_is_a_422(project, settings, client, tz):
    project([upserted(1)])
    response = client.get("/fitness/wod", headers=bearer(), params={"tz": tz})
    assert response.status_code == 422 and "detail" in response.json()


def test_unknown_zone_in_the_token_is_a_422(project, settings, client):
    project([upserted(1)])
    assert client.get("/fitness/wod", headers=bearer(zoneinfo="Nowhere/Land")).status_code == 422


def test_before_the_catalog_arrives_503_with_retry_after(client):
    response = client.get("/fitness/wod", headers=bearer())
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit() and "catalog" in response.json()["detail"]


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Basic dTpw"}, {"Authorization": "Bearer nope"}]
)
def test_bad_credentials_are_a_401_with_json(client, headers):
    response = client.get("/fitness/wod", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "detail" in response.json()


def test_catalog_changes_are_seen_without_restart(project, settings, client):
    project([upserted(1)])
    assert len(client.get("/fitness/wod", headers=bearer()).json()["exercises"]) == 1
    project([upserted(2)])
    assert len(client.get("/fitness/wod", headers=bearer()).json()["exercises"]) == 2


def test_health(client):
    assert client.get("/health").json() == {"status": "ok", "database": "ok"}


def test_api_refuses_to_start_without_a_key(db_path):
    from config.settings import ConfigError

    with pytest.raises(ConfigError, match="COACH_JWT_SECRET"):
        create_app(Settings(db_path=db_path))


def test_api_refuses_to_start_with_a_public_key_as_its_hmac_secret(db_path):
    """A PEM public key pasted into COACH_JWT_SECRET would make every token a 401: the
    setting is named at start-up instead."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    from config.settings import ConfigError

    with pytest.raises(ConfigError, match="COACH_JWT_SECRET: not usable as an HMAC secret"):
        create_app(Settings(db_path=db_path, jwt_secret=pem.decode()))


def test_head_answers_like_get(project, settings, client):
    """HEAD /fitness/wod is a 200 (nginx sends HEAD the way it sends GET)."""
    project([upserted(1)])
    response = client.head("/fitness/wod", headers=bearer())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
