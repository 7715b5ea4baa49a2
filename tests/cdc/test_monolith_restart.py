"""The stand-in monolith while its PostgreSQL restarts (deploy/monolith/retry.py): writes go
on and none answers 5xx; each write that answered 201 is in its table with its outbox event,
and no event is without its write; past the bound (the database still down) a request answers
503 JSON with Retry-After, never 500. On a cluster of the test's own port, restarted with
tools/cdc/cdc.py."""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cdc.conftest import cdc
from tests.cdc.monolith_server import served, workout
from tests.e2e.helpers import free_port

pytestmark = [pytest.mark.cdc]


@pytest.fixture
def own_cluster(postgres: int, tmp_path: Path):
    """A PostgreSQL cluster of the test's own (a free port, its files removed at the end)."""
    home, port = tmp_path / "cdc", free_port()
    cdc.start_postgres(home, port=port, quiet=True)
    try:
        cdc.create_database("restart", port=port)
        yield home, port
    finally:
        cdc.stop_postgres(home, quiet=True)
        shutil.rmtree((home / "pg").resolve(), ignore_errors=True)


def post(url: str, body: dict) -> tuple[int, dict, dict]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # nosec B310
            return answer.status, json.loads(answer.read()), dict(answer.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), dict(exc.headers)


def test_writes_during_a_postgres_restart_commit_with_their_events_and_never_answer_5xx(
    own_cluster, monkeypatch
):
    """Four writers log workouts while PostgreSQL is stopped (fast) and started again: every
    answer is 201, and the workouts table and the outbox hold exactly the 201s."""
    home, port = own_cluster
    monkeypatch.setenv("MONOLITH_DB_RETRY_SECONDS", "20")
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/restart"
    answers: list[tuple[int, dict]] = []
    stop = threading.Event()
    yesterday = datetime.now(UTC) - timedelta(days=1)
    with served(url) as mono:
        mono.put_exercise(1)

        def write(n: int) -> None:
            i = 0
            while not stop.is_set():
                i += 1
                status, body, _ = post(
                    f"{mono.url}/workouts",
                    workout(f"u{n}", yesterday, 1) | {"workout_id": f"w{n}-{i}"},
                )
                answers.append((status, body))

        writers = [threading.Thread(target=write, args=(n,)) for n in range(4)]
        for w in writers:
            w.start()
        time.sleep(1.0)
        cdc.stop_postgres(home, quiet=True)
        time.sleep(1.0)
        cdc.start_postgres(home, port=port, quiet=True)
        time.sleep(2.0)
        stop.set()
        for w in writers:
            w.join(60)
        statuses = sorted({s for s, _ in answers})
        assert statuses == [201], [a for a in answers if a[0] != 201][:5]
        ids = {b["id"] for _, b in answers}
        in_table = set(cdc.psql("SELECT id FROM workouts", dbname="restart", port=port).split())
        events = cdc.psql(
            "SELECT payload::json->'data'->>'workout_id' FROM outbox "
            "WHERE type = 'fitness.workout.completed'",
            dbname="restart",
            port=port,
        ).split()
        assert in_table == ids
        assert sorted(events) == sorted(ids)


def test_a_request_past_the_bound_answers_503_json_with_retry_after(own_cluster, monkeypatch):
    """With the database down for longer than MONOLITH_DB_RETRY_SECONDS, a write answers 503
    JSON with Retry-After after about the bound, and works again once the database is back."""
    home, port = own_cluster
    monkeypatch.setenv("MONOLITH_DB_RETRY_SECONDS", "1.5")
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/restart"
    yesterday = datetime.now(UTC) - timedelta(days=1)
    with served(url) as mono:
        mono.put_exercise(1)
        cdc.stop_postgres(home, quiet=True)
        began = time.monotonic()
        status, body, headers = post(f"{mono.url}/workouts", workout("u1", yesterday, 1))
        took = time.monotonic() - began
        cdc.start_postgres(home, port=port, quiet=True)
        assert status == 503, body
        assert "detail" in body and int(headers["Retry-After"]) > 0
        assert took < 10
        assert post(f"{mono.url}/workouts", workout("u1", yesterday, 1))[0] == 201


def test_a_write_whose_commit_landed_but_whose_answer_was_lost_is_logged_once(
    own_cluster, monkeypatch
):
    """The connection drops right after COMMIT (the first answer raises a disconnection):
    the retry finds the workout the first attempt logged and answers 201 with its id; the
    table and the outbox hold it once."""
    from sqlalchemy.exc import OperationalError

    import deploy.monolith.app as monolith_app

    _home, port = own_cluster
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/restart"
    real_jsonify = monolith_app.jsonify
    calls = {"n": 0}

    def jsonify_after_a_lost_commit(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:  # the first answer, after the first attempt's COMMIT
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        return real_jsonify(*args, **kwargs)

    monkeypatch.setattr(monolith_app, "jsonify", jsonify_after_a_lost_commit)
    app = monolith_app.create_app(url)
    client = app.test_client()
    answer = client.post(
        "/workouts", json=workout("lost-answer-user", datetime.now(UTC) - timedelta(days=1), 1)
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)
    assert calls["n"] >= 2
    rows = cdc.psql(
        "select count(*) from workouts where user_id = 'lost-answer-user'",
        dbname="restart",
        port=port,
    ).strip()
    events = cdc.psql(
        "select count(*) from outbox where payload::json->'data'->>'user_id' = 'lost-answer-user'",
        dbname="restart",
        port=port,
    ).strip()
    assert (rows, events) == ("1", "1")
    assert answer.get_json()["id"]


def test_a_bulk_import_writes_each_workout_with_its_exercises_and_its_event(own_cluster):
    """models.log_workouts (the rehearsal's burst): every workout, its exercises in order and
    one workout_completed event each, in the caller's one transaction."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from deploy.monolith import models

    _home, port = own_cluster
    engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/restart")
    try:
        with engine.begin() as conn:
            models.create_schema(conn)
        bodies = [
            workout(f"bulk-{n}", datetime.now(UTC) - timedelta(hours=n), 1, 2, 3)
            | {"workout_id": f"bulk-w{n}"}
            for n in range(30)
        ]
        for body in bodies:
            body["completed_at"] = datetime.fromisoformat(body["completed_at"])
        with sessionmaker(engine).begin() as session:
            assert models.log_workouts(session, bodies) == 30
    finally:
        engine.dispose()
    rows = cdc.psql(
        "SELECT w.id, count(e.position), min(e.exercise_id), max(e.exercise_id) FROM workouts w "
        "JOIN workout_exercises e ON e.workout_id = w.id WHERE w.id LIKE 'bulk-w%' GROUP BY w.id",
        dbname="restart",
        port=port,
    ).split()
    assert sorted(rows) == sorted(f"bulk-w{n}|3|1|3" for n in range(30))
    events = cdc.psql(
        "SELECT payload::json->'data'->>'workout_id' FROM outbox "
        "WHERE payload::json->'data'->>'workout_id' LIKE 'bulk-w%'",
        dbname="restart",
        port=port,
    ).split()
    assert sorted(events) == sorted(f"bulk-w{n}" for n in range(30))
