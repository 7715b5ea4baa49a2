"""What /lag and /ready show of the consumer's errors, written by a real `coach consume`
(issue 26.7a): a category and the exception's class, never the broker's address."""

from __future__ import annotations

import pytest

from store import status
from store.db import connect
from store.instants import now_us
from tests.e2e.helpers import Service, free_port, wait_for


def _last_error(settings) -> str | None:  # type: ignore[no-untyped-def]
    if not settings.db_path.exists():
        return None
    conn = connect(settings.db_path, readonly=True)
    try:
        return status.consumer(conn).last_error
    finally:
        conn.close()


@pytest.mark.slow  # `make check` skips it
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_lag_and_ready_name_the_broker_error_without_its_address(settings, tmp_path, api, host):
    """A consumer whose broker does not answer (a closed port): /lag's `last_error` and
    /ready's details say "broker unreachable (KafkaConnectionError)", with neither the host
    nor the port; the consumer's log has them."""
    port = free_port()
    broken = settings.model_copy(update={"kafka_bootstrap_servers": f"{host}:{port}"})
    consumer = Service(broken, tmp_path / "consume.log", "consume")
    try:
        error = wait_for("the consumer's error", lambda: _last_error(broken), service=consumer)
    finally:
        consumer.stop()
    assert error == "broker unreachable (KafkaConnectionError)"
    assert str(port) in consumer.log()
    with api() as client:
        lag = client.get("/lag").json()
    with api(clock=lambda: now_us() + 60_000_000) as client:  # the heartbeat now stale
        ready = client.get("/ready").text
    assert lag["last_error"] == error and lag["broker_reachable"] is False
    assert f"the consumer reports: {error}" in ready
    for shown in (str(lag), ready):
        assert host not in shown and str(port) not in shown, shown


S = 1_000_000
NOW = 1_900_000_000 * S


def _beat(settings, at_s: int, *, reachable: bool) -> None:  # type: ignore[no-untyped-def]
    """The consumer's heartbeat as it writes it (store/writes.py), at NOW + at_s."""
    from store import writes
    from store.db import transaction

    conn = connect(settings.db_path)
    with transaction(conn):
        writes.heartbeat(
            conn,
            now_us=NOW + at_s * S,
            broker_reachable=reachable,
            last_error=None if reachable else "broker unreachable (KafkaConnectionError)",
            broker_contact=reachable,
        )
    conn.close()


def test_a_broker_outage_is_ready_degraded_and_the_wod_answers(
    settings, api, project, record_status
):
    """Issue 33.1 through the api: topics quiet for 10 minutes, the broker reached last 5
    minutes ago and found gone 1 s later. /ready is 200 "degraded" (data age 300 s, over
    the 120 s limit) and the WOD answers with COACH_WOD_ONLY_WHEN_READY."""
    from tests.factories import upserted
    from tests.integration.conftest import bearer

    project([upserted(1), upserted(2)])
    record_status(partitions=[("fitness.exercises", 0, 2, 2, NOW - 700 * S, NOW - 600 * S)])
    _beat(settings, -300, reachable=True)
    _beat(settings, -299, reachable=False)
    _beat(settings, -1, reachable=False)
    with api(clock=lambda: NOW, wod_only_when_ready=True) as client:
        ready = client.get("/ready")
        wod = client.get("/fitness/wod", headers=bearer())
        lag = client.get("/lag").json()
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert (body["status"], body["failing"], body["degraded"]) == ("degraded", [], ["data_age"])
    assert wod.status_code == 200, wod.text
    assert lag["data_age_seconds"] == 300 and lag["broker_reachable"] is False
