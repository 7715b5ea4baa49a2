"""The WOD answered inside coach's HTTP protocol (api/inline.py) is the WOD the ASGI app
answers, byte for byte, over real sockets:

- in process, coach's real app under a real uvicorn server with coach's protocol: which
  requests start an ASGI task (none of the WODs; every other path), keep-alive and
  pipelined requests in order, HEAD, HTTP/1.0, the metrics, and an unexpected exception
  handed to the ASGI app;
- the hostile corpus (tests/hostile_corpus.py) sent to two real `coach api` processes over
  one projection, COACH_WOD_INLINE on and off: every response the same but for its date.
"""

from __future__ import annotations

import asyncio
import gc
import re
import socket
import struct
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

import api.inline
from api.app import create_app
from api.refusals import JsonRefusalProtocol
from coach.cli import KEEP_ALIVE_SECONDS, uvicorn_options
from config.settings import Settings
from tests.conftest import SECRET
from tests.e2e.helpers import Service, free_port, wait_for
from tests.factories import completed, upserted
from tests.hostile_corpus import probes
from tests.integration.conftest import make_token
from tests.raw_http import Probe, Reply, parse_reply, send


@pytest.fixture
def projected(settings: Settings, project: Callable[..., None]) -> Settings:
    when = datetime.now(UTC) - timedelta(days=3)  # a performance to suggest from, not a done
    project([upserted(i) for i in range(1, 10)] + [completed("w1", "u1", when, [(3, 40.0, 8)])])
    return settings


class _Counted(JsonRefusalProtocol):
    """coach's protocol, counting the requests it hands to the ASGI app, and its instances
    still alive."""

    asgi_tasks = 0
    alive: ClassVar[weakref.WeakSet[JsonRefusalProtocol]] = weakref.WeakSet()

    def connection_made(self, transport: Any) -> None:
        type(self).alive.add(self)
        super().connection_made(transport)

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        type(self).asgi_tasks += 1
        super()._start_asgi_task(cycle, app)


