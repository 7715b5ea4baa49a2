"""'Yesterday' is the user's: time-zone edges of GET /fitness/wod on a fixed clock.

At 2026-11-28 02:00 UTC it is 18:00 on the 27th in Los Angeles and 11:00 on the 28th in
Tokyo, so the three zones disagree about which workouts were yesterday's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import completed, upserted
from tests.integration.conftest import bearer
from wod.instants import to_us

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
# Yesterday in UTC and in Tokyo, today in Los Angeles (02:00 local on the 27th).
A = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
# The day before yesterday in UTC, yesterday in Los Angeles and in Tokyo.
B = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)


class Clock:
    def __init__(self, moment: datetime) -> None:
        self.us = to_us(moment)

    def __call__(self) -> int:
        return self.us


@pytest.fixture
def history(project):  # type: ignore[no-untyped-def]
    """User 7 did exercise 1 at A and exercise 2 at B; the catalog has 8 exercises."""
    project(
        [
            *(upserted(i) for i in range(1, 9)),
            completed("wa", "7", A, [(1, 50.0, 5)]),
            completed("wb", "7", B, [(2, 30.0, 8)]),
        ],
        at_us=to_us(NOW),
    )


def wod_ids(client, **kwargs) -> set[int]:  # type: ignore[no-untyped-def]
    claims = kwargs.pop("claims", {})
    response = client.get("/fitness/wod", headers=bearer(**claims), params=kwargs)
    assert response.status_code == 200, response.text
    return {e["id"] for e in response.json()["exercises"]}


ALL = set(range(1, 9))


@pytest.mark.parametrize(
    "zone,done",
    [
        ("UTC", {1}),
        ("America/Los_Angeles", {2}),
        ("Asia/Tokyo", {1, 2}),
        ("Europe/London", {1}),
        # UTC+14, local 16:00 on the 28th: yesterday ended at A (exclusive).
        ("Pacific/Kiritimati", {2}),
        # UTC-11, local 15:00 on the 27th: yesterday ran 11:00 UTC on the 26th to 11:00.
        ("Pacific/Pago_Pago", {1, 2}),
    ],
)
def test_yesterday_is_the_users_calendar_day(api, history, zone, done):
    """With room for all 8, the WOD is the catalog minus what the zone calls yesterday."""
    with api(clock=Clock(NOW), wod_size=8) as client:
        assert wod_ids(client, tz=zone) == ALL - done


def test_tz_parameter_then_zoneinfo_claim_then_default(api, history):
    with api(clock=Clock(NOW), wod_size=8, default_tz="America/Los_Angeles") as client:
        assert wod_ids(client) == ALL - {2}  # the server's default zone
        assert wod_ids(client, claims={"zoneinfo": "Asia/Tokyo"}) == ALL - {1, 2}
        assert wod_ids(client, tz="UTC", claims={"zoneinfo": "Asia/Tokyo"}) == ALL - {1}


def test_default_zone_is_utc(api, history):
    with api(clock=Clock(NOW), wod_size=8) as client:
        assert wod_ids(client) == ALL - {1}


def test_fewer_remain_than_the_wod_size(api, history):
    """Tokyo leaves 6 of 8 exercises; a WOD of 7 has those 6, not an error."""
    with api(clock=Clock(NOW), wod_size=7) as client:
        assert wod_ids(client, tz="Asia/Tokyo") == ALL - {1, 2}


def test_the_day_after_spring_forward_is_23_hours(api, project):
    """Berlin, 30 March 2026: yesterday ran from 23:00 UTC on the 28th to 22:00 UTC on the
    29th. 22:30 UTC on the 29th is already today (00:30 CEST)."""
    now = datetime(2026, 3, 30, 10, 0, tzinfo=UTC)
    project(
        [
            *(upserted(i) for i in range(1, 9)),
            completed("w1", "7", datetime(2026, 3, 28, 23, 30, tzinfo=UTC), [(1, 1.0, 1)]),
            completed("w2", "7", datetime(2026, 3, 29, 22, 30, tzinfo=UTC), [(2, 1.0, 1)]),
            completed("w3", "7", datetime(2026, 3, 28, 22, 30, tzinfo=UTC), [(3, 1.0, 1)]),
        ],
        at_us=to_us(now),
    )
    with api(clock=Clock(now), wod_size=8) as client:
        assert wod_ids(client, tz="Europe/Berlin") == ALL - {1}
        assert wod_ids(client, tz="UTC") == ALL - {2}


def test_the_wod_stays_through_the_users_day_and_changes_at_their_midnight(api, project):
    """Los Angeles: the same WOD at 00:01 and 23:59 local; another at 00:01 the next day."""
    project([upserted(i) for i in range(1, 41)], at_us=to_us(NOW))
    clock = Clock(datetime(2026, 11, 27, 8, 1, tzinfo=UTC))  # 00:01 on the 27th in L.A.

    def wod(client) -> list[int]:  # type: ignore[no-untyped-def]
        response = client.get(
            "/fitness/wod", headers=bearer(), params={"tz": "America/Los_Angeles"}
        )
        return [e["id"] for e in response.json()["exercises"]]

    with api(clock=clock) as client:
        morning = wod(client)
        clock.us += to_us(datetime(2026, 11, 28, 7, 59, tzinfo=UTC)) - to_us(
            datetime(2026, 11, 27, 8, 1, tzinfo=UTC)
        )
        assert wod(client) == morning  # 23:59 the same local day
        clock.us += 2 * 60 * 1_000_000  # 00:01 the next local day
        assert wod(client) != morning


def test_history_window_covers_the_earliest_yesterday(api, project):
    """At 23:59 in Kiritimati (UTC+14), yesterday began 47:59 h ago: still in the window."""
    now = datetime(2026, 11, 28, 9, 59, tzinfo=UTC)  # 23:59 on the 28th in Kiritimati
    start_of_yesterday = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    project(
        [
            *(upserted(i) for i in range(1, 9)),
            completed("w1", "7", start_of_yesterday + timedelta(minutes=1), [(4, 1.0, 1)]),
        ],
        at_us=to_us(now),
    )
    with api(clock=Clock(now), wod_size=8) as client:
        assert wod_ids(client, tz="Pacific/Kiritimati") == ALL - {4}


@pytest.mark.parametrize(
    "tz",
    [
        "Mars/Olympus",
        "../../etc/passwd",
        "/etc/localtime",
        "UTC\x00",
        "Europe/Berlin\x00../../x",
        "x" * 64,
        "x" * 65,
        "x" * 8000,
        "europe/berlin",  # names are case-sensitive
        " UTC",
        "Etc/GMT+99",
        "posixrules",
    ],
)
def test_unknown_or_hostile_zones_are_a_422(api, history, tz):
    with api(clock=Clock(NOW)) as client:
        response = client.get("/fitness/wod", headers=bearer(), params={"tz": tz})
        assert response.status_code == 422
        assert isinstance(response.json()["detail"], str)
        claim = client.get("/fitness/wod", headers=bearer(zoneinfo=tz[:4096]))
        assert claim.status_code in (401, 422)  # 401 only when the claim makes it too large
