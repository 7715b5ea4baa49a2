"""An exercise's revision only grows for its id, across delete and re-create, in the
monolith and in its outbox, and a backfill racing live writes never puts an older event
after a newer one: the last record per key on the compacted topic is always the newest, so
a projection rebuilt from the compacted topic equals the live one (and the monolith)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Connection, text

from deploy.monolith import models
from deploy.monolith.app import create_app
from monolith_kit import (
    StaleRevision,
    add_all_to_outbox,
    add_to_outbox,
    exercise_deleted,
    exercise_upserted,
)
from monolith_kit.backfill import BackfillSource, backfill
from tests.cdc.conftest import Monolith, projection
from tests.cdc.test_cdc import caught_up, exercise_body
from tests.e2e.compaction import (
    compact_until,
    end_offsets,
    fast_compaction,
    ids_for_every_partition,
    set_topic_configs,
)
from tests.e2e.helpers import Service, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.cdc]


def _outbox_exercise_events(monolith: Monolith, exercise_id: int) -> list[tuple[str, int]]:
    """(type, revision) of the exercise's events in the outbox."""
    with monolith.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT payload FROM outbox WHERE aggregatetype = 'exercise' AND aggregateid = :id"
            ),
            {"id": str(exercise_id)},
        )
        events = [orjson.loads(r[0]) if isinstance(r[0], str) else r[0] for r in rows]
    return sorted((e["type"], e["data"]["revision"]) for e in events)


def test_an_exercise_deleted_and_created_again_gets_a_higher_revision(monolith: Monolith):
    """PUT, DELETE, PUT of one id in the Flask monolith: revisions 1, 2 (the delete), 3."""
    client = create_app(monolith.url).test_client()
    assert client.put("/exercises/5", json=exercise_body(5)).get_json()["revision"] == 1
    assert client.delete("/exercises/5").status_code == 204
    again = client.put("/exercises/5", json=exercise_body(5, "Back Again"))
    assert again.status_code == 200, again.get_data()
    assert again.get_json()["revision"] == 3
    assert _outbox_exercise_events(monolith, 5) == [
        ("fitness.exercise.deleted", 2),
        ("fitness.exercise.upserted", 1),
        ("fitness.exercise.upserted", 3),
    ]


def test_the_outbox_refuses_a_revision_that_does_not_grow(monolith: Monolith):
    """A live write whose revision is not above the exercise's last one fails its
    transaction (StaleRevision, nothing written); the backfill's republish writes one at
    the last revision again and skips an older one."""
    upsert = {**exercise_body(9), "id": 9}
    with monolith.engine.begin() as conn:
        add_to_outbox(conn, exercise_upserted(**upsert, revision=4))
        add_to_outbox(conn, exercise_deleted(id=9, revision=5))
    for stale in (exercise_upserted(**upsert, revision=1), exercise_deleted(id=9, revision=5)):
        with (
            pytest.raises(StaleRevision, match="already has revision 5"),
            monolith.engine.begin() as conn,
        ):
            add_to_outbox(conn, stale)
    with monolith.engine.begin() as conn:
        written = add_all_to_outbox(
            conn,
            [exercise_upserted(**upsert, revision=4), exercise_deleted(id=9, revision=5)],
            republish=True,
        )
    assert written == 1
    assert _outbox_exercise_events(monolith, 9) == [
        ("fitness.exercise.deleted", 5),
        ("fitness.exercise.deleted", 5),
        ("fitness.exercise.upserted", 4),
    ]


def _racing_source(monolith: Monolith, deleted: tuple[int, ...]) -> BackfillSource:
    """The stand-in's BackfillSource, but once the backfill's snapshot of the catalog is
    read, the monolith deletes `deleted` (committed) before the backfill writes its batch."""

    def catalog(conn: Connection) -> Iterator[Any]:
        events = list(models.BACKFILL.catalog(conn))  # the snapshot is taken here
        with monolith.sessions.begin() as session:
            for exercise_id in deleted:
                assert models.delete_exercise(session, exercise_id)
        yield from events

    return BackfillSource(
        catalog=catalog,
        completed_workouts=models.BACKFILL.completed_workouts,
        current=models.BACKFILL.current,
    )


def test_a_backfill_racing_a_delete_writes_no_upsert_after_it(monolith: Monolith):
    """The backfill read exercise 2 at revision 1, then the monolith deleted it (revision
    2): the backfill skips its upsert of revision 1 (counted as stale)."""
    with monolith.sessions.begin() as session:
        for i in (1, 2, 3):
            models.save_exercise(session, {"id": i, **exercise_body(i)})
    result = backfill(monolith.engine, _racing_source(monolith, (2,)), progress=None)
    assert (result.exercises, result.stale) == (2, 1)
    assert _outbox_exercise_events(monolith, 2) == [
        ("fitness.exercise.deleted", 2),
        ("fitness.exercise.upserted", 1),
    ]


