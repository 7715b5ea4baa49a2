"""Fixtures of the change-data-capture tests: a real PostgreSQL (the monolith's database),
a real Kafka Connect worker with Debezium's connector and outbox router, the real broker and
real coach processes.

PostgreSQL and the jars come from tools/cdc/cdc.py (the cluster in .cdc/pg, shared by the
tests, and stopped at the session's end when the session started it; each test has a
database, a replication slot, a connector and topics of its own). One Connect worker is
shared by the tests that only need the relay to run; the tests that kill or stop Connect
start a worker of their own. Without PostgreSQL or Connect the tests fail
under CI=true and are skipped elsewhere (with the command that installs them).
"""

from __future__ import annotations

import importlib.util
import os
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from deploy.monolith import models
from tests.conftest import REPO
from tests.e2e.helpers import coach, free_port

CDC_HOME = REPO / ".cdc"


def load_cdc() -> Any:
    spec = importlib.util.spec_from_file_location("cdc_tools", REPO / "tools/cdc/cdc.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cdc = load_cdc()


def _unavailable(why: str) -> None:
    message = f"{why} (apt-get install -y postgresql-15 openjdk-17-jre-headless maven)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def session_pg_port() -> int:
    """The port of this checkout's cluster: where it runs already (`make cdc`, .ci/run), else
    the configured one (5433), unless another checkout's cluster holds that: then a free port
    of this session's own, so that neither session stops the other's server."""
    ours = cdc.running_port(CDC_HOME)
    if ours is not None:
        return ours
    wanted = cdc.pg_port()
    return free_port() if cdc.port_answers(wanted) else wanted


@pytest.fixture(scope="session")
def postgres() -> Iterator[int]:
    """This checkout's PostgreSQL cluster (started if it is not running); its port, also set
    as COACH_CDC_PG_PORT for the session (the tools' default). A cluster that ran before the
    session is left running; one it starts is stopped."""
    port = session_pg_port()
    before = os.environ.get("COACH_CDC_PG_PORT")
    os.environ["COACH_CDC_PG_PORT"] = str(port)
    started_here = not cdc.postgres_running(CDC_HOME, port)
    try:
        cdc.start_postgres(CDC_HOME, port=port, quiet=True)
    except Exception as exc:
        _unavailable(f"no PostgreSQL for the CDC tests: {exc}")
    try:
        yield port
    finally:
        if started_here:
            cdc.stop_postgres(CDC_HOME, quiet=True)
        if before is None:
            os.environ.pop("COACH_CDC_PG_PORT", None)
        else:
            os.environ["COACH_CDC_PG_PORT"] = before


@pytest.fixture(scope="session")
def connect_jars() -> Path:
    try:
        return Path(cdc.ensure_jars(CDC_HOME, quiet=True))
    except Exception as exc:
        _unavailable(f"no Kafka Connect / Debezium jars: {exc}")
        raise


@pytest.fixture(scope="session")
def shared_worker(
    postgres: int,
    connect_jars: Path,
    kafka_bootstrap: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[int]:
    """A Connect worker for the tests that do not stop it; its REST port. Connectors are
    registered per test over REST (a standalone worker keeps them until it stops)."""
    home = tmp_path_factory.mktemp("connect")
    port = free_port()
    try:
        cdc.start_connect(
            home, [], rest_port=port, bootstrap=kafka_bootstrap, jars=CDC_HOME, quiet=True
        )
    except Exception as exc:
        _unavailable(f"Kafka Connect did not start: {exc}")
    try:
        yield port
    finally:
        cdc.stop_connect(home, quiet=True)


@dataclass
class Monolith:
    """A monolith database of the test's own, with the topics its connector publishes to."""

    settings: Settings
    dbname: str
    url: str
    engine: Engine
    sessions: sessionmaker[Session]
    connector: dict[str, str]

    def truth(self) -> dict[str, Any]:
        """The monolith's tables, as the projection should hold them."""
        with self.sessions() as session:
            exercises = {
                e.id: (e.name, e.revision) for e in session.scalars(select(models.Exercise))
            }
            workouts: dict[str, set[str]] = {}
            for w in session.scalars(select(models.Workout)):
                workouts.setdefault(w.user_id, set()).add(w.id)
        return {"exercises": exercises, "workouts": workouts}


def projection(settings: Settings) -> dict[str, Any]:
    """What coach's projection holds, in the shape of `Monolith.truth`."""
    if not Path(settings.db_path).exists():
        return {"exercises": {}, "workouts": {}}
    conn = sqlite3.connect(f"file:{settings.db_path}?mode=ro", uri=True, timeout=10)
    try:
        exercises = {
            i: (name, revision)
            for i, name, revision in conn.execute(
                "SELECT id, name, revision FROM exercises WHERE deleted = 0"
            )
        }
        workouts: dict[str, set[str]] = {}
        for user, workout in conn.execute(
            "SELECT user_id, workout_id FROM workouts WHERE deleted = 0"
        ):
            workouts.setdefault(user, set()).add(workout)
    except sqlite3.OperationalError:  # not created yet
        return {"exercises": {}, "workouts": {}}
    finally:
        conn.close()
    return {"exercises": exercises, "workouts": workouts}


@pytest.fixture
def monolith(postgres: int, kafka_settings: Settings) -> Iterator[Monolith]:
    """A database `m_<hex>` with the monolith's tables and the outbox, the coach topics of
    `kafka_settings`, and the connector's config (not started: see `relay`)."""
    name = f"m_{uuid.uuid4().hex[:12]}"
    cdc.create_database(name)
    url = f"postgresql+psycopg://postgres@127.0.0.1:{postgres}/{name}"
    engine = create_engine(url, pool_size=8, max_overflow=8)
    with engine.begin() as conn:
        models.create_schema(conn)
    coach(kafka_settings, "topics", "create")
    connector = cdc.connector_config(
        name,
        dbname=name,
        topics=(
            kafka_settings.topic_exercises,
            kafka_settings.topic_workouts,
            kafka_settings.topic_erasures,
        ),
    )
    try:
        yield Monolith(kafka_settings, name, url, engine, sessionmaker(engine), connector)
    finally:
        engine.dispose()
        cdc.drop_database(name, slot=connector["slot.name"])


@pytest.fixture
def relay(monolith: Monolith, shared_worker: int) -> Iterator[Monolith]:
    """The monolith with its connector running on the shared worker."""
    cdc.register(monolith.connector, rest_port=shared_worker)
    try:
        yield monolith
    finally:
        cdc.unregister(monolith.connector["name"], rest_port=shared_worker)
