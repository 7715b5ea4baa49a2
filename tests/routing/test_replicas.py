"""Several coach replicas behind the template (COACH_UPSTREAMS): a replica that answers 503
(not ready) or is down is skipped for the next one, the monolith answers only when the
replicas tried all fail, and a request other than GET is never sent twice."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.routing.conftest import Backend, call, running
from tests.routing.test_fallback import ALL_COACH, fields


@pytest.fixture
def replicas() -> Iterator[list[Backend]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(running(Backend(f"coach-{i}"))) for i in range(3)]


def test_requests_are_spread_over_the_replicas(start_nginx, replicas, legacy: Backend):
    nginx = start_nginx(
        coach=[r.address for r in replicas], legacy=legacy.address, percent=ALL_COACH
    )
    served = Counter(call(nginx.port, token=f"t{i}").served_by for i in range(30))
    assert served == {"coach-0": 10, "coach-1": 10, "coach-2": 10}
    assert legacy.count() == 0


def test_a_replica_answering_503_is_skipped_and_then_left_alone(
    start_nginx, replicas, legacy: Backend
):
    """A replica that is not ready (503): the request it got is answered by the next replica
    (the log names both), and it gets no further request for fail_timeout; no client sees
    the 503, and the monolith gets nothing."""
    not_ready = replicas[1]
    not_ready.status = 503
    nginx = start_nginx(
        coach=[r.address for r in replicas], legacy=legacy.address, percent=ALL_COACH
    )
    answers = [call(nginx.port, token=f"t{i}") for i in range(30)]
    assert {a.status for a in answers} == {200}
    assert {a.served_by for a in answers} == {"coach-0", "coach-2"}
    assert not_ready.count() == 1  # once, then marked failed for 5 s (max_fails=1)
    assert legacy.count() == 0
    retried = [fields(line) for line in nginx.log_lines(at_least=30) if ", " in line]
    assert len(retried) == 1
    assert retried[0]["upstream"].startswith(f"{not_ready.address}, ")
    assert retried[0]["upstream_status"].startswith("503, 200")


def test_replicas_down_or_not_ready_leave_the_rest_to_the_one_that_answers(
    start_nginx, replicas, legacy: Backend, refusing_address: str
):
    replicas[0].status = 503
    nginx = start_nginx(
        coach=[replicas[0].address, refusing_address, replicas[2].address],
        legacy=legacy.address,
        percent=ALL_COACH,
    )
    answers = [call(nginx.port, token=f"t{i}") for i in range(20)]
    assert {(a.status, a.served_by) for a in answers} == {(200, "coach-2")}
    assert legacy.count() == 0


def test_the_monolith_answers_when_every_replica_is_not_ready(
    start_nginx, replicas, legacy: Backend
):
    for r in replicas:
        r.status = 503
    nginx = start_nginx(
        coach=[r.address for r in replicas], legacy=legacy.address, percent=ALL_COACH
    )
    first = call(nginx.port, token="t1")
    assert (first.status, first.served_by) == (200, "legacy")
    assert sum(r.count() for r in replicas) == 3  # each tried once
    (line,) = nginx.log_lines(at_least=1)
    assert fields(line)["served_by"] == "legacy_fallback"
    assert fields(line)["upstream_status"] == "503, 503, 503 : 200"
    # Every replica is marked failed now: nginx asks one of them at most (when every server
    # of an upstream is failed it tries one again), then the monolith.
    again = call(nginx.port, token="t2")
    assert (again.status, again.served_by) == (200, "legacy")
    assert sum(r.count() for r in replicas) <= 4


def test_a_post_is_never_sent_to_a_second_replica(start_nginx, replicas, legacy: Backend):
    """A request other than GET that a replica answered (503 here) is not sent again: the
    client gets that answer."""
    for r in replicas:
        r.status = 503
    nginx = start_nginx(
        coach=[r.address for r in replicas], legacy=legacy.address, percent=ALL_COACH
    )
    answer = call(nginx.port, method="POST", token="t1", body=b"{}")
    assert answer.status == 503
    assert sum(r.count() for r in replicas) == 1
    assert legacy.count() == 0
