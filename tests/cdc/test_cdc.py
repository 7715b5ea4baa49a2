"""The monolith's side end to end: the Flask monolith (or the kit in its transactions) writes
PostgreSQL, Debezium's connector in Kafka Connect publishes the outbox, the real broker
carries it, a real `coach run` projects it and answers WODs.

Every comparison is against the monolith's own tables (`Monolith.truth`): the exercises
with their revisions and each user's workout ids."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from config.settings import Settings
from deploy.monolith import models
from deploy.monolith.app import create_app
from tests.cdc.conftest import CDC_HOME, Monolith, cdc, projection
from tests.conftest import REPO
from tests.e2e.helpers import Service, coach, free_port, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.cdc]

DOWNTIME = float(os.environ.get("COACH_CDC_TEST_DOWNTIME_SECONDS", "60"))


def muscle(group: int = 1) -> list[dict[str, Any]]:
    return [
        {
            "id": group,
            "name": f"Group {group}",
            "body_part": "legs",
            "is_primary": True,
            "intensity": 0.8,
        }
    ]


def exercise_body(i: int, name: str | None = None) -> dict[str, Any]:
    return {
        "name": name or f"Exercise {i}",
        "description": "",
        "difficulty": 1 + i % 5,
        "default_weight": 10.0 + i,
        "default_reps": 8,
        "muscle_groups": muscle(1 + i % 4),
    }


def get(url: str, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@contextmanager
def coach_running(settings: Settings, tmp_path: Path) -> Iterator[tuple[Service, int]]:
    port = free_port()
    service = Service(settings, tmp_path / f"coach-{port}.log", "run", "--port", str(port))
    try:
        wait_for(
            "coach to answer",
            lambda: get(f"http://127.0.0.1:{port}/health")[0] == 200,
            service=service,
        )
        yield service, port
    finally:
        service.stop()


def token_of(settings: Settings, sub: str) -> str:
    return coach(settings, "token", "--sub", sub).stdout.decode().strip()


def caught_up(monolith: Monolith, service: Service, timeout: float = 90) -> None:
    """Wait until the projection equals the monolith's tables."""
    truth = monolith.truth()

    def same() -> bool:
        return projection(monolith.settings) == truth

    try:
        wait_for("the projection to equal the monolith's tables", same, timeout, service)
    except AssertionError:
        held = projection(monolith.settings)
        missing = {u: w - held["workouts"].get(u, set()) for u, w in truth["workouts"].items()}
        raise AssertionError(
            f"exercises equal: {held['exercises'] == truth['exercises']}; "
            f"workouts missing: {sum(map(len, missing.values()))}; users: "
            f"{len(held['workouts'])} of {len(truth['workouts'])}"
        ) from None


# -- the Flask monolith ------------------------------------------------------------------------


def test_a_workout_logged_in_the_flask_monolith_shapes_the_next_days_wod(
    relay: Monolith, tmp_path, monkeypatch
):
    """Catalog of 8 and yesterday's workout of 2 of them, through the Flask monolith's routes:
    user 7's WOD is the other 6; an edit of the catalog in the monolith reaches the WOD."""
    monkeypatch.setenv("LEGACY_DELAY_MIN", "0")
    monkeypatch.setenv("LEGACY_DELAY_MAX", "0")
    client = create_app(relay.url).test_client()
    for i in range(1, 9):
        assert client.put(f"/exercises/{i}", json=exercise_body(i)).status_code == 200
    yesterday = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    yesterday -= timedelta(days=1)
    answer = client.post(
        "/workouts",
        json={
            "user_id": "7",
            "completed_at": yesterday.isoformat(),
            "exercises": [
                {"exercise_id": 3, "sets": 3, "reps": 5, "weight": 60.0},
                {"exercise_id": 5, "sets": 3, "reps": 10, "weight": 12.5},
            ],
        },
    )
    assert answer.status_code == 201, answer.get_json()
    # the legacy route stays for the strangler routing, from the monolith's own tables
    assert client.get("/fitness/wod").status_code == 401
    assert client.get("/fitness/wod", headers={"Authorization": "Bearer a.b.c"}).status_code == 401
    own = client.application.config["issuer"].sign("7", zoneinfo="UTC")
    legacy = client.get("/fitness/wod", headers={"Authorization": f"Bearer {own}"})
    assert legacy.status_code == 200 and legacy.headers["X-Legacy-Stand-In"] == "1"
    assert sorted(e["id"] for e in legacy.get_json()["exercises"]) == [1, 2, 4, 6, 7, 8]

    with coach_running(relay.settings, tmp_path) as (service, port):
        caught_up(relay, service)
        token = token_of(relay.settings, "7")
        url = f"http://127.0.0.1:{port}/fitness/wod?tz=UTC"
        status, body = get(url, token)
        assert status == 200, body
        assert sorted(e["id"] for e in body["exercises"]) == [1, 2, 4, 6, 7, 8]

        assert client.put("/exercises/4", json=exercise_body(4, "Renamed Row")).status_code == 200
        wait_for(
            "the edit of exercise 4 to reach the WOD",
            lambda: any(e["name"] == "Renamed Row" for e in get(url, token)[1]["exercises"]),
            service=service,
        )
        caught_up(relay, service)


