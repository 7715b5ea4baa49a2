"""The comparison gate (`coach rollout compare`) between two real implementations over the
same data: the stand-in monolith's own WOD from its PostgreSQL tables, and coach consuming
those tables' outbox through Debezium in Kafka Connect and the real broker. It passes; and
a monolith whose answer holds an exercise the user did yesterday fails it."""

from __future__ import annotations

import json
import random
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from deploy.monolith.wod import done_between
from tests.cdc.conftest import Monolith
from tests.cdc.monolith_server import Served, served, workout
from tests.cdc.test_cdc import caught_up, coach_running
from tests.conftest import SECRET
from tests.e2e.helpers import coach
from wod.day import yesterday

pytestmark = [pytest.mark.broker, pytest.mark.cdc]

USERS = 40  # per group: the gate asks users 1 to 80


def _write_history(mono: Served) -> None:
    """12 exercises (one renamed, one deleted); users 1-80 with workouts yesterday and
    today (UTC); one workout deleted, one user erased."""
    rng = random.Random(29)
    for i in range(1, 14):
        mono.put_exercise(i)
    mono.put_exercise(5, "Renamed Press")
    assert mono.client.delete("/exercises/13").status_code == 204
    now = datetime.now(UTC)
    start = datetime.combine(now.date() - timedelta(days=1), datetime.min.time(), UTC)
    for user in range(1, 2 * USERS + 1):
        at = start + timedelta(seconds=rng.randrange(86_400))
        mono.log(workout(str(user), at, *rng.sample(range(1, 13), 3)))
        mono.log(workout(str(user), now - timedelta(seconds=rng.randrange(1, 60)), 7))
    gone = mono.log(workout("3", start + timedelta(hours=2), 1, 2))
    assert mono.client.delete(f"/workouts/{gone}").status_code == 204
    assert mono.client.post("/users/4/erase").status_code == 200


def _events_file(monolith: Monolith, path: Path) -> Path:
    """The monolith's outbox as JSON lines of CloudEvents (what the gate folds)."""
    with monolith.engine.connect() as conn:
        rows = conn.execute(text("SELECT payload::text FROM outbox ORDER BY created_at, id"))
        path.write_text("".join(json.dumps(json.loads(p)) + "\n" for (p,) in rows))
    return path


@contextmanager
def yesterday_leaking(mono: Served, monolith: Monolith) -> Iterator[str]:
    """A monolith whose WOD swaps its first exercise for one the user did yesterday (a
    broken rule the gate must catch); its base URL."""

    def app(environ, start_response):  # type: ignore[no-untyped-def]
        request = Request(environ)
        auth = request.headers.get("Authorization", "")
        asked = urllib.request.Request(f"{mono.url}/fitness/wod", headers={"Authorization": auth})
        with urllib.request.urlopen(asked, timeout=10) as answer:
            body = json.loads(answer.read())
        user = mono.app.config["verifier"].verify_header(auth).user_id
        with Session(monolith.engine) as session:
            done = sorted(done_between(session, user, yesterday(datetime.now(UTC), UTC)))
            names = dict(session.execute(text("SELECT id, name FROM exercises")).all())
        leaked = [i for i in done if i in names]
        if leaked and body["exercises"]:
            body["exercises"][0].update(id=leaked[0], name=names[leaked[0]])
        return Response(json.dumps(body), content_type="application/json")(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_gate_passes_coach_against_the_monoliths_own_wod_and_fails_a_leak(
    relay: Monolith, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """coach fed through the outbox, Connect and the broker vs the monolith's WOD from its
    tables: `coach rollout compare` passes; the same monolith leaking one of yesterday's
    exercises fails it (exit 1, naming the rule)."""
    monkeypatch.setenv("LEGACY_DELAY_MIN", "0")
    monkeypatch.setenv("LEGACY_DELAY_MAX", "0")
    monkeypatch.setenv("MONOLITH_JWT_SECRET", SECRET)
    with served(relay.url) as mono, coach_running(relay.settings, tmp_path) as (service, port):
        _write_history(mono)
        caught_up(relay, service)
        events = _events_file(relay, tmp_path / "events.jsonl")

        def gate(monolith_url: str) -> tuple[int, str]:
            args = ["--coach", f"http://127.0.0.1:{port}", "--monolith", monolith_url]
            args += ["--events", str(events), "--users", str(USERS), "--tz", "UTC"]
            result = coach(relay.settings, "rollout", "compare", *args, check=False)
            return result.returncode, result.stdout.decode() + result.stderr.decode()

        code, report = gate(mono.url)
        assert code == 0 and "verdict: pass" in report, report
        with yesterday_leaking(mono, relay) as leaking:
            code, report = gate(leaking)
        assert code == 1 and "was done yesterday" in report, report
        assert "monolith: 0 answers break" not in report, report
