"""When coach fails, a GET falls back to the monolith; nothing else does."""

from __future__ import annotations

import re

import pytest

from tests.routing.conftest import COACH_READ_TIMEOUT, Backend, call

# Every token goes to coach at 100 %, to the monolith at 0 %.
ALL_COACH = 100
ALL_LEGACY = 0


def fields(line: str) -> dict[str, str]:
    """The key=value fields of an access log line (values up to the next ` key=`)."""
    return {
        m.group(1): m.group(2).strip()
        for m in re.finditer(r"(\w+)=(.*?)(?= \w+=|$)", line.split('" ', 1)[1])
    }


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_coach_5xx_is_answered_by_the_monolith(
    start_nginx, coach: Backend, legacy: Backend, status: int
):
    """coach answers 5xx to a GET: the client gets the monolith's 200, and the access log
    names both upstreams with their statuses."""
    coach.status = status
    nginx = start_nginx(coach=coach.address, legacy=legacy.address, percent=ALL_COACH)
    answer = call(nginx.port, "/fitness/wod?tz=Asia/Tokyo", token="t1")
    assert (answer.status, answer.served_by) == (200, "legacy")
    assert [s.path for s in coach.seen] == [s.path for s in legacy.seen]
    assert legacy.seen[0].path == "/fitness/wod?tz=Asia/Tokyo"
    assert legacy.seen[0].headers["Authorization"] == "Bearer t1"
    (line,) = nginx.log_lines(at_least=1)
    logged = fields(line)
    assert logged["side"] == "coach"
    assert logged["served_by"] == "legacy_fallback"
    assert logged["upstream"] == f"{coach.address} : {legacy.address}"
    assert logged["upstream_status"] == f"{status} : 200"
    assert logged["status"] == "200"


def test_coach_refusing_connections_is_answered_by_the_monolith(
    start_nginx, legacy: Backend, refusing_address: str
):
    """coach is down (connection refused): the monolith answers the GET."""
    nginx = start_nginx(coach=refusing_address, legacy=legacy.address, percent=ALL_COACH)
    answer = call(nginx.port, token="t1")
    assert (answer.status, answer.served_by) == (200, "legacy")
    (line,) = nginx.log_lines(at_least=1)
    assert fields(line)["upstream_status"] == "502 : 200"


def test_coach_too_slow_is_answered_by_the_monolith_after_the_timeout(
    start_nginx, coach: Backend, legacy: Backend
):
    """coach does not answer within the 2 s read timeout: the monolith answers, and the client
    waited the timeout and little more."""
    coach.delay = COACH_READ_TIMEOUT + 1.5
    nginx = start_nginx(coach=coach.address, legacy=legacy.address, percent=ALL_COACH)
    answer = call(nginx.port, token="t1")
    assert (answer.status, answer.served_by) == (200, "legacy")
    assert COACH_READ_TIMEOUT <= answer.seconds < COACH_READ_TIMEOUT + 1.0
    (line,) = nginx.log_lines(at_least=1)
    assert fields(line)["upstream_status"] == "504 : 200"


def test_head_falls_back_like_get(start_nginx, coach: Backend, legacy: Backend):
    """A HEAD that coach fails is answered by the monolith too."""
    coach.status = 502
    nginx = start_nginx(coach=coach.address, legacy=legacy.address, percent=ALL_COACH)
    answer = call(nginx.port, method="HEAD", token="t1")
    assert answer.status == 200
    assert [s.method for s in legacy.seen] == ["HEAD"]


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_never_reaches_the_monolith(
    start_nginx, coach: Backend, legacy: Backend, status: int
):
    """coach answers 401/403: the client gets it as it is (with WWW-Authenticate), and the
    monolith never sees the request (falling back would bypass coach's auth)."""
    coach.status = status
    nginx = start_nginx(coach=coach.address, legacy=legacy.address, percent=ALL_COACH)
    answer = call(nginx.port, token="forged")
    assert (answer.status, answer.served_by) == (status, "coach")
    if status == 401:
        assert answer.headers["www-authenticate"] == "Bearer"
    assert legacy.count() == 0


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_request_other_than_get_is_never_sent_to_both(
    start_nginx, coach: Backend, legacy: Backend, method: str
):
    """A POST (PUT, PATCH, DELETE) that coach fails with 502 gets the 502: the monolith never
    sees it, and coach got the body intact."""
    coach.status = 502
    nginx = start_nginx(coach=coach.address, legacy=legacy.address, percent=ALL_COACH)
    answer = call(nginx.port, method=method, token="t1", body=b'{"x": 1}')
    assert (answer.status, answer.served_by) == (502, "coach")
    assert [(s.method, s.body) for s in coach.seen] == [(method, b'{"x": 1}')]
    assert legacy.count() == 0


def test_a_post_to_a_coach_that_is_down_is_not_sent_to_the_monolith(
    start_nginx, legacy: Backend, refusing_address: str
):
    """A POST for a coach user while coach refuses connections is a 502, not a monolith call."""
    nginx = start_nginx(coach=refusing_address, legacy=legacy.address, percent=ALL_COACH)
    answer = call(nginx.port, method="POST", token="t1", body=b"{}")
    assert answer.status == 502
    assert legacy.count() == 0


def test_a_monolith_user_gets_the_monolith_only(start_nginx, coach: Backend, legacy: Backend):
    """A user on the monolith's side gets its answers as they are, even a 500 or a POST:
    there is no fallback to coach."""
    legacy.status = 500
    nginx = start_nginx(coach=coach.address, legacy=legacy.address, percent=ALL_LEGACY)
    assert call(nginx.port, token="t1").status == 500
    assert call(nginx.port, method="POST", token="t1", body=b"{}").status == 500
    assert [s.method for s in legacy.seen] == ["GET", "POST"]
    assert coach.count() == 0
    logged = [fields(line) for line in nginx.log_lines(at_least=2)]
    assert [(f["side"], f["served_by"], f["upstream_status"]) for f in logged] == [
        ("legacy", "legacy", "500"),
        ("legacy", "legacy", "500"),
    ]


def test_the_rest_of_the_monolith_is_not_split(start_nginx, coach: Backend, legacy: Backend):
    """Paths other than /fitness/wod go to the monolith even at 100 %."""
    nginx = start_nginx(coach=coach.address, legacy=legacy.address, percent=ALL_COACH)
    for path in ["/", "/fitness/history", "/fitness/wod/extra", "/health"]:
        assert call(nginx.port, path, token="t1").served_by == "legacy", path
    assert coach.count() == 0


def test_coach_gets_the_request_as_the_client_sent_it(start_nginx, coach: Backend, legacy: Backend):
    """coach sees the path, query and Authorization header unchanged, plus the forwarding
    headers; a success is logged as coach's alone."""
    nginx = start_nginx(coach=coach.address, legacy=legacy.address, percent=ALL_COACH)
    answer = call(nginx.port, "/fitness/wod?fresh=true&tz=Europe/Berlin", token="abc.def.ghi")
    assert (answer.status, answer.served_by) == (200, "coach")
    (seen,) = coach.seen
    assert seen.path == "/fitness/wod?fresh=true&tz=Europe/Berlin"
    assert seen.headers["Authorization"] == "Bearer abc.def.ghi"
    assert seen.headers["X-Forwarded-For"] == "127.0.0.1"
    assert seen.headers["X-Request-ID"]
    logged = fields(nginx.log_lines(at_least=1)[0])
    assert (logged["side"], logged["served_by"], logged["upstream"]) == (
        "coach",
        "coach",
        coach.address,
    )
    assert logged["upstream_status"] == "200"
