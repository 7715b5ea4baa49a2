"""The WOD's fast path (api/fastpath.py) answers exactly as FastAPI's own route does.

Each request is sent twice to the same running app, through its whole middleware stack:
once as a client sends it (the fast path answers) and once under a root path, which the
fast path leaves to FastAPI's routing, dependencies and exception handlers. Status, headers
and body must be the same, byte for byte (the clock is fixed, and a day's WOD is drawn from
the user, the day and the catalog, so it repeats).
"""

from __future__ import annotations

import random
import string
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import completed, upserted
from tests.integration.conftest import make_token

S = 1_000_000
NOW = 1_900_000_000 * S


def clock() -> int:
    return NOW


Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


def call(
    client: TestClient,
    method: str,
    query: bytes,
    headers: list[tuple[bytes, bytes]],
    *,
    via_fastapi: bool,
) -> Answer:
    """One request straight to the ASGI app (on the TestClient's own event loop)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/fitness/wod",
        "raw_path": b"/fitness/wod",
        "root_path": "/via-fastapi" if via_fastapi else "",
        "query_string": query,
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    started: dict[str, Any] = {}
    body = bytearray()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.update(message)
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    async def run() -> None:
        await client.app(scope, receive, send)  # type: ignore[arg-type]

    assert client.portal is not None
    client.portal.call(run)
    return started["status"], sorted(started.get("headers", [])), bytes(body)


def auth(token: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {token}".encode())]


EXPIRED = make_token("7", exp=NOW // S - 3600 * 24 * 365 * 30)
CASES: dict[str, tuple[str, bytes, list[tuple[bytes, bytes]]]] = {
    "good": ("GET", b"", auth(make_token("7"))),
    "head": ("HEAD", b"", auth(make_token("7"))),
    "user with history": ("GET", b"", auth(make_token("u-42"))),
    "tz": ("GET", b"tz=Asia/Tokyo", auth(make_token("7"))),
    "tz claim": ("GET", b"", auth(make_token("8", zoneinfo="America/New_York"))),
    "repeated tz, last wins": ("GET", b"tz=Nowhere/X&tz=Europe/Berlin", auth(make_token("7"))),
    "unknown tz": ("GET", b"tz=Mars/Olympus", auth(make_token("7"))),
    "tz too long": ("GET", b"tz=" + b"A" * 65, auth(make_token("7"))),
    "bad claim tz": ("GET", b"", auth(make_token("9", zoneinfo="Not/AZone"))),
    "fresh=false": ("GET", b"fresh=no", auth(make_token("7"))),
    "fresh=maybe": ("GET", b"fresh=maybe", auth(make_token("7"))),
    "unknown parameter": ("GET", b"colour=red", auth(make_token("7"))),
    "no header": ("GET", b"", []),
    "basic": ("GET", b"", [(b"authorization", b"Basic dXNlcjpwdw==")]),
    "empty bearer": ("GET", b"", [(b"authorization", b"Bearer ")]),
    "garbage token": ("GET", b"", auth("a.b.c")),
    "expired": ("GET", b"", auth(EXPIRED)),
    "wrong key": ("GET", b"", auth(make_token("7", key="another-secret-" + "x" * 40))),
    "two headers, first counts": (
        "GET",
        b"",
        [(b"authorization", b"Basic x"), *auth(make_token("7"))],
    ),
    "latin-1 header": ("GET", b"", [(b"authorization", "Bearer \xe9t\xe9".encode("latin-1"))]),
    "401 before 422": ("GET", b"tz=Mars/Olympus&fresh=maybe", []),
}


@pytest.fixture
def client(api, project) -> Any:  # type: ignore[no-untyped-def]
    project([upserted(i) for i in range(1, 9)])
    yesterday = datetime.fromtimestamp((NOW - 20 * 3600 * S) / S, UTC)
    project([completed("w-1", "u-42", yesterday, [(3, 50.0, 8), (4, 20.0, 10)])], at_us=NOW)
    with api(clock=clock) as client:
        yield client


@pytest.mark.parametrize("case", list(CASES))
def test_the_fast_path_answers_as_fastapi_does(client, case):
    method, query, headers = CASES[case]
    fast = call(client, method, query, headers, via_fastapi=False)
    routed = call(client, method, query, headers, via_fastapi=True)
    assert fast == routed
    # and the other order (the first answer may have been held by the WOD cache)
    assert call(client, method, query, headers, via_fastapi=True) == fast


def test_random_queries_and_headers_answer_alike(client):
    """Fuzz: any query string and Authorization value."""
    rng = random.Random(20261201)
    alphabet = string.printable + "é\x00ÿ"
    good = make_token("7")
    for _ in range(300):
        query = "".join(rng.choice(alphabet + "&=%") for _ in range(rng.randrange(0, 40)))
        query = rng.choice([query, f"tz={query}", f"fresh={query}", f"tz=Europe/Paris&{query}"])
        value = rng.choice(
            [
                f"Bearer {good}",
                "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 60))),
                f"bearer {good}",
                f"Bearer {good[:-2]}",
            ]
        )
        raw_query = query.encode("latin-1", "replace")
        headers = [(b"authorization", value.encode("latin-1", "replace"))]
        if "fresh=" in query and any(
            t in query.lower() for t in ("fresh=1", "fresh=t", "fresh=y", "fresh=on")
        ):
            continue  # a fresh draw is random by design
        assert call(client, "GET", raw_query, headers, via_fastapi=False) == call(
            client, "GET", raw_query, headers, via_fastapi=True
        ), (query, value)


def test_fresh_draws_answer_alike_but_for_the_draw(client):
    headers = auth(make_token("7"))
    fast = call(client, "GET", b"fresh=true", headers, via_fastapi=False)
    routed = call(client, "GET", b"fresh=true", headers, via_fastapi=True)
    assert fast[0] == routed[0] == 200
    assert [h for h in fast[1] if h[0] != b"content-length"] == [
        h for h in routed[1] if h[0] != b"content-length"
    ]


def test_other_methods_and_paths_are_left_to_fastapi(client):
    headers = auth(make_token("7"))
    assert call(client, "POST", b"", headers, via_fastapi=False)[0] == 405
    assert client.get(
        "/fitness/wod/", headers={"Authorization": headers[0][1].decode()}, follow_redirects=False
    ).status_code in (307, 404)


def test_the_fast_path_is_labelled_with_the_route_in_the_metrics(client):
    for _ in range(3):
        call(client, "GET", b"", auth(make_token("7")), via_fastapi=False)
    call(client, "GET", b"", [], via_fastapi=False)
    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
    counts = {
        (s.labels["route"], s.labels["status"]): s.value
        for s in families["coach_http_requests"].samples
        if s.name == "coach_http_requests_total"
    }
    assert counts[("/fitness/wod", "200")] == 3
    assert counts[("/fitness/wod", "401")] == 1


def test_the_catalogs_absence_and_readiness_answer_alike(api, project, record_status):
    """503s: no catalog yet; and a replica that is not ready (COACH_WOD_ONLY_WHEN_READY)."""
    headers = auth(make_token("7"))
    with api(clock=clock) as empty:
        fast = call(empty, "GET", b"", headers, via_fastapi=False)
        assert fast[0] == 503
        assert fast == call(empty, "GET", b"", headers, via_fastapi=True)
    project([upserted(1)])
    with api(clock=clock, wod_only_when_ready=True) as not_ready:
        fast = call(not_ready, "GET", b"", headers, via_fastapi=False)
        assert fast[0] == 503
        assert fast == call(not_ready, "GET", b"", headers, via_fastapi=True)
