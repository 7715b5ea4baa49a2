"""Issue 33.1: the topics are quiet for longer than the data-age limit, then the broker goes
away. The replica stays ready (status "degraded") and, with COACH_WOD_ONLY_WHEN_READY,
keeps answering WODs from its projection; its data age counts from the last contact with
the broker, not from the last event.

The broker is this test's own (the shared one is never stopped)."""

from __future__ import annotations

import time

import httpx2
import pytest

from tests.e2e.helpers import Service, coach, wait_for
from tests.e2e.test_consumer_faults import Truth, applied_records, publish
from tests.faults.helpers import Api, stop_all, tokens

pytestmark = [pytest.mark.broker, pytest.mark.faults]

MAX_DATA_AGE = 3.0
QUIET_SECONDS = 2 * MAX_DATA_AGE
"""Longer than the limit: measured from the last event, the data would be too old."""


def test_a_broker_outage_after_a_quiet_spell_fails_no_wod(kafka_settings, tmp_path, own_broker):
    """Quiet topics, then the broker stops: /ready stays 200 (degraded, never 503), every
    WOD is a 200 with COACH_WOD_ONLY_WHEN_READY, and the data age starts at the outage."""
    broker, home, _port, bootstrap = own_broker
    settings = kafka_settings.model_copy(
        update={
            "kafka_bootstrap_servers": bootstrap,
            "ready_max_data_age_seconds": MAX_DATA_AGE,
            "wod_only_when_ready": True,
        }
    )
    truth = Truth(workouts=50, seed=33)
    coach(settings, "topics", "create")
    publish(settings, truth.records)
    consumer = Service(settings, tmp_path / "consume.log", "consume")
    api = None
    headers = {"Authorization": f"Bearer {tokens(1)[0]}"}
    try:
        api = Api(settings, tmp_path / "api.log")
        wait_for("every record", lambda: applied_records(settings) == len(truth.records))
        wait_for("/ready", lambda: api.get("/ready").status_code == 200, timeout=30)
        time.sleep(QUIET_SECONDS)  # nothing published: the last batch is older than the limit
        assert api.json("/ready")["status"] == "ready"

        stopped_at = time.monotonic()
        broker.stop(home=home, quiet=True)
        wait_for(
            "the consumer to report the broker unreachable",
            lambda: api.json("/lag")["broker_reachable"] is False,
            timeout=30,
            service=consumer,
        )
        first_age = api.json("/lag")["data_age_seconds"]
        assert first_age <= time.monotonic() - stopped_at + 2, first_age

        samples = []
        until = time.monotonic() + MAX_DATA_AGE + 2  # past the limit, from the contact too
        while time.monotonic() < until:
            ready = api.get("/ready")
            wod = httpx2.get(f"{api.url}/fitness/wod", headers=headers, timeout=5)
            samples.append((ready.status_code, ready.json(), wod.status_code, wod.text[:200]))
            time.sleep(0.25)
    finally:
        stop_all(api, consumer)

    assert all(code == 200 for code, *_ in samples), [s for s in samples if s[0] != 200][:1]
    assert all(code == 200 for *_, code, _ in samples), [s for s in samples if s[2] != 200][:1]
    last = samples[-1][1]
    assert last["status"] == "degraded" and last["degraded"] == ["data_age"], last
    assert last["failing"] == []