def test_a_rolled_back_transaction_never_reaches_the_projection(relay: Monolith, tmp_path):
    """Workouts and an exercise written in transactions that roll back (after their outbox
    rows were added) never arrive; those committed around them do."""
    exercises = [{"exercise_id": 1, "sets": 1, "reps": 5, "weight": 20.0}]
    with relay.sessions.begin() as session:
        models.save_exercise(session, {"id": 1, **exercise_body(1)})
        models.log_workout(session, user_id="before", exercises=exercises, workout_id="w-before")
    for n in range(3):
        with pytest.raises(RuntimeError), relay.sessions.begin() as session:
            models.log_workout(session, user_id="ghost", exercises=exercises, workout_id=f"g{n}")
            models.save_exercise(session, {"id": 2, **exercise_body(2)})
            raise RuntimeError("the request failed after its writes")
    with relay.sessions.begin() as session:
        models.log_workout(session, user_id="after", exercises=exercises, workout_id="w-after")

    with coach_running(relay.settings, tmp_path) as (service, _):
        caught_up(relay, service)
        held = projection(relay.settings)
        assert set(held["workouts"]) == {"before", "after"} and set(held["exercises"]) == {1}


# -- at-least-once relay: kill -9, and a minute down -------------------------------------------


class Load:
    """Workouts (and now and then a catalog edit) committed in the monolith by a thread, at
    about `rate` per second, each with its outbox event in its transaction."""

    def __init__(self, monolith: Monolith, rate: float, users: int = 40) -> None:
        self.monolith, self.rate, self.users = monolith, rate, users
        self.committed = 0
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Load:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        assert not self.errors, self.errors

    def _run(self) -> None:
        rng = random.Random(11)
        started = time.monotonic()
        try:
            while not self._stop.is_set():
                with self.monolith.sessions.begin() as session:
                    if self.committed % 97 == 0:
                        i = rng.randint(1, 12)
                        models.save_exercise(session, {"id": i, **exercise_body(i)})
                    at = datetime.now(UTC) - timedelta(minutes=rng.randint(1, 600))
                    models.log_workout(
                        session,
                        user_id=f"u{rng.randrange(self.users)}",
                        completed_at=at,
                        exercises=[
                            {
                                "exercise_id": rng.randint(1, 12),
                                "sets": 3,
                                "reps": rng.randint(3, 12),
                                "weight": 40.0,
                            }
                        ],
                    )
                self.committed += 1
                ahead = self.committed / self.rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        except BaseException as exc:
            self.errors.append(exc)


def _seed_catalog(monolith: Monolith) -> None:
    with monolith.sessions.begin() as session:
        for i in range(1, 13):
            models.save_exercise(session, {"id": i, **exercise_body(i)})


def _records_read(settings: Settings, topic: str) -> int:
    """Records coach read from `topic`: the sum of the next offsets it stored."""
    conn = sqlite3.connect(f"file:{settings.db_path}?mode=ro", uri=True, timeout=10)
    try:
        row = conn.execute("SELECT sum(next_offset) FROM partitions WHERE topic = ?", (topic,))
        return int(row.fetchone()[0] or 0)
    finally:
        conn.close()


@contextmanager
def own_worker(monolith: Monolith, bootstrap: str, home: Path) -> Iterator[Any]:
    """A Connect worker of the test's own (its offsets file in `home`); yields its start."""
    rest = free_port()

    def start() -> None:
        cdc.start_connect(
            home,
            [monolith.connector],
            rest_port=rest,
            bootstrap=bootstrap,
            jars=CDC_HOME,
            quiet=True,
        )

    start()
    try:
        yield start
    finally:
        cdc.stop_connect(home, kill=True, quiet=True)


def test_kill_9_of_connect_mid_stream_loses_nothing_and_doubles_nothing(
    monolith: Monolith, connect_jars, kafka_bootstrap, tmp_path
):
    """Connect is killed (SIGKILL) while workouts stream in, then restarted from its offsets
    file: it re-sends what it published since its last offset flush (at-least-once), and the
    projection still equals the monolith's tables."""
    home = tmp_path / "worker"
    with (
        own_worker(monolith, kafka_bootstrap, home) as start,
        coach_running(monolith.settings, tmp_path) as (service, _),
    ):
        _seed_catalog(monolith)
        load = Load(monolith, rate=150).start()
        try:
            wait_for("800 workouts committed", lambda: load.committed >= 800, 60)
            cdc.stop_connect(home, kill=True, quiet=True)
            start()
            wait_for("600 more", lambda: load.committed >= 1400, 60)
        finally:
            load.stop()
        caught_up(monolith, service, timeout=120)
        rows = sum(map(len, monolith.truth()["workouts"].values()))
        read = _records_read(monolith.settings, monolith.settings.topic_workouts)
    print(f"\nkill -9: {rows} workouts committed, {read} records read ({read - rows} twice)")
    assert read >= rows


