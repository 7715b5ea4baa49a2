"""The api's per-user cache of rendered WODs (api/wodcache.py) over a real projection file:
a held WOD gives way when the user's workouts, their folded performances or the catalog
change, at the latest when the consumer's status is next read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.deps import AppState
from api.freshness import StatusCache
from consumer.commit import commit_records
from consumer.handlers import Context
from consumer.records import Record
from store.db import connect, transaction
from store.fold import fold_and_prune
from store.instants import now_us
from tests.factories import completed, key_of, upserted, value_of, workout_deleted
from tests.integration.conftest import bearer

WOD = "/fitness/wod"


def yesterday_noon() -> datetime:
    return datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)


def state_of(client: TestClient) -> AppState:
    return client.app.state.coach  # type: ignore[attr-defined,no-any-return]


def ids(client: TestClient, sub: str = "7") -> list[int]:
    return [e["id"] for e in client.get(WOD, headers=bearer(sub)).json()["exercises"]]


def suggestions(client: TestClient, sub: str = "7") -> dict[int, tuple[float, int]]:
    body = client.get(WOD, headers=bearer(sub)).json()
    return {e["id"]: (e["suggested_weight"], e["suggested_reps"]) for e in body["exercises"]}


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fold(db_path: Path, before_us: int) -> None:
    conn = connect(db_path)
    with transaction(conn):
        while fold_and_prune(conn, before_us=before_us):
            pass
    conn.close()


def test_the_wod_is_held_and_given_again(project, api):
    project([upserted(i) for i in range(1, 41)])
    with api() as client:
        first = ids(client)
        assert len(state_of(client).wods) == 1
        assert ids(client) == first


def test_a_workout_of_yesterday_arriving_changes_the_held_wod(project, api):
    project([upserted(i) for i in range(1, 9)])
    with api() as client:
        held = ids(client)
        assert len(held) == 6
        done = held[:2]
        project([completed("w1", "7", yesterday_noon(), [(e, 50.0, 5) for e in done])])
        assert sorted(ids(client)) == sorted(set(range(1, 9)) - set(done))


def test_a_deleted_workout_changes_the_held_suggestions(project, api):
    project([upserted(i, weight=20.0, reps=10) for i in range(1, 7)])
    five_days_ago = datetime.now(UTC) - timedelta(days=5)
    with api() as client:
        assert suggestions(client)[2] == (20.0, 10)
        project([completed("w1", "7", five_days_ago, [(2, 72.5, 4)])])
        assert suggestions(client)[2] == (72.5, 4)
        project([workout_deleted("w1", "7")])
        assert suggestions(client)[2] == (20.0, 10)


def test_a_deleted_workout_already_folded_changes_the_held_suggestions(project, api, settings):
    project([upserted(i, weight=20.0, reps=10) for i in range(1, 7)])
    project([completed("w1", "7", datetime.now(UTC) - timedelta(days=5), [(2, 72.5, 4)])])
    fold(settings.db_path, now_us() - 50 * 3600 * 1_000_000)
    with api() as client:
        assert suggestions(client)[2] == (72.5, 4)  # from `performances` now
        project([workout_deleted("w1", "7")])
        assert suggestions(client)[2] == (20.0, 10)


def test_folding_changes_no_answer(project, api, settings):
    """The fold moves old workouts into `performances`: same WODs, held or not."""
    project([upserted(i, weight=20.0, reps=10) for i in range(1, 41)])
    old = datetime.now(UTC) - timedelta(days=4)
    project(
        [
            completed(f"w{u}-{n}", str(u), old + timedelta(hours=n), [(u + n, 30.0 + n, 3 + n)])
            for u in range(1, 6)
            for n in range(4)
        ]
        + [completed("y7", "7", yesterday_noon(), [(1, 40.0, 5), (2, 45.0, 6)])]
    )
    users = [str(u) for u in range(1, 8)]
    with api() as held, api(wod_cache_size=0) as uncached:
        before = {u: held.get(WOD, headers=bearer(u)).json()["exercises"] for u in users}
        fold(settings.db_path, now_us() - 50 * 3600 * 1_000_000)
        for u in users:
            assert held.get(WOD, headers=bearer(u)).json()["exercises"] == before[u]
            assert uncached.get(WOD, headers=bearer(u)).json()["exercises"] == before[u]


def test_a_workout_folded_before_the_api_looked_still_changes_the_held_wod(project, api, settings):
    """A late, old workout arrives and is folded away before the api reads the change
    stamp: the fold's stamp on `performances` tells the api."""
    project([upserted(i, weight=20.0, reps=10) for i in range(1, 7)])
    with api(status_cache_seconds=1) as client:
        monotonic = FakeMonotonic()
        state_of(client).status = StatusCache(1, monotonic=monotonic)
        assert suggestions(client)[2] == (20.0, 10)
        project(
            [
                completed("w1", "7", datetime.now(UTC) - timedelta(days=5), [(2, 72.5, 4)]),
                completed("w2", "8", yesterday_noon(), [(2, 50.0, 5)]),  # the highest rowid
            ]
        )
        fold(settings.db_path, now_us() - 50 * 3600 * 1_000_000)
        monotonic.now += 1
        assert suggestions(client)[2] == (72.5, 4)


