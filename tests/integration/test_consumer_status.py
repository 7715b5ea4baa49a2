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
