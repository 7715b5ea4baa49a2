"""The gauges coach reads at scrape time (api/metrics.py registers them): the projection's
state from SQLite (lag, offsets, heartbeat, dead letters, unknown events, catalog size, and
GET /ready's verdict with each check) and, with a key set, its age, size and fetches."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api.health import checks_of
from api.lag import heartbeat_age_seconds, partition_lag
from api.readiness import Check
from store import status


class ProjectionCollector(Collector):
    """Reads the consumer's status from SQLite on each scrape."""

    def __init__(self, state: Callable[[], Any], clock: Callable[[], int]) -> None:
        self._state = state
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        state = self._state()
        readable = GaugeMetricFamily(
            "coach_projection_readable", "1 when the projection could be read at this scrape."
        )
        if state is None:
            return
        try:
            snapshot = status.snapshot(state.conn)
            dead_letters = status.dead_letter_count(state.conn)
            unknown = status.unknown_events(state.conn)
            mismatched = status.erasure_key_mismatches(state.conn)
            catalog = state.catalog.current(state.conn)
        except sqlite3.Error:
            readable.add_metric([], 0)
            yield readable
            yield GaugeMetricFamily("coach_ready", READY_HELP, value=0)
            return
        readable.add_metric([], 1)
        yield readable
        yield from _readiness(checks_of(state, snapshot, len(catalog.ids)))
        labels = ["topic", "partition"]
        lag = GaugeMetricFamily(
            "coach_projection_lag_records",
            "Records not yet applied (high watermark - next offset), per partition.",
            labels=labels,
        )
        next_offset = GaugeMetricFamily(
            "coach_projection_next_offset", "The next offset to apply.", labels=labels
        )
        high = GaugeMetricFamily(
            "coach_projection_high_watermark",
            "The partition's end offset when the consumer last looked.",
            labels=labels,
        )
        last_event = GaugeMetricFamily(
            "coach_projection_last_event_timestamp_seconds",
            "Kafka timestamp of the last record applied.",
            labels=labels,
        )
        for p in snapshot.partitions:
            where = [p.topic, str(p.partition)]
            next_offset.add_metric(where, p.next_offset)
            if p.high_watermark is not None:
                high.add_metric(where, p.high_watermark)
                lag.add_metric(where, partition_lag(p) or 0)
            if p.last_event_at_us is not None:
                last_event.add_metric(where, p.last_event_at_us / 1e6)
        yield from (lag, next_offset, high, last_event)
        age = heartbeat_age_seconds(self._clock(), snapshot.consumer)
        if age is not None:
            yield GaugeMetricFamily(
                "coach_consumer_heartbeat_age_seconds",
                "Seconds since the consumer's last heartbeat.",
                value=age,
            )
        yield GaugeMetricFamily(
            "coach_consumer_broker_reachable",
            "1 when the consumer last reached the Kafka broker.",
            value=int(snapshot.consumer.broker_reachable),
        )
        yield GaugeMetricFamily(
            "coach_dead_letters", "Records stored as dead letters.", value=dead_letters
        )
        yield CounterMetricFamily(
            "coach_unknown_events", "Events of an unknown type, skipped.", value=unknown
        )
        yield CounterMetricFamily(
            "coach_erasure_key_mismatches",
            "Erasures whose record key was not their user id (applied all the same).",
            value=mismatched,
        )
        yield GaugeMetricFamily(
            "coach_catalog_exercises", "Exercises in the catalog.", value=len(catalog.ids)
        )
        yield GaugeMetricFamily(
            "coach_catalog_version", "The catalog version loaded.", value=catalog.version
        )


class KeySetCollector(Collector):
    """The issuer's key set this process verifies with (COACH_JWT_JWKS_URL): its age, its
    keys, whether the last refresh failed, and the fetches made."""

    def __init__(self, keys: Any) -> None:
        self._keys = keys  # an api.jwksrefresh.JwksKeys

    def collect(self) -> Iterator[Metric]:
        keys = self._keys
        yield GaugeMetricFamily(
            "coach_jwks_age_seconds",
            "Seconds since the key set in use was fetched from the issuer.",
            value=keys.age_seconds(),
        )
        yield GaugeMetricFamily(
            "coach_jwks_keys", "Usable signing keys in the set.", value=len(keys.current.keys)
        )
        yield GaugeMetricFamily(
            "coach_jwks_refresh_failing",
            "1 when the last fetch of the key set failed (the keys held are still used).",
            value=int(keys.last_error is not None),
        )
        yield CounterMetricFamily(
            "coach_jwks_fetches", "Fetches of the key set, failed ones too.", value=keys.fetches
        )


READY_HELP = "1 when GET /ready would answer 200 (every check passes), else 0."


def _readiness(checks: list[Check]) -> Iterator[Metric]:
    yield GaugeMetricFamily("coach_ready", READY_HELP, value=int(all(c.ok for c in checks)))
    each = GaugeMetricFamily(
        "coach_ready_check", "1 when this check of GET /ready passes, else 0.", labels=["check"]
    )
    for check in checks:
        each.add_metric([check.name], int(check.ok))
    yield each
