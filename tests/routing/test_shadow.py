"""Shadow traffic (phase 2): nginx mirrors a sample of the monolith's GET /fitness/wod to coach,
marked X-Coach-Shadow, while the monolith answers; a slow coach delays no client beyond the
mirror's cap. Stand-in backends; test_shadow_metrics.py runs a real coach behind it."""

from __future__ import annotations

import http.client
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.routing.conftest import Backend, Nginx, call
from tests.routing.split import side
from tests.routing.test_fallback import fields

SHADOW_CAP = 0.4
"""The most a mirror can hold a client's next request: connect 100 ms + read 300 ms."""


def start_shadow(
    start_nginx: Callable[..., Nginx],
    monkeypatch: pytest.MonkeyPatch,
    *,
    coach: Backend,
    legacy: Backend,
    percent: int,
    shadow: int,
) -> Nginx:
    """nginx rendered with COACH_SHADOW_PERCENT (render_env passes the environment on)."""
    monkeypatch.setenv("COACH_SHADOW_PERCENT", str(shadow))
    return start_nginx(coach=coach.address, legacy=legacy.address, percent=percent)


def mirrored(backend: Backend) -> list[str]:
    """Paths of the requests `backend` received marked as shadow traffic."""
    with backend._lock:
        return [s.path for s in backend.seen if s.headers.get("X-Coach-Shadow") == "1"]