def test_connect_down_for_a_minute_under_load_wods_answer_and_the_projection_catches_up(
    monolith: Monolith, connect_jars, kafka_bootstrap, tmp_path
):
    """While Connect is down (DOWNTIME s, a minute by default), the monolith keeps
    committing and coach keeps answering WODs from what it has; once Connect is back, the
    projection catches up with the monolith's tables."""
    home = tmp_path / "worker"
    with (
        own_worker(monolith, kafka_bootstrap, home) as start,
        coach_running(monolith.settings, tmp_path) as (service, port),
    ):
        _seed_catalog(monolith)
        token = token_of(monolith.settings, "u1")
        url = f"http://127.0.0.1:{port}/fitness/wod"
        wait_for("a WOD", lambda: get(url, token)[0] == 200, service=service)
        load = Load(monolith, rate=40).start()
        try:
            time.sleep(2)
            cdc.stop_connect(home, quiet=True)
            down_at, statuses = time.monotonic(), []
            while time.monotonic() - down_at < DOWNTIME:
                statuses.append(get(f"{url}?fresh=true", token)[0])
                time.sleep(0.5)
            committed_while_down = load.committed
            start()
            time.sleep(2)
        finally:
            load.stop()
        assert statuses and set(statuses) == {200}, statuses
        assert committed_while_down > DOWNTIME * 20
        caught_up(monolith, service, timeout=120)


# -- the first backfill ------------------------------------------------------------------------


def test_the_backfill_of_a_monolith_with_history_run_twice_equals_its_tables(
    relay: Monolith, tmp_path
):
    """A monolith whose tables predate the outbox: 30 exercises, 5 days of workouts of 60
    users written without events. The backfill (run twice) publishes the catalog and the last
    two days; /ready is 503 until coach has them; then the projection equals the catalog and
    the workouts of the last two days."""
    rng = random.Random(5)
    now = datetime.now(UTC)

    def minutes() -> int:  # none within 10 minutes of the two days' edge
        return rng.choice([rng.randint(5, 2870), rng.randint(2890, 5 * 1440)])

    with relay.engine.begin() as conn:
        conn.execute(
            models.Exercise.__table__.insert(),
            [
                {
                    "id": i,
                    "name": f"Exercise {i}",
                    "description": "",
                    "difficulty": 1 + i % 5,
                    "revision": rng.randint(1, 9),
                    "default_weight": 20.0,
                    "default_reps": 8,
                    "muscle_groups": muscle(1 + i % 4),
                }
                for i in range(1, 31)
            ],
        )
        workouts, entries = [], []
        for n in range(1500):
            workouts.append(
                {
                    "id": f"h{n}",
                    "user_id": f"u{rng.randrange(60)}",
                    "completed_at": now - timedelta(minutes=minutes()),
                }
            )
            entries.append(
                {
                    "workout_id": f"h{n}",
                    "position": 0,
                    "exercise_id": rng.randint(1, 30),
                    "sets": 3,
                    "reps": 8,
                    "weight": 30.0,
                }
            )
        conn.execute(models.Workout.__table__.insert(), workouts)
        conn.execute(models.WorkoutExercise.__table__.insert(), entries)

    def backfill() -> str:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "monolith_kit.backfill",
                "--database-url",
                relay.url,
                "--source",
                "deploy.monolith.models:BACKFILL",
                "--batch-size",
                "200",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    with coach_running(relay.settings, tmp_path) as (service, port):
        status, body = get(f"http://127.0.0.1:{port}/ready")
        assert status == 503, body  # no catalog yet
        first = backfill()
        assert "backfill: catalog: 30 events" in first and "batches" in first, first
        second = backfill()
        assert second.splitlines()[-1].split(" in ")[0] == first.splitlines()[-1].split(" in ")[0]
        wait_for("/ready", lambda: get(f"http://127.0.0.1:{port}/ready")[0] == 200, 120, service)
        since = now - timedelta(days=2)
        with relay.sessions() as session:
            recent: dict[str, set[str]] = {}
            for w in session.scalars(select(models.Workout)):
                if w.completed_at >= since:
                    recent.setdefault(w.user_id, set()).add(w.id)
        truth = relay.truth()
        wait_for(
            "the projection to equal the catalog and the last two days",
            lambda: (
                projection(relay.settings) == {"exercises": truth["exercises"], "workouts": recent}
            ),
            60,
            service,
        )
        assert 500 < sum(map(len, recent.values())) < 1500
