"""Issue 33.6: a broker outage is a few lines of the consumer's log, not a flood.

Before, a 33 s outage logged 1,376 aiokafka ERROR lines ("Unable connect to node ...",
"Unable to update metadata ...", one every ~100 ms) around one coach warning. Now coach
says when the outage starts (with its category), reminds at most every
`OUTAGE_REMINDER_SECONDS` with how long it has lasted, and says when the broker is back;
aiokafka's repeated connection errors are held back (coach/logs.py).

The broker is this test's own (the shared one is never stopped)."""

from __future__ import annotations

import time

import pytest

from tests.e2e.helpers import Service, coach, produce_raw, wait_for
from tests.e2e.test_consumer_faults import applied_records
from tests.e2e.test_runbook import _catalog

pytestmark = [pytest.mark.broker, pytest.mark.faults]

OUTAGE_SECONDS = 10.0
MAX_LINES = 10
"""For a 10 s outage: its start, a reminder or two, aiokafka's first connection errors."""


def test_a_broker_outage_is_logged_once_not_flooded(kafka_settings, tmp_path, own_broker):
    """A real `coach consume` whose broker stops for ~10 s: under 10 log lines for the whole
    outage, its start logged with the category, its end logged once the broker is back."""
    broker, home, port, bootstrap = own_broker
    settings = kafka_settings.model_copy(update={"kafka_bootstrap_servers": bootstrap})
    records = _catalog()
    topics = {"exercises": settings.topic_exercises}
    coach(settings, "topics", "create")
    produce_raw(settings, [(topics[role], key, value) for role, key, value in records])
    consumer = Service(settings, tmp_path / "consume.log", "consume")
    try:
        wait_for("every record", lambda: applied_records(settings) == len(records))
        time.sleep(2)  # past the start-up lines
        before = len(consumer.log().splitlines())
        broker.stop(home=home, quiet=True)
        time.sleep(OUTAGE_SECONDS)
        during = consumer.log().splitlines()[before:]
        broker.start(port=port, home=home, quiet=True)
        wait_for(
            "the outage's end in the log",
            lambda: "broker reachable again" in consumer.log(),
            timeout=60,
            service=consumer,
        )
    finally:
        consumer.stop()
    shown = "\n".join(during)
    assert len(during) < MAX_LINES, f"{len(during)} lines in {OUTAGE_SECONDS:.0f} s:\n{shown}"
    assert any("broker unreachable (" in line for line in during), shown
    end = [line for line in consumer.log().splitlines() if "broker reachable again" in line]
    assert len(end) == 1 and "after" in end[0], end
