"""The hostile corpus (tests/hostile_corpus.py) against a real `coach api` process: whatever
its bytes, a request gets no 5xx, and every 4xx of coach's has a JSON body (issue 26)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import orjson
import pytest

from config.settings import Settings
from tests.conftest import SECRET
from tests.e2e.helpers import Service, free_port, wait_for
from tests.factories import upserted
from tests.hostile_corpus import probes
from tests.raw_http import Probe, Reply, send

pytestmark = pytest.mark.slow  # a real `coach api` process per test: `make check` skips it


@pytest.fixture(scope="module")
def corpus() -> list[Probe]:
    return probes(SECRET.encode())


@pytest.fixture
def coach_api(settings: Settings, project: Callable[..., None], tmp_path) -> Iterator[int]:  # type: ignore[no-untyped-def]
    """A real `coach api` over a projection with a catalog (so a good token gets a 200)."""
    project([upserted(i) for i in range(1, 10)])
    port = free_port()
    service = Service(settings, tmp_path / "api.log", "api", "--port", str(port))
    try:
        wait_for(
            "coach api",
            lambda: send(port, Probe("health", target=b"/health")).status == 200,
            service=service,
        )
        yield port
        assert "Traceback" not in service.log(), service.log()[-4000:]
    finally:
        service.stop()


def problems_of(probe: Probe, method: bytes, reply: Reply) -> list[str]:
    """What is wrong with coach's answer to a probe (empty: nothing)."""
    where = f"{probe.name} ({method.decode(errors='replace')})"
    if reply.status == 0:
        return [f"{where}: no answer"]
    if reply.status >= 500:
        return [f"{where}: {reply.status} {reply.body[:200]!r}"]
    location = reply.headers.get(b"location", b"/")
    if not location.startswith(b"/") or location.startswith(b"//"):
        return [f"{where}: {reply.status} to {location!r}, not a path of coach's"]
    if reply.status < 400:
        return []
    if reply.headers.get(b"content-type") != b"application/json":
        return [f"{where}: {reply.status} with content-type {reply.headers.get(b'content-type')!r}"]
    if method == b"HEAD":
        return []
    try:
        detail = orjson.loads(reply.body)["detail"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return [f"{where}: {reply.status} with a body that is not an error: {reply.body[:200]!r}"]
    return [] if isinstance(detail, str) and detail else [f"{where}: empty detail"]


def test_no_hostile_request_gets_a_5xx_or_a_non_json_error(coach_api: int, corpus: list[Probe]):
    problems = []
    for probe in corpus:
        methods = [probe.method, b"HEAD"] if probe.method == b"GET" else [probe.method]
        for method in methods:
            problems += problems_of(probe, method, send(coach_api, probe, method))
    assert not problems, "\n".join(problems)


def test_the_redirect_names_no_host_of_the_clients(coach_api: int):
    """Through uvicorn's proxy headers too (the peer is 127.0.0.1, a trusted proxy)."""
    probe = Probe(
        "redirect",
        target=b"/fitness/wod/?tz=UTC",
        host=b"evil.example",
        headers=((b"x-forwarded-proto", b"https"), (b"x-forwarded-host", b"evil.example")),
    )
    reply = send(coach_api, probe)
    assert reply.status == 307 and reply.headers[b"location"] == b"/fitness/wod?tz=UTC"