@contextmanager
def _serving(settings: Settings) -> Iterator[int]:
    """coach's app under a real uvicorn server in a thread, as `coach api` configures it."""
    options = uvicorn_options(settings)
    options["http"] = _Counted
    port = free_port()
    config = uvicorn.Config(  # as coach/cli.py `_QuietServer` configures it
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        **options,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for("the server", lambda: server.started)
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


async def _exchange(port: int, requests: list[bytes], *, pipelined: bool = True) -> list[bytes]:
    """Send `requests` on one kept-alive connection, all in one write (pipelined) or each
    after the last answer, and read their responses (by content-length; none for HEAD)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if pipelined:
            writer.write(b"".join(requests))
        out: list[bytes] = []
        for request in requests:
            if not pipelined:
                writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            is_head = request.startswith(b"HEAD ")
            out.append(head + (b"" if is_head else await reader.readexactly(length)))
        return out
    finally:
        writer.close()


def _request(method: bytes, target: bytes, token: str, extra: bytes = b"") -> bytes:
    return (
        method
        + b" "
        + target
        + b" HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer "
        + token.encode()
        + b"\r\n"
        + extra
        + b"\r\n"
    )


_GENERATED_AT = re.compile(rb'"generated_at":"[^"]*"')


def _stamped(body: bytes) -> bytes:
    """The body with its `generated_at` (the instant it was drawn) made alike."""
    return _GENERATED_AT.sub(b'"generated_at":"T"', body)


def _without_date(reply: bytes) -> bytes:
    lines = reply.split(b"\r\n")
    return _stamped(b"\r\n".join(line for line in lines if not line.startswith(b"date:")))


def _statuses(replies: list[bytes]) -> list[int]:
    return [int(r.split(b" ", 2)[1]) for r in replies]


def _wod_counts(metrics: bytes) -> dict[tuple[str, str], float]:
    """coach_http_requests_total of /fitness/wod by (method, status), from a /metrics reply."""
    return {
        (s.labels["method"], s.labels["status"]): s.value
        for f in text_string_to_metric_families(metrics.partition(b"\r\n\r\n")[2].decode())
        if f.name == "coach_http_requests"
        for s in f.samples
        if s.name == "coach_http_requests_total" and s.labels["route"] == "/fitness/wod"
    }


def test_wods_one_at_a_time_on_a_kept_alive_connection_start_no_asgi_task(
    projected: Settings,
) -> None:
    token = make_token("u1")
    requests = [
        _request(b"GET", b"/fitness/wod", token),
        _request(b"GET", b"/fitness/wod", "not-a-token"),
        _request(b"GET", b"/fitness/wod?tz=Mars/Base", token),
        _request(b"HEAD", b"/fitness/wod?tz=UTC", token),
        _request(b"GET", b"/fitness/wod?fresh=true", token, b"Content-Length: 0\r\n"),
        _request(b"GET", b"/fitness/wod", token),
    ]
    _Counted.asgi_tasks = 0
    with _serving(projected) as port:
        replies = asyncio.run(_exchange(port, requests, pipelined=False))
        assert _Counted.asgi_tasks == 0
        metrics = asyncio.run(_exchange(port, [_request(b"GET", b"/metrics", token)]))[0]
    assert _statuses(replies) == [200, 401, 422, 200, 200, 200]
    assert b"www-authenticate: Bearer" in replies[1]
    assert replies[3].endswith(b"\r\n\r\n")  # HEAD: no body
    assert _without_date(replies[0]) == _without_date(replies[5])
    assert _wod_counts(metrics) == {
        ("GET", "200"): 3.0,
        ("GET", "401"): 1.0,
        ("GET", "422"): 1.0,
        ("HEAD", "200"): 1.0,
    }


def test_a_pipelined_burst_gets_one_inline_answer_the_rest_in_order_through_asgi(
    projected: Settings,
) -> None:
    """One inline answer per read: a burst answered inline would hold the event loop for
    every other connection (review of 530b5fd: 1,500 pipelined WODs, another client's WOD
    waited 0.4-2 s). Behind an ASGI request, WODs wait their turn the ASGI way."""
    token = make_token("u1")
    requests = [
        _request(b"GET", b"/fitness/wod", token),  # inline
        _request(b"GET", b"/fitness/wod", "not-a-token"),
        _request(b"GET", b"/health", token),
        _request(b"HEAD", b"/fitness/wod", token),
        _request(b"GET", b"/fitness/wod", token),
    ]
    _Counted.asgi_tasks = 0
    with _serving(projected) as port:
        replies = asyncio.run(_exchange(port, requests))
    assert _statuses(replies) == [200, 401, 200, 200, 200]
    assert b'"status"' in replies[2] and b'"exercises"' in replies[4]
    assert _without_date(replies[0]) == _without_date(replies[4])  # inline and ASGI alike
    assert _Counted.asgi_tasks == 4


def test_a_wod_that_declares_a_body_is_answered_without_waiting_for_it(
    projected: Settings,
) -> None:
    """As the ASGI way answers: at once, the body never read (review of 530b5fd: inline, a
    body that never came left the request unanswered)."""
    token = make_token("u1")
    with _serving(projected) as port:
        for extra in (b"Content-Length: 10\r\n", b"Transfer-Encoding: chunked\r\n"):
            reply = asyncio.run(_exchange(port, [_request(b"GET", b"/fitness/wod", token, extra)]))
            assert _statuses(reply) == [200], extra


def test_trailer_fields_are_not_request_headers(projected: Settings) -> None:
    """A chunked body's trailer cannot carry the Authorization (nor X-Coach-Shadow)."""
    request = (
        b"GET /fitness/wod HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\nAuthorization: Bearer " + make_token("u1").encode() + b"\r\n\r\n"
    )
    with _serving(projected) as port:
        reply = asyncio.run(_exchange(port, [request]))
    assert _statuses(reply) == [401]


def test_requests_behind_a_response_that_closed_the_connection_are_not_run(
    projected: Settings,
) -> None:
    """HTTP/1.0 is never kept alive: what the client pipelined after it is dropped, not
    answered into a closed connection and counted (review of 530b5fd)."""
    token = make_token("u1")
    first = b"GET /fitness/wod HTTP/1.0\r\nConnection: keep-alive\r\nAuthorization: Bearer "
    burst = first + token.encode() + b"\r\n\r\n"
    burst += b"".join(_request(b"GET", b"/fitness/wod", token) for _ in range(5))
    burst += _request(b"GET", b"/health", token)
    _Counted.asgi_tasks = 0
    with _serving(projected) as port:
        reply = asyncio.run(_read_all(port, burst))
        metrics = asyncio.run(_exchange(port, [_request(b"GET", b"/metrics", token)]))[0]
    assert reply.count(b"HTTP/1.1 ") == 1 and b"\r\nconnection: close\r\n" in reply
    assert _wod_counts(metrics) == {("GET", "200"): 1.0}
    assert _Counted.asgi_tasks == 1  # /metrics


def test_http_1_0_and_connection_close_are_answered_then_closed(projected: Settings) -> None:
    token = make_token("u1")
    with _serving(projected) as port:
        for request in (
            b"GET /fitness/wod HTTP/1.0\r\nAuthorization: Bearer " + token.encode() + b"\r\n\r\n",
            _request(b"GET", b"/fitness/wod", token, b"Connection: close\r\n"),
        ):
            reply = asyncio.run(_read_all(port, request))
            assert reply.startswith(b"HTTP/1.1 200 OK\r\n"), reply[:200]
            assert b"\r\nconnection: close\r\n" in reply
            assert parse_reply(reply).body.startswith(b"{")


def test_a_connection_reset_by_the_client_leaves_no_protocol_behind(projected: Settings) -> None:
    """uvicorn leaves the keep-alive timer of a reset connection running, holding its
    protocol for the 75 s keep-alive: a client resetting connections piled them up."""
    token = make_token("u1")
    _Counted.alive.clear()
    with _serving(projected) as port:
        for _ in range(20):
            with socket.create_connection(("127.0.0.1", port)) as conn:
                conn.sendall(_request(b"GET", b"/fitness/wod", token))
                conn.recv(65536)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        wait_for("the resets", lambda: (gc.collect(), len(_Counted.alive) == 0)[1], timeout=10)


async def _read_all(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    data = await asyncio.wait_for(reader.read(), 10)  # to the server's close
    writer.close()
    return data


def test_an_unexpected_exception_is_handed_to_the_asgi_app(
    projected: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("not an HTTP error")

    monkeypatch.setattr(api.inline, "answer_wod", broken)
    _Counted.asgi_tasks = 0
    with _serving(projected) as port:
        token = make_token("u1")
        reply = asyncio.run(_exchange(port, [_request(b"GET", b"/fitness/wod", token)]))
    assert reply[0].startswith(b"HTTP/1.1 200 OK\r\n") and b'"exercises"' in reply[0]
    assert _Counted.asgi_tasks == 1


@pytest.mark.slow  # two real `coach api` processes
def test_the_hostile_corpus_gets_the_same_answers_inline_and_through_the_asgi_app(
    projected: Settings, tmp_path: Path
) -> None:
    ports: list[int] = []
    services: list[Service] = []
    try:
        for inline in (True, False):
            port = free_port()
            settings = projected.model_copy(update={"wod_inline": inline})
            log = tmp_path / f"api-{inline}.log"
            services.append(Service(settings, log, "api", "--port", str(port)))
            wait_for("coach api", partial(_healthy, port), service=services[-1])
            ports.append(port)
        differences = []
        for probe in probes(SECRET.encode()):
            for method in [probe.method, b"HEAD"] if probe.method == b"GET" else [probe.method]:
                on, off = (send(port, probe, method) for port in ports)
                if _comparable(on) != _comparable(off):
                    differences.append(f"{probe.name} ({method!r}): {on} != {off}")
        assert not differences, "\n".join(differences[:20])
    finally:
        for service in services:
            service.stop()


def _healthy(port: int) -> bool:
    return send(port, Probe("health", target=b"/health")).status == 200


def _comparable(reply: Reply) -> tuple[int, dict[bytes, bytes], bytes]:
    headers = {k: v for k, v in reply.headers.items() if k not in (b"date", b"x-data-age")}
    return reply.status, headers, _stamped(reply.body)