def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class Client:
    """One keep-alive client connection (what an app holds), with headers of its choosing."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)

    def get(
        self, token: str, path: str = "/fitness/wod", **headers: str
    ) -> tuple[int, bytes, float]:
        started = time.monotonic()
        self.conn.request("GET", path, headers={"Authorization": f"Bearer {token}", **headers})
        response = self.conn.getresponse()
        body = response.read()
        return response.status, body, time.monotonic() - started

    def close(self) -> None:
        self.conn.close()


def test_the_shadow_sample_is_the_configured_share(
    start_nginx, monkeypatch, coach: Backend, legacy: Backend
):
    """At COACH_SHADOW_PERCENT=30 and no user on coach, 30 % +- 5 points of 1,000 monolith GETs
    are mirrored (the access log's shadow=1), every client gets the monolith's answer, and coach
    receives each mirrored request, marked X-Coach-Shadow: 1 with its path and token, and no
    other. The only mirrors it may miss are those nginx logged as failed (on a busy machine,
    the stand-in backend does not always read a request within the 300 ms cap)."""
    nginx = start_shadow(start_nginx, monkeypatch, coach=coach, legacy=legacy, percent=0, shadow=30)
    n = 1000
    for i in range(n):
        answer = call(nginx.port, f"/fitness/wod?i={i}", token=f"user-{i % 97}")
        assert (answer.status, answer.served_by) == (200, "legacy")
    lines = nginx.log_lines(at_least=n)
    sampled = {line.split('"')[1].split()[1] for line in lines if fields(line)["shadow"] == "1"}
    assert 25 <= 100 * len(sampled) / n <= 35, len(sampled)
    failed = sum(
        "[error]" in line and 'subrequest: "/_coach_shadow"' in line
        for line in nginx.errors().splitlines()
    )
    eventually(lambda: coach.count() + failed >= len(sampled))
    received = mirrored(coach)
    assert len(received) + failed >= len(sampled), (len(received), failed, len(sampled))
    assert set(received) <= sampled and len(set(received)) == len(received) == coach.count()
    tokens = {f"Bearer user-{i}" for i in range(97)}
    assert {s.headers["Authorization"] for s in coach.seen} <= tokens
    assert legacy.count() == n
    assert all(s.headers.get("X-Coach-Shadow") is None for s in legacy.seen)


def test_only_the_monolith_users_gets_are_mirrored(
    start_nginx, monkeypatch, coach: Backend, legacy: Backend
):
    """At 50 % of users on coach and a 100 % shadow: each monolith user's GET is mirrored once;
    a coach user's GET, a POST, a HEAD and other paths never are; a coach user who sends
    X-Coach-Shadow himself reaches coach without it (he cannot leave the SLO metrics)."""
    nginx = start_shadow(
        start_nginx, monkeypatch, coach=coach, legacy=legacy, percent=50, shadow=100
    )
    tokens = [f"mix-{i}" for i in range(40)]
    on_legacy = [t for t in tokens if side(f"Bearer {t}", 50) == "legacy"]
    on_coach = [t for t in tokens if side(f"Bearer {t}", 50) == "coach"]
    assert on_legacy and on_coach
    client = Client(nginx.port)
    try:
        for t in tokens:
            status, _, _ = client.get(t, f"/fitness/wod?who={t}", **{"X-Coach-Shadow": "1"})
            assert status == 200
    finally:
        client.close()
    for t in on_legacy:
        assert call(nginx.port, method="POST", token=t, body=b"{}").status == 200
        assert call(nginx.port, method="HEAD", token=t).status == 200
        assert call(nginx.port, "/fitness/history", token=t).status == 200
    expected = sorted(f"/fitness/wod?who={t}" for t in on_legacy)
    assert eventually(lambda: sorted(mirrored(coach)) == expected), mirrored(coach)
    real = [s for s in coach.seen if s.headers.get("X-Coach-Shadow") != "1"]
    assert sorted(s.path for s in real) == sorted(f"/fitness/wod?who={t}" for t in on_coach)
    assert all("X-Coach-Shadow" not in s.headers for s in real)
    assert all("X-Coach-Shadow" not in s.headers for s in legacy.seen)


def test_a_coach_fallback_is_not_mirrored(
    start_nginx, monkeypatch, coach: Backend, legacy: Backend
):
    """A coach user's GET that falls back to the monolith (coach 502) went to coach already: it
    is not sent to coach a second time as shadow traffic."""
    coach.status = 502
    nginx = start_shadow(
        start_nginx, monkeypatch, coach=coach, legacy=legacy, percent=100, shadow=100
    )
    assert call(nginx.port, token="t1").served_by == "legacy"
    time.sleep(0.3)
    assert coach.count() == 1 and mirrored(coach) == []


def test_shadow_zero_renders_no_mirror(start_nginx, monkeypatch, coach: Backend, legacy: Backend):
    """COACH_SHADOW_PERCENT=0 (and unset) renders `mirror off`: coach gets nothing."""
    nginx = start_shadow(start_nginx, monkeypatch, coach=coach, legacy=legacy, percent=0, shadow=0)
    assert re.search(r"^\s*mirror off;", nginx.conf.read_text(), re.M)
    for i in range(30):
        assert call(nginx.port, token=f"z-{i}").served_by == "legacy"
    time.sleep(0.3)
    assert coach.count() == 0


def _next_request_delays(nginx: Nginx, requests: int = 4) -> list[float]:
    """Seconds each GET took on one keep-alive connection (the monolith answers at once)."""
    client = Client(nginx.port)
    try:
        took = []
        for i in range(requests):
            status, body, seconds = client.get(f"slow-{i}")
            assert (status, b'"legacy"' in body) == (200, True)
            took.append(seconds)
        return took
    finally:
        client.close()


def test_a_slow_coach_under_shadow_delays_no_request_beyond_the_cap(
    start_nginx, monkeypatch, coach: Backend, legacy: Backend
):
    """coach takes 1.5 s to answer every mirrored GET: on one keep-alive connection each of the
    client's requests still gets the monolith's answer, none waits more than the mirror's cap
    (the mirror of the request before it gives up at 300 ms), and the logged request_time of
    each stays under the cap too."""
    coach.delay = 1.5
    nginx = start_shadow(
        start_nginx, monkeypatch, coach=coach, legacy=legacy, percent=0, shadow=100
    )
    took = _next_request_delays(nginx)
    assert max(took) < SHADOW_CAP, took
    assert max(took[1:]) >= 0.2, f"the mirror's cap was not reached at all: {took}"
    logged = [fields(line) for line in nginx.log_lines(at_least=len(took))]
    assert all(float(f["request_time"]) < SHADOW_CAP for f in logged), logged
    assert all(f["shadow"] == "1" and f["served_by"] == "legacy" for f in logged)
    assert eventually(lambda: coach.count() == len(took))


def test_without_the_cap_a_slow_mirror_delays_the_next_request(
    start_nginx, monkeypatch, coach: Backend, legacy: Backend
):
    """Why the cap: the same template with the mirror's read timeout at 10 s makes each request
    after the first on the connection wait for the previous mirror's 1.5 s (ngx_http_mirror's
    known behaviour: the connection reads its next request once the subrequests are done)."""
    coach.delay = 1.5
    nginx = start_shadow(
        start_nginx, monkeypatch, coach=coach, legacy=legacy, percent=0, shadow=100
    )
    uncapped = nginx.conf.read_text().replace(
        "proxy_read_timeout 300ms;", "proxy_read_timeout 10s;"
    )
    assert uncapped != nginx.conf.read_text()
    Path(nginx.conf).write_text(uncapped)
    _reload(nginx)
    took = _next_request_delays(nginx, requests=3)
    assert took[0] < SHADOW_CAP, took
    assert min(took[1:]) >= 1.2, took


def _reload(nginx: Nginx) -> None:
    import subprocess

    subprocess.run([*nginx.args, "-s", "reload"], check=True)
    time.sleep(0.5)  # the new workers take over; the old ones finish what they hold


def test_a_mirrored_request_is_logged_as_the_monolith_answered_it(
    start_nginx, monkeypatch, coach: Backend, legacy: Backend
):
    """The mirror does not change the main request's log line: served_by=legacy, the monolith's
    upstream and status, shadow=1; coach gets the same X-Request-ID as the monolith."""
    nginx = start_shadow(
        start_nginx, monkeypatch, coach=coach, legacy=legacy, percent=0, shadow=100
    )
    assert call(nginx.port, token="t1").served_by == "legacy"
    (line,) = nginx.log_lines(at_least=1)
    logged = fields(line)
    assert (logged["side"], logged["served_by"], logged["shadow"]) == ("legacy", "legacy", "1")
    assert (logged["upstream"], logged["upstream_status"]) == (legacy.address, "200")
    assert eventually(lambda: coach.count() == 1)
    assert coach.seen[0].headers["X-Request-ID"] == legacy.seen[0].headers["X-Request-ID"]
    assert coach.seen[0].headers["X-Request-ID"] == logged["request_id"]