def test_a_catalog_change_changes_the_held_wod(project, api):
    project([upserted(i, weight=20.0, reps=10) for i in range(1, 7)])
    with api() as client:
        assert suggestions(client)[3] == (20.0, 10)
        project([upserted(3, revision=2, weight=35.0, reps=12)])
        assert suggestions(client)[3] == (35.0, 12)


def test_another_users_change_keeps_the_held_wod(project, api):
    project([upserted(i) for i in range(1, 41)])
    with api() as client:
        ids(client, "7")
        ids(client, "8")
        project([completed("w1", "8", yesterday_noon(), [(1, 50.0, 5)])])
        ids(client, "7")  # reads the new change stamp, drops user 8's WOD only
        wods = state_of(client).wods
        assert len(wods) == 1
        assert wods.mark is not None and wods.mark.rowid > 0


def test_a_change_shows_at_the_latest_when_the_status_is_read_again(project, api):
    """The documented bound: a held WOD outlives a change of its user's data by at most
    COACH_STATUS_CACHE_SECONDS (the status, which carries the change stamp, is reused)."""
    project([upserted(i, weight=20.0, reps=10) for i in range(1, 7)])
    with api(status_cache_seconds=1) as client:
        monotonic = FakeMonotonic()
        state_of(client).status = StatusCache(1, monotonic=monotonic)
        assert suggestions(client)[2] == (20.0, 10)
        project([completed("w1", "7", datetime.now(UTC) - timedelta(days=5), [(2, 72.5, 4)])])
        monotonic.now += 0.5
        assert suggestions(client)[2] == (20.0, 10)  # within the second: still the held one
        monotonic.now += 0.5
        assert suggestions(client)[2] == (72.5, 4)


def test_fresh_neither_reads_nor_fills_the_cache(project, api):
    project([upserted(i) for i in range(1, 41)])
    with api() as client:
        client.get(WOD, headers=bearer(), params={"fresh": "true"})
        assert len(state_of(client).wods) == 0


def test_the_cache_keeps_at_most_its_size(project, api):
    project([upserted(i) for i in range(1, 41)])
    with api(wod_cache_size=3) as client:
        for user in range(1, 11):
            ids(client, str(user))
        assert len(state_of(client).wods) == 3


def test_the_zone_decides_which_wod_is_held(project, api):
    """One user asking in zones whose 'yesterday' differ gets each zone's own WOD."""
    project(
        [
            *(upserted(i) for i in range(1, 9)),
            completed("w1", "7", yesterday_noon() - timedelta(hours=11), [(3, 50.0, 5)]),
        ]
    )
    zones = ("Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC")
    with api() as held, api(wod_cache_size=0) as uncached:
        for _ in range(2):
            for tz in zones:
                params = {"tz": tz}
                assert (
                    held.get(WOD, headers=bearer(), params=params).json()["exercises"]
                    == uncached.get(WOD, headers=bearer(), params=params).json()["exercises"]
                )


def test_reset_caches_reads_a_replaced_projection_afresh(project, api, settings, tmp_path):
    """Another projection file taking the place of the open one: after `reset_caches` the
    catalog, the status, the held WODs and the ceiling's body all come from the new file."""
    project(
        [
            *(upserted(i, weight=20.0, reps=10) for i in range(1, 7)),
            completed("w1", "7", datetime.now(UTC) - timedelta(days=5), [(2, 72.5, 4)]),
        ]
    )
    other = tmp_path / "other.db"
    conn = connect(other)
    events = [upserted(i, weight=30.0, reps=5) for i in range(1, 8)]
    commit_records(
        conn,
        [Record("ex", 0, n, key_of(e), value_of(e)) for n, e in enumerate(events)],
        roles={"ex": "exercises", "wo": "workouts"},
        ctx=Context(now_us=now_us()),
    )
    conn.close()

    def ceiling_weights(client: TestClient) -> set[float]:
        body = client.get("/bench/ceiling", headers=bearer()).json()
        return {e["suggested_weight"] for e in body["exercises"]}

    with api(status_cache_seconds=60, bench_ceiling=True) as client:
        state = state_of(client)
        assert suggestions(client)[2] == (72.5, 4)
        assert ceiling_weights(client) == {20.0}
        state.conn.close()
        state.conn = connect(other, readonly=True)
        # Without the reset, what was read of the old file still answers.
        assert suggestions(client)[2] == (72.5, 4)
        assert ceiling_weights(client) == {20.0}
        state.reset_caches()
        after = suggestions(client)
        assert len(after) == 6 and set(after) <= set(range(1, 8))
        assert set(after.values()) == {(30.0, 5)}
        assert ceiling_weights(client) == {30.0}
        assert state.catalog.current(state.conn).ids == tuple(range(1, 8))


@pytest.mark.parametrize("size", [0])
def test_a_cache_of_size_0_holds_nothing(project, api, size):
    project([upserted(i) for i in range(1, 41)])
    with api(wod_cache_size=size) as client:
        assert ids(client) == ids(client)
        assert len(state_of(client).wods) == 0
