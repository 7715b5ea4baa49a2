"""aiokafka's connection retries held back in the log (coach/logs.py, issue 33.6)."""

from __future__ import annotations

import logging

from coach.logs import ConnectionRetryFilter


def _record(name: str, msg: str, *args: object, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, "x.py", 1, msg, args, None)


def test_a_connection_retry_shows_once_then_once_per_period_with_the_count():
    now = [0.0]
    keep = ConnectionRetryFilter(every=60, clock=lambda: now[0])
    msg = "Unable connect to node with id %s: %s"
    shown = []
    for second in range(0, 130):
        now[0] = float(second)
        record = _record("aiokafka", msg, 1, "refused")
        if keep.filter(record):
            shown.append(record.getMessage())
    assert shown == [
        "Unable connect to node with id 1: refused",
        "Unable connect to node with id 1: refused (59 more like it in the last 60 s)",
        "Unable connect to node with id 1: refused (59 more like it in the last 60 s)",
    ]


def test_other_aiokafka_messages_and_other_loggers_pass():
    keep = ConnectionRetryFilter(every=60, clock=lambda: 0.0)
    for _ in range(3):
        assert keep.filter(_record("aiokafka.consumer.fetcher", "Unexpected error %s", 1))
        assert keep.filter(_record("coach", "Unable to update metadata from %s", [1]))
    assert keep.filter(_record("aiokafka", "Unable to update metadata from %s", [1]))
    assert not keep.filter(_record("aiokafka", "Unable to update metadata from %s", [1]))


def test_one_record_gets_one_answer_at_every_handler():
    """With two handlers (stderr and a file, say), the second sees the first one's decision:
    a first retry is not held back as its own repeat."""
    keep = ConnectionRetryFilter(every=60, clock=lambda: 0.0)
    first = _record("aiokafka", "Unable to update metadata from %s", [1])
    assert keep.filter(first) and keep.filter(first)
    second = _record("aiokafka", "Unable to update metadata from %s", [1])
    assert not keep.filter(second) and not keep.filter(second)
