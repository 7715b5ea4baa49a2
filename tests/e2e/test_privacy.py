"""Erasing a user, end to end on a real broker with real processes: `coach publish` sends
fitness.user.erased, the running consumer erases every row of the user and redacts their
dead letters, the running api stops serving what it held of them, a replay keeps them
erased, and no log or metric of the run carries a user id or a token."""

from __future__ import annotations

import json
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from store import dead_letters, files
from store.db import connect
from tests.e2e.helpers import Service, coach, free_port, lines, produce_raw, stats, wait_for
from tests.factories import completed, upserted, user_erased, value_of
from tests.integration.test_erasure import rows_naming

pytestmark = pytest.mark.broker

DEFAULTS = (20.0, 10)


def wod(port: int, token: str) -> dict:  # type: ignore[type-arg]
    request = urllib.request.Request(f"http://127.0.0.1:{port}/fitness/wod")
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def suggestions(body: dict) -> set[tuple[float, int]]:  # type: ignore[type-arg]
    return {(e["suggested_weight"], e["suggested_reps"]) for e in body["exercises"]}


def test_an_erased_user_is_gone_from_the_projection_the_api_and_a_replay(kafka_settings, tmp_path):
    settings = kafka_settings
    user = f"erase-me-{uuid.uuid4().hex[:12]}"
    other = f"keep-me-{uuid.uuid4().hex[:12]}"
    long_ago = datetime.now(UTC) - timedelta(days=5)
    yesterday = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(
        days=1
    )
    coach(settings, "topics", "create")
    coach(
        settings,
        "publish",
        input=lines(
            [upserted(i, weight=DEFAULTS[0], reps=DEFAULTS[1]) for i in range(1, 9)]
            + [
                completed("w-old", user, long_ago, [(e, 80.0, 5) for e in range(1, 9)]),
                completed("w-yday", user, yesterday, [(1, 85.0, 5), (2, 85.0, 5)]),
                completed("w-other", other, long_ago, [(e, 90.0, 5) for e in range(1, 9)]),
            ]
        ),
    )
    # Three dead letters of the user: a broken record keyed by them, their workout sent to
    # the catalog topic by mistake, and one keyed by another user.
    produce_raw(
        settings,
        [
            (
                settings.topic_workouts,
                user.encode(),
                b'{"data": {"user_id": "%s"}, broken' % user.encode(),
            ),
            (
                settings.topic_exercises,
                b"1",
                value_of(completed("w-lost", user, yesterday, [(3, 70.0, 5)])),
            ),
            (
                settings.topic_workouts,
                other.encode(),
                value_of(completed("w-mixed", user, yesterday, [(3, 70.0, 5)])),
            ),
        ],
    )
    logs: list[Path] = []

    def start(name: str, *args: str) -> Service:
        log = tmp_path / f"{name}-{len(logs)}.log"
        logs.append(log)
        return Service(settings, log, "--log-level", "DEBUG", *args)

    # Apply everything, then start again: the fold at start-up moves the old workouts into
    # the performances, so that the user has rows in both.
    consumer = start("consume", "consume")
    wait_for(
        "the projection to hold all events",
        lambda: (s := stats(settings))["exercises"] == 8 and s["dead_letters"] == 3,
        service=consumer,
    )
    assert consumer.stop() == 0
    consumer = start("consume", "consume")
    port = free_port()
    api = start("api", "api", "--port", str(port))
    outputs: list[bytes] = []
    try:
        wait_for("the fold", lambda: stats(settings)["performances"] >= 16, service=consumer)
        with connect(settings.db_path, readonly=True) as conn:
            assert {"workouts", "performances", "dead_letters"} <= set(rows_naming(conn, user))
        token = coach(settings, "token", "--sub", user).stdout.decode().strip()
        other_token = coach(settings, "token", "--sub", other).stdout.decode().strip()
        held = wait_for("the api", lambda: wod(port, token), service=api)
        assert DEFAULTS not in suggestions(held)  # their own history
        assert not {1, 2} & {e["id"] for e in held["exercises"]}  # done yesterday
        assert DEFAULTS not in suggestions(wod(port, other_token))

        published = coach(settings, "publish", input=lines([user_erased(user)]))
        outputs += [published.stdout, published.stderr]

        def defaults_only() -> dict | None:  # type: ignore[type-arg]
            body = wod(port, token)
            return body if suggestions(body) == {DEFAULTS} else None

        after = wait_for("the api to serve a new user's WOD", defaults_only, service=api)
        assert len(after["exercises"]) == 6
        assert DEFAULTS not in suggestions(wod(port, other_token))  # the other user keeps theirs
        with connect(settings.db_path, readonly=True) as conn:
            assert rows_naming(conn, user) == {}
            letters = dead_letters.oldest(conn)
            assert len(letters) == 3
            assert all(d.key is None and d.value is None and d.redacted_at_us for d in letters)
            assert "performances" in rows_naming(conn, other)
        assert stats(settings)["erased_users"] == 1

        # A rebuild from the topics, which still hold the user's workouts, ends erased too,
        # and its comparison with the live projection passes.
        replay = coach(settings, "--log-level", "DEBUG", "replay")
        outputs += [replay.stdout, replay.stderr]
        out = replay.stdout.decode()
        assert "check: same tables and same answers" in out, out
        assert settings.db_path.is_symlink()
        with connect(settings.db_path, readonly=True) as conn:
            assert rows_naming(conn, user) == {}
            assert conn.execute("SELECT count(*) FROM erased_users").fetchone()[0] == 1
        # The backup the replay kept was taken after the erasure: it holds nothing either.
        for backup in files.other_generations(settings.db_path):
            with connect(backup, readonly=True) as conn:
                assert rows_naming(conn, user) == {}, backup
        wait_for("the consumer to switch", lambda: "swapped by a replay" in consumer.log())
        assert suggestions(wod(port, token)) == {DEFAULTS}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            outputs.append(response.read())
    finally:
        assert consumer.stop() == 0, consumer.log()
        api.stop()

    # No log line and no metric of the whole run names a user or carries a token.
    texts = {str(p): p.read_bytes() for p in logs}
    texts.update({f"output {i}": o for i, o in enumerate(outputs)})
    assert sum(len(t) for t in texts.values()) > 2000  # (DEBUG: there is something to read)
    for secret in (user, other, token, other_token, token.split(".")[2]):
        leaks = [name for name, text in texts.items() if secret.encode() in text]
        assert not leaks, f"{secret[:20]}... appears in {leaks}"