def test_a_new_replica_from_the_compacted_topic_equals_the_live_one_after_a_racing_backfill(
    relay: Monolith, tmp_path: Path
):
    """A backfill runs while exercises 2 and 4 are deleted; the live replica applies the
    events in order. The log cleaner then compacts the exercises topic (the test's own, set
    to compact within seconds) to its last record per key; a new replica read from it holds
    the same catalog as the live one and the monolith."""
    settings = relay.settings
    bootstrap = settings.kafka_bootstrap_servers
    live = Service(settings, tmp_path / "live.log", "consume")
    try:
        with relay.sessions.begin() as session:
            for i in range(1, 6):
                models.save_exercise(session, {"id": i, **exercise_body(i)})
        result = backfill(relay.engine, _racing_source(relay, (2, 4)), progress=None)
        assert result.stale == 2
        caught_up(relay, live)

        set_topic_configs(bootstrap, settings.topic_exercises, fast_compaction(100))
        fillers = ids_for_every_partition(settings.topic_partitions)

        def write() -> None:  # catalog edits on every partition: roll segments, dirty logs
            with relay.sessions.begin() as session:
                for i in fillers:
                    models.save_exercise(session, {"id": i, **exercise_body(i)})

        def compacted(held: list[tuple[bytes | None, bytes | None]]) -> bool:
            keys = [k for k, _ in held]
            return all(keys.count(k) == 1 for k in (b"1", b"2", b"4"))

        compact_until(bootstrap, settings.topic_exercises, compacted, write)
        caught_up(relay, live)
    finally:
        assert live.stop() == 0, live.log()

    new = settings.model_copy(update={"db_path": tmp_path / "new" / "coach.db"})
    ends = {tp: n for tp, n in end_offsets(bootstrap, settings.topic_exercises).items() if n}
    replica = Service(new, tmp_path / "new.log", "consume")
    try:
        wait_for(
            "the new replica to read the exercises topic to its end",
            lambda: _next_offsets(new.db_path, settings.topic_exercises) == ends,
            60,
            replica,
        )
    finally:
        assert replica.stop() == 0, replica.log()
    assert projection(new)["exercises"] == projection(settings)["exercises"]
    assert projection(new)["exercises"] == relay.truth()["exercises"]
    assert set(relay.truth()["exercises"]) == {1, 3, 5, *fillers}


def _next_offsets(db: Path, topic: str) -> dict[tuple[str, int], int]:
    if not db.exists():
        return {}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute(
            "SELECT topic, partition, next_offset FROM partitions WHERE topic = ?", (topic,)
        )
        return {(t, p): o for t, p, o in rows}
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()


def test_concurrent_creates_and_deletes_of_one_exercise_answer_200_204_404_or_409_never_5xx(
    monolith: Monolith,
):
    """Eight clients PUT and DELETE one exercise id at once, again and again: each answer is
    a success or a JSON conflict/not-found, and the outbox's revisions of that id never
    repeat."""
    import threading

    app = create_app(monolith.url)
    statuses: list[int] = []
    bodies: list[Any] = []

    def client(n: int) -> None:
        c = app.test_client()
        for round_ in range(6):
            if (n + round_) % 3 == 0:
                answer = c.delete("/exercises/77")
            else:
                answer = c.put("/exercises/77", json=exercise_body(77, f"c{n}r{round_}"))
            statuses.append(answer.status_code)
            if answer.status_code >= 400:
                bodies.append(answer.get_json())

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert set(statuses) <= {200, 204, 404, 409}, statuses
    assert all(isinstance(b, dict) and "detail" in b for b in bodies), bodies
    revisions = [r for _, r in _outbox_exercise_events(monolith, 77)]
    assert len(revisions) == len(set(revisions)), sorted(revisions)


BAD_BODIES = [
    b"[1, 2]",
    b"not json",
    b'"text"',
    b"null",
    b'{"name": "X"}',
    b'{"name": "X", "difficulty": 9, "default_weight": 1, "default_reps": 1}',
    b'{"name": "X", "difficulty": 2, "default_weight": null, "default_reps": 1}',
    b'{"name": "X", "difficulty": 2, "default_weight": "heavy", "default_reps": 1}',
    b'{"name": "X", "difficulty": 2, "default_weight": 1, "default_reps": 1, '
    b'"muscle_groups": "legs"}',
]


def test_a_bad_exercise_body_is_a_4xx_with_json_and_writes_nothing(monolith: Monolith):
    """A body that is not an exercise: 4xx with a JSON body, no row, no outbox event."""
    client = create_app(monolith.url).test_client()
    for body in BAD_BODIES:
        answer = client.put("/exercises/31", data=body, content_type="application/json")
        assert 400 <= answer.status_code < 500, (body, answer.status_code, answer.get_data())
        assert isinstance(answer.get_json(), dict) and "detail" in answer.get_json(), body
    assert 31 not in monolith.truth()["exercises"]
    assert _outbox_exercise_events(monolith, 31) == []
