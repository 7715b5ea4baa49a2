"""Fixtures of the api's integration tests: a projection built on the spot, the consumer's
status rows, tokens, and the app over them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from config.settings import Settings
from consumer.commit import commit_records
from consumer.handlers import Context
from consumer.records import Record
from store.db import connect, transaction
from store.instants import now_us
from tests.conftest import SECRET
from tests.factories import key_of, value_of

ROLES = {"ex": "exercises", "wo": "workouts"}


@pytest.fixture
def project(settings: Settings) -> Callable[..., None]:
    """Apply events (as the monolith publishes them) to the projection, as the consumer
    would: `project(events, now_us=...)`."""
    offsets = {"ex": 0, "wo": 0}

    def apply(events: list[dict[str, Any]], *, at_us: int | None = None) -> None:
        conn = connect(settings.db_path)
        records = []
        for event in events:
            topic = "ex" if event["type"].startswith("fitness.exercise") else "wo"
            records.append(Record(topic, 0, offsets[topic], key_of(event), value_of(event)))
            offsets[topic] += 1
        current = at_us if at_us is not None else now_us()
        commit_records(
            conn,
            records,
            roles=ROLES,
            ctx=Context(now_us=current),
        )
        conn.close()

    return apply


@pytest.fixture
def record_status(settings: Settings) -> Callable[..., None]:
    """Write the consumer's status rows as it would (replacing any partitions recorded):
    `record_status(partitions=[(topic, p, next, high, last_event_us, updated_us)],
    heartbeat_at_us=..., broker_reachable=..., last_error=..., dead_letters=N)`; dead
    letters are added to those already there."""

    def write(
        *,
        partitions: Sequence[tuple[str, int, int, int | None, int | None, int]] = (),
        heartbeat_at_us: int | None = None,
        broker_reachable: bool = True,
        last_error: str | None = None,
        dead_letters: int = 0,
    ) -> None:
        conn = connect(settings.db_path)
        with transaction(conn):
            conn.execute("DELETE FROM partitions")
            conn.executemany(
                """INSERT INTO partitions (topic, partition, next_offset, high_watermark,
                     last_event_at_us, updated_at_us) VALUES (?, ?, ?, ?, ?, ?)""",
                partitions,
            )
            conn.execute(
                """UPDATE consumer_status SET heartbeat_at_us = ?, broker_reachable = ?,
                     last_error = ? WHERE singleton = 1""",
                (heartbeat_at_us, int(broker_reachable), last_error),
            )
            first = conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
            conn.executemany(
                """INSERT INTO dead_letters (topic, partition, "offset", key, value, error,
                     failed_at_us) VALUES ('wo', 9, ?, NULL, x'00', 'bad', 0)""",
                [(first + i,) for i in range(dead_letters)],
            )
        conn.close()

    return write


def make_token(
    sub: str = "7", *, key: Any = SECRET, algorithm: str = "HS256", **claims: Any
) -> str:
    body = {"sub": sub, "exp": int(time.time()) + 300, **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=algorithm)


def bearer(sub: str = "7", **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(sub, **claims)}"}


@pytest.fixture
def api(settings: Settings) -> Callable[..., AbstractContextManager[TestClient]]:
    """`with api(**setting_overrides, clock=...) as client:` the app over the projection,
    reading the consumer's status and catalog version on every request by default."""

    @contextmanager
    def started(clock: Callable[[], int] | None = None, **overrides: Any) -> Iterator[TestClient]:
        overrides.setdefault("status_cache_seconds", 0)
        app_settings = settings.model_copy(update=overrides)
        app = create_app(app_settings) if clock is None else create_app(app_settings, clock=clock)
        with TestClient(app) as client:
            yield client

    return started
