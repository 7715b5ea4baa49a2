"""The hostile corpus (tests/hostile_corpus.py) through the real nginx template, with a real
`coach api` as the upstream at 100 %: no request gets a 5xx, coach's 4xx bodies are JSON,
and no request coach refused reaches the monolith (issue 26: a 500 of coach's sent the
refused request to the legacy fallback)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from config.settings import Settings
from consumer.commit import commit_records
from consumer.handlers import Context
from consumer.records import Record
from store.db import connect
from store.instants import now_us
from tests.conftest import SECRET
from tests.e2e.helpers import Service, free_port, wait_for
from tests.factories import key_of, upserted, value_of
from tests.hostile_corpus import probes
from tests.raw_http import Probe, Reply, send
from tests.routing.conftest import Backend
from tests.routing.test_fallback import ALL_COACH, fields


def seed_catalog(db_path: Path) -> None:
    """A projection with a catalog of 9 exercises, as the consumer writes it."""
    events = [upserted(i) for i in range(1, 10)]
    records = [Record("ex", 0, n, key_of(e), value_of(e)) for n, e in enumerate(events)]
    conn = connect(db_path)
    commit_records(conn, records, roles={"ex": "exercises"}, ctx=Context(now_us=now_us()))
    conn.close()


@pytest.fixture
def coach_api(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """host:port of a real `coach api` over a projection with a catalog."""
    seed_catalog(settings.db_path)
    port = free_port()
    service = Service(settings, tmp_path / "api.log", "api", "--port", str(port))
    try:
        wait_for(
            "coach api",
            lambda: send(port, Probe("health", target=b"/health")).status == 200,
            service=service,
        )
        yield f"127.0.0.1:{port}"
        assert "Traceback" not in service.log(), service.log()[-4000:]
    finally:
        service.stop()


def is_json_error(reply: Reply, method: bytes) -> bool:
    if reply.headers.get(b"content-type") != b"application/json":
        return False
    if method == b"HEAD":
        return True
    try:
        return isinstance(orjson.loads(reply.body)["detail"], str)
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return False


def test_no_hostile_request_gets_a_5xx_or_reaches_the_monolith_after_coach(
    start_nginx, coach_api: str, legacy: Backend
):
    nginx = start_nginx(coach=coach_api, legacy=legacy.address, percent=ALL_COACH)
    problems = []
    logged = 0
    for probe in probes(SECRET.encode()):
        methods = [probe.method, b"HEAD"] if probe.method == b"GET" else [probe.method]
        for method in methods:
            where = f"{probe.name} ({method.decode(errors='replace')})"
            reply = send(nginx.port, probe, method)
            lines = nginx.log_lines(at_least=logged + 1)
            if len(lines) != logged + 1:
                problems.append(f"{where}: {len(lines) - logged} access log lines, not 1")
            line = fields(lines[-1]) if len(lines) == logged + 1 else {}
            logged = len(lines)
            if reply.status == 0 or reply.status >= 500:
                problems.append(f"{where}: {reply.status} {reply.body[:200]!r} {line}")
            if line.get("served_by") == "legacy_fallback":
                problems.append(f"{where}: sent to the monolith after coach: {line}")
            by_coach = line.get("served_by") == "coach"
            if by_coach and reply.status >= 400 and not is_json_error(reply, method):
                problems.append(f"{where}: coach's {reply.status} is not JSON: {reply.body!r}")
    fallen_back = [s for s in legacy.seen if s.path.split("?")[0] == "/fitness/wod"]
    problems += [f"the monolith got {s.method} {s.path[:100]}" for s in fallen_back]
    assert not problems, "\n".join(problems)
