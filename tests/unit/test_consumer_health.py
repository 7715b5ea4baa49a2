"""What the consumer records as wrong (consumer/health.py): a fixed category and the
exception's class, never its text (issue 26.7a); the text goes to the log."""

from __future__ import annotations

import logging
import sqlite3

from aiokafka.errors import KafkaConnectionError

from consumer.health import OUTAGE_REMINDER_SECONDS, Health, category

ADDRESS = "10.20.30.40"


def test_an_unreachable_broker_is_recorded_without_its_address(caplog):
    """The exception names the broker's address: /lag and /ready get the category only."""
    health = Health()
    exc = KafkaConnectionError(f"Unable to bootstrap from [('{ADDRESS}', 9092, 2)]")
    with caplog.at_level(logging.WARNING, logger="consumer.health"):
        health.unreachable(exc)
    assert health.summary() == "broker unreachable (KafkaConnectionError)"
    assert ADDRESS in caplog.text  # the operator's log keeps the whole story


def test_a_write_failure_is_recorded_as_sqlite_error_code(tmp_path, caplog):
    """A real SQLite error: its class and code name (`SQLITE_READONLY`), not its text."""
    path = tmp_path / "x.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit()
    readonly = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        readonly.execute("INSERT INTO t VALUES (1)")
    except sqlite3.OperationalError as exc:
        error = exc
    health = Health()
    with caplog.at_level(logging.ERROR, logger="consumer.health"):
        health.write_failed(error)
    assert health.summary() == "projection write failed (OperationalError SQLITE_READONLY)"
    assert "projection write failed: attempt to write a readonly database" in caplog.text


def test_the_parts_are_joined_and_the_topics_named():
    health = Health(
        missing_topics=["fitness.workouts"],
        unavailable_topics={"fitness.erasures": "LeaderNotAvailableError"},
    )
    health.write_failed(OSError())
    assert health.summary() == (
        "topic fitness.workouts does not exist yet; "
        "topic fitness.erasures unavailable (LeaderNotAvailableError); "
        "projection write failed (OSError)"
    )


def test_an_unreachable_broker_forgets_what_its_last_answer_said_of_the_topics():
    """Nothing is known of the topics without a broker: /lag says it is unreachable alone."""
    health = Health(
        missing_topics=["fitness.workouts"],
        unavailable_topics={"fitness.erasures": "LeaderNotAvailableError"},
    )
    health.unreachable(TimeoutError())
    assert health.summary() == "broker unreachable (TimeoutError)"


def test_the_category_of_any_exception_is_its_class():
    assert category(ValueError(f"{ADDRESS}:9092")) == "ValueError"


def test_an_outage_is_logged_at_its_start_then_reminded_then_ended(caplog):
    """One warning when it starts, a reminder at most every OUTAGE_REMINDER_SECONDS with how
    long it has lasted, one line when the broker is back (issue 33.6)."""
    now = [100.0]
    health = Health(clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="consumer.health"):
        for _ in range(3):  # attempts in the first seconds: the start only
            health.unreachable(KafkaConnectionError("refused"))
            now[0] += 1
        now[0] = 100.0 + OUTAGE_REMINDER_SECONDS
        health.unreachable(KafkaConnectionError("refused"))
        health.unreachable(KafkaConnectionError("refused"))
        now[0] += 5
        health.reached()
        health.reached()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3, messages
    assert messages[0].startswith("broker unreachable (KafkaConnectionError)")
    assert messages[1] == "broker still unreachable after 30 s (KafkaConnectionError); retrying"
    assert messages[2] == "broker reachable again after 35 s"
    assert health.reachable
