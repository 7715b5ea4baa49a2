"""The broker goes away for a minute while the api is under load and the monolith keeps
producing events: no WOD request fails, /ready (degraded, still 200) and /lag report the
growing staleness, and when the broker is back the consumer catches up by itself to exactly
the ground truth.

The broker is this test's own (the shared one is never stopped). COACH_FAULTS_OUTAGE_SECONDS
sets the outage's length (60 by default)."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest
from aiokafka import AIOKafkaProducer

from tests.e2e.helpers import Service, coach, stats, wait_for
from tests.e2e.test_consumer_faults import Truth, applied_records
from tests.faults.helpers import Api, Load, stop_all

pytestmark = [pytest.mark.broker, pytest.mark.faults]

OUTAGE_SECONDS = float(os.environ.get("COACH_FAULTS_OUTAGE_SECONDS", "60"))
MAX_DATA_AGE = 15.0


class Outbox:
    """The monolith's side: a chunk of events is created every `every` seconds and sent as
    soon as the broker takes it. While the broker is down (`up` cleared) they wait in the
    outbox, in order, and are sent when it is back: nothing is sent twice or skipped."""

    def __init__(self, settings, records, *, chunk: int, every: float) -> None:  # type: ignore[no-untyped-def]
        self.settings = settings
        topics = {"exercises": settings.topic_exercises, "workouts": settings.topic_workouts}
        self.chunks = [
            [(topics[role], key, value) for role, key, value in records[i : i + chunk]]
            for i in range(0, len(records), chunk)
        ]
        self.every = every
        self.up = threading.Event()
        self.up.set()
        self.idle = threading.Event()  # set when no send is in flight
        self.sent = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the publisher did not finish"
        if self.error:
            raise self.error

    def pause(self) -> None:
        """Stop sending (the broker is about to go); returns once nothing is in flight."""
        self.idle.clear()
        self.up.clear()
        assert self.idle.wait(60), "a send did not finish"

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:
            self.error = exc

    async def _run(self) -> None:
        created = 0
        next_at = time.monotonic()
        producer: AIOKafkaProducer | None = None
        try:
            while self.sent < len(self.chunks):
                now = time.monotonic()
                if created < len(self.chunks) and now >= next_at:
                    created += 1
                    next_at = now + self.every
                if not self.up.is_set() or self.sent == created:
                    if producer is not None and not self.up.is_set():
                        await producer.stop()
                        producer = None
                    self.idle.set()
                    await asyncio.sleep(0.05)
                    continue
                if producer is None:
                    producer = AIOKafkaProducer(
                        bootstrap_servers=self.settings.kafka_bootstrap_servers,
                        acks="all",
                        enable_idempotence=True,
                    )
                    await producer.start()
                while self.sent < created and self.up.is_set():
                    futures = [
                        await producer.send(topic, value=value, key=key)
                        for topic, key, value in self.chunks[self.sent]
                    ]
                    await asyncio.gather(*futures)
                    self.sent += 1
        finally:
            if producer is not None:
                await producer.stop()
            self.idle.set()


def test_broker_outage_under_load(kafka_settings, tmp_path, own_broker):
    broker, home, port, bootstrap = own_broker
    settings = kafka_settings.model_copy(
        update={"kafka_bootstrap_servers": bootstrap, "ready_max_data_age_seconds": MAX_DATA_AGE}
    )
    truth = Truth(workouts=8_000, seed=60)
    first = 1_000  # the catalog and a first stretch of workouts
    coach(settings, "topics", "create")
    outbox = Outbox(settings, truth.records[first:], chunk=50, every=0.25)
    records_before = Outbox(settings, truth.records[:first], chunk=first, every=0)
    records_before.start()
    records_before.join(60)
    consumer = Service(settings, tmp_path / "consume.log", "consume")
    api = None
    during: list[tuple[float, int, dict, dict]] = []  # type: ignore[type-arg]
    try:
        api = Api(settings, tmp_path / "api.log")
        wait_for("the first records", lambda: applied_records(settings) == first, service=consumer)
        wait_for("/ready", lambda: api.get("/ready").status_code == 200, timeout=30)
        with Load(api.url) as load:
            outbox.start()
            time.sleep(5)  # events flow, the consumer keeps up
            outbox.pause()
            before_outage = applied_records(settings)
            broker.stop(home=home, quiet=True)
            down = time.monotonic()
            while (elapsed := time.monotonic() - down) < OUTAGE_SECONDS:
                assert consumer.proc.poll() is None, consumer.log()
                ready = api.get("/ready")
                during.append((elapsed, ready.status_code, ready.json(), api.json("/lag")))
                time.sleep(1)
            broker.start(port=port, home=home, quiet=True)
            back = time.monotonic()
            outbox.up.set()
            outbox.join(120)
            wait_for(
                "every record after the broker came back",
                lambda: applied_records(settings) == len(truth.records),
                timeout=120,
                service=consumer,
            )
            caught_up = time.monotonic() - back
            wait_for("/ready again", lambda: api.get("/ready").status_code == 200, timeout=60)
            ready_again = time.monotonic() - back
        result = load.result
    finally:
        api_code, consumer_code = stop_all(api, consumer)
    assert consumer_code == 0, consumer.log()
    assert api_code in (0, -15), api.service.log()

    # No WOD request failed, before, during or after the outage.
    print(f"outage {OUTAGE_SECONDS:.0f} s: {result.summary()}")
    assert result.failures == 0, result.errors
    assert result.requests > 1000

    # The staleness was reported and grew: /lag says the broker is unreachable and the data
    # ages; /ready stays 200 but says "degraded" (data_age) once the consumer has seen the
    # outage, past the data-age limit too (a broker outage never fails readiness).
    lag_ages = [lag["data_age_seconds"] for _, _, _, lag in during]
    assert all(not lag["broker_reachable"] for _, _, _, lag in during[10:]), during[10]
    assert all("broker unreachable" in (lag["last_error"] or "") for *_, lag in during[10:])
    assert lag_ages[-1] >= OUTAGE_SECONDS - 5, lag_ages
    assert lag_ages == sorted(lag_ages), lag_ages
    assert all(code == 200 for _, code, _, _ in during), [d for d in during if d[1] != 200][:1]
    degraded = [t for t, _, body, _ in during if body["status"] == "degraded"]
    assert degraded, "/ready never said degraded through the outage"
    first_stale = min(degraded)
    assert all(body["degraded"] == ["data_age"] for _, _, body, _ in during[10:]), during[10]

    # Every event of the outbox arrived and was applied exactly once.
    assert applied_records(settings) > before_outage
    truth.check(stats(settings))
    print(
        f"outage {OUTAGE_SECONDS:.0f} s: /ready degraded from {first_stale:.1f} s, data age at the "
        f"end {lag_ages[-1]} s; {len(truth.records) - before_outage} records applied after "
        f"the broker came back, caught up in {caught_up:.1f} s, ready again in "
        f"{ready_again:.1f} s"
    )
